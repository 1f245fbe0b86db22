"""Typed events decoded from a GLM chat-completions stream.

A stream yields, in wire order: one `StreamStart`, then `ReasoningDelta` / `ContentDelta` /
`ToolCallDelta` increments, then `Finish` and `UsageReport` from the last chunk. `SearchResults`
comes from whichever chunk carries the web search's `web_search` array (not confirmed which).
`Retrying` is not from the wire: the client yields it before it waits to send a request again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = [
    "StreamStart",
    "ReasoningDelta",
    "ContentDelta",
    "ToolCallDelta",
    "Source",
    "SearchResults",
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
class Source:
    """One web search result the answer may cite as `[ref_N]`. All text is the service's (untrusted)."""

    ref: str
    title: str = ""
    link: str = ""
    media: str = ""
    publish_date: str = ""
    content: str = ""

    @property
    def number(self) -> int | None:
        """N of `ref_N`, the number an answer's citation shows (None for another kind of ref)."""
        head, _, digits = self.ref.partition("_")
        return int(digits) if head == "ref" and digits.isdigit() and len(digits) < 6 else None


@dataclass(frozen=True, slots=True)
class SearchResults:
    """The sources of a web search (the chunk's top-level `web_search` array)."""

    sources: tuple[Source, ...]


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
    def from_wire(cls, data: Any) -> Usage:
        """Counts from a wire `usage` object; ValueError if it is not one or a count is not a number."""
        if type(data) is not dict:
            raise ValueError(f"'usage' is not an object: {_short(data)}")
        prompt_details = _details(data, "prompt_tokens_details")
        completion_details = _details(data, "completion_tokens_details")
        return cls(
            prompt_tokens=_count(data, "prompt_tokens"),
            completion_tokens=_count(data, "completion_tokens"),
            total_tokens=_count(data, "total_tokens"),
            cached_tokens=_count(prompt_details, "cached_tokens"),
            reasoning_tokens=_count(completion_details, "reasoning_tokens"),
        )

    def __add__(self, other: Usage) -> Usage:
        """Counts summed: `a.usage + b.usage`, and `sum(usages)` (which starts from 0)."""
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
        )

    def __radd__(self, other: object) -> Usage:
        if other == 0:  # sum() starts from 0
            return self
        return NotImplemented


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _details(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    if not value:
        return {}
    if type(value) is not dict:
        raise ValueError(f"'usage.{key}' is not an object: {_short(value)}")
    return value


def _count(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    if value is None:
        return 0
    if type(value) is int and value >= 0:
        return value
    if type(value) is float and math.isfinite(value) and value >= 0:
        return int(value)
    raise ValueError(f"'usage.{key}' is not a token count: {_short(value)}")


@dataclass(frozen=True, slots=True)
class UsageReport:
    """The usage block of the last chunk."""

    usage: Usage


@dataclass(frozen=True, slots=True)
class Retrying:
    """The request failed before any answer arrived and is sent again after `delay` seconds.

    `attempt` counts from 1 up to `max_retries`; `reason` says why in a few words ("rate limit
    (code 1302)", "server error (HTTP 503)", "connection failure", "connection timeout",
    "dropped connection", "service error (code 1234)"), to read as "retrying after {reason}
    ({attempt}/{max_retries}) in {delay:.1f} s".
    """

    attempt: int
    max_retries: int
    delay: float
    reason: str


Event = (
    StreamStart
    | ReasoningDelta
    | ContentDelta
    | ToolCallDelta
    | SearchResults
    | Finish
    | UsageReport
    | Retrying
)
