"""The notebook progress bar of `map` and batches: tqdm's widget bar (`tqdm.notebook`).

The bar counts finished requests; its postfix is `ProgressState.facts()` (failed, in flight,
retries, tokens per second); tqdm shows the rate and the ETA. It turns red when a run ends unfinished.
"""

from __future__ import annotations

from typing import Any

from ..client.progress import ProgressState
from ..render.markdown import NO_MATHJAX, escape_text
from ..text import short_line

__all__ = ["NotebookProgress", "in_kernel", "kernel_progress"]


def in_kernel() -> bool:
    """True inside a Jupyter kernel (where widgets can show)."""
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def kernel_progress(label: str) -> NotebookProgress | None:
    """A notebook bar inside a Jupyter kernel, None elsewhere (`hooks.progress["kernel"]`)."""
    return NotebookProgress(label=label) if in_kernel() else None


class NotebookProgress:
    """A `tqdm.notebook` bar fed with `ProgressState`s (created on the first update)."""

    def __init__(self, *, label: str = "map", mininterval: float = 0.25) -> None:
        self.label = label
        self.mininterval = mininterval
        self._bar: Any = None

    def _open(self, state: ProgressState) -> Any:
        from tqdm.notebook import tqdm

        self._bar = tqdm(total=state.total, desc=_html(self.label), unit="req", mininterval=self.mininterval)
        return self._bar

    def update(self, state: ProgressState) -> None:
        bar = self._bar or self._open(state)
        bar.n = state.finished
        bar.set_postfix_str(_html(" · ".join(state.facts())), refresh=False)
        bar.refresh()

    def close(self, state: ProgressState) -> None:
        self.update(state)
        self._bar.close()


def _html(text: str) -> str:
    """Text for tqdm's bar, whose labels are ipywidgets `HTML` (innerHTML, then MathJax): one
    line, escaped, inside the MathJax-ignore classes (a batch status comes from the service)."""
    return f'<span class="{NO_MATHJAX}">{escape_text(short_line(text, 200))}</span>'
