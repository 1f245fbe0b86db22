"""The notebook progress line of `map` and batches: one compact HTML line updated in place.

`map · ▰▰▰▱▱ 3/10 done · 1 failed · 4 in flight · 2.1 req/s · 1,234 tok/s · ETA 4 s` — the
facts of `ProgressState.line()` behind a small bar, redrawn at most every `mininterval` seconds
through a display id (no widget: a saved notebook shows the last state without a kernel or
widget state). Before anything finished it says what is happening ("10 in flight"), never
`0% ?req/s`. A run that ends unfinished turns the line red. `%%glm --map` replaces the line with
its result; `Batch` keeps it as the cell's value.
"""

from __future__ import annotations

import time
from typing import Any

from ..client.progress import ProgressState, format_seconds
from ..render.markdown import NO_MATHJAX, escape_text
from ..text import short_line

__all__ = ["NotebookProgress", "in_kernel", "kernel_progress"]


def in_kernel() -> bool:
    """True inside a Jupyter kernel (where displays can be updated in place)."""
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def kernel_progress(label: str) -> NotebookProgress | None:
    """A notebook progress line inside a Jupyter kernel, None elsewhere (`hooks.progress["kernel"]`)."""
    return NotebookProgress(label=label) if in_kernel() else None


class NotebookProgress:
    """A progress line fed with `ProgressState`s (displayed on the first update)."""

    def __init__(self, *, label: str = "map", mininterval: float = 0.25) -> None:
        self.label = label
        self.mininterval = mininterval
        self._handle: Any = None
        self._drawn = 0.0

    def update(self, state: ProgressState) -> None:
        now = time.monotonic()
        if self._handle is not None and now - self._drawn < self.mininterval:
            return
        self._drawn = now
        self._show(progress_html(self.label, state, ended=False))

    def close(self, state: ProgressState) -> None:
        self._show(progress_html(self.label, state, ended=True))

    def _show(self, html: str) -> None:
        from IPython.display import HTML, display

        data = HTML(html)
        if self._handle is None:
            self._handle = display(data, display_id=True)
        else:
            self._handle.update(data)


_BAR = 10  # cells of the bar


def progress_html(label: str, state: ProgressState, *, ended: bool) -> str:
    """The line: label, a small bar of finished requests, then the facts (all escaped; a batch
    status comes from the service)."""
    share = state.finished / state.total if state.total else 0.0
    filled = round(share * _BAR)
    bar = "▰" * filled + "▱" * (_BAR - filled)
    if ended:  # what happened, and how long it took (no rates: a saved notebook keeps this)
        parts = [f"{state.done}/{state.total} done"]
        parts += [f"{state.failed} failed"] * bool(state.failed) + [state.status] * bool(state.status)
        text = escape_text(" · ".join(parts))
        if state.elapsed > 0:
            text += f' · <span class="glm-time">{escape_text(format_seconds(state.elapsed))}</span>'
    else:
        facts = [state.line()]
        if state.finished and state.elapsed > 0 and state.finished < state.total:
            facts[0] = facts[0].replace(" done", f" done · {state.finished / state.elapsed:,.1f} req/s", 1)
        text = escape_text(short_line(" · ".join(facts), 300))
    unfinished = ended and state.finished < state.total
    colour = ' style="color:var(--jp-error-color1,#c62828)"' if unfinished else ""
    return (
        f'<div class="glm-progress {NO_MATHJAX}"{colour}><small>{escape_text(label)} '
        f'<span class="glm-progress-bar">{bar}</span> {text}</small></div>'
    )
