"""The demo's precision: bfloat16 only where the machine runs it clearly faster, applied to every stage;
the GPU experiment's sizes when a GPU is present."""

from __future__ import annotations

import pytest

from cm2.demo.config import DemoConfig
from cm2.demo.precision import decide_cpu, matmul_speedup, resolve_precision
from cm2.demo.presets import load_config


def test_bfloat16_only_when_the_calibration_shows_it_clearly_faster() -> None:
    fast = decide_cpu("AVX512", 2.0)
    assert fast.dtype == "bfloat16" and "2.00x" in fast.reason and "AVX512" in fast.reason
    # the 2-core AVX2 EPYC of the issue: a bfloat16 matmul 36x slower than float32
    slow = decide_cpu("AVX2", 1 / 36)
    assert slow.dtype == "float32" and "0.03x" in slow.reason and "AVX2" in slow.reason
    assert decide_cpu("AVX512", 1.1).dtype == "float32"  # not worth the rounding


def test_the_calibration_measures_this_machine_quickly() -> None:
    import time

    started = time.perf_counter()
    speedup = matmul_speedup(size=128, repeats=2)
    assert speedup > 0 and time.perf_counter() - started < 10


def test_the_choice_reaches_sft_rl_and_evaluation(monkeypatch: pytest.MonkeyPatch) -> None:
    import cm2.demo.precision as precision

    monkeypatch.setattr(precision, "matmul_speedup", lambda: 1 / 36)
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    config, choice = resolve_precision(DemoConfig())
    assert choice.dtype == "float32" and config.precision == "float32"
    assert (config.sft["bf16"], config.rl["bf16"], config.eval.dtype) == (False, False, "float32")
    monkeypatch.setattr(precision, "matmul_speedup", lambda: 2.0)
    config, choice = resolve_precision(DemoConfig())
    assert (config.sft["bf16"], config.rl["bf16"], config.eval.dtype) == (True, True, "bfloat16")
    fixed, why = resolve_precision(DemoConfig.tiny())
    assert fixed.sft["bf16"] is False and "set by" in why.reason


def test_a_gpu_gets_the_experiment_sizes_and_the_cpu_the_demo_ones() -> None:
    gpu = load_config(None, False, {}, gpu=True)
    assert gpu.data.classes == [] and gpu.data.heldout_limit is None and gpu.data.tool_docs == "full"
    assert gpu.rl_levels == ["trajectory", "turn", "step"] and gpu.rl_by_level["turn"]["probe"]["every_steps"] == 2
    assert gpu.eval.max_turns is None and gpu.eval.max_steps_per_turn == 20
    cpu = load_config(None, False, {}, gpu=False)
    assert cpu == DemoConfig() and cpu.eval.max_turns is None and cpu.data.heldout_limit == 1
