"""The view of a `MapResults` (what `%%glm --map` leaves as the cell's value): a summary line and
the first rows as a compact table.

Cells are plain text escaped with `escape_text` (answers are cut to one line, not rendered as
Markdown), the fragment goes through the `sanitize_html` allow-list, and the shared stylesheet is
appended after. The time sits in `span.glm-time` so nbval's sanitizer can blank it; the plain
text leaves it out.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .._version import __version__
from ..results.map_results import MapResults, fields_of
from ..results.provenance import KEY
from ..text import one_line
from .markdown import NO_MATHJAX, escape_text, sanitize_html
from .phrases import format_seconds
from .styles import style_tag

__all__ = ["map_bundle", "map_html", "ROWS"]

#: Rows shown in the table.
ROWS = 5
_CELL = 80


def _cut(text: str) -> str:
    line = one_line(text)
    return line if len(line) <= _CELL else line[: _CELL - 1] + "…"


def _columns(results: MapResults) -> list[str]:
    if results.schema is not None:
        return list((results.schema.json_schema.get("properties") or {}).keys())
    return ["text"]


def _cells(results: MapResults, item: Any, columns: list[str]) -> list[str]:
    if not item.ok:
        message = _cut(str(item.error)) if item.error is not None else "(not run)"
        return [message] + [""] * (len(columns) - 1)
    if results.schema is None:
        return [_cut(item.text or "")]
    values = fields_of(item.value)
    return [_cut(str(values.get(name, ""))) for name in columns]


def map_html(results: MapResults, rows: int = ROWS) -> str:
    """The sanitised HTML table (without the stylesheet)."""
    columns = _columns(results)
    head = "".join(f"<th>{escape_text(name)}</th>" for name in ["", "status", *columns])
    body = []
    for item in results.items[:rows]:
        cells = [escape_text(str(item.label)), escape_text(item.status)]
        cells += [escape_text(cell) for cell in _cells(results, item, columns)]
        body.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    more = len(results) - rows
    tail = (
        f'<p class="glm-footer">… {more:,} more rows: results.to_pandas() shows them all</p>'
        if more > 0
        else ""
    )
    timing = f' · <span class="glm-time">{format_seconds(results.elapsed)}</span>' if results.elapsed else ""
    message = f'<p class="glm-status">{escape_text(results.message)}</p>' if results.message else ""
    fragment = (
        f'<div class="glm-md glm-map {NO_MATHJAX}">'
        f'<p class="glm-footer">{escape_text(results.summary(timing=False))}{timing}</p>{message}'
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{tail}</div>"
    )
    return sanitize_html(fragment)


def map_bundle(results: MapResults, include: Any = None, exclude: Any = None) -> tuple[dict, dict]:
    """`(data, metadata)` for IPython: HTML table and a plain-text summary without timings."""
    data = {"text/plain": results.text_view(), "text/html": map_html(results) + style_tag()}
    replies = [reply for reply in results.replies if reply is not None]
    usage = results.usage
    metadata = {
        KEY: {
            "version": __version__,
            "model": ", ".join(sorted({r.model for r in replies if r.model})) or None,
            "usage": dataclasses.asdict(usage) if replies else None,
            "cost": results.priced(warn=False),
            "batch": results.batch,
            **({"replayed": True} if replies and all(r.replayed_at for r in replies) else {}),
            "map": {
                "total": len(results),
                "done": results.done,
                "failed": results.failed,
                "stopped": results.stopped,
            },
        }
    }
    return data, metadata
