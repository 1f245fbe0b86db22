"""`Reply`: a chat completion assembled from stream events, complete or partial.

No I/O here: the client feeds events in, the notebook layers read the fields out.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from ..hooks import Viewable
from ..text import short_line
from ..wire.events import (
    ContentDelta,
    Event,
    Finish,
    ReasoningDelta,
    SearchResults,
    Source,
    StreamStart,
    ToolCallDelta,
    Usage,
    UsageReport,
)
from .cost import cost_of
from .pieces import Pieces

__all__ = ["Reply", "FINISH_REASONS"]

#: What each `finish_reason` means, in words for a notebook user.
FINISH_REASONS: dict[str, str] = {
    "stop": "finished",
    "tool_calls": "finished with tool calls",
    "length": "cut short by max_tokens",
    "sensitive": "stopped by the content filter",
    "network_error": "interrupted by a network error on the service side",
    "model_context_window_exceeded": "stopped: the model's context window is full",
}


@dataclass
class Reply(Viewable):
    """What the model said: answer text, reasoning, tool calls, usage and timing.

    `str(reply)` is the answer text. A reply stays usable when the stream failed or was
    interrupted: `complete` is then False and `stopped` says why (`"error"`, `"interrupted"`).
    """

    model: str | None = None
    id: str | None = None
    created: int | None = None
    finish_reason: str | None = None
    usage: Usage | None = None
    chunks: int = 0
    done: bool = False
    stopped: str | None = None
    error: str | None = None
    request: dict[str, Any] = field(default_factory=dict, repr=False)
    #: sha256 of the canonical JSON of the whole request body (messages too), for provenance.
    request_sha256: str | None = field(default=None, repr=False)
    #: When a replayed answer was recorded (ISO 8601, UTC); None for a fresh answer.
    replayed_at: str | None = None
    sources: list[Source] = field(default_factory=list, repr=False)
    """The web search's results (`web_search=`), in the service's order; the answer cites them
    as `[ref_N]`."""
    value: Any = field(default=None, repr=False)
    """The validated structured answer when the request had `schema=` (see `structured.py`)."""
    notes: list[str] = field(default_factory=list, repr=False)
    """Short notes from whoever asked (e.g. `%%glm`'s "{topc} is not defined"), shown with it."""
    started_at: float = field(default_factory=time.perf_counter, repr=False)
    #: Wall-clock start (seconds since the epoch), for provenance; `started_at` is for durations.
    started_time: float = field(default_factory=time.time, repr=False)
    first_token_at: float | None = field(default=None, repr=False)
    ended_at: float | None = field(default=None, repr=False)
    _text: Pieces = field(default_factory=Pieces, repr=False)
    _reasoning: Pieces = field(default_factory=Pieces, repr=False)
    _tools: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False)
    _reasoning_ended_at: float | None = field(default=None, repr=False)

    # -- accumulation -------------------------------------------------------------------------

    def apply(self, event: Event) -> None:
        """Fold one stream event into the reply."""
        if isinstance(event, ContentDelta):
            if self.first_token_at is None:
                self.first_token_at = time.perf_counter()
            if self._reasoning_ended_at is None and self._reasoning:
                self._reasoning_ended_at = time.perf_counter()
            self._text.append(event.text)
        elif isinstance(event, ReasoningDelta):
            if self.first_token_at is None:
                self.first_token_at = time.perf_counter()
            self._reasoning.append(event.text)
        elif isinstance(event, ToolCallDelta):
            self._apply_tool(event)
        elif isinstance(event, SearchResults):
            known = {source.ref for source in self.sources}
            self.sources += [source for source in event.sources if source.ref not in known]
        elif isinstance(event, Finish):
            self.finish_reason = event.reason
        elif isinstance(event, UsageReport):
            self.usage = event.usage
        elif isinstance(event, StreamStart):
            self.id = event.id or self.id
            self.model = event.model or self.model
            self.created = event.created or self.created

    def _apply_tool(self, event: ToolCallDelta) -> None:
        call = self._tools.setdefault(
            event.index, {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
        )
        if event.id:
            call["id"] = event.id
        if event.type:
            call["type"] = event.type
        name = call["function"]["name"]
        if event.name and event.name != name:
            # Names come whole in real traffic; a streamed name arrives in pieces.
            call["function"]["name"] = name + event.name
        call["function"]["arguments"] += event.arguments

    def finish(self, *, stopped: str | None = None, error: str | None = None) -> None:
        """Mark the end of the stream: normally, or `stopped` ("error", "interrupted") with why.

        Only the first call counts: a reply that ended stays as it ended.
        """
        if self.ended_at is not None:
            return
        self.ended_at = time.perf_counter()
        if self._reasoning and self._reasoning_ended_at is None:
            self._reasoning_ended_at = self.ended_at
        if stopped is not None:
            self.stopped = stopped
            self.error = error

    # -- reading ------------------------------------------------------------------------------

    @property
    def text(self) -> str:
        """The answer (`content`) so far."""
        return self._text.value()

    @property
    def reasoning(self) -> str:
        """The model's reasoning (`reasoning_content`) so far."""
        return self._reasoning.value()

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        """Tool calls in OpenAI shape, `{"id", "type", "function": {"name", "arguments"}}`."""
        return [
            {"id": c["id"], "type": c["type"], "function": dict(c["function"])}
            for _, c in sorted(self._tools.items())
        ]

    @property
    def complete(self) -> bool:
        """True when the service ended the answer itself (a `finish_reason` arrived)."""
        return self.finish_reason is not None and self.stopped is None

    @property
    def ttft(self) -> float | None:
        """Seconds from sending the request to the first reasoning or answer token."""
        return None if self.first_token_at is None else self.first_token_at - self.started_at

    @property
    def elapsed(self) -> float | None:
        """Seconds from sending the request to the end of the stream."""
        return None if self.ended_at is None else self.ended_at - self.started_at

    @property
    def reasoning_seconds(self) -> float | None:
        """How long the model reasoned before answering."""
        if self.first_token_at is None or self._reasoning_ended_at is None:
            return None
        return self._reasoning_ended_at - self.first_token_at

    @property
    def tokens_per_second(self) -> float | None:
        """Completion tokens per second of generation (after the first token)."""
        if not self.usage or self.first_token_at is None or self.ended_at is None:
            return None
        span = self.ended_at - self.first_token_at
        return self.usage.completion_tokens / span if span > 0 else None

    @property
    def status(self) -> str:
        """One short phrase: how the answer ended."""
        if self.stopped == "interrupted":
            return "interrupted"
        if self.stopped is not None:
            return f"incomplete: {self.error}" if self.error else "incomplete"
        if self.finish_reason is None:
            return "streaming"
        known = FINISH_REASONS.get(self.finish_reason)
        return known or f"finished ({short_line(self.finish_reason, 40)})"  # server text: cleaned

    @property
    def code(self) -> str:
        """The answer's Python code blocks (else all its code blocks), fences stripped."""
        from .codeblocks import answer_code

        return answer_code(self.text)

    def json(self) -> Any:
        """The answer parsed as JSON (for `response_format={"type": "json_object"}`)."""
        text = self.text.strip()
        if text.startswith("```"):
            text = text.split("\n", 1)[1] if "\n" in text else ""
            text = text.rsplit("```", 1)[0]
        return json.loads(text)

    def message(self, *, reasoning: bool = False) -> dict[str, Any]:
        """The assistant message to append to a conversation; with `reasoning`, as received
        (its `reasoning_content` too, unmodified), as tool loops and preserved thinking need."""
        message: dict[str, Any] = {"role": "assistant", "content": self.text}
        if reasoning and self.reasoning:
            message["reasoning_content"] = self.reasoning
        if self._tools:
            message["tool_calls"] = self.tool_calls
        return message

    def __str__(self) -> str:
        return self.text

    @property
    def cost(self) -> float | None:
        """What this answer cost in USD, from the price table (`glm_notebook.results.cost`);
        None for a model with no known price."""
        return cost_of(self.model, self.usage)

    def __repr__(self) -> str:
        model = short_line(self.model, 60) if self.model else "?"
        return f"<Reply {model}: {len(self.text)} chars, {self.status}>"
