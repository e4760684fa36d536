"""The error an LLM call raises; the runner records it as the line's error (type, message, node)."""

from __future__ import annotations


class LLMError(Exception):
    """`error_type` is promptflow's error class name where there is one (ChatAPIInvalidRole,
    JinjaTemplateError, WrappedOpenAIError, ExceedMaxRetryTimes, ...) so recorded errors read alike."""

    def __init__(self, message: str, error_type: str = "LLMError", node: str | None = None):
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.node = node

    def __str__(self) -> str:
        return f"node '{self.node}': {self.message}" if self.node else self.message
