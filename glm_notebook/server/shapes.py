"""Chunks of the wrong shape and error text with escape codes, for hardening tests."""

from __future__ import annotations

from typing import Any

__all__ = ["SHAPES", "USAGE_SHAPES", "ANSI_MESSAGE", "wrong_shape"]

SHAPES = frozenset(
    {
        "choices_int",  # "choices": [42]
        "choices_obj",  # "choices": {…} (the choice itself, not in a list)
        "delta_str",  # "delta": "x"
        "content_int",  # "content": 42
        "content_list",  # "content": [{"type": "text", "text": …}]
        "finish_int",  # "finish_reason": 7
        "tool_name_int",  # a tool call whose function name is 42
        "args_obj",  # a tool call whose arguments are an object, not a JSON string
        "usage_str",  # "usage": "lots"
        "tokens_str",  # "usage": {"prompt_tokens": "many", …}
    }
)
"""Kinds for the `shape` directive."""

USAGE_SHAPES = frozenset({"usage_str", "tokens_str"})
"""Shapes that spoil the usage block, which only the final chunk (or whole reply) carries."""

ANSI_MESSAGE = "\x1b[31mOverloaded\x1b[0m\r\nsecond line\n\x1b]52;c;Y2xpcGJvYXJk\x07\x1b[2J then the end"
"""An error message with colour codes, CR/LF, an OSC 52 clipboard write and clear-screen."""


def wrong_shape(payload: dict[str, Any], kind: str, part_key: str = "delta") -> dict[str, Any]:
    """`payload` (a chunk, or a whole reply with `part_key="message"`) spoiled as `kind` says."""
    payload = {**payload}
    choice = {**payload["choices"][0]}
    part = {**(choice.get(part_key) or {})}
    if kind == "choices_int":
        payload["choices"] = [42]
        return payload
    if kind == "choices_obj":
        payload["choices"] = choice
        return payload
    if kind == "usage_str":
        payload["usage"] = "lots"
    elif kind == "tokens_str":
        payload["usage"] = {**payload.get("usage", {}), "prompt_tokens": "many"}
    elif kind == "delta_str":
        choice[part_key] = "x"
    elif kind == "content_int":
        part["content"] = 42
    elif kind == "content_list":
        part["content"] = [{"type": "text", "text": "a list"}]
    elif kind == "finish_int":
        choice["finish_reason"] = 7
    elif kind in ("tool_name_int", "args_obj"):
        function = (
            {"name": 42, "arguments": "{}"}
            if kind == "tool_name_int"
            else {"name": "get_weather", "arguments": {"city": "Paris"}}
        )
        part["tool_calls"] = [{"index": 0, "id": "call_1", "type": "function", "function": function}]
    if kind != "delta_str" and kind not in USAGE_SHAPES:
        choice[part_key] = part
    payload["choices"] = [choice]
    return payload
