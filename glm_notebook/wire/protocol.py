"""The Z.ai chat-completions wire format: request bodies in, stream events out. No I/O.

`build_request` turns Python arguments into the JSON body; `ChunkDecoder` turns each SSE
`data:` payload into typed events; `parse_error_body` reads both error-body shapes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from ..text import short_line
from .events import (
    ContentDelta,
    Event,
    Finish,
    ReasoningDelta,
    SearchResults,
    StreamStart,
    ToolCallDelta,
    Usage,
    UsageReport,
)
from .web_search import parse_sources, with_web_search

__all__ = [
    "Messages",
    "build_request",
    "normalize_messages",
    "ChunkDecoder",
    "StreamErrorFrame",
    "InvalidChunk",
    "completion_events",
    "parse_error_body",
    "MAX_MESSAGE_CHARS",
    "canonical_json",
    "request_key",
]

#: Longest server message (and business code) kept in an error, after folding it to one line.
MAX_MESSAGE_CHARS = 300
MAX_CODE_CHARS = 32

#: A prompt string (one user message) or a list of `{"role", "content"}` dicts.
Messages = str | Iterable[Mapping[str, Any]]

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
    "reasoning_effort",
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
    """A `data:` payload that is not valid JSON, or a chunk (or reply) of the wrong shape."""


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


def _thinking(value: Any, clear_thinking: bool | None) -> dict[str, Any] | None:
    if value is None or isinstance(value, Mapping):
        think = None if value is None else dict(value)
    elif isinstance(value, str):
        think = {"type": value}
    else:
        think = {"type": "enabled" if value else "disabled"}
    if clear_thinking is not None:
        think = {"type": "enabled", **(think or {}), "clear_thinking": bool(clear_thinking)}
    return think


def build_request(
    messages: Messages,
    *,
    model: str,
    stream: bool = True,
    system: str | None = None,
    thinking: bool | str | Mapping[str, Any] | None = None,
    clear_thinking: bool | None = None,
    web_search: bool | Mapping[str, Any] | None = None,
    **params: Any,
) -> dict[str, Any]:
    """The JSON body for `POST /chat/completions`.

    `messages` may be a string (one user message). `thinking` takes True/False, "enabled"/
    "disabled" or the wire dict; `clear_thinking=False` (preserved thinking) goes into it. Documented fields (temperature, top_p, max_tokens, stop, tools,
    tool_choice, tool_stream, response_format, request_id, user_id, do_sample) and any other
    keyword are passed through; None values are left out. `web_search` (True or a dict of its
    options) adds the built-in web search tool after any function tools.
    """
    body: dict[str, Any] = {"model": model, "messages": normalize_messages(messages, system)}
    params["tools"] = with_web_search(params.get("tools"), web_search)
    think = _thinking(thinking, clear_thinking)
    if think is not None:
        body["thinking"] = think
    for key in _FIELDS:
        value = params.pop(key, None)
        if value is not None:
            body[key] = value
    body.update({k: v for k, v in params.items() if v is not None})
    body["stream"] = stream
    return body


def _snippet(data: str | bytes) -> str:
    """A short, escaped excerpt of wire data for an error message (`repr` escapes controls)."""
    return repr(data[:80]) + ("…" if len(data) > 80 else "")


def _text(value: Any, what: str) -> str | None:
    if value is None or type(value) is str:
        return value
    raise InvalidChunk(f"{what} is not a string")


def _tool_events(calls: Any, events: list[Event]) -> None:
    if type(calls) is not list:
        raise InvalidChunk("'tool_calls' is not a list")
    for position, call in enumerate(calls):
        if type(call) is not dict:
            raise InvalidChunk("a tool call is not an object")
        fn = call.get("function") or {}
        if type(fn) is not dict:
            raise InvalidChunk("a tool call's 'function' is not an object")
        index = call.get("index")
        if index is None:
            index = position
        elif type(index) is not int:
            raise InvalidChunk("a tool call's 'index' is not an integer")
        events.append(
            ToolCallDelta(
                index=index,
                id=_text(call.get("id"), "a tool call's 'id'"),
                type=_text(call.get("type"), "a tool call's 'type'"),
                name=_text(fn.get("name"), "a tool name"),
                arguments=_text(fn.get("arguments"), "a tool call's 'arguments'") or "",
            )
        )


def _choice_events(choices: Any, part_key: str, events: list[Event]) -> None:
    """Append the events of each choice's `delta` (streamed) or `message` (whole)."""
    if type(choices) is not list:
        raise InvalidChunk("'choices' is not a list")
    for choice in choices:
        if type(choice) is not dict:
            raise InvalidChunk("a choice is not an object")
        part = choice.get(part_key)
        if part:
            if type(part) is not dict:
                raise InvalidChunk(f"'{part_key}' is not an object")
            reasoning = part.get("reasoning_content")
            if reasoning:
                if type(reasoning) is not str:
                    raise InvalidChunk("'reasoning_content' is not a string")
                events.append(ReasoningDelta(reasoning))
            content = part.get("content")
            if content:
                if type(content) is not str:
                    raise InvalidChunk("'content' is not a string")
                events.append(ContentDelta(content))
            calls = part.get("tool_calls")
            if calls:
                _tool_events(calls, events)
        finish_reason = choice.get("finish_reason")
        if finish_reason:
            if type(finish_reason) is not str:
                raise InvalidChunk("'finish_reason' is not a string")
            events.append(Finish(finish_reason))


def _start(body: dict[str, Any]) -> StreamStart:
    created = body.get("created")
    if created is not None and type(created) is not int:
        if type(created) is not float:
            raise InvalidChunk("'created' is not a number")
        created = int(created)
    return StreamStart(_text(body.get("id"), "'id'"), _text(body.get("model"), "'model'"), created)


def _usage_report(usage: Any) -> UsageReport:
    try:
        return UsageReport(Usage.from_wire(usage))
    except ValueError as exc:
        raise InvalidChunk(str(exc)) from None


class ChunkDecoder:
    """Turns each SSE `data:` payload of a stream into events; counts chunks; sees `[DONE]`."""

    __slots__ = ("chunks", "done", "_started", "_loads")

    def __init__(self) -> None:
        self.chunks = 0
        self.done = False
        self._started = False
        self._loads = json.loads

    def decode(self, data: str) -> list[Event]:
        """Events in one payload. Raises `StreamErrorFrame` or `InvalidChunk` (not JSON, or a
        chunk of the wrong shape: the message names the field and the chunk's number).
        """
        if data == "[DONE]":
            self.done = True
            return []
        try:
            chunk = self._loads(data)
        except ValueError:
            raise InvalidChunk(f"invalid JSON in the stream: {_snippet(data)}") from None
        if type(chunk) is not dict:
            raise InvalidChunk(f"unexpected stream data: {_snippet(data)}")
        if "error" in chunk:
            raise StreamErrorFrame(*_error_fields(chunk))
        events: list[Event] = []
        try:
            if not self._started:
                events.append(_start(chunk))
                self._started = True
            choices = chunk.get("choices")
            if choices:
                _choice_events(choices, "delta", events)
            if "web_search" in chunk:
                events.append(SearchResults(parse_sources(chunk["web_search"])))
            usage = chunk.get("usage")
            if usage:
                events.append(_usage_report(usage))
        except InvalidChunk as exc:
            raise InvalidChunk(f"{exc} (chunk {self.chunks + 1})") from None
        self.chunks += 1
        return events


def completion_events(body: Any) -> list[Event]:
    """Events for a whole (non-streamed) completion, as if it had been streamed.

    Raises `StreamErrorFrame` for an `{"error": …}` body and `InvalidChunk` for a wrong shape.
    """
    if type(body) is not dict:
        raise InvalidChunk("the reply is not a JSON object")
    if "error" in body:
        raise StreamErrorFrame(*_error_fields(body))
    events: list[Event] = [_start(body)]
    choices = body.get("choices")
    if choices:
        _choice_events(choices, "message", events)
    if "web_search" in body:
        events.append(SearchResults(parse_sources(body["web_search"])))
    if body.get("usage"):
        events.append(_usage_report(body["usage"]))
    return events


def _error_fields(body: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """Code and message of an error body, as clean single lines (server text is untrusted)."""
    err = body.get("error")
    source = err if isinstance(err, Mapping) else body
    code = source.get("code")
    message = source.get("message")
    if isinstance(err, str) and message is None:
        message = err
    return (
        short_line(str(code), MAX_CODE_CHARS) if code is not None else None,
        short_line(str(message), MAX_MESSAGE_CHARS) if message is not None else None,
    )


def parse_error_body(raw: bytes) -> tuple[str | None, str | None]:
    """`(code, message)` from `{"error": {"code", "message"}}` or flat `{"code", "message"}`.

    Other bodies (HTML, truncated JSON) give `(None, first 300 characters as one line)`.
    """
    try:
        body = json.loads(raw)
    except ValueError:
        text = short_line(raw[: MAX_MESSAGE_CHARS * 8].decode("utf-8", "replace"), MAX_MESSAGE_CHARS)
        return None, (text or None)
    if not isinstance(body, Mapping):
        return None, None
    return _error_fields(body)


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no insignificant whitespace (the form keys are made of)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_key(body: dict[str, Any]) -> str:
    """The key of a request body: sha256 of its canonical JSON."""
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()
