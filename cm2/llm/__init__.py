"""One async LLM client protocol with several backends."""

from cm2.llm.protocol import ChatRequest, ChatResponse, LLMClient, LLMError, ReasoningEffort, Usage

__all__ = ["ChatRequest", "ChatResponse", "LLMClient", "LLMError", "ReasoningEffort", "Usage"]
