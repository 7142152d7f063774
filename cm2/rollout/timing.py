"""Where a rollout phase's time goes: counters the decoder and the episodes add to as they run.

The decoder runs one batch at a time in one thread, so its seconds are wall time. Episodes run concurrently
on an event loop in another thread, so their seconds (tools, judge, template rendering) are summed over
episodes: with tools and judging that compute in Python they are the event loop's busy time, with ones that
wait on HTTP they can add up to more than the wall time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace


@dataclass
class DecoderStats:
    """Cumulative counts of an in-process policy's decoder (`cm2.rollout.decoder.LoopDecoder`)."""

    prefill_s: float = 0.0
    """Wall seconds from a batch's start until its prompts' forward pass ended (on CUDA: read from events)."""
    decode_s: float = 0.0
    """Wall seconds of the one-token steps after the prefill, host-side stop checks included."""
    host_s: float = 0.0
    """Part of `decode_s` spent on the host checking rows for stops and handing finished rows back."""
    batches: int = 0
    """Calls of the decoder."""
    rows: int = 0
    """Real rows over all batches (padding rows of the static cache not counted)."""
    dynamic_batches: int = 0
    """Batches that meant to use the static cache but did not fit it and ran on the (slow) dynamic one."""
    windowed_batches: int = 0
    """Batches whose sliding-window layers attended over their window only (`DecoderConfig.window_attention`)."""
    iterations: int = 0
    """One-token decode steps, over all batches."""
    tokens: int = 0
    """Tokens handed back to rows (a row's tokens past its stop and padding rows not counted)."""

    def since(self, earlier: DecoderStats) -> DecoderStats:
        """What was added after `earlier` (a `copy` taken then)."""
        return DecoderStats(**{f.name: getattr(self, f.name) - getattr(earlier, f.name) for f in fields(self)})

    def copy(self) -> DecoderStats:
        return replace(self)


@dataclass
class EpisodeTimes:
    """Seconds the episodes of one rollout phase spent outside generation, summed over episodes."""

    env_setup_s: float = 0.0
    """Building each episode's tool environment and replaying its context's calls."""
    tools_s: float = 0.0
    """Tool calls (`ToolEnvironment.call`) and the environment's state reports at the end of a turn."""
    judge_s: float = 0.0
    """Judging steps (`StepJudge.judge_step`), waits for an endpoint included."""
    template_s: float = 0.0
    """Rendering the chat template and tokenising what the environment adds (`TokenTranscript`)."""

    @contextmanager
    def timing(self, name: str) -> Iterator[None]:
        """Add the seconds of the `with` block to the field `name`."""
        started = time.perf_counter()
        try:
            yield
        finally:
            setattr(self, name, getattr(self, name) + time.perf_counter() - started)


def rollout_time_metrics(
    rollout_s: float, decoder: DecoderStats, episodes: EpisodeTimes, score_s: float
) -> dict[str, float]:
    """One rollout phase's breakdown, logged beside `cm2/rollout_seconds` (its wall time, `rollout_s`).

    `cm2/time/prefill_s` and `cm2/time/decode_s` are the decoder's wall time (one batch at a time; decode_s
    includes `cm2/time/decode_host_s`, the host-side stop checks). `cm2/time/model_idle_s` is the rest of the
    phase, when the model waited for the episodes. `cm2/time/env_setup_s`, `tools_s`, `judge_s` and
    `template_s` are summed over the concurrent episodes and may overlap decoding; `score_s` is scoring the
    batch. `cm2/time/other_s` is the idle time none of those explain (asyncio, batching windows, Python),
    floored at 0: a lower bound where episode work overlapped decoding. `cm2/decoder/tokens` per
    `cm2/decoder/iterations` is how many rows a decode step served on average.
    """
    model_s = decoder.prefill_s + decoder.decode_s
    idle = max(0.0, rollout_s - model_s)
    explained = episodes.env_setup_s + episodes.tools_s + episodes.judge_s + episodes.template_s + score_s
    return {
        "cm2/time/prefill_s": decoder.prefill_s,
        "cm2/time/decode_s": decoder.decode_s,
        "cm2/time/decode_host_s": decoder.host_s,
        "cm2/time/model_idle_s": idle,
        "cm2/time/env_setup_s": episodes.env_setup_s,
        "cm2/time/tools_s": episodes.tools_s,
        "cm2/time/judge_s": episodes.judge_s,
        "cm2/time/template_s": episodes.template_s,
        "cm2/time/score_s": score_s,
        "cm2/time/other_s": max(0.0, idle - explained),
        "cm2/decoder/batches": float(decoder.batches),
        "cm2/decoder/mean_rows": decoder.rows / decoder.batches if decoder.batches else 0.0,
        "cm2/decoder/dynamic_batches": float(decoder.dynamic_batches),
        "cm2/decoder/windowed_batches": float(decoder.windowed_batches),
        "cm2/decoder/iterations": float(decoder.iterations),
        "cm2/decoder/tokens": float(decoder.tokens),
    }
