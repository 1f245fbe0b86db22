"""The bytes of the real service: chunk JSON, SSE frames, JSON replies and error bodies."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

__all__ = [
    "SSE_CONTENT_TYPE",
    "JSON_CONTENT_TYPE",
    "HTML_CONTENT_TYPE",
    "HTML_ERROR_PAGE",
    "DONE",
    "dumps",
    "Identity",
    "usage_payload",
    "delta_chunk",
    "final_chunk",
    "completion_payload",
    "error_payload",
    "sse_frame",
    "broken_frame",
]

SSE_CONTENT_TYPE = "text/event-stream;charset=UTF-8"
JSON_CONTENT_TYPE = "application/json; charset=UTF-8"
HTML_CONTENT_TYPE = "text/html"
HTML_ERROR_PAGE = b"<html><body>Bad gateway page from a proxy</body></html>"
DONE = "[DONE]"


def dumps(obj: Any) -> str:
    """Compact JSON with raw Unicode, as the service sends it."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Identity:
    """The fields every chunk of one completion repeats: id, created, model, object."""

    id: str
    created: int
    model: str
    with_object: bool = True

    @classmethod
    def fresh(cls, model: str, *, with_object: bool = True) -> Identity:
        """A new completion's identity, as the service gives one: a unique id, `created` now."""
        return cls(
            id=f"local-{secrets.token_hex(12)}",
            created=int(time.time()),
            model=model,
            with_object=with_object,
        )

    def head(self, kind: str) -> dict[str, Any]:
        """`id`, `created`, `object` (unless omitted) and `model`, in wire order."""
        head: dict[str, Any] = {"id": self.id, "created": self.created}
        if self.with_object:
            head["object"] = kind
        head["model"] = self.model
        return head


def usage_payload(prompt_tokens: int, reasoning_tokens: int, content_tokens: int) -> dict[str, Any]:
    """The `usage` block of the last chunk."""
    completion = reasoning_tokens + content_tokens
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": prompt_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reasoning_tokens},
    }


def delta_chunk(identity: Identity, field: str, text: Any, *, null_finish: bool = False) -> dict[str, Any]:
    """An intermediate chunk carrying `field` (`reasoning_content`, `content` or `tool_calls`)."""
    # A `tool_calls` chunk carries a list of call pieces and no role, as in real traffic.
    delta = {"tool_calls": text} if field == "tool_calls" else {"role": "assistant", field: text}
    choice: dict[str, Any] = {"index": 0, "delta": delta}
    if null_finish:
        choice["finish_reason"] = None
    return {**identity.head("chat.completion.chunk"), "choices": [choice]}


def final_chunk(identity: Identity, finish_reason: str, usage: dict[str, Any]) -> dict[str, Any]:
    """The last chunk: finish reason, empty content and usage."""
    choice = {"index": 0, "finish_reason": finish_reason, "delta": {"role": "assistant", "content": ""}}
    return {**identity.head("chat.completion.chunk"), "choices": [choice], "usage": usage}


def completion_payload(
    identity: Identity,
    *,
    content: str,
    reasoning: str,
    finish_reason: str,
    usage: dict[str, Any],
    request_id: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    web_search: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A non-streamed reply, keys ordered like the recorded service replies (a web search's
    sources in a top-level `web_search` array, as documented)."""
    message: dict[str, Any] = {"content": content}
    if reasoning:
        message["reasoning_content"] = reasoning
    message["role"] = "assistant"
    if tool_calls:
        message["tool_calls"] = tool_calls
    payload: dict[str, Any] = {
        "choices": [{"finish_reason": finish_reason, "index": 0, "message": message}],
        "created": identity.created,
        "id": identity.id,
        "model": identity.model,
    }
    if identity.with_object:
        payload["object"] = "chat.completion"
    payload["request_id"] = request_id or identity.id
    payload["usage"] = {
        "completion_tokens": usage["completion_tokens"],
        "completion_tokens_details": usage["completion_tokens_details"],
        "prompt_tokens": usage["prompt_tokens"],
        "prompt_tokens_details": usage["prompt_tokens_details"],
        "total_tokens": usage["total_tokens"],
    }
    if web_search is not None:
        payload["web_search"] = web_search
    return payload


def error_payload(code: str, message: str, *, flat: bool = False) -> dict[str, Any]:
    """`{"error":{"code":"1302","message":…}}`, or the flat `{"code":1302,"message":…}`."""
    if flat:
        return {"code": int(code) if code.isdigit() else code, "message": message}
    return {"error": {"code": code, "message": message}}


def sse_frame(
    data: str,
    *,
    crlf: bool = False,
    event: str | None = None,
    event_id: str | None = None,
    retry: int | None = None,
    comment: str | None = None,
) -> bytes:
    """One SSE event: optional comment / retry / id / event lines, `data: …`, blank line."""
    lines = []
    if comment is not None:
        lines.append(f": {comment}")
    if retry is not None:
        lines.append(f"retry: {retry}")
    if event_id is not None:
        lines.append(f"id: {event_id}")
    if event is not None:
        lines.append(f"event: {event}")
    lines.append(f"data: {data}")
    newline = "\r\n" if crlf else "\n"
    return (newline.join(lines) + newline + newline).encode("utf-8")


def broken_frame(identity: Identity) -> bytes:
    """A frame cut mid-field with no line end: the next frame gets glued onto it."""
    return f'data: {{"id":"{identity.id}","choices":[{{"index":0,"delta":{{"content":"ab'.encode()
