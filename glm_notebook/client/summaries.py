"""Values as prompt text: bounded, model-friendly summaries instead of `str(value)`.

`summarize(value)` is what a `{name}` in a `%%glm` prompt becomes:

- an object with a `_repr_llm_()` method: what that method returns (capped like any text);
- a pandas DataFrame: its shape, the columns with their dtypes, then the first and last
  `EDGE_ROWS` rows as a Markdown table with long cells cut; a Series likewise;
- anything else: `str(value)`, cut after `TEXT_CAP` characters with a note saying so.

`summarize(value, full=True)` (`{name!full}` in a prompt) sends the whole thing instead: every
row of a table, all of a long string, up to `FULL_CAP` characters, with a note when cut.

pandas is never imported here: tables are recognised by their type's module and name.
"""

from __future__ import annotations

from typing import Any

__all__ = ["summarize", "cap_text", "markdown_table", "TEXT_CAP", "FULL_CAP", "EDGE_ROWS", "CELL_CAP"]

#: Longest text a `{name}` sends before it is cut (characters).
TEXT_CAP = 20_000
#: Longest text a `{name!full}` sends before it is cut.
FULL_CAP = 200_000
#: Rows shown from each end of a table in a summary.
EDGE_ROWS = 5
#: Longest table cell in a summary (characters).
CELL_CAP = 60


def cap_text(text: str, limit: int, *, hint: str = "") -> str:
    """`text`, or its first `limit` characters and a note saying how much was cut."""
    if len(text) <= limit:
        return text
    note = f"[… cut after {limit:,} of {len(text):,} characters{hint}]"
    return text[:limit].rstrip() + "\n" + note


def _cell(value: Any, limit: int | None) -> str:
    text = " ".join(str(value).split()).replace("|", "\\|")
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def markdown_table(header: list[Any], rows: list[list[Any]], *, cell_cap: int | None = CELL_CAP) -> str:
    """A Markdown table (pipes escaped, whitespace folded, cells cut to `cell_cap`)."""
    lines = ["| " + " | ".join(_cell(h, cell_cap) for h in header) + " |"]
    lines.append("|" + "---|" * len(header))
    lines += ["| " + " | ".join(_cell(v, cell_cap) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _kind(value: Any) -> str | None:
    """ "DataFrame" / "Series" for pandas objects (without importing pandas), else None."""
    cls = type(value)
    if cls.__module__.split(".")[0] != "pandas":
        return None
    return cls.__name__ if cls.__name__ in ("DataFrame", "Series") else None


def _frame_rows(frame: Any) -> tuple[list[Any], list[list[Any]]]:
    header = [frame.index.name or ""] + [str(c) for c in frame.columns]
    rows = [
        [index, *values]
        for index, values in zip(frame.index, frame.itertuples(index=False, name=None), strict=True)
    ]
    return header, rows


def _full_table(frame: Any) -> str:
    """Every row as Markdown, stopping once `FULL_CAP` characters are reached (with a note), so
    a million-row frame costs no more than the rows that fit."""
    header = [frame.index.name or ""] + [str(c) for c in frame.columns]
    lines = markdown_table(header, [], cell_cap=None).split("\n")
    size = sum(len(line) + 1 for line in lines)
    rows = zip(frame.index, frame.itertuples(index=False, name=None), strict=True)
    for shown, (index, values) in enumerate(rows):
        line = markdown_table(header, [[index, *values]], cell_cap=None).split("\n", 2)[2]
        if size + len(line) > FULL_CAP - 2_000:  # room for the lines above the table
            lines.append(
                f"[… {shown:,} of {len(frame):,} rows sent; the rest would pass the {FULL_CAP:,}-character limit]"
            )
            break
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines)


def _table(frame: Any, *, full: bool) -> str:
    """A DataFrame (or a Series made into one) as Markdown: all rows, or head and tail."""
    if full:
        return _full_table(frame)
    cap = CELL_CAP
    if len(frame) <= 2 * EDGE_ROWS:
        header, rows = _frame_rows(frame)
        return markdown_table(header, rows, cell_cap=cap)
    header, head = _frame_rows(frame.head(EDGE_ROWS))
    _, tail = _frame_rows(frame.tail(EDGE_ROWS))
    gap = ["…"] * len(header)
    return markdown_table(header, head + [gap] + tail, cell_cap=cap)


def _dataframe(frame: Any, *, full: bool) -> str:
    rows, columns = frame.shape
    dtypes = ", ".join(f"{_cell(name, CELL_CAP)} ({dtype})" for name, dtype in frame.dtypes.items())
    lines = [f"pandas DataFrame: {rows:,} rows × {columns:,} columns", f"Columns (dtype): {dtypes}"]
    if rows and not full and rows > 2 * EDGE_ROWS:
        lines.append(f"First and last {EDGE_ROWS} rows:")
    return "\n".join(lines) + "\n\n" + _table(frame, full=full)


def _series(series: Any, *, full: bool) -> str:
    name = "" if series.name is None else f" {_cell(series.name, CELL_CAP)!r}"
    line = f"pandas Series{name}: {len(series):,} values, dtype {series.dtype}"
    frame = series.to_frame(name="value" if series.name is None else series.name)
    return line + "\n\n" + _table(frame, full=full)


def summarize(value: Any, *, full: bool = False, name: str = "name") -> str:
    """`value` as prompt text: its `_repr_llm_()`, a table summary, or `str()`, capped; the
    note on a cut summary tells how to ask for more (`{name!full}`)."""
    limit = FULL_CAP if full else TEXT_CAP
    hint = "" if full else f"; write {{{name}!full}} to send more"
    method = getattr(type(value), "_repr_llm_", None)
    if callable(method):
        return cap_text(str(method(value)), limit, hint=hint)
    kind = _kind(value)
    if kind == "DataFrame":
        return cap_text(_dataframe(value, full=full), limit, hint=hint)
    if kind == "Series":
        return cap_text(_series(value, full=full), limit, hint=hint)
    return cap_text(str(value), limit, hint=hint)
