"""Where settings come from: arguments first, then the environment, then defaults.

Also what a key must look like (`api_key_problem`), how it is shown (`mask_key`) and how the
client holds it (`APIKey`: its repr and `vars()` never show it).
"""

from __future__ import annotations

import ipaddress
import os
import re
import unicodedata
from typing import Any
from urllib.parse import urlsplit

import httpx

__all__ = [
    "KEY_MASK",
    "mask_key_in",
    "mask_secret",
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "DEFAULT_TIMEOUT",
    "DEFAULT_MAX_RETRIES",
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "DISPLAY_ENV",
    "APIKey",
    "resolve_api_key",
    "resolve_base_url",
    "api_key_problem",
    "base_url_problem",
    "is_clear_text",
    "mask_key",
]

DEFAULT_BASE_URL = "https://api.z.ai/api/paas/v4"
DEFAULT_MODEL = "glm-4.6"
API_KEY_ENV = "ZAI_API_KEY"
BASE_URL_ENV = "ZAI_BASE_URL"
#: How `%%glm` answers stream (`text`: plain text even in a kernel); wins over `GLM.display`.
DISPLAY_ENV = "GLM_DISPLAY"
#: Connect within 10 s; the stream may go silent for at most 120 s between pieces.
DEFAULT_TIMEOUT = httpx.Timeout(120.0, connect=10.0)
DEFAULT_MAX_RETRIES = 2

# A key travels in an HTTP header: printable ASCII without spaces is all it may hold.
_NOT_KEY_CHAR = re.compile(r"[^\x21-\x7e]")
_CHAR_NAMES = {
    "\n": "a line break",
    "\r": "a carriage return",
    "\t": "a tab",
    " ": "a space",
    "\x00": "a NUL character",
}


#: What goes out in place of the API key wherever it appears in a request's text.
KEY_MASK = "[API key hidden]"

#: Bytes of an HTTP error body read (the rest is not read): enough for any real error message.
MAX_ERROR_BODY = 64 * 1024
#: Bytes of a whole (non-streamed) JSON reply: far above the longest answer a model can give.
MAX_JSON_BODY = 16 * 1024 * 1024
#: Characters of one SSE event (its lines up to the blank line that ends it; one chunk): a whole
#: tool call's arguments fit many times over.
MAX_SSE_EVENT = 4 * 1024 * 1024


class APIKey:
    """The API key, held so that `repr`, `str` and `vars` show at most its last four characters.

    `reveal()` gives the key itself; only the client calls it, to build a request's header.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str | None) -> None:
        self._value = value

    def reveal(self) -> str | None:
        return self._value

    def masked(self) -> str:
        """The key as `mask_key` shows it."""
        return mask_key(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return f"APIKey({mask_key(self._value)!r})"

    __str__ = __repr__

    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError("an API key is not pickled")


def resolve_api_key(explicit: str | None = None) -> str | None:
    """The API key: the argument, else `ZAI_API_KEY`, else None (surrounding whitespace removed)."""
    key = explicit if explicit else os.environ.get(API_KEY_ENV)
    return key.strip() if key and key.strip() else None


def resolve_base_url(explicit: str | None = None) -> str:
    """The base URL: the argument, else `ZAI_BASE_URL`, else the international endpoint."""
    url = explicit or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    return url.strip().rstrip("/")


def _describe_char(char: str) -> str:
    if char in _CHAR_NAMES:
        return _CHAR_NAMES[char]
    code = f"U+{ord(char):04X}"
    if ord(char) < 0x20 or ord(char) == 0x7F:
        return f"a control character ({code})"
    name = unicodedata.name(char, "")
    return f"a non-ASCII character ({code} {name})" if name else f"a non-ASCII character ({code})"


def api_key_problem(key: str) -> str | None:
    """What makes `key` unusable in a header, in words without the key, or None when it is fine.

    >>> api_key_problem("abc\\ndef")
    'contains a line break at character 4 of 7'
    """
    match = _NOT_KEY_CHAR.search(key)
    if match is None:
        return None
    return f"contains {_describe_char(match.group())} at character {match.start() + 1} of {len(key)}"


def base_url_problem(url: str) -> str | None:
    """Why `url` cannot be a base URL (not http/https, no host), or None when it can."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return "is not a valid URL"
    if parsed.scheme not in ("http", "https"):
        return "does not start with https:// (or http://)"
    if not parsed.host:
        return "has no host name"
    return None


def is_clear_text(url: str) -> bool:
    """True for an `http://` URL whose host is not this machine (the key would travel in clear)."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "http":
        return False
    host = (parts.hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def mask_key(key: str | None) -> str:
    """A key safe to show: its last four characters only (`'…wxyz'`), or `'(not set)'`.

    Short keys, and keys whose last four characters are not plain printable ASCII, show as `'…'`.
    """
    if not key:
        return "(not set)"
    tail = key[-4:]
    return "…" + tail if len(key) >= 12 and _NOT_KEY_CHAR.search(tail) is None else "…"


def mask_secret(text: str, secret: str | None, label: str) -> tuple[str, int]:
    """`text` with every occurrence of `secret` replaced by `label`, and how many there were."""
    if not secret or secret not in text:
        return text, 0
    return text.replace(secret, label), text.count(secret)


def mask_key_in(messages: list[dict[str, Any]], key: str | None) -> int:
    """Put `KEY_MASK` in place of `key` in every text `messages` carry out (contents, text parts,
    reasoning, tool-call arguments; a changed list or call is copied, never edited in place).
    Returns how many texts held it."""
    if not key:
        return 0
    hidden = 0

    def masked(text: Any) -> Any:
        nonlocal hidden
        if isinstance(text, str):
            text, count = mask_secret(text, key, KEY_MASK)
            hidden += count > 0
        return text

    for message in messages:
        for field in ("content", "reasoning_content"):
            value = message.get(field)
            if isinstance(value, str):
                message[field] = masked(value)
            elif isinstance(value, list) and any(
                isinstance(p, dict) and isinstance(p.get("text"), str) and key in p["text"] for p in value
            ):
                message[field] = [
                    {**p, "text": masked(p["text"])} if isinstance(p, dict) and "text" in p else p
                    for p in value
                ]
        calls = message.get("tool_calls")
        if isinstance(calls, list) and any(key in str(call) for call in calls):
            message["tool_calls"] = [
                {
                    **call,
                    "function": {**call["function"], "arguments": masked(call["function"].get("arguments"))},
                }
                if isinstance(call, dict) and isinstance(call.get("function"), dict)
                else call
                for call in calls
            ]
    return hidden
