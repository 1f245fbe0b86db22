"""Showing a streaming answer in terminal IPython, `%%capture` and other plain frontends.

The answer is written to stdout as it arrives; the result is still the `Reply`.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..events import Event
    from ..reply import Reply

__all__ = ["TextSink"]


class TextSink:
    """Plain text on stdout, for terminals: the answer as it arrives."""

    def __init__(self, stream: Any = None) -> None:
        self.out = stream or sys.stdout
        self._thinking = False
        self._answering = False

    def start(self) -> None:
        pass

    def event(self, event: "Event") -> None:
        kind = type(event).__name__
        if kind == "ReasoningDelta" and not self._thinking and not self._answering:
            self._thinking = True
            self.out.write("(thinking…)\n")
            self.out.flush()
        elif kind == "ContentDelta":
            self._answering = True
            self.out.write(event.text)  # type: ignore[union-attr]
            self.out.flush()

    def finish(self, reply: "Reply | None", failed: bool) -> None:
        if self._answering:
            self.out.write("\n")
            self.out.flush()
