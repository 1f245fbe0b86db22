"""Typed events decoded from a GLM chat-completions stream.

A stream yields, in wire order: one `StreamStart`, then `ReasoningDelta` / `ContentDelta` /
`ToolCallDelta` increments, then `Finish` and `UsageReport` from the last chunk.
`Retrying` is not from the wire: the client yields it before it waits to send a request again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

__all__ = [
    "StreamStart",
    "ReasoningDelta",
    "ContentDelta",
    "ToolCallDelta",
    "Finish",
    "Usage",
    "UsageReport",
    "Retrying",
    "Event",
]


@dataclass(frozen=True, slots=True)
class StreamStart:
    """The first chunk arrived: the completion's id, model and creation time."""

    id: str | None
    model: str | None
    created: int | None


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of the model's reasoning (`delta.reasoning_content`)."""

    text: str


@dataclass(frozen=True, slots=True)
class ContentDelta:
    """A piece of the answer (`delta.content`)."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A tool call, whole or in pieces; pieces with the same `index` are joined."""

    index: int
    id: str | None = None
    type: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class Finish:
    """The service said why the answer ended (`stop`, `length`, `tool_calls`, `sensitive`, ...)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts from the last chunk; `completion_tokens` includes reasoning."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    @classmethod
    def from_wire(cls, data: dict) -> "Usage":
        prompt_details = data.get("prompt_tokens_details") or {}
        completion_details = data.get("completion_tokens_details") or {}
        return cls(
            prompt_tokens=int(data.get("prompt_tokens") or 0),
            completion_tokens=int(data.get("completion_tokens") or 0),
            total_tokens=int(data.get("total_tokens") or 0),
            cached_tokens=int(prompt_details.get("cached_tokens") or 0),
            reasoning_tokens=int(completion_details.get("reasoning_tokens") or 0),
        )


@dataclass(frozen=True, slots=True)
class UsageReport:
    """The usage block of the last chunk."""

    usage: Usage


@dataclass(frozen=True, slots=True)
class Retrying:
    """The request failed before any answer arrived and is sent again after `delay` seconds.

    `attempt` counts from 1 up to `max_retries`; `reason` is the error's one-line text.
    """

    attempt: int
    max_retries: int
    delay: float
    reason: str


Event = Union[
    StreamStart, ReasoningDelta, ContentDelta, ToolCallDelta, Finish, UsageReport, Retrying
]
