"""Which precision the demo computes in, chosen from what the machine does fast.

bfloat16 autocast (float32 master weights) made a training step 1.5x faster on a CPU with avx512_bf16, but a
CPU without native bfloat16 (AVX2 only) ran a bfloat16 matmul 36x slower than float32, turning the 15-minute
demo into hours. So nothing is assumed: on a GPU, bfloat16 when the GPU supports it; on a CPU, one small
calibration (a 512 x 512 matmul in each precision, best of 5, well under a second) picks bfloat16 only when
it is clearly faster there. The choice and the reason are printed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

Dtype = Literal["bfloat16", "float32"]
MIN_SPEEDUP = 1.25
"""bfloat16 must beat float32 by this factor in the calibration (below it, its rounding is not worth it)."""


@dataclass(frozen=True)
class PrecisionChoice:
    dtype: Dtype
    reason: str


def decide_cpu(capability: str, speedup: float) -> PrecisionChoice:
    """The CPU's choice from its vector capability and the measured bfloat16-over-float32 matmul speed-up."""
    measured = f"a bfloat16 matmul ran {speedup:.2f}x the speed of float32 (CPU capability {capability})"
    if speedup >= MIN_SPEEDUP:
        return PrecisionChoice("bfloat16", f"{measured}: bfloat16 autocast, float32 master weights")
    return PrecisionChoice("float32", f"{measured}: no native bfloat16 worth using, so float32")


def matmul_speedup(size: int = 512, repeats: int = 5) -> float:
    """float32 time / bfloat16 time of one `size` x `size` matmul on the CPU (best of `repeats` each)."""
    import torch

    def best(dtype: Any) -> float:
        generator = torch.Generator().manual_seed(0)
        a = torch.randn(size, size, generator=generator).to(dtype)
        b = torch.randn(size, size, generator=generator).to(dtype)
        a @ b  # warm-up: kernel selection
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - started)
        return min(times)

    return best(torch.float32) / max(best(torch.bfloat16), 1e-9)


def choose_precision() -> PrecisionChoice:
    """bfloat16 or float32 for this machine, with the reason."""
    import torch

    if torch.cuda.is_available():
        if torch.cuda.is_bf16_supported():
            return PrecisionChoice("bfloat16", f"GPU {torch.cuda.get_device_name()} supports bfloat16")
        return PrecisionChoice("float32", f"GPU {torch.cuda.get_device_name()} has no bfloat16")
    return decide_cpu(torch.backends.cpu.get_cpu_capability(), matmul_speedup())


def apply_precision(values: dict[str, Any], dtype: Dtype) -> dict[str, Any]:
    """A demo config dict (`DemoConfig.model_dump`) computing in `dtype`: SFT and RL autocast, eval weights."""
    bf16 = dtype == "bfloat16"
    out = dict(values)
    out["sft"] = {**values["sft"], "bf16": bf16}
    out["rl"] = {**values["rl"], "bf16": bf16}
    out["rl_by_level"] = {level: {**over, "bf16": bf16} for level, over in values.get("rl_by_level", {}).items()}
    out["eval"] = {**values["eval"], "dtype": dtype}
    out["precision"] = dtype
    return out


def resolve_precision(config: Any) -> tuple[Any, PrecisionChoice]:
    """`config` (a DemoConfig) with its precision decided and applied to every stage, and why."""
    if config.precision == "auto":
        choice = choose_precision()
    else:
        choice = PrecisionChoice(config.precision, "set by `precision` in the demo config")
    resolved = type(config).model_validate(apply_precision(config.model_dump(mode="json"), choice.dtype))
    return resolved, choice
