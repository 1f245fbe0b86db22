"""Test directives that steer the local server.

Directives come from a `/_/key=value,flag/` path prefix (URL-encoding allowed) or from
`[[key=value,flag]]` groups in the last user message (several groups allowed; groups are removed
before the answer is derived; a group only counts if its keys are lower-case identifiers).
Later sources override earlier ones (path first, then groups in order). Unknown keys and bad
values raise `DirectiveError` (the server answers 400 / 1214 naming the key).

Faults (positions N count delta chunks; past the last delta they apply before the final chunk):
  status=N [code=S] [message=TEXT (_ = space)] [retry_after=V] [flat]   error reply instead
               V is sent as the Retry-After header as written (3600, 0.5, -5, inf, nan, soon),
               except `past` / `date`: an HTTP date a day ago / a day ahead
  content_type=html                    `text/html` proxy page (status 200 unless `status` given)
  times=K                              only the first K requests with this directive text
                                       get the faults; later ones are served normally
  cut=N        drop the connection after N chunks (non-stream: after N body bytes)
  end=N        end the body cleanly after N chunks: no final chunk, no [DONE]
  error_frame=N [code] [message] [error_event]   an `{"error":…}` frame, then end
  bad_json=N   a frame cut mid-field with the next frame glued on, then go on
  finish=R     finish_reason of the final chunk
  stall=S [at=N]   sleep S seconds after N chunks;  stall_headers=S  sleep before the headers
  no_response  accept the request and never send the headers (until the client leaves)
Hostile traffic (hardening tests; see `shapes.py` and `faults.py`):
  shape=KIND [at=N]   chunk N (or the whole JSON reply) in a wrong shape: choices_int,
               choices_obj, delta_str, content_int, content_list, finish_int, tool_name_int,
               args_obj; usage_str, tokens_str spoil the final chunk's usage
  gzip_broken=N    `Content-Encoding: gzip`, valid for N chunks, then bytes no inflater accepts
  big_error=N  an error reply (status `status`, else 500) whose JSON body is N bytes
  big_json=N   a 200 JSON reply (also to a stream request) of N bytes
  long_line=N [at=N]   after N chunks, one `data:` line of N bytes that never ends, then the end
  long_event=N [at=N]  after N chunks, N bytes of short `data:` lines with no blank line
  ansi_error   error messages (status errors, error frames) carry escape codes, CR and LF
Shape and pace:
  delay=S      seconds between chunks;   split=A-B [seed=S]  body in A..B-byte ASGI messages
  huge=N       N characters of Markdown in 4-8 character chunks
  u2028        content with U+2028 / U+2029, emoji and CJK
  echo         content = the prompt without directive groups; reasoning "Echoing the prompt."
  crlf, comments, no_object, null_finish   SSE/JSON framing variants
  tag=TEXT     ignored; makes a directive text unique (separate `times` counters)
Tools (see server/tools.py): [[tool=NAME]] / [[tool=NAME,args=JSON]] groups (their own syntax,
  JSON may hold commas) call NAME;  tool_rounds=N  asks for tools in N steps before answering
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from typing import Any
from urllib.parse import quote

from .shapes import SHAPES

__all__ = [
    "Directives",
    "DirectiveError",
    "DIRECTIVE_KEYS",
    "FAULT_KEYS",
    "parse_directives",
    "extract_directives",
    "strip_directives",
    "format_directives",
]

_ITEM = r"[a-z][a-z0-9_]*(?:\s*=[^,\[\]]*)?"
# A group only counts when it looks like a directive list (lower-case keys), so `[[Python]]` or
# `[[see this]]` stay ordinary text while `[[stauts=500]]` is rejected as an unknown key.
_GROUP = re.compile(r"\[\[\s*(" + _ITEM + r"(?:\s*,\s*" + _ITEM + r")*)\s*\]\]")

_INTS = {
    "status",
    "times",
    "cut",
    "end",
    "error_frame",
    "bad_json",
    "at",
    "huge",
    "seed",
    "gzip_broken",
    "big_error",
    "big_json",
    "long_line",
    "long_event",
    "tool_rounds",
}
_FLOATS = {"stall", "stall_headers", "delay"}
_STRINGS = {"code", "message", "finish", "content_type", "tag", "retry_after", "shape"}
_FLAGS = {
    "flat",
    "error_event",
    "u2028",
    "echo",
    "crlf",
    "comments",
    "no_object",
    "null_finish",
    "no_response",
    "ansi_error",
}
_SIZES = {"huge", "big_error", "big_json", "long_line", "long_event"}
_TRUE = {"", "1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

DIRECTIVE_KEYS: frozenset[str] = frozenset(_INTS | _FLOATS | _STRINGS | _FLAGS | {"split"})
"""Every key the server understands."""

FAULT_KEYS: frozenset[str] = frozenset(
    {
        "status",
        "code",
        "message",
        "retry_after",
        "flat",
        "content_type",
        "cut",
        "end",
        "error_frame",
        "error_event",
        "bad_json",
        "finish",
        "stall",
        "at",
        "stall_headers",
        "no_response",
        "shape",
        "gzip_broken",
        "big_error",
        "big_json",
        "long_line",
        "long_event",
        "ansi_error",
    }
)
"""Keys that make a request fail or misbehave; `times=K` switches them off after K requests."""


class DirectiveError(ValueError):
    """A directive names an unknown key or carries a value of the wrong type."""


@dataclass(frozen=True, slots=True, repr=False)
class Directives:
    """Typed directives of one request; every field is optional (None / False / 0)."""

    status: int | None = None
    code: str | None = None
    message: str | None = None
    retry_after: str | None = None
    flat: bool = False
    times: int | None = None
    content_type: str | None = None
    cut: int | None = None
    end: int | None = None
    error_frame: int | None = None
    error_event: bool = False
    bad_json: int | None = None
    finish: str | None = None
    stall: float | None = None
    at: int = 0
    stall_headers: float | None = None
    no_response: bool = False
    shape: str | None = None
    gzip_broken: int | None = None
    big_error: int | None = None
    big_json: int | None = None
    long_line: int | None = None
    long_event: int | None = None
    ansi_error: bool = False
    delay: float | None = None
    split: tuple[int, int] | None = None
    seed: int = 0
    huge: int | None = None
    u2028: bool = False
    echo: bool = False
    crlf: bool = False
    comments: bool = False
    no_object: bool = False
    null_finish: bool = False
    tag: str | None = None
    tool_rounds: int | None = None
    source: str = ""
    """The directive text as received (groups joined by `,`): the key of the `times` counter."""
    given: frozenset[str] = frozenset()
    """The keys that were actually written."""

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.name in self.given)
        return f"Directives({shown})"

    def without_faults(self) -> Directives:
        """The same directives with every fault (status, cut, stall, ...) switched off."""
        defaults: dict[str, Any] = {f.name: f.default for f in fields(self) if f.name in FAULT_KEYS}
        return replace(self, **defaults, given=self.given - FAULT_KEYS)


def _convert(key: str, raw: str) -> Any:
    value = raw.strip()
    try:
        if key in _FLAGS:
            lowered = value.lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError("expected a flag (no value, 1/0, true/false)")
        if not value:
            raise ValueError("a value is required")
        if key in _INTS:
            number = int(value)
            if number < 0:
                raise ValueError("must not be negative")
            if key == "status" and not 200 <= number <= 599:
                raise ValueError("must be an HTTP status between 200 and 599")
            if key in _SIZES and number < 1:
                raise ValueError("must be at least 1")
            return number
        if key in _FLOATS:
            seconds = float(value)
            if not math.isfinite(seconds) or seconds < 0:
                raise ValueError("must be a finite number >= 0")
            return seconds
        if key == "split":
            low, _, high = value.partition("-")
            pair = (int(low), int(high or low))
            if not 1 <= pair[0] <= pair[1]:
                raise ValueError("expected A-B with 1 <= A <= B")
            return pair
        if key == "message":
            return value.replace("_", " ")
        if key == "shape" and value not in SHAPES:
            raise ValueError(f"expected one of {', '.join(sorted(SHAPES))}")
        if key == "content_type" and value.lower() != "html":
            raise ValueError("only content_type=html is supported")
        return value.lower() if key == "content_type" else value
    except ValueError as exc:
        raise DirectiveError(f"Invalid value for directive {key!r}: {raw!r} ({exc})") from None


def parse_directives(texts: Iterable[str]) -> Directives:
    """Parse comma-separated `key=value` / `flag` lists; later texts override earlier ones."""
    sources = [text.strip() for text in texts if text and text.strip()]
    values: dict[str, Any] = {}
    for text in sources:
        for item in text.split(","):
            item = item.strip()
            if not item:
                continue
            key, has_value, raw = item.partition("=")
            key = key.strip()
            if key not in DIRECTIVE_KEYS:
                raise DirectiveError(f"Unknown directive {key!r}")
            if key not in _FLAGS and not has_value:
                raise DirectiveError(f"Directive {key!r} needs a value ({key}=...)")
            values[key] = _convert(key, raw)
    return Directives(**values, source=",".join(sources), given=frozenset(values))


def extract_directives(text: str) -> tuple[str, list[str]]:
    """Split `text` into (text without directive groups, list of group bodies)."""
    groups = [match.group(1) for match in _GROUP.finditer(text)]
    return (_GROUP.sub("", text) if groups else text), groups


def strip_directives(text: str) -> str:
    """`text` without its `[[...]]` directive groups."""
    return _GROUP.sub("", text)


def format_directives(**directives: Any) -> str:
    """Render keyword arguments as a URL-safe directive list (`True` → flag, None/False → omitted).

    Spaces in `message` become `_`; a tuple `split=(1, 7)` becomes `split=1-7`.
    """
    items: list[str] = []
    for key, value in directives.items():
        if key not in DIRECTIVE_KEYS:
            raise DirectiveError(f"Unknown directive {key!r}")
        if value is None or value is False:
            continue
        if value is True:
            items.append(key)
            continue
        if isinstance(value, tuple):
            value = "-".join(str(part) for part in value)
        text = str(value)
        if key == "message":
            text = text.replace(" ", "_")
        items.append(f"{key}={text}")
    return quote(",".join(items), safe="=,-_.~")
