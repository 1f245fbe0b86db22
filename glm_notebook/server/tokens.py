"""Split answer text into stream tokens shaped like real GLM traffic."""

from __future__ import annotations

import re

__all__ = ["tokenize", "slices"]

# A word (with its leading space, at most 12 characters), one punctuation character, or a run of
# other whitespace; trailing newlines stick to the token before them, as in real streams.
_TOKEN = re.compile(r" ?\w{1,12}\n*| ?[^\w\s]\n*|\s+")


def tokenize(text: str) -> list[str]:
    """Tokens whose concatenation is exactly `text`; each holds whole characters."""
    return _TOKEN.findall(text)


def slices(text: str, low: int = 4, high: int = 8) -> list[str]:
    """Cut `text` into pieces of low..high characters (cycling sizes, deterministic)."""
    pieces: list[str] = []
    size, position = low, 0
    while position < len(text):
        pieces.append(text[position : position + size])
        position += size
        size = low if size >= high else size + 1
    return pieces
