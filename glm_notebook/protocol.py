"""The Z.ai chat-completions wire format: request bodies in, stream events out. No I/O.

`build_request` turns Python arguments into the JSON body; `ChunkDecoder` turns each SSE
`data:` payload into typed events; `parse_error_body` reads both error-body shapes.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping, Union

from .events import (
    ContentDelta,
    Event,
    Finish,
    ReasoningDelta,
    StreamStart,
    ToolCallDelta,
    Usage,
    UsageReport,
)

__all__ = [
    "Messages",
    "build_request",
    "normalize_messages",
    "ChunkDecoder",
    "StreamErrorFrame",
    "InvalidChunk",
    "completion_events",
    "parse_error_body",
]

#: A prompt string (one user message) or a list of `{"role", "content"}` dicts.
Messages = Union[str, Iterable[Mapping[str, Any]]]

# Documented optional fields, passed through as given (None means "leave it out").
_FIELDS = (
    "temperature",
    "top_p",
    "max_tokens",
    "do_sample",
    "stop",
    "tools",
    "tool_choice",
    "tool_stream",
    "response_format",
    "request_id",
    "user_id",
)


class StreamErrorFrame(Exception):
    """The stream carried an `error` object instead of a chunk."""

    def __init__(self, code: str | None, message: str | None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class InvalidChunk(Exception):
    """A `data:` payload that is not valid JSON or not a chunk."""


def normalize_messages(messages: Messages, system: str | None = None) -> list[dict[str, Any]]:
    """A message list from a plain string (one user message) or a list of message dicts."""
    if isinstance(messages, str):
        out: list[dict[str, Any]] = [{"role": "user", "content": messages}]
    else:
        out = [dict(m) for m in messages]
    if not out:
        raise ValueError("messages is empty: give a prompt string or at least one message")
    for m in out:
        if "role" not in m:
            raise ValueError(f"message without a role: {m!r}")
    if system:
        out = [m for m in out if m["role"] != "system"]
        out.insert(0, {"role": "system", "content": system})
    return out


def _thinking(value: Any) -> dict[str, str] | None:
    if value is None or isinstance(value, Mapping):
        return value  # type: ignore[return-value]
    if isinstance(value, str):
        return {"type": value}
    return {"type": "enabled" if value else "disabled"}


def build_request(
    messages: Messages,
    *,
    model: str,
    stream: bool = True,
    system: str | None = None,
    thinking: bool | str | Mapping[str, str] | None = None,
    **params: Any,
) -> dict[str, Any]:
    """The JSON body for `POST /chat/completions`.

    `messages` may be a string (one user message). `thinking` takes True/False, "enabled"/
    "disabled" or the wire dict. Documented fields (temperature, top_p, max_tokens, stop, tools,
    tool_choice, tool_stream, response_format, request_id, user_id, do_sample) and any other
    keyword are passed through; None values are left out.
    """
    body: dict[str, Any] = {"model": model, "messages": normalize_messages(messages, system)}
    think = _thinking(thinking)
    if think is not None:
        body["thinking"] = think
    for key in _FIELDS:
        value = params.pop(key, None)
        if value is not None:
            body[key] = value
    body.update({k: v for k, v in params.items() if v is not None})
    body["stream"] = stream
    return body


def _tool_events(calls: list[dict[str, Any]]) -> list[Event]:
    out: list[Event] = []
    for position, call in enumerate(calls):
        fn = call.get("function") or {}
        out.append(
            ToolCallDelta(
                index=call.get("index", position),
                id=call.get("id"),
                type=call.get("type"),
                name=fn.get("name"),
                arguments=fn.get("arguments") or "",
            )
        )
    return out


def _part_events(part: Mapping[str, Any], finish_reason: str | None, events: list[Event]) -> None:
    """Append the events of one choice's `delta` (streamed) or `message` (whole)."""
    reasoning = part.get("reasoning_content")
    if reasoning:
        events.append(ReasoningDelta(reasoning))
    content = part.get("content")
    if content:
        events.append(ContentDelta(content))
    calls = part.get("tool_calls")
    if calls:
        events.extend(_tool_events(calls))
    if finish_reason:
        events.append(Finish(finish_reason))


class ChunkDecoder:
    """Turns each SSE `data:` payload of a stream into events; counts chunks; sees `[DONE]`."""

    __slots__ = ("chunks", "done", "_started", "_loads")

    def __init__(self) -> None:
        self.chunks = 0
        self.done = False
        self._started = False
        self._loads = json.loads

    def decode(self, data: str) -> list[Event]:
        """Events in one payload. Raises `StreamErrorFrame` or `InvalidChunk`."""
        if data == "[DONE]":
            self.done = True
            return []
        try:
            chunk = self._loads(data)
        except ValueError:
            raise InvalidChunk(f"invalid JSON in the stream: {data[:80]!r}") from None
        if not isinstance(chunk, dict):
            raise InvalidChunk(f"unexpected stream data: {data[:80]!r}")
        if "error" in chunk:
            raise StreamErrorFrame(*_error_fields(chunk))
        self.chunks += 1
        events: list[Event] = []
        if not self._started:
            self._started = True
            events.append(StreamStart(chunk.get("id"), chunk.get("model"), chunk.get("created")))
        for choice in chunk.get("choices") or ():
            _part_events(choice.get("delta") or {}, choice.get("finish_reason"), events)
        usage = chunk.get("usage")
        if usage:
            events.append(UsageReport(Usage.from_wire(usage)))
        return events


def completion_events(body: Mapping[str, Any]) -> list[Event]:
    """Events for a whole (non-streamed) completion, as if it had been streamed."""
    events: list[Event] = [StreamStart(body.get("id"), body.get("model"), body.get("created"))]
    for choice in body.get("choices") or ():
        _part_events(choice.get("message") or {}, choice.get("finish_reason"), events)
    if body.get("usage"):
        events.append(UsageReport(Usage.from_wire(body["usage"])))
    return events


def _error_fields(body: Mapping[str, Any]) -> tuple[str | None, str | None]:
    err = body.get("error")
    source = err if isinstance(err, Mapping) else body
    code = source.get("code")
    message = source.get("message")
    if isinstance(err, str) and message is None:
        message = err
    return (str(code) if code is not None else None, str(message) if message is not None else None)


def parse_error_body(raw: bytes) -> tuple[str | None, str | None]:
    """`(code, message)` from `{"error": {"code", "message"}}` or flat `{"code", "message"}`."""
    try:
        body = json.loads(raw)
    except ValueError:
        text = raw.decode("utf-8", "replace").strip()
        return None, (" ".join(text.split())[:200] or None)
    if not isinstance(body, Mapping):
        return None, None
    return _error_fields(body)
