"""Check a chat-completions request body the way the service does (codes 1211 / 1214)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .errors import ApiError

__all__ = ["ChatRequest", "parse_json", "validate_chat_request", "UNKNOWN_MODEL"]

UNKNOWN_MODEL = "unknown-model"
_ROLES = {"system", "user", "assistant", "tool"}
#: The body fields the service documents (PROTOCOL.md, "Request body"), and the official SDK's
#: extras; any other is refused with 1210 naming it, so a misspelt option is never ignored.
KNOWN_FIELDS = frozenset(
    {
        "model", "messages", "stream", "thinking", "temperature", "top_p", "max_tokens",
        "do_sample", "stop", "tools", "tool_choice", "tool_stream", "response_format",
        "request_id", "user_id", "reasoning_effort", "sensitive_word_check", "watermark_enabled",
        "meta", "extra", "seed",
    }
)  # fmt: skip
EFFORTS = ("low", "high", "max")


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """The fields of a valid request that shape the reply."""

    body: dict[str, Any]
    model: str
    messages: list[dict[str, Any]]
    stream: bool
    thinking: bool
    max_tokens: int | None
    json_mode: bool
    stop: str | None = None


def parse_json(raw: bytes) -> Any:
    """The parsed body, or None when it is not valid JSON."""
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _bad(message: str) -> ApiError:
    return ApiError(400, "1214", message)


def _number_in(body: dict[str, Any], name: str, low: float, high: float) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise _bad(f"Invalid parameter {name}: must be a number between {low:g} and {high:g}")


def _stop(body: dict[str, Any]) -> str | None:
    """The stop sequence the service honours: the first of `stop` (a string or a list)."""
    stop = body.get("stop")
    if stop is None:
        return None
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or not all(isinstance(word, str) and word for word in stop):
        raise _bad("Invalid parameter stop: expected a list of non-empty strings")
    return stop[0] if stop else None


def _check_effort(body: dict[str, Any], model: str) -> None:
    effort = body.get("reasoning_effort")
    if effort is None:
        return
    if effort not in EFFORTS:
        raise _bad(f"Invalid parameter reasoning_effort: one of {', '.join(EFFORTS)}")
    if not model.lower().startswith("glm-5"):
        raise ApiError(400, "1210", f"Invalid parameter reasoning_effort: not supported by {model}")


def validate_chat_request(body: Any, models: tuple[str, ...] | None = None) -> ChatRequest:
    """A `ChatRequest`, or `ApiError` (400) naming the offending field. A model outside `models`
    is refused with 1211 as the service does (None: any name is taken); a field the service
    does not document with 1210."""
    if not isinstance(body, dict):
        raise _bad("Invalid request body: expected a JSON object")
    unknown = sorted(key for key in body if key not in KNOWN_FIELDS)
    if unknown:
        raise ApiError(400, "1210", f"Invalid parameter {unknown[0][:60]}: not a parameter of this API")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad("Invalid parameter messages: a non-empty array is required")
    for position, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise _bad(f"Invalid parameter messages[{position}]: an object with a valid role is required")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise _bad("Invalid parameter model: the model field is required")
    known = models is None or model.lower() in {name.lower() for name in models}
    if model == UNKNOWN_MODEL or not known:
        raise ApiError(400, "1211", "Unknown Model, please check the model code.")
    _check_effort(body, model)
    _number_in(body, "temperature", 0.0, 1.0)
    _number_in(body, "top_p", 0.0, 1.0)
    max_tokens = body.get("max_tokens")
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
    ):
        raise _bad("Invalid parameter max_tokens: must be a positive integer")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise _bad("Invalid parameter stream: must be a boolean")
    thinking = body.get("thinking") or {}
    if not isinstance(thinking, dict) or thinking.get("type", "enabled") not in ("enabled", "disabled"):
        raise _bad('Invalid parameter thinking: expected {"type": "enabled" | "disabled"}')
    response_format = body.get("response_format") or {}
    if not isinstance(response_format, dict) or response_format.get("type", "text") not in (
        "text",
        "json_object",
    ):
        raise _bad('Invalid parameter response_format: expected {"type": "text" | "json_object"}')
    return ChatRequest(
        body=body,
        model=model,
        messages=messages,
        stream=stream,
        thinking=thinking.get("type", "enabled") != "disabled",
        max_tokens=max_tokens,
        json_mode=response_format.get("type") == "json_object",
        stop=_stop(body),
    )
