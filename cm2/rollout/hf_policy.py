"""An in-process transformers model as a token policy, batching the requests of concurrent episodes."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from cm2.rollout.policy import Generation, SamplingParams

T = TypeVar("T")
# End-of-turn markers of common chat formats; when the vocabulary has one as a single token, generation
# stops there even if the checkpoint's generation config names only the end-of-text token.
TURN_END_TOKENS = ("<end_of_turn>", "<|im_end|>", "<|eot_id|>", "<|end|>")
_Job = tuple[list[list[int]], SamplingParams, asyncio.AbstractEventLoop, "asyncio.Future[list[Generation]]"]


def _settle(done: asyncio.Future[list[Generation]], result: list[Generation] | None, error: Exception | None) -> None:
    if done.done():
        return
    if error is not None:
        done.set_exception(error)
    else:
        done.set_result(result or [])


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
    sampling: SamplingParams
    future: asyncio.Future[Generation]


class TransformersPolicy:
    """Samples from a causal LM with `generate`, keeping token ids and log-probs for training.

    Requests that arrive within `batch_window_s` of each other (and share sampling settings) are
    left-padded into one `generate` call, so many concurrent episodes share the model efficiently.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        stop_token_ids: Sequence[int] = (),
        stop_strings: Sequence[str] = (),
        max_batch_size: int = 32,
        batch_window_s: float = 0.005,
    ):
        self.model = model
        self.tokenizer = tokenizer
        eos = tokenizer.eos_token_id
        self.stop_token_ids = sorted({*stop_token_ids, *([eos] if eos is not None else [])})
        self.stop_strings = list(stop_strings)
        self.max_batch_size = max_batch_size
        self.batch_window_s = batch_window_s
        self._pending: list[_Request] = []
        self._flush_scheduled = False
        self._model_lock = threading.Lock()
        self._jobs: queue.Queue[_Job | None] | None = None
        self.generate_calls = 0
        self.oom_splits = 0

    def drive(self, main: Coroutine[Any, Any, T]) -> T:
        """Run `main` (episodes using this policy) on an event loop in a helper thread while the calling
        thread runs every `generate`. Measured on an H200: `generate` in a worker thread took 2.4x as long
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
                contexts, sampling, loop, done = job
                result: list[Generation] | None = None
                error: Exception | None = None
                try:
                    result = self._generate(contexts, sampling)
                except Exception as exc:
                    error = exc
                with contextlib.suppress(RuntimeError):  # the loop may have closed already
                    loop.call_soon_threadsafe(_settle, done, result, error)
        finally:
            thread.join()
            self._jobs = None
        if "error" in box:
            raise box["error"]
        result_of_main: T = box["result"]
        return result_of_main

    async def continue_tokens(self, context_ids: list[int], sampling: SamplingParams) -> Generation:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Generation] = loop.create_future()
        self._pending.append(_Request(list(context_ids), sampling, future))
        if len(self._pending) >= self.max_batch_size:
            self._flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_later(self.batch_window_s, self._flush)
        return await future

    def _flush(self) -> None:
        self._flush_scheduled = False
        pending, self._pending = self._pending, []
        groups: dict[str, list[_Request]] = {}
        for request in pending:
            groups.setdefault(request.sampling.model_dump_json(), []).append(request)
        for group in groups.values():
            for start in range(0, len(group), self.max_batch_size):
                batch = group[start : start + self.max_batch_size]
                asyncio.get_running_loop().create_task(self._run_batch(batch))

    async def _run_batch(self, batch: list[_Request]) -> None:
        contexts = [r.context_ids for r in batch]
        try:
            if self._jobs is not None:  # generation runs in the thread that called `drive`
                loop = asyncio.get_running_loop()
                done: asyncio.Future[list[Generation]] = loop.create_future()
                self._jobs.put((contexts, batch[0].sampling, loop, done))
                results = await done
            else:
                results = await asyncio.to_thread(self._generate, contexts, batch[0].sampling)
        except Exception as exc:  # every waiting episode learns of the failure
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(exc)
            return
        for request, result in zip(batch, results, strict=True):
            if not request.future.done():
                request.future.set_result(result)

    def _generate(self, contexts: list[list[int]], sampling: SamplingParams) -> list[Generation]:
        import torch

        try:
            return self._generate_batch(contexts, sampling)
        except torch.OutOfMemoryError:
            if len(contexts) == 1:
                raise
        # Out of device memory (a GPU shared with other runs, say): free what the failed call held and
        # generate the two halves one after the other.
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        self.oom_splits += 1
        half = len(contexts) // 2
        return self._generate(contexts[:half], sampling) + self._generate(contexts[half:], sampling)

    def _generate_batch(self, contexts: list[list[int]], sampling: SamplingParams) -> list[Generation]:
        import torch

        with self._model_lock:
            self.generate_calls += 1
            device = next(self.model.parameters()).device
            pad_id = self.tokenizer.pad_token_id
            if pad_id is None:
                pad_id = self.stop_token_ids[0] if self.stop_token_ids else 0
            width = max(len(c) for c in contexts)
            input_ids = torch.full((len(contexts), width), pad_id, dtype=torch.long)
            attention = torch.zeros((len(contexts), width), dtype=torch.long)
            for row, context in enumerate(contexts):
                input_ids[row, width - len(context) :] = torch.tensor(context)
                attention[row, width - len(context) :] = 1
            if sampling.seed is not None:
                torch.manual_seed(sampling.seed)
            do_sample = sampling.temperature > 0
            kwargs: dict[str, Any] = {
                "max_new_tokens": sampling.max_new_tokens,
                "do_sample": do_sample,
                "eos_token_id": self.stop_token_ids or None,
                "pad_token_id": pad_id,
                "return_dict_in_generate": True,
                "output_scores": True,
                # A NaN or inf logit (seen with bf16 Gemma after SFT) would crash CUDA sampling.
                "remove_invalid_values": True,
            }
            if do_sample:
                kwargs.update(temperature=sampling.temperature, top_p=sampling.top_p, top_k=0)
            if self.stop_strings:
                from transformers import StoppingCriteriaList

                from cm2.llm.hf_stopping import StopOnText

                stop = StopOnText(self.tokenizer, tuple(self.stop_strings), prompt_width=width)
                kwargs["stopping_criteria"] = StoppingCriteriaList([stop])
            with torch.no_grad():
                output = self.model.generate(
                    input_ids=input_ids.to(device), attention_mask=attention.to(device), **kwargs
                )
            new_tokens = output.sequences[:, width:]
            # Log-prob of each sampled token only: stacking full (batch, vocab) score tensors for every
            # step would move gigabytes for large vocabularies.
            chosen = [
                torch.log_softmax(scores.float(), dim=-1).gather(1, new_tokens[:, s : s + 1]).squeeze(1)
                for s, scores in enumerate(output.scores)
            ]
            logprobs = torch.stack(chosen, dim=1).cpu()
            new_tokens = new_tokens.cpu()
        return [self._to_generation(new_tokens[row], logprobs[row]) for row in range(len(contexts))]

    def _to_generation(self, tokens: Any, logprobs: Any) -> Generation:
        # Finished rows are padded by `generate`; cut each row at its own stop token or stop string.
        ids: list[int] = []
        lps: list[float] = []
        finish, stop_text = "length", ""
        for position, token in enumerate(tokens.tolist()):
            ids.append(token)
            lps.append(float(logprobs[position]))
            if token in self.stop_token_ids:
                finish, stop_text = "stop", self.tokenizer.decode([token], skip_special_tokens=False)
                break
            if self.stop_strings:
                tail = self.tokenizer.decode(ids[-8:], skip_special_tokens=False)
                if any(tail.endswith(s) for s in self.stop_strings):
                    finish = "stop"
                    break
        body = ids[:-1] if stop_text else ids
        text = self.tokenizer.decode(body, skip_special_tokens=False)
        return Generation(text=text, token_ids=ids, logprobs=lps, finish_reason=finish, stop_text=stop_text)
