"""A chat policy behind any OpenAI-compatible endpoint (vLLM, SGLang, llama.cpp, `cm2 serve`, hosted APIs)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from cm2.llm import ChatRequest, ChatResponse, LLMClient, LLMConfig, Usage, UsageMeter, make_client
from cm2.llm.toolcalls import parse_output
from cm2.rollout.policy import Generation, SamplingConfig
from cm2.schema import FunctionCall, Message, ToolCall, ToolSpec


def openai_message(message: Message) -> dict[str, Any]:
    """`message` as an OpenAI chat message: only the fields the API knows, arguments as JSON strings.

    `content: null` is sent as "" (llama.cpp's server rejects null); the `<think>` block stays in the
    content, so the model keeps its reasoning in context as it was trained.
    """
    out: dict[str, Any] = {"role": message.role, "content": message.content or ""}
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.id or _fallback_id(index, call),
                "type": "function",
                "function": {"name": call.name, "arguments": _arguments_text(call.function.arguments)},
            }
            for index, call in enumerate(message.tool_calls)
        ]
    if message.role == "tool":
        if message.tool_call_id is not None:
            out["tool_call_id"] = message.tool_call_id
        elif message.name:
            out["name"] = message.name  # some servers match a result to its call by name
    return out


def _arguments_text(arguments: str | dict[str, Any]) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)


def _fallback_id(index: int, call: ToolCall) -> str:
    body = f"{index}:{call.name}:{_arguments_text(call.function.arguments)}"
    return f"call_{uuid.uuid5(uuid.NAMESPACE_OID, body).hex[:16]}"


def message_from_response(response: ChatResponse) -> Message | None:
    """The assistant message of an answer: structured `tool_calls` when the server parsed them, else the
    text read with cm2's `<tool_call>` parser. None when the text holds malformed tool calls (the episode
    runner then answers them with an error object, as during training)."""
    if response.tool_calls:
        calls = [_tool_call(index, raw) for index, raw in enumerate(response.tool_calls)]
        return Message(role="assistant", content=response.text.strip(), tool_calls=calls)
    parsed = parse_output(response.text)
    return parsed.to_message() if parsed.ok else None


def _tool_call(index: int, raw: dict[str, Any]) -> ToolCall:
    function = raw.get("function") or {}
    arguments = function.get("arguments")
    if arguments is None or arguments == "":
        arguments = "{}"
    call = FunctionCall(name=str(function.get("name") or ""), arguments=arguments)
    call_id = raw.get("id") or _fallback_id(index, ToolCall(function=call))
    return ToolCall(id=call_id, function=call)


class EndpointPolicy:
    """`ChatPolicy` over an OpenAI-compatible chat endpoint.

    Transport failures (5xx, 429, timeouts, dropped connections) are retried by the underlying
    `cm2.llm` client; a request that fails for good raises `LLMError`. `usage` sums the tokens the
    policy consumed. `send_max_tokens=False` leaves the answer length to the server (benchmarks whose
    reference harness sends none).
    """

    def __init__(
        self,
        client: LLMClient,
        *,
        send_max_tokens: bool = True,
        extra_body: dict[str, Any] | None = None,
        name: str = "",
    ):
        self.client = client
        self.send_max_tokens = send_max_tokens
        self.extra_body = dict(extra_body or {})
        self.name = name
        self.usage = Usage()
        self.requests = 0

    @classmethod
    def connect(
        cls,
        base_url: str,
        model: str,
        *,
        meter: UsageMeter | None = None,
        send_max_tokens: bool = True,
        extra_body: dict[str, Any] | None = None,
        **llm: Any,
    ) -> EndpointPolicy:
        """A policy for `model` served at `base_url` (ending in /v1); `llm` holds further `LLMConfig` fields
        (`api_key_env`, `timeout_s`, `max_retries`, `prices`, …)."""
        settings: dict[str, Any] = {"api_key_env": None, "timeout_s": 600.0, "max_concurrency": 32} | llm
        config = LLMConfig(model=model, base_urls=[base_url], **settings)
        client = make_client(config, role="policy", meter=meter)
        return cls(client, send_max_tokens=send_max_tokens, extra_body=extra_body, name=model)

    def __repr__(self) -> str:
        return f"EndpointPolicy({self.client!r})"

    def request(self, messages: list[Message], tools: list[ToolSpec], sampling: SamplingConfig) -> ChatRequest:
        """The chat request sent for one assistant step."""
        return ChatRequest(
            messages=[openai_message(m) for m in messages],
            tools=[tool.dump() for tool in tools] or None,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_new_tokens if self.send_max_tokens else None,
            seed=sampling.seed,
            extra_body=self.extra_body,
        )

    async def respond(self, messages: list[Message], tools: list[ToolSpec], sampling: SamplingConfig) -> Generation:
        response = await self.client.chat(self.request(messages, tools, sampling))
        self.usage = self.usage + response.usage
        self.requests += 1
        return Generation(
            text=response.text,
            finish_reason=response.finish_reason or "stop",
            message=message_from_response(response),
        )

    async def aclose(self) -> None:
        close = getattr(self.client, "aclose", None)
        if close is not None:
            await close()
