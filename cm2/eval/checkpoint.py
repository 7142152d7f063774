"""A local checkpoint as a text generator for the OpenAI-compatible server.

Generation goes through cm2's own token policy (`TransformersPolicy`, batching concurrent requests, the same
code that samples rollouts in training) and tool calls are read with cm2's one parser (`cm2.llm.toolcalls`),
so a served model is read exactly as the episode runner reads it: `<tool_call>` blocks inside `<think>` are not calls,
and an answer whose blocks do not parse comes back as plain text (the client's parser then reports it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cm2.llm.completions import PromptSampling
from cm2.llm.protocol import ChatRequest, ChatResponse, Usage
from cm2.llm.structured import with_instruction
from cm2.llm.toolcalls import parse_tool_calls, template_messages
from cm2.rollout.chat_template import ensure_chat_template
from cm2.rollout.hf_policy import stop_token_ids
from cm2.rollout.policy import SamplingConfig, TokenPolicy

DEFAULT_MAX_NEW_TOKENS = 1024


def cut_at_stop(text: str, stop: list[str] | None) -> tuple[str, bool]:
    """`text` up to the first of the `stop` strings, and whether one was found."""
    cut = min((i for i in (text.find(s) for s in stop or [] if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


class CheckpointGenerator:
    """Answers chat and completion requests with a token policy and its tokenizer's chat template.

    `policy` is anything with `tokenizer` and `continue_tokens` (a `TokenPolicy`); tests pass a stand-in
    whose output text they control. A request without `temperature` is decoded greedily.
    """

    def __init__(self, policy: TokenPolicy, *, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS):
        self.policy = policy
        self.tokenizer = policy.tokenizer
        self.max_new_tokens = max_new_tokens

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        chat_template: str | Path | None = None,
        device: str | None = None,
        dtype: str = "auto",
        max_batch_size: int = 8,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    ) -> CheckpointGenerator:
        """Load a transformers checkpoint; without a chat template (its own or `chat_template`), cm2's
        Gemma-style template with tools is used."""
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from cm2.rollout.hf_policy import TransformersPolicy

        tokenizer = AutoTokenizer.from_pretrained(str(path))
        ensure_chat_template(tokenizer, Path(chat_template).read_text(encoding="utf-8") if chat_template else None)
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        torch_dtype: Any = dtype if dtype == "auto" else getattr(torch, dtype)
        from cm2.llm.attention import attention_kwargs

        model: Any = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch_dtype, **attention_kwargs(path))
        model = model.to(device).eval()
        policy = TransformersPolicy(
            model, tokenizer, stop_token_ids=stop_token_ids(model, tokenizer), max_batch_size=max_batch_size
        )
        return cls(policy, max_new_tokens=max_new_tokens)

    def render(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> str:
        """The prompt for `messages` and `tools`, ending where the assistant starts to answer."""
        text = self.tokenizer.apply_chat_template(
            template_messages(messages), tools=tools or None, add_generation_prompt=True, tokenize=False
        )
        return str(text)

    def _sampling(self, sampling: PromptSampling) -> SamplingConfig:
        return SamplingConfig(
            temperature=sampling.temperature or 0.0,
            top_p=sampling.top_p if sampling.top_p is not None else 1.0,
            max_new_tokens=sampling.max_tokens or self.max_new_tokens,
            seed=sampling.seed,
        )

    async def complete(self, prompt: str, sampling: PromptSampling) -> ChatResponse:
        """Continue a raw `prompt` (the `/v1/completions` route)."""
        ids = list(self.tokenizer(prompt, add_special_tokens=False)["input_ids"])
        generation = await self.policy.continue_tokens(ids, self._sampling(sampling))
        text, stopped = cut_at_stop(generation.text, sampling.stop)
        usage = Usage(prompt_tokens=len(ids), completion_tokens=len(generation.token_ids))
        return ChatResponse(text=text, usage=usage, finish_reason="stop" if stopped else generation.finish_reason)

    async def generate(self, request: ChatRequest) -> ChatResponse:
        """One chat answer; with `tools`, `<tool_call>` blocks come back as OpenAI `tool_calls`."""
        messages = request.messages
        if request.json_schema is not None:
            messages = with_instruction(messages, request.json_schema)
        sampling = PromptSampling.model_validate(request, from_attributes=True)
        response = await self.complete(self.render(messages, request.tools), sampling)
        if not request.tools:
            return response
        text, calls = parse_tool_calls(response.text)
        if not calls:
            return response
        return response.model_copy(update={"text": text, "tool_calls": calls, "finish_reason": "tool_calls"})
