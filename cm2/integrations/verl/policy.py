"""cm2's TokenPolicy over VeRL's inference servers (`server_manager.generate` -> `TokenOutput`)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any, Protocol

from cm2.rollout.policy import Generation, SamplingConfig


class TokenServer(Protocol):
    """What the policy needs of VeRL's `LLMServerClient`."""

    async def generate(
        self, request_id: str, *, prompt_ids: list[int], sampling_params: dict[str, Any], **kwargs: Any
    ) -> Any:
        """A `TokenOutput`: `token_ids`, optional `log_probs`, `stop_reason`, `num_preempted`."""
        ...


class ServerTokenPolicy:
    """Continues token sequences on VeRL's rollout servers (vLLM, SGLang, TensorRT-LLM replicas).

    One instance serves one episode: every step goes out under the same `request_id`, so the server
    manager routes the episode to one replica and its prefix cache is reused turn after turn.
    VeRL's sampling settings (temperature, top_p, top_k, log-probs) are sent as given; cm2 sets the
    per-step token budget. Log-probs are kept only when VeRL asked for them.
    """

    def __init__(
        self,
        server: TokenServer,
        tokenizer: Any,
        sampling_params: dict[str, Any],
        *,
        request_id: str | None = None,
        stop_token_ids: Iterable[int] = (),
        stop: Iterable[str] = (),
    ):
        self.server = server
        self.tokenizer = tokenizer
        self.request_id = request_id or uuid.uuid4().hex
        self.base_params = {k: v for k, v in sampling_params.items() if k not in ("max_tokens", "max_new_tokens")}
        eos = getattr(tokenizer, "eos_token_id", None)
        self.extra_stop_ids = sorted(set(stop_token_ids))
        self.stop_token_ids = set(self.extra_stop_ids) | ({eos} if eos is not None else set())
        self.stop = list(stop)
        self.want_logprobs = bool(sampling_params.get("logprobs", False))
        self.generate_s = 0.0
        self.calls = 0
        self.preempted = 0

    def params(self, sampling: SamplingConfig) -> dict[str, Any]:
        """The sampling parameters sent for one step."""
        params = dict(self.base_params)
        params["max_tokens"] = sampling.max_new_tokens
        if self.extra_stop_ids:
            params["stop_token_ids"] = list(self.extra_stop_ids)
        if self.stop:
            params["stop"] = list(self.stop)
        return params

    async def continue_tokens(self, context_ids: list[int], sampling: SamplingConfig) -> Generation:
        started = time.perf_counter()
        output = await self.server.generate(
            request_id=self.request_id, prompt_ids=list(context_ids), sampling_params=self.params(sampling)
        )
        self.generate_s += time.perf_counter() - started
        self.calls += 1
        self.preempted += int(getattr(output, "num_preempted", None) or 0)
        return self.to_generation(list(output.token_ids), getattr(output, "log_probs", None), sampling)

    def to_generation(self, ids: list[int], log_probs: list[float] | None, sampling: SamplingConfig) -> Generation:
        """A cm2 Generation: the text leaves out a sampled stop token, whose text goes to `stop_text`."""
        logprobs = [float(x) for x in log_probs] if self.want_logprobs and log_probs else None
        if logprobs is not None and len(logprobs) != len(ids):
            raise ValueError(f"the server returned {len(ids)} tokens but {len(logprobs)} log-probs")
        stopped = bool(ids) and ids[-1] in self.stop_token_ids
        body = ids[:-1] if stopped else ids
        stop_text = self.tokenizer.decode(ids[-1:], skip_special_tokens=False) if stopped else ""
        text = self.tokenizer.decode(body, skip_special_tokens=False)
        finish = "length" if not stopped and len(ids) >= sampling.max_new_tokens else "stop"
        return Generation(text=text, token_ids=ids, stop_text=stop_text, logprobs=logprobs, finish_reason=finish)
