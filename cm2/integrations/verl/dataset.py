"""`data.custom_cls` for VeRL: train directly on cm2 dialogue files, no separate conversion step.

    data.custom_cls.path=pkg://cm2.integrations.verl.dataset
    data.custom_cls.name=CM2ChecklistDataset
    data.train_files=rl_dialogues.jsonl

Files already written by `python -m cm2.integrations.verl.prepare` are used as they are; any other
file cm2 reads is converted once to rows in VeRL's dataset cache (keyed by path, size and mtime), then
everything else (shuffling, sampling, length filter, resume) is VeRL's `RLHFDataset`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from verl.utils.dataset.rl_dataset import RLHFDataset

from cm2.integrations.verl.prepare import prepare
from cm2.integrations.verl.rows import is_rows_file


def converted_path(source: str, cache_dir: str) -> Path:
    """Where the rows of `source` are cached: changes whenever the file does."""
    stat = os.stat(source)
    key = f"{os.path.abspath(source)}|{stat.st_size}|{stat.st_mtime_ns}"
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    return Path(cache_dir) / "cm2" / f"{Path(source).name}.{digest}.parquet"


class CM2ChecklistDataset(RLHFDataset):
    """VeRL's RLHFDataset over cm2 dialogue files (one row per dialogue and checklist)."""

    data_files: list[str]

    def _read_files_and_tokenize(self) -> None:
        converted: list[str] = []
        for source in self.data_files:
            path = str(source)
            if is_rows_file(path):
                converted.append(path)
                continue
            target = converted_path(path, self.cache_dir)
            if not target.exists():
                limit = self.max_prompt_length if self.filter_overlong_prompts else None
                report = prepare(path, target, tokenizer=self.tokenizer, max_prompt_length=limit)
                print(f"cm2: {path} -> {target}: {report.summary()}")
            converted.append(str(target))
        self.data_files = converted
        super()._read_files_and_tokenize()
