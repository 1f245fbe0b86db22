"""The view of a `MapResults` (what `%%glm --map` leaves as the cell's value): a summary line and
the first `ROWS` rows as a table that scrolls, then how many more there are and how to see them.

Columns: the label, the input (the part of each prompt that differs from the others: a template's
fixed words are left out), then the answer as plain text (its Markdown read, not shown as marks)
or the parsed fields with `schema=`; a failed row says `error: …` there. Cells are left-aligned
plain text cut at a word, escaped with `escape_text`; the fragment goes through the
`sanitize_html` allow-list, and the shared stylesheet is appended after. The time sits in
`span.glm-time` so nbval's sanitizer can blank it; the plain text leaves it out.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from .._version import __version__
from ..results.map_results import MapResults, fields_of
from ..results.provenance import KEY
from ..text import one_line
from .markdown import NO_MATHJAX, escape_text, markdown_plain, sanitize_html
from .phrases import format_seconds
from .styles import style_tag

__all__ = ["map_bundle", "map_html", "ROWS"]

#: Rows shown in the table (it scrolls past about ten).
ROWS = 20
_CELL = 160
_INPUT = 80


def _cut(text: str, limit: int = _CELL) -> str:
    """One line, cut at a word near `limit` characters."""
    line = one_line(text)
    if len(line) <= limit:
        return line
    cut = line[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,.;:") + "…"


def _varying(prompts: list[str]) -> list[str]:
    """Each prompt without the words all of them share at the start and the end (a template's
    fixed text), so the input column shows what differs; whole prompts when there is one."""
    if len(prompts) < 2:
        return prompts
    head = os.path.commonprefix(prompts)
    tail = os.path.commonprefix([p[len(head) :][::-1] for p in prompts])
    head = head[: head.rfind(" ") + 1] if " " in head else ""  # at a word boundary
    tail = tail[: tail.rfind(" ") + 1] if " " in tail else ""
    return [p[len(head) : len(p) - len(tail)] or p for p in prompts]


def _columns(results: MapResults) -> list[str]:
    if results.schema is not None:
        return list((results.schema.json_schema.get("properties") or {}).keys())
    return ["text"]


def _cells(results: MapResults, item: Any, columns: list[str]) -> list[str]:
    """The answer's cells (escaped HTML): plain text, the fields, or the error in words."""
    if not item.ok:
        message = f"error: {one_line(str(item.error))}" if item.error is not None else "not run"
        return [f'<span class="glm-map-error">{escape_text(_cut(message))}</span>'] + [""] * (
            len(columns) - 1
        )
    if results.schema is None:
        return [escape_text(_cut(markdown_plain(item.text or "")))]
    values = fields_of(item.value)
    return [escape_text(_cut(str(values.get(name, "")))) for name in columns]


def map_html(results: MapResults, rows: int = ROWS) -> str:
    """The sanitised HTML table (without the stylesheet)."""
    columns = _columns(results)
    names = ["", "input", *(["answer"] if columns == ["text"] else columns)]
    head = "".join(f"<th>{escape_text(name)}</th>" for name in names)
    shown = results.items[:rows]
    inputs = _varying([item.prompt for item in shown])
    body = []
    for item, given in zip(shown, inputs, strict=True):
        cells = [escape_text(str(item.label)), escape_text(_cut(given, _INPUT))]
        cells += _cells(results, item, columns)
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
        f'<div class="glm-map-rows"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody>'
        f"</table></div>{tail}</div>"
    )
    return sanitize_html(fragment)


def map_bundle(results: MapResults, include: Any = None, exclude: Any = None) -> tuple[dict, dict]:
    """`(data, metadata)` for IPython: HTML table and a plain-text summary without timings."""
    html = map_html(results)
    data = {"text/plain": results.text_view(), "text/html": html + style_tag(html)}
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
