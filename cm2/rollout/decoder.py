"""cm2's own decode loop for in-process rollouts: static KV cache + torch.compile (CUDA graphs) on the GPU.

One `LoopDecoder` lives as long as its policy: the static caches (`max_batch_size` rows of `max_cache_len`
tokens, and halves of it for smaller batches) and the compiled one-token step are built once, so compilation is
paid once per batch size, not per prompt length. Every decode step attends over the whole cache of every row,
so a batch of 5 rows decoded in a 64-row cache would cost as much per token as 64 rows: it goes to an 8-row one.
Prompts that repeat within a batch (the episodes of a GRPO group start from the same
context) are prefilled once and their keys and values copied to every row through the cache's own
`update`. Each row is handed back as soon as it stops (its episode goes on to tools and judging) while
the others decode on; its slot keeps riding in the fixed-shape batch until the last row stops.
(Imported lazily: it needs torch and transformers.)
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from cm2.rollout.policy import DecoderConfig
from cm2.rollout.sampling import sample_next
from cm2.rollout.timing import DecoderStats

log = logging.getLogger(__name__)
RowDone = Callable[[int, list[int], list[float]], None]
TextStop = Callable[[list[int]], bool]


def forward_parameters(model: Any) -> Any:
    """The parameters of the model's own `forward`; a peft wrapper (LoRA) takes `*args, **kwargs` and hands
    them on, so its base model's are read (else the cache would go under its old name and the prefill would
    compute logits for every position instead of the last)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return inspect.signature(base.forward).parameters


def _storing(layer_class: Any, dtype: torch.dtype) -> Any:
    """`layer_class` (transformers' `StaticLayer`) keeping its keys and values in `dtype`.

    Under autocast a float32 model's keys and values come out in float32 (the rotary embedding promotes them),
    so the static cache would hold them at twice the bytes, and a decode step reads the whole cache: in run 4
    (`results/learning`) decoding was 65% of a GRPO step. Attention casts them to the autocast dtype anyway
    (`scaled_dot_product_attention` and `matmul` are on autocast's lower-precision list), so storing them in it
    changes little but the bytes moved: the same greedy tokens, 1.5-1.6x faster decoding on the H100
    (`benchmarks/decoder_cache_dtype.py`)."""

    class Storing(layer_class):
        def __init__(self, max_cache_len: int) -> None:
            super().__init__(max_cache_len=max_cache_len)

        def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            return super().update(key_states.to(dtype), value_states.to(dtype), *args, **kwargs)

    return Storing


class LoopDecoder:
    """Batched sampling with exact per-token log-probs; see the module docstring."""

    def __init__(self, model: Any, config: DecoderConfig, pad_id: int, stats: DecoderStats | None = None):
        self.model = model
        self.stats = stats or DecoderStats()
        """Where the decoder's time went, added to by every `run` (its owner may share it)."""
        self.config = config
        self.pad_id = pad_id
        self.device = next(model.parameters()).device
        on_gpu = self.device.type == "cuda"
        self.static = config.cache == "static" or (config.cache == "auto" and on_gpu)
        self.compiled = self.static and (config.compile == "on" or (config.compile == "auto" and on_gpu))
        params = forward_parameters(model)
        self._cache_arg = "cache" if "cache" in params else "past_key_values"
        self._cache_position = "cache_position" in params
        self._logits_to_keep = "logits_to_keep" in params
        self._static_caches: dict[int, Any] = {}
        self.window = self._window(model, config) if self.static else None
        """The sliding window its static decode steps attend over (cm2.rollout.windowed_cache), or None."""
        step = self._windowed_forward if self.window is not None else self._forward
        self._step: Callable[..., torch.Tensor] = step
        if self.compiled:
            dynamic = None if config.compile_shapes == "dynamic" else False  # None: dynamic once a shape changes
            self._step = torch.compile(step, mode="reduce-overhead", fullgraph=False, dynamic=dynamic)
        self.fallbacks = 0

    @staticmethod
    def _window(model: Any, config: DecoderConfig) -> int | None:
        import transformers.cache_utils as caches

        from cm2.rollout.windowed_cache import sliding_window_of

        if config.window_attention == "off" or not hasattr(caches, "StaticLayer"):
            return None
        window = sliding_window_of(model)
        return window if window is not None and window < config.max_cache_len else None

    def _windowed_forward(
        self, input_ids: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor, cache: Any, start: torch.Tensor
    ) -> torch.Tensor:
        """A static decode step whose sliding layers attend over their window only (`window_masks`)."""
        from cm2.rollout.windowed_cache import window_masks

        assert self.window is not None
        return self._forward(input_ids, positions, window_masks(mask, start, self.window), cache, start)

    def _forward(
        self, input_ids: torch.Tensor, positions: torch.Tensor, mask: Any, cache: Any, start: torch.Tensor
    ) -> torch.Tensor:
        kwargs: dict[str, Any] = {self._cache_arg: cache, "use_cache": True}
        if self._cache_position:
            kwargs["cache_position"] = start + torch.arange(input_ids.shape[1], device=input_ids.device)
        if self._logits_to_keep:
            kwargs["logits_to_keep"] = 1
        out = self.model(input_ids=input_ids, attention_mask=mask, position_ids=positions, **kwargs)
        return out.logits[:, -1, :]

    def static_rows(self, n: int) -> int:
        """Rows of the static cache a batch of `n` rows decodes in: the smallest bucket that holds it."""
        top = self.config.max_batch_size
        buckets = [top >> k for k in range(self.config.batch_buckets) if top >> k >= 1]
        return min(rows for rows in buckets if rows >= n)

    def _new_static_cache(self, rows: int) -> Any:
        """Full-length static layers everywhere, sliding-window layers included: a sliding layer of
        transformers' `StaticCache` keeps its fill level in a Python int, which torch.compile guards on and
        recompiles for at every step. The sliding window still applies, through the attention mask, or with
        `window_attention` by handing a sliding layer only its window (cm2.rollout.windowed_cache)."""
        import transformers.cache_utils as caches

        length = self.config.max_cache_len
        if hasattr(caches, "StaticLayer"):
            layers = self.model.config.get_text_config().num_hidden_layers
            device = self.device.type
            layer_class = caches.StaticLayer
            if torch.is_autocast_enabled(device):  # float32 weights computing in bfloat16 (RL's mixed precision)
                layer_class = _storing(caches.StaticLayer, torch.get_autocast_dtype(device))
            if self.window is None:
                return caches.Cache(layers=[layer_class(length) for _ in range(layers)])
            from cm2.rollout.windowed_cache import sliding_layers, windowed

            window_class = windowed(layer_class, self.window)
            kinds = sliding_layers(self.model)
            return caches.Cache(layers=[(window_class if sliding else layer_class)(length) for sliding in kinds])
        dtype = next(self.model.parameters()).dtype  # transformers 4.x
        return caches.StaticCache(
            config=self.model.config,
            max_cache_len=length,
            max_batch_size=rows,
            device=self.device,
            dtype=dtype,
        )

    def run(
        self,
        contexts: Sequence[list[int]],
        caps: Sequence[int],
        temperature: float,
        top_p: float,
        stop_ids: Sequence[int],
        text_stop: TextStop | None,
        on_row: RowDone,
    ) -> None:
        """Sample up to `caps[i]` tokens after `contexts[i]`; `on_row(i, ids, logprobs)` once per row, as
        soon as it ends (a stop id, `text_stop` true, or its cap)."""
        started = time.perf_counter()
        events = _PrefillEvents.start() if self.device.type == "cuda" else None
        n, width, steps = len(contexts), max(len(c) for c in contexts), max(caps)
        static = self.static and n <= self.config.max_batch_size
        if static and width + steps > self.config.max_cache_len:
            static = False
            self.fallbacks += 1
            self.stats.dynamic_batches += 1
            if self.fallbacks == 1:
                log.warning("context %d + %d new tokens > max_cache_len: dynamic cache (said once)", width, steps)
        rows = self.static_rows(n) if static else n
        padded = [*contexts, *[contexts[0]] * (rows - n)]
        row_caps = [*caps, *[0] * (rows - n)]
        length = self.config.max_cache_len if static else width + steps
        ids = torch.full((rows, width), self.pad_id, dtype=torch.long)
        mask = torch.ones((rows, length), dtype=torch.long)
        for row, context in enumerate(padded):
            ids[row, width - len(context) :] = torch.tensor(context)
            mask[row, : width - len(context)] = 0
        ids, mask = ids.to(self.device), mask.to(self.device)
        positions = (mask[:, :width].cumsum(-1) - 1).clamp(min=0)
        with torch.no_grad():
            cache, logits = self._prefill(padded, ids, mask[:, :width], positions, static)
            prefilled = time.perf_counter()
            if events is not None:
                events.prefilled()
            self._decode(
                cache,
                logits,
                mask,
                positions[:, -1:] + 1,
                width,
                row_caps,
                static,
                n,
                temperature,
                top_p,
                set(stop_ids),
                text_stop,
                on_row,
            )
        # Every path out of `_decode` read tokens back to the host, so the device is done by now.
        ended = time.perf_counter()
        prefill_s = events.seconds() if events is not None else prefilled - started
        self.stats.batches += 1
        self.stats.windowed_batches += int(static and self.window is not None)
        self.stats.rows += n
        self.stats.prefill_s += prefill_s
        self.stats.decode_s += max(0.0, ended - started - prefill_s)

    def _prefill(
        self, contexts: list[list[int]], ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, static: bool
    ) -> tuple[Any, torch.Tensor]:
        """Run the distinct contexts once on a full-length dynamic cache, then write every row's keys and
        values into the decode cache through `update` (as the model's own prefill would have)."""
        from transformers import DynamicCache

        first: dict[tuple[int, ...], int] = {}
        for row, context in enumerate(contexts):
            first.setdefault(tuple(context), row)
        unique = sorted(set(first.values()))
        where = {row: i for i, row in enumerate(unique)}
        expand = torch.tensor([where[first[tuple(c)]] for c in contexts], device=self.device)
        pick = torch.tensor(unique, device=self.device)
        scratch: Any = DynamicCache()
        start = torch.zeros((), dtype=torch.long, device=self.device)
        logits = self._forward(ids[pick], positions[pick], mask[pick], scratch, start)
        if static:
            rows = len(contexts)
            if rows not in self._static_caches:
                self._static_caches[rows] = self._new_static_cache(rows)
            cache = self._static_caches[rows]
            cache.reset()
        else:
            cache = DynamicCache(config=self.model.config)
        cache_kwargs = {"cache_position": torch.arange(ids.shape[1], device=self.device)}
        for index, layer in enumerate(scratch.layers):
            cache.update(layer.keys[expand], layer.values[expand], index, cache_kwargs)
        return cache, logits[expand]

    def _decode(
        self,
        cache: Any,
        logits: torch.Tensor,
        mask: torch.Tensor,
        next_position: torch.Tensor,
        width: int,
        caps: list[int],
        static: bool,
        real_rows: int,
        temperature: float,
        top_p: float,
        stop_ids: set[int],
        text_stop: TextStop | None,
        on_row: RowDone,
    ) -> None:
        steps = max(caps)
        tokens = torch.zeros((len(caps), steps), dtype=torch.long, device=self.device)
        logprobs = torch.zeros((len(caps), steps), dtype=torch.float32, device=self.device)
        done = [row >= real_rows or caps[row] == 0 for row in range(len(caps))]
        host_ids: list[list[int]] = [[] for _ in caps]
        host_lps: list[list[float]] = [[] for _ in caps]
        checked = 0
        step_fn = self._step if static else self._forward
        # A device scalar: a fresh `torch.tensor(..., device=cuda)` every step would wait for the device each time.
        first_at = torch.tensor(width, device=self.device)
        stats = self.stats
        for step in range(steps):
            token, logprob = sample_next(logits, temperature, top_p)
            tokens[:, step], logprobs[:, step] = token, logprob
            stats.iterations += 1
            last = step == steps - 1
            if last or (step + 1) % self.config.check_every == 0:
                new_ids, new_lps = tokens[:, checked : step + 1].tolist(), logprobs[:, checked : step + 1].tolist()
                checking = time.perf_counter()
                checked = step + 1
                for row in range(len(caps)):
                    if done[row]:
                        continue
                    for tok, lp in zip(new_ids[row], new_lps[row], strict=True):
                        host_ids[row].append(tok)
                        host_lps[row].append(lp)
                        ended = tok in stop_ids or (text_stop is not None and text_stop(host_ids[row]))
                        if ended or len(host_ids[row]) >= caps[row]:
                            done[row] = True
                            stats.tokens += len(host_ids[row])
                            on_row(row, host_ids[row], host_lps[row])
                            break
                stats.host_s += time.perf_counter() - checking
                if all(done):
                    return
            if last:
                break
            at = first_at + step
            view = mask if static else mask[:, : width + step + 1]
            logits = step_fn(token.unsqueeze(1), next_position + step, view, cache, at)
        for row in range(real_rows):  # every row has reached its cap by now
            if not done[row]:
                stats.tokens += len(host_ids[row])
                on_row(row, host_ids[row], host_lps[row])


class _PrefillEvents:
    """CUDA events around a batch's prefill: read once the batch is done, so timing it adds no synchronisation."""

    def __init__(self) -> None:
        self.begin = torch.cuda.Event(enable_timing=True)
        self.end = torch.cuda.Event(enable_timing=True)

    @classmethod
    def start(cls) -> _PrefillEvents:
        events = cls()
        events.begin.record()
        return events

    def prefilled(self) -> None:
        self.end.record()

    def seconds(self) -> float:
        return float(self.begin.elapsed_time(self.end)) / 1000.0
