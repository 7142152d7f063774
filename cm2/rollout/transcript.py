"""Token bookkeeping of one episode: prompt, completion, loss mask, log-probs and step spans.

The policy's sampled tokens are kept exactly as sampled (mask 1). Everything the environment adds
(tool responses, replayed user turns, template glue) is rendered with the chat template and appended
as the difference between successive renderings (mask 0). This needs a prefix-preserving template,
which cm2's own templates are; a template that rewrites earlier turns raises `TemplateError`.
"""

from __future__ import annotations

from typing import Any

from cm2.rollout.policy import Generation
from cm2.schema import Message, StepSpan, ToolCall, ToolSpec


class TemplateError(RuntimeError):
    """The chat template does not render a growing conversation as a growing string."""


def _call_dict(call: ToolCall) -> dict[str, Any]:
    try:
        arguments: str | dict[str, Any] = call.function.parsed_arguments()
    except ValueError:
        arguments = call.function.arguments  # kept verbatim; templates render a string as is
    data: dict[str, Any] = {"type": "function", "function": {"name": call.function.name, "arguments": arguments}}
    if call.id:
        data["id"] = call.id
    return data


def template_message(message: Message, names: dict[str, str] | None = None) -> dict[str, Any]:
    """`message` as chat templates take it, tool calls included (arguments as objects when they are valid JSON,
    what most templates expect); a tool message gets the name of the tool it answers (`names`: call id → tool
    name, see `call_names`) when the data left it out. SFT examples and rollout prompts both render through this."""
    data: dict[str, Any] = {"role": message.role, "content": message.content or ""}
    if message.calls:
        data["tool_calls"] = [_call_dict(call) for call in message.calls]
    if message.role == "tool":
        if message.tool_call_id:
            data["tool_call_id"] = message.tool_call_id
        name = message.name or (names or {}).get(message.tool_call_id or "")
        if name:
            data["name"] = name
    return data


def call_names(messages: list[Message]) -> dict[str, str]:
    """Call id → tool name over `messages`."""
    return {call.id: call.name for m in messages for call in m.calls if call.id}


class TokenTranscript:
    """Grows the token sequence of an episode as the policy and the environment take turns."""

    def __init__(self, tokenizer: Any, tools: list[ToolSpec], messages: list[Message]):
        self.tokenizer = tokenizer
        self._tools = [tool.dump() for tool in tools] or None
        self._names = call_names(messages)
        self._messages = [template_message(m, self._names) for m in messages]
        self._rendered = self._render(add_generation_prompt=True)
        self.prompt_ids: list[int] = self._encode(self._rendered)
        self.completion_ids: list[int] = []
        self.loss_mask: list[int] = []
        self.logprobs: list[float] = []
        self.spans: list[StepSpan] = []
        self._stop_text = ""

    @property
    def context_ids(self) -> list[int]:
        return self.prompt_ids + self.completion_ids

    def __len__(self) -> int:
        return len(self.prompt_ids) + len(self.completion_ids)

    def _render(self, add_generation_prompt: bool) -> str:
        text = self.tokenizer.apply_chat_template(
            self._messages, tools=self._tools, tokenize=False, add_generation_prompt=add_generation_prompt
        )
        return str(text)

    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def add_generation(self, generation: Generation, turn: int, step: int) -> StepSpan:
        """Append the policy's sampled tokens (trained on) and record the step's span."""
        start = len(self.completion_ids)
        self.completion_ids.extend(generation.token_ids)
        self.loss_mask.extend([1] * len(generation.token_ids))
        logprobs = generation.logprobs or [0.0] * len(generation.token_ids)
        self.logprobs.extend(logprobs)
        # The template renders assistant content verbatim, so the raw text keeps both sides aligned.
        self._messages.append({"role": "assistant", "content": generation.text})
        self._rendered += generation.text
        self._stop_text = generation.stop_text
        span = StepSpan(turn=turn, step=step, start=start, end=len(self.completion_ids))
        self.spans.append(span)
        return span

    def add_environment(self, messages: list[Message]) -> int:
        """Append tool responses or a user turn (not trained on); returns the number of new tokens."""
        self._messages.extend(template_message(m, self._names) for m in messages)
        full = self._render(add_generation_prompt=True)
        if not full.startswith(self._rendered):
            raise TemplateError(
                "the chat template is not prefix-preserving: re-rendering the conversation changed earlier "
                "text; use a training template that renders past turns verbatim"
            )
        delta = full[len(self._rendered) :]
        if self._stop_text and delta.startswith(self._stop_text):
            delta = delta[len(self._stop_text) :]  # the sampled stop token already holds this text
        self._stop_text = ""
        ids = self._encode(delta)
        self.completion_ids.extend(ids)
        self.loss_mask.extend([0] * len(ids))
        self.logprobs.extend([0.0] * len(ids))
        self._rendered = full
        return len(ids)
