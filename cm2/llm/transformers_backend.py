"""`LLMClient` over a transformers model in this process: a worker thread batches concurrent requests."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from cm2.llm.config import LLMConfig, request_defaults
from cm2.llm.hf_generate import DEFAULT_MAX_NEW_TOKENS, Generation, GenParams, HFGenerator
from cm2.llm.prices import PriceTable
from cm2.llm.protocol import ChatRequest, ChatResponse, LLMError, Usage
from cm2.llm.structured import StructuredOutputError, check_schema, parse_answer, with_instruction
from cm2.llm.toolcalls import parse_tool_calls


@dataclass
class _Job:
    prompt: str
    params: GenParams
    future: asyncio.Future[Generation]
    loop: asyncio.AbstractEventLoop


def _deliver(job: _Job, result: Generation | None, error: BaseException | None) -> None:
    """Hand a result to the caller's event loop (from the worker thread); a closed loop has no one waiting."""
    with contextlib.suppress(RuntimeError):
        job.loop.call_soon_threadsafe(_settle, job, result, error)


def _settle(job: _Job, result: Generation | None, error: BaseException | None) -> None:
    if job.future.done():
        return  # the caller was cancelled
    if error is not None:
        job.future.set_exception(error)
    else:
        assert result is not None
        job.future.set_result(result)


class TransformersBackend:
    """Answers chat requests with a local model; requests that arrive together are generated as one batch
    (those with the same settings; seeded requests run alone so that a seed reproduces its answer).

    JSON requests get the schema as an instruction in the prompt, and are generated again (up to
    `json_attempts` times) until the answer parses and validates.
    """

    def __init__(
        self,
        generator: HFGenerator,
        *,
        model_name: str | None = None,
        max_batch_size: int = 8,
        json_attempts: int = 3,
        prices: PriceTable | None = None,
        config: LLMConfig | None = None,
        batch_wait_s: float = 0.005,
    ):
        self.generator = generator
        self.model_name = model_name or generator.model_path
        self.max_batch_size = max_batch_size
        self.json_attempts = json_attempts
        self.prices = prices or PriceTable()
        self.config = config
        self.batch_wait_s = batch_wait_s
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.batches: list[int] = []  # sizes of the batches generated so far (for tests and stats)

    @classmethod
    def from_config(cls, config: LLMConfig) -> TransformersBackend:
        return cls(
            HFGenerator(config.model, chat_template=config.chat_template, device=config.device, dtype=config.dtype),
            max_batch_size=config.max_batch_size,
            json_attempts=config.json_attempts,
            prices=config.price_table(),
            config=config,
        )

    def __repr__(self) -> str:
        return f"TransformersBackend(model={self.model_name!r}, device={self.generator.device!r})"

    def identity(self) -> dict[str, Any]:
        defaults = request_defaults(self.config) if self.config else {}
        return {
            "backend": "transformers",
            "model": self.model_name,
            "chat_template": self.generator.template_digest(),
            "defaults": defaults,
        }

    def render_prompt(self, request: ChatRequest) -> str:
        """The exact prompt text the model sees for `request` (JSON instruction included)."""
        messages = request.messages
        if request.json_schema is not None:
            messages = with_instruction(messages, request.json_schema)
        return self.generator.render(messages, request.tools)

    async def generate(self, request: ChatRequest) -> ChatResponse:
        """One generation for `request`, with no JSON handling (`json_schema` only adds the instruction)."""
        if self.config is not None:
            request = self.config.with_defaults(request)
        prompt = self.render_prompt(request)
        params = GenParams(
            max_new_tokens=request.max_tokens or DEFAULT_MAX_NEW_TOKENS,
            temperature=request.temperature,
            top_p=request.top_p,
            seed=request.seed,
            stop=tuple(request.stop or ()),
        )
        loop = asyncio.get_running_loop()
        job = _Job(prompt, params, loop.create_future(), loop)
        self._ensure_worker()
        self._jobs.put(job)
        generation = await job.future
        text, tool_calls = generation.text, None
        if request.tools:
            text, calls = parse_tool_calls(text)
            tool_calls = calls or None
        usage = Usage(prompt_tokens=generation.prompt_tokens, completion_tokens=generation.completion_tokens)
        return ChatResponse(
            text=text,
            usage=self.prices.priced(self.model_name, usage),
            model=self.model_name,
            finish_reason="tool_calls" if tool_calls else generation.finish_reason,
            tool_calls=tool_calls,
        )

    async def chat(self, request: ChatRequest) -> ChatResponse:
        schema = request.json_schema
        if schema is None:
            return await self.generate(request)
        try:
            check_schema(schema)
        except StructuredOutputError as exc:
            raise LLMError(str(exc)) from exc
        usage = Usage()
        for attempt in range(1, self.json_attempts + 1):
            response = await self.generate(request)
            usage = usage + response.usage
            response.usage = usage
            try:
                response.parsed = parse_answer(response.text, response.finish_reason, schema)
                return response
            except StructuredOutputError as exc:
                if attempt == self.json_attempts:
                    raise LLMError(
                        f"no valid JSON answer from {self.model_name!r} after {attempt} attempts; last problem: {exc}",
                        usage=usage,
                    ) from exc
        raise AssertionError("unreachable")

    def _ensure_worker(self) -> None:
        with self._start_lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, name="cm2-transformers", daemon=True)
                self._worker.start()

    def _collect(self, first: _Job) -> tuple[list[_Job], bool]:
        """`first` plus whatever else is waiting (briefly), and whether the stop sentinel was seen."""
        jobs = [first]
        try:
            job = self._jobs.get(timeout=self.batch_wait_s)
            while True:
                if job is None:
                    return jobs, True
                jobs.append(job)
                job = self._jobs.get_nowait()
        except queue.Empty:
            return jobs, False

    def _work(self) -> None:
        while True:
            first = self._jobs.get()
            if first is None:
                return
            jobs, stop = self._collect(first)
            groups: dict[object, list[_Job]] = defaultdict(list)
            for index, job in enumerate(jobs):
                groups[job.params if job.params.seed is None else (job.params, index)].append(job)
            for group in groups.values():
                for start in range(0, len(group), self.max_batch_size):
                    self._run(group[start : start + self.max_batch_size])
            if stop:
                return

    def _run(self, jobs: list[_Job]) -> None:
        self.batches.append(len(jobs))
        try:
            results = self.generator.generate([job.prompt for job in jobs], jobs[0].params)
        except Exception as exc:  # reported to every caller of the batch
            for job in jobs:
                _deliver(job, None, LLMError(f"generation failed: {exc}"))
            return
        for job, result in zip(jobs, results, strict=True):
            _deliver(job, result, None)

    def close(self) -> None:
        """Stop the worker thread after the jobs already queued."""
        if self._worker is not None and self._worker.is_alive():
            self._jobs.put(None)
            self._worker.join()
        self._worker = None

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)
