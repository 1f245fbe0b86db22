"""`Pieces`: text that arrives in many small slices, kept in about its own size.

A stream delivers an answer in slices of a few characters. Kept as a list of `str`, each slice
costs a string object (~50 bytes of header) and a list slot: a 5 MB answer in 6-character
slices took ~60 MB, twelve times the text. `Pieces` joins the slices in batches as they come
(a batch of `BATCH` slices becomes one string), so the overhead is a small constant plus a few
percent of the text, and `value()` joins the batches once and keeps that one string.
"""

from __future__ import annotations

__all__ = ["Pieces"]


class Pieces:
    """A growing text: `append(slice)`, `value()` (the text so far), `len()` (its characters)."""

    __slots__ = ("_parts", "_recent", "_chars")

    #: Slices joined into one string at a time.
    BATCH = 256

    def __init__(self) -> None:
        self._parts: list[str] = []  # joined batches (one string once `value()` ran)
        self._recent: list[str] = []  # the last slices, fewer than BATCH
        self._chars = 0

    def append(self, text: str) -> None:
        """Add a slice of text."""
        recent = self._recent
        recent.append(text)
        self._chars += len(text)
        if len(recent) >= self.BATCH:
            self._parts.append("".join(recent))
            recent.clear()

    def value(self) -> str:
        """The whole text so far (joined once, then kept as one string)."""
        if self._recent:
            self._parts.append("".join(self._recent))
            self._recent.clear()
        if len(self._parts) > 1:
            self._parts[:] = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    def __len__(self) -> int:
        return self._chars

    def __bool__(self) -> bool:
        return self._chars > 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pieces) and self.value() == other.value()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"<Pieces: {self._chars:,} characters>"
