"""Progress of many requests at once (`map`, batches): a protocol and a plain-text version.

A run calls `update(state)` as often as it likes and `close(state)` once; implementations decide
how often to draw. The notebook's progress line lives in `glm_notebook.notebook.progress`;
`default_progress()` picks it inside a Jupyter kernel, `TextProgress` on a terminal, else nothing.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Protocol, TextIO, runtime_checkable

from .. import hooks

__all__ = ["ProgressState", "Progress", "TextProgress", "default_progress", "format_seconds"]


@dataclass(frozen=True, slots=True)
class ProgressState:
    """A snapshot of a run: counts, tokens and time."""

    total: int
    done: int = 0
    failed: int = 0
    in_flight: int = 0
    tokens: int = 0
    """Completion tokens received in this run."""
    elapsed: float = 0.0
    limit: int | None = None
    """The current concurrency limit (lowered while rate-limited)."""
    retries: int = 0
    status: str = ""
    """A word for runs that are not plain request counts (`in_progress`, `finalizing`, …)."""

    @property
    def finished(self) -> int:
        return self.done + self.failed

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the pace so far (None before anything finished)."""
        finished = self.finished
        if finished == 0 or self.elapsed <= 0:
            return None
        return max(0.0, (self.total - finished) * self.elapsed / finished)

    def facts(self) -> list[str]:
        """What a bar does not show itself: failures, requests in flight, retries, status, tok/s."""
        parts = []
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.in_flight:
            parts.append(f"{self.in_flight} in flight")
        if self.limit is not None and self.retries:
            parts.append(f"limit {self.limit}")
        if self.retries:
            parts.append(f"{self.retries} retried")
        if self.status:
            parts.append(self.status)
        if self.tokens:
            parts.append(f"{self.tokens_per_second:,.0f} tok/s")
        return parts

    def line(self) -> str:
        """One line: `120/500 done · 2 failed · 8 in flight · 1,234 tok/s · ETA 12 s`."""
        parts = [f"{self.done}/{self.total} done", *self.facts()]
        eta = self.eta
        if eta is not None and self.finished < self.total:
            parts.append(f"ETA {format_seconds(eta)}")
        return " · ".join(parts)


def format_seconds(seconds: float) -> str:
    """`4.2 s`, `3 min 5 s`, `1 h 2 min`."""
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


@runtime_checkable
class Progress(Protocol):
    """Something that shows a run's progress."""

    def update(self, state: ProgressState) -> None: ...

    def close(self, state: ProgressState) -> None: ...


class TextProgress:
    """Plain-text progress: one line at most every `interval` seconds, and a last line on close.

    On a terminal the line is redrawn in place (`\\r`); elsewhere each line is printed.
    """

    def __init__(self, file: TextIO | None = None, *, interval: float = 1.0, label: str = "map") -> None:
        self.file = file if file is not None else sys.stderr
        self.interval = interval
        self.label = label
        self._last_drawn = 0.0
        self._last_line = ""
        isatty = getattr(self.file, "isatty", None)
        self._in_place = bool(isatty and isatty())

    def update(self, state: ProgressState) -> None:
        now = time.monotonic()
        if now - self._last_drawn >= self.interval:
            self._draw(state, final=False)
            self._last_drawn = now

    def close(self, state: ProgressState) -> None:
        self._draw(state, final=True)

    def _draw(self, state: ProgressState, *, final: bool) -> None:
        line = f"{self.label}: {state.line()}"
        if line == self._last_line:
            if final and self._in_place:
                self.file.write("\n")
                self.file.flush()
            return
        self._last_line = line
        if self._in_place:
            self.file.write("\r\x1b[2K" + line + ("\n" if final else ""))
        else:
            self.file.write(line + "\n")
        self.file.flush()


def default_progress(label: str = "map") -> Progress | None:
    """The notebook bar in a Jupyter kernel, text on a terminal, else None."""
    make = hooks.progress.find("kernel") if "ipykernel" in sys.modules else None
    bar: Progress | None = make(label) if make is not None else None
    if bar is not None:
        return bar
    stderr = sys.stderr
    if stderr is not None and getattr(stderr, "isatty", lambda: False)():
        return TextProgress(stderr, label=label)
    return None
