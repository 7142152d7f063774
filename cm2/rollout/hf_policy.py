"""An in-process transformers model as a token policy, batching the requests of concurrent episodes."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from cm2.rollout.policy import DecoderConfig, Generation, SamplingConfig
from cm2.rollout.timing import DecoderStats

T = TypeVar("T")
# End-of-turn markers of common chat formats; when the vocabulary has one as a single token, generation
# stops there even if the checkpoint's generation config names only the end-of-text token.
TURN_END_TOKENS = ("<end_of_turn>", "<|im_end|>", "<|eot_id|>", "<|end|>")
_Job = tuple[list["_Request"], asyncio.AbstractEventLoop]
Deliver = Callable[[int, Generation], None]


def _settle(done: asyncio.Future[Generation], result: Generation | None, error: BaseException | None) -> None:
    if done.done():
        return
    if error is not None:
        done.set_exception(error)
    elif result is not None:
        done.set_result(result)


def stop_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """End-of-sequence ids of the generation config and tokenizer, plus any end-of-turn marker token."""
    ids: set[int] = set()
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in eos if isinstance(eos, list) else [eos]:
        if isinstance(value, int):
            ids.add(value)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    vocab = tokenizer.get_vocab()
    ids.update(vocab[token] for token in TURN_END_TOKENS if token in vocab)
    return sorted(ids)


@dataclass
class _Request:
    context_ids: list[int]
    sampling: SamplingConfig
    future: asyncio.Future[Generation]


class TransformersPolicy:
    """Samples from a causal LM, keeping token ids and log-probs for training.

    Requests (with the same sampling settings) are gathered into one batch until none has arrived for
    `batch_window_s` while the model is idle; while a batch is generating, new requests wait for it to end
    and then go together. Episodes whose rows stop early therefore rejoin the next full batch instead of
    splitting off into small ones, each of which would cost a whole padded decode on the GPU. `decoder`
    picks the engine: cm2's decode loop (cm2.rollout.decoder; each row's own token cap, rows handed
    back as they stop) or transformers' `generate`.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        stop_token_ids: Sequence[int] = (),
        stop_strings: Sequence[str] = (),
        max_batch_size: int | None = None,
        batch_window_s: float = 0.005,
        hold_while_busy: bool = True,
        decoder: DecoderConfig | None = None,
    ):
        self.model = model
        self.tokenizer = tokenizer
        eos = tokenizer.eos_token_id
        self.stop_token_ids = sorted({*stop_token_ids, *([eos] if eos is not None else [])})
        self.stop_strings = list(stop_strings)
        config = decoder or DecoderConfig()
        if max_batch_size is not None:
            config = config.model_copy(update={"max_batch_size": max_batch_size})
        self.decoder_config = config
        self.max_batch_size = config.max_batch_size
        self.batch_window_s = batch_window_s
        self.hold_while_busy = hold_while_busy
        """False: the older rule, a batch every `batch_window_s` whatever is generating (benchmarks compare)."""
        self._pending: list[_Request] = []
        self._flush_scheduled = False
        self._busy = 0  # batches handed to the generator and not finished
        self._loop: asyncio.AbstractEventLoop | None = None
        self._arrivals = 0
        self._model_lock = threading.Lock()
        self._jobs: queue.Queue[_Job | None] | None = None
        self._decoder: Any = None
        self._threads: set[asyncio.Task[None]] = set()
        self.generate_calls = 0
        self.oom_splits = 0
        self.decoder_stats = DecoderStats()
        """Where generation's time went, cumulative (the `generate` engine counts all of it as decoding)."""

    @property
    def pad_id(self) -> int:
        pad_id = self.tokenizer.pad_token_id
        if pad_id is None:
            pad_id = self.stop_token_ids[0] if self.stop_token_ids else 0
        return int(pad_id)

    def drive(self, main: Coroutine[Any, Any, T]) -> T:
        """Run `main` (episodes using this policy) on an event loop in a helper thread while the calling
        thread runs every generation. Measured on an H200: `generate` in a worker thread took 2.4x as long
        as in the main thread, so training loops call this from the main thread."""
        jobs: queue.Queue[_Job | None] = queue.Queue()
        self._jobs = jobs
        box: dict[str, Any] = {}

        def run_loop() -> None:
            try:
                box["result"] = asyncio.run(main)
            except BaseException as exc:
                box["error"] = exc
            finally:
                jobs.put(None)

        thread = threading.Thread(target=run_loop, name="cm2-episodes", daemon=True)
        thread.start()
        try:
            while (job := jobs.get()) is not None:
                self._serve(*job)
        finally:
            thread.join()
            self._jobs = None
        if "error" in box:
            raise box["error"]
        result_of_main: T = box["result"]
        return result_of_main

    async def continue_tokens(self, context_ids: list[int], sampling: SamplingConfig) -> Generation:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # A new event loop (each `drive` runs one): the last one may have closed before a finished batch's
            # `_batch_done` ran, and nothing it scheduled will ever run, so its batching state is dropped.
            self._loop, self._busy, self._flush_scheduled, self._pending = loop, 0, False, []
        future: asyncio.Future[Generation] = loop.create_future()
        self._pending.append(_Request(list(context_ids), sampling, future))
        self._arrivals += 1
        if len(self._pending) >= self.max_batch_size:
            self._flush()
        elif not self._flush_scheduled and not (self._busy and self.hold_while_busy):
            self._schedule_flush(loop)
        return await future

    def _schedule_flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._flush_scheduled = True
        loop.call_later(self.batch_window_s, self._flush_when_quiet, self._arrivals)

    def _flush_when_quiet(self, arrivals: int) -> None:
        """Flush once a whole window passed without a new request (and no batch is generating)."""
        self._flush_scheduled = False
        if not self.hold_while_busy:
            self._flush()
            return
        if self._busy or not self._pending:
            return  # the running batch's end schedules the next flush
        if arrivals != self._arrivals:
            self._schedule_flush(asyncio.get_running_loop())
            return
        self._flush()

    def _batch_done(self, loop: asyncio.AbstractEventLoop) -> None:
        self._busy -= 1
        if self.hold_while_busy and self._pending and not self._busy and not self._flush_scheduled:
            self._schedule_flush(loop)

    def _batch_key(self, sampling: SamplingConfig) -> str:
        # The loop engine gives every row its own token cap, so the cap does not split batches.
        if self.decoder_config.engine == "loop":
            return sampling.model_dump_json(exclude={"max_new_tokens"})
        return sampling.model_dump_json()

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        groups: dict[str, list[_Request]] = {}
        for request in pending:
            groups.setdefault(self._batch_key(request.sampling), []).append(request)
        loop = asyncio.get_running_loop()
        for group in groups.values():
            for start in range(0, len(group), self.max_batch_size):
                batch = group[start : start + self.max_batch_size]
                self._busy += 1
                if self._jobs is not None:  # generation runs in the thread that called `drive`
                    self._jobs.put((batch, loop))
                else:
                    task = loop.create_task(asyncio.to_thread(self._serve, batch, loop))
                    self._threads.add(task)
                    task.add_done_callback(self._threads.discard)

    def _serve(self, batch: list[_Request], loop: asyncio.AbstractEventLoop) -> None:
        """Generate for `batch`, settling each request's future (in `loop`) as soon as its row is done;
        on failure every waiting request learns of it."""

        def settle(request: _Request, result: Generation | None, error: BaseException | None) -> None:
            with contextlib.suppress(RuntimeError):  # the loop may have closed already
                loop.call_soon_threadsafe(_settle, request.future, result, error)

        try:
            contexts = [r.context_ids for r in batch]
            caps = [r.sampling.max_new_tokens for r in batch]
            self._generate(contexts, caps, batch[0].sampling, lambda row, gen: settle(batch[row], gen, None))
        except Exception as exc:
            for request in batch:
                settle(request, None, exc)
        finally:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._batch_done, loop)

    def generate(self, contexts: list[list[int]], sampling: SamplingConfig) -> list[Generation]:
        """One generation per context, synchronously (benchmarks and tests; episodes use `continue_tokens`)."""
        results: dict[int, Generation] = {}
        self._generate(contexts, [sampling.max_new_tokens] * len(contexts), sampling, results.__setitem__)
        return [results[row] for row in range(len(contexts))]

    def _generate(self, contexts: list[list[int]], caps: list[int], sampling: SamplingConfig, deliver: Deliver) -> None:
        import torch

        try:
            with self._model_lock:
                self.generate_calls += 1
                self._generate_batch(contexts, caps, sampling, deliver)
            return
        except torch.OutOfMemoryError:
            if len(contexts) == 1:
                raise
        # Out of device memory (a GPU shared with other runs, say): free what the failed call held and
        # generate the two halves one after the other.
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        self.oom_splits += 1
        half = len(contexts) // 2
        self._generate(contexts[:half], caps[:half], sampling, deliver)
        self._generate(contexts[half:], caps[half:], sampling, lambda row, gen: deliver(half + row, gen))

    def _generate_batch(
        self, contexts: list[list[int]], caps: list[int], sampling: SamplingConfig, deliver: Deliver
    ) -> None:
        if self.decoder_config.engine == "generate":
            from cm2.rollout.hf_generate_engine import generate_tokens

            started = time.perf_counter()
            tokens, logprobs = generate_tokens(
                self.model,
                self.tokenizer,
                contexts,
                sampling,
                pad_id=self.pad_id,
                stop_token_ids=self.stop_token_ids,
                stop_strings=self.stop_strings,
            )
            generations = [self._to_generation(tokens[row], logprobs[row]) for row in range(len(contexts))]
            self._count_generate(generations, time.perf_counter() - started)
            for row, generation in enumerate(generations):
                deliver(row, generation)
            return
        import torch

        from cm2.rollout.decoder import LoopDecoder

        if self._decoder is None:
            self._decoder = LoopDecoder(self.model, self.decoder_config, self.pad_id, self.decoder_stats)
        if sampling.seed is not None:
            torch.manual_seed(sampling.seed)
        self._decoder.run(
            contexts,
            caps,
            sampling.temperature,
            sampling.top_p,
            self.stop_token_ids,
            self._ends_with_stop_string if self.stop_strings else None,
            lambda row, ids, lps: deliver(row, self._to_generation(ids, lps, cut=True)),
        )

    def _count_generate(self, generations: list[Generation], seconds: float) -> None:
        stats = self.decoder_stats
        stats.batches += 1
        stats.rows += len(generations)
        stats.decode_s += seconds
        stats.tokens += sum(len(g.token_ids) for g in generations)
        stats.iterations += max(len(g.token_ids) for g in generations)

    def _ends_with_stop_string(self, ids: list[int]) -> bool:
        tail = self.tokenizer.decode(ids[-8:], skip_special_tokens=False)
        return any(tail.endswith(s) for s in self.stop_strings)

    def _to_generation(self, tokens: list[int], logprobs: list[float], cut: bool = False) -> Generation:
        """`cut`: the row already ends at its first stop (the loop engine checked every token with the same
        tests), so only its last token is looked at instead of decoding a tail at every token again."""
        # Finished rows may run on (padding, or tokens past a stop string); cut each row at its own stop.
        ids: list[int] = list(tokens[:-1]) if cut else []
        lps: list[float] = [float(lp) for lp in logprobs[:-1]] if cut else []
        finish, stop_text = "length", ""
        for token, logprob in zip(tokens[len(ids) :], logprobs[len(ids) :], strict=True):
            ids.append(token)
            lps.append(float(logprob))
            if token in self.stop_token_ids:
                finish, stop_text = "stop", self.tokenizer.decode([token], skip_special_tokens=False)
                break
            if self.stop_strings and self._ends_with_stop_string(ids):
                finish = "stop"
                break
        body = ids[:-1] if stop_text else ids
        text = self.tokenizer.decode(body, skip_special_tokens=False)
        return Generation(text=text, token_ids=ids, logprobs=lps, finish_reason=finish, stop_text=stop_text)
