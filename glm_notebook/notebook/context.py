"""The notebook's history as prompt context: `{In[3]}`, `{Out[3]}`, `{_}`, `{Err}`, `{Err[7]}`.

`In`, `Out` and `_` are the shell's own. `Err` is an `ErrorLog`: a `post_run_cell` hook (set up
by `%load_ext glm_notebook`) records each cell's exception as plain text at once — the cell's
code, the exception type and message, a traceback without ANSI colours trimmed to the cell's
own frames and the frame that raised, and short reprs of the names the failing line uses — so
nothing holds on to frames or values. `{Err}` is the last one, `{Err[7]}` the one of cell 7.
"""

from __future__ import annotations

import ast
import os
import re
import reprlib
import sys
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from IPython.core.error import UsageError

from ..client.content import ImageError, ImagePart, image_part
from ..text import strip_controls

__all__ = [
    "ErrorLog",
    "ErrorRecord",
    "FigureTracker",
    "attached_images",
    "record_error",
    "fix_prompt",
    "fix_note",
    "install_error_log",
    "uninstall_error_log",
]

#: Most traceback frames kept from library code below the cell (the innermost ones).
LIBRARY_FRAMES = 2
#: Most errors remembered.
KEPT = 50
_CELL_FILE = re.compile(
    r"^(<ipython-input-\d+-[0-9a-f]+>|.*[/\\]ipykernel_\d+[/\\]\d+\.py|<cell line: \d+>)$"
)
_SKIPPED = ("KeyboardInterrupt", "UsageError", "GLMInterrupted")
_repr = reprlib.Repr()
_repr.maxstring, _repr.maxother, _repr.maxlist, _repr.maxdict = 60, 60, 6, 6


@dataclass(frozen=True)
class ErrorRecord:
    """One cell's exception, as plain text."""

    cell: int | None
    code: str
    kind: str
    message: str
    traceback: str
    line: str = ""
    variables: tuple[tuple[str, str], ...] = ()

    def _repr_llm_(self) -> str:
        where = f"In [{self.cell}]" if self.cell is not None else "the cell"
        parts = [f"{where}:\n```python\n{self.code.rstrip()}\n```", f"```\n{self.traceback.rstrip()}\n```"]
        return "\n\n".join(parts)

    def __str__(self) -> str:
        return self._repr_llm_()

    def __repr__(self) -> str:
        return f"<ErrorRecord In[{self.cell}] {self.kind}: {_repr.repr(self.message)}>"


def _is_cell(filename: str) -> bool:
    return bool(_CELL_FILE.match(filename))


def _trimmed(error: BaseException) -> tuple[str, list[traceback.FrameSummary]]:
    """The traceback text (cell frames, then the innermost library frames) and its frames."""
    frames: list[traceback.FrameSummary] = list(traceback.extract_tb(error.__traceback__))
    first = next((i for i, frame in enumerate(frames) if _is_cell(frame.filename)), 0)
    frames = frames[first:]
    last_cell = max((i for i, frame in enumerate(frames) if _is_cell(frame.filename)), default=-1)
    below = frames[last_cell + 1 :]
    kept = frames[: last_cell + 1] + below[-LIBRARY_FRAMES:]
    lines = ["Traceback (most recent call last):"]
    for index, frame in enumerate(kept):
        if index == last_cell + 1 and len(below) > LIBRARY_FRAMES:
            lines.append(f"  … {len(below) - LIBRARY_FRAMES} frame(s) in library code left out")
        where = "cell" if _is_cell(frame.filename) else frame.filename
        lines.append(f'  File "{where}", line {frame.lineno}, in {frame.name}')
        if frame.line:
            lines.append(f"    {frame.line.strip()}")
    lines += [line.rstrip("\n") for line in traceback.format_exception_only(type(error), error)]
    return strip_controls("\n".join(lines)), [f for f in kept if _is_cell(f.filename)]


def _names(line: str) -> list[str]:
    """Names a line of code reads, in order, without duplicates."""
    try:
        tree = ast.parse(line.strip())
        nodes = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Name)), key=lambda n: n.col_offset)
        found = [node.id for node in nodes]
    except SyntaxError:
        found = re.findall(r"(?<![.\w])[A-Za-z_]\w*", line)
    return list(dict.fromkeys(found))


def _cell_frames(tb: TracebackType | None) -> list[Any]:
    """The traceback's frames that run cell code, outermost first."""
    frames = []
    while tb is not None:
        if _is_cell(tb.tb_frame.f_code.co_filename):
            frames.append(tb.tb_frame)
        tb = tb.tb_next
    return frames


def _variables(error: BaseException, line: str) -> tuple[tuple[str, str], ...]:
    """Short reprs of the names `line` reads, looked up from the innermost cell frame outwards
    (a comprehension's loop variable, then the function's arguments, then the notebook's)."""
    frames = _cell_frames(error.__traceback__)
    if not frames or not line:
        return ()
    scopes = [frame.f_locals for frame in reversed(frames)] + [frames[-1].f_globals]
    shown = []
    for name in _names(line):
        scope = next((s for s in scopes if name in s), None)
        if scope is None or name.startswith("_"):
            continue
        value = scope[name]
        if callable(value) and not hasattr(value, "__len__"):
            continue  # functions and classes: their name says enough
        shown.append((name, f"{_repr.repr(value)} ({type(value).__name__})"))
    return tuple(shown)


def record_error(error: BaseException, code: str, cell: int | None) -> ErrorRecord:
    """An `ErrorRecord` of `error`, raised by `code` (the source of cell `cell`)."""
    text, cell_frames = _trimmed(error)
    line = cell_frames[-1].line or "" if cell_frames else ""
    if isinstance(error, SyntaxError) and error.text:
        line = error.text.strip()
    message = strip_controls(str(error))
    return ErrorRecord(cell, code, type(error).__name__, message, text, line.strip(), _variables(error, line))


FIX_REQUEST = (
    "This notebook cell failed. Explain the cause in a few sentences, then give the whole "
    "corrected cell as one Python code block."
)


def fix_prompt(record: ErrorRecord, extra: str = "") -> str:
    """The `%glm fix` prompt: the request, the failing cell and traceback, the names the failing
    line uses with short reprs, and the user's own words."""
    parts = [FIX_REQUEST, record._repr_llm_()]
    if record.variables:
        shown = "\n".join(f"- {name} = {value}" for name, value in record.variables)
        parts.append(f"Values used on the failing line `{record.line}`:\n{shown}")
    if extra.strip():
        parts.append(extra.strip())
    return "\n\n".join(parts)


def fix_note(record: ErrorRecord) -> str:
    """What `%glm fix` sent, in one quiet line under the answer."""
    where = f"In [{record.cell}]" if record.cell is not None else "the failing cell"
    sent = f"sent {where}, its {record.kind} traceback"
    if record.variables:
        names = ", ".join(name for name, _ in record.variables)
        sent += f" and the values of {names}"
    return sent


class ErrorLog:
    """The exceptions of the cells run since `%load_ext glm_notebook`, newest last."""

    def __init__(self) -> None:
        self.records: list[ErrorRecord] = []

    def add(self, record: ErrorRecord) -> None:
        self.records = [r for r in self.records if r.cell != record.cell or r.cell is None]
        self.records = (self.records + [record])[-KEPT:]

    def last(self) -> ErrorRecord | None:
        """The newest error, if any."""
        return self.records[-1] if self.records else None

    def __getitem__(self, cell: int) -> ErrorRecord:
        for record in reversed(self.records):
            if record.cell == cell:
                return record
        raise LookupError(f"cell {cell} raised no exception")

    def _repr_llm_(self) -> str:
        last = self.last()
        if last is None:
            raise LookupError("no cell has raised an exception yet")
        return last._repr_llm_()

    def __repr__(self) -> str:
        return f"<ErrorLog: {len(self.records)} error(s)>"

    def post_run_cell(self, result: Any) -> None:
        """IPython `post_run_cell` hook: record the cell's exception, if it raised one."""
        error = result.error_in_exec or result.error_before_exec
        if error is None or type(error).__name__ in _SKIPPED:
            return
        if type(error).__module__.startswith("glm_notebook"):
            return  # our own errors (service, usage) are not the user's code failing
        info = getattr(result, "info", None)
        code = getattr(info, "raw_cell", "") or ""
        self.add(record_error(error, code, result.execution_count))


def install_error_log(shell: Any) -> ErrorLog:
    """The shell's `ErrorLog`, registering its hook the first time (idempotent)."""
    for callback in shell.events.callbacks["post_run_cell"]:
        owner = getattr(callback, "__self__", None)
        if isinstance(owner, ErrorLog):
            return owner
    log = ErrorLog()
    shell.events.register("post_run_cell", log.post_run_cell)
    return log


def uninstall_error_log(shell: Any) -> None:
    """Unregister the `ErrorLog` and `FigureTracker` hooks from `shell`."""
    for event, cls in (("post_run_cell", ErrorLog), ("post_execute", FigureTracker)):
        for callback in list(shell.events.callbacks[event]):
            if isinstance(getattr(callback, "__self__", None), cls):
                shell.events.unregister(event, callback)


class FigureTracker:
    """The current matplotlib figure for `%%glm --plot`: the open one, else the last one open
    at the end of a cell (the inline backend closes figures once they are shown)."""

    def __init__(self) -> None:
        self.last: Any = None

    def post_execute(self) -> None:
        """IPython `post_execute` hook: remember the active figure, if pyplot has one open."""
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None and pyplot.get_fignums():
            self.last = pyplot.gcf()

    def current(self) -> Any:
        """The figure `--plot` sends, or None."""
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None and pyplot.get_fignums():
            return pyplot.gcf()
        return self.last

    @classmethod
    def install(cls, shell: Any) -> FigureTracker:
        """The shell's tracker, registering its hook the first time (idempotent)."""
        for callback in shell.events.callbacks["post_execute"]:
            if isinstance(getattr(callback, "__self__", None), cls):
                return callback.__self__
        tracker = cls()
        shell.events.register("post_execute", tracker.post_execute)
        return tracker


def attached_images(paths: Iterable[str], plot: bool, figures: FigureTracker) -> list[ImagePart]:
    """The image parts of `--image PATH` (each) and `--plot`; mistakes raise `UsageError`."""
    parts = []
    for path in paths:
        try:
            parts.append(image_part(_path(path)))
        except ImageError as exc:
            raise UsageError(f"--image {path}: {exc}") from None
    if plot:
        figure = figures.current()
        if figure is None:
            raise UsageError(
                "--plot: no matplotlib figure yet; draw one, or keep it (fig = plt.gcf()) and write {fig}"
            )
        parts.append(image_part(figure))
    return parts


def _path(text: str) -> Path:
    return Path(os.path.expanduser(text))
