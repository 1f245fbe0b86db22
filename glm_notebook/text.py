"""Plain-text hygiene for model and server text on every path that is not HTML.

`strip_controls(text)` removes terminal control sequences (ANSI CSI / OSC / other escapes, such
as OSC 52 clipboard writes or clear-screen) and C0/C1 control characters other than newline and
tab, so text from the model or the service can be printed to a terminal, a `%%capture`, an error
line or a log without acting on it. `one_line(text)` also folds newlines and carriage returns;
`short_line(text, limit)` also cuts it to `limit` characters (for server text in error messages).
"""

from __future__ import annotations

import re

__all__ = ["strip_controls", "one_line", "short_line", "plural"]

# ESC-introduced sequences: CSI (ESC [ … final), OSC / DCS / SOS / PM / APC (ESC ] … BEL or ST),
# and two-character escapes; then the 8-bit CSI / OSC forms; then the remaining controls.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b[\]PX^_].*?(?:\x07|\x1b\\|$)"
    r"|\x1b[@-Z\\-_]"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|[\x9d\x90\x98\x9e\x9f].*?(?:\x07|\x9c|$)",
    re.DOTALL,
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def strip_controls(text: str) -> str:
    """`text` without terminal escape sequences and control characters (keeps `\\n` and `\\t`)."""
    return _CONTROLS.sub("", _ESCAPES.sub("", text))


def one_line(text: str) -> str:
    """`text` cleaned as by `strip_controls`, with all whitespace runs folded to one space."""
    return " ".join(strip_controls(text.replace("\r", " ")).split())


def short_line(text: str, limit: int = 300) -> str:
    """`one_line(text)` cut to at most `limit` characters, ending in `…` when it was cut."""
    # Clean a generous prefix only: a megabyte of server text costs no more than a few kB.
    line = one_line(text[: limit * 8 + 64])
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def plural(count: int, word: str) -> str:
    """`1 word`, `1,200 words`."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"
