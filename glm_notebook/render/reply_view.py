"""The final view of a `Reply`: the MIME bundle a notebook shows for `Out[n]`.

`reply_bundle(reply)` returns `(data, metadata)`:

- `text/html`: the whole answer rendered in one pass (`markdown_html`), the reasoning collapsed
  in `<details>`, tool calls if any, and a quiet footer row: model · tokens · cost · time (the
  token breakdown, time to first token and tokens/s on hover), with an unusual ending (cut
  short, filtered, interrupted, failed) called out in words;
- `text/plain`: `repr(reply)`, one short line, so a terminal does not print the answer twice;
- metadata `{"glm_notebook": {...}}`: model, request parameters (never the key), request id,
  usage, finish reason, status and timings — provenance for whoever reads the notebook later.

The answer is laid out in the same segments as the live panes (`live.answer_segments`), each in
a `div.glm-seg`, so that the final view is never shorter than the live view it replaces. The
HTML sits in one `div.glm-reply` marked `mathjax_ignore tex2jax_ignore` (server strings in
the footer are never typeset), preceded by the shared `<style class="glm-style">`. An answer (or
reasoning) longer than `max_display_chars()` (default `MAX_DISPLAY_CHARS`; the magic's
`GLM.max_display_chars` sets it) shows its beginning and its end around a note saying how many
characters are not shown; `str(reply)` always keeps everything.

A reply with more than `OUTLINE_MAX_HEADINGS` headings (a huge answer) marks them all
`jp-toc-ignore`: such an outline would flood JupyterLab's table of contents, and JupyterLab 4
matches each output heading to the page by scanning the cell again (quadratic: the 1,334 headings
of a clipped 1 MB answer cost seconds of main-thread time whenever the notebook is opened).

Timing figures sit in `<span class="glm-time">` (their details in its `title`) so that
`tests/nbval_sanitize.cfg` can blank exactly them and keep everything else strict.
"""

from __future__ import annotations

import re
from typing import Any

from ..results.cost import cost_of, format_cost
from ..results.provenance import KEY, provenance
from ..results.reply import FINISH_REASONS
from ..text import plural
from .highlight import copy_buttons
from .live import answer_segments
from .markdown import NO_MATHJAX, TOC_IGNORE_CLASS, escape_text, markdown_html, sanitize_html
from .phrases import format_seconds, reasoning_summary
from .sources import sources_html
from .styles import style_tag

__all__ = [
    "reply_bundle",
    "reply_html",
    "footer_html",
    "footer_facts",
    "clip_text",
    "max_display_chars",
    "set_max_display_chars",
    "MAX_DISPLAY_CHARS",
    "REPLY_OPEN",
    "OUTLINE_MAX_HEADINGS",
]

#: Default for the longest answer (and reasoning) shown whole in a final view, in characters.
MAX_DISPLAY_CHARS = 200_000
#: How every final view (and every live pane, with `glm-live` added) opens.
REPLY_OPEN = f'<div class="glm-reply {NO_MATHJAX}">'

#: Most headings a final view leaves to JupyterLab's table of contents (more: none of them).
OUTLINE_MAX_HEADINGS = 100

_limit: list[int | None] = [MAX_DISPLAY_CHARS]
_HEADING_OPEN = re.compile(r"<h([1-6])>")
_FENCE_LINE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})", re.M)


def max_display_chars() -> int | None:
    """The current display limit (None: no limit)."""
    return _limit[0]


def set_max_display_chars(limit: int | None) -> None:
    """Set the display limit for every final view shown from now on (None: no limit)."""
    _limit[0] = limit


def clip_text(text: str, limit: int | None) -> tuple[str, str, int]:
    """`(head, tail, omitted)`: `text` whole (`tail == ""`, `omitted == 0`) if it fits in
    `limit`, else about two thirds of the limit from the start and one third from the end,
    cut at paragraph (else line) boundaries, with a code fence the cut left open reopened in
    the tail."""
    if limit is None or len(text) <= limit:
        return text, "", 0
    head_end = limit * 2 // 3
    cut = text.rfind("\n\n", head_end // 2, head_end)
    if cut < 0:
        cut = text.rfind("\n", head_end // 2, head_end)
    head_end = cut + 1 if cut >= 0 else head_end
    tail_start = len(text) - (limit - head_end)
    cut = text.find("\n\n", tail_start, tail_start + (len(text) - tail_start) // 2)
    if cut < 0:
        cut = text.find("\n", tail_start, tail_start + (len(text) - tail_start) // 2)
    tail_start = cut + 1 if cut >= 0 else tail_start
    tail = text[tail_start:].lstrip("\n")
    fences = _FENCE_LINE.findall(text, 0, tail_start)
    if len(fences) % 2:  # the tail starts inside a code block: reopen it
        tail = f"{fences[-1]}\n{tail}"
    return text[:head_end], tail, tail_start - head_end


def _clipped_note(omitted: int, what: str) -> str:
    return (
        f'<p class="glm-clipped"><em>… {omitted:,} characters of the {what} not shown; the full '
        "text is <code>str(reply)</code>: <code>Out[n]</code>, <code>_</code> or the "
        "<code>-o</code> variable.</em></p>"
    )


#: One live pane's worth of the final view. The stylesheet gives `.glm-seg` the space a live
#: pane's output wrapper takes, so the final view is never shorter than the panes it replaces.
SEGMENT = '<div class="glm-seg">{}</div>'


def _markdown_clipped(text: str, what: str) -> str:
    head, tail, omitted = clip_text(text, max_display_chars())
    if not omitted:
        return markdown_html(text)
    return markdown_html(head) + _clipped_note(omitted, what) + markdown_html(tail)


#: Endings the footer need not call out.
_QUIET_STATUSES = {FINISH_REASONS["stop"], FINISH_REASONS["tool_calls"]}


def _answer_html(reply: Any) -> str:

    text = reply.text
    if not text.strip():
        if reply.tool_calls:
            return ""
        return '<p class="glm-empty"><em>(no answer text)</em></p>'
    fmt = (reply.request or {}).get("response_format") or {}
    language = "json" if isinstance(fmt, dict) and fmt.get("type") == "json_object" else None
    head, tail, omitted = clip_text(text, max_display_chars())
    sources = getattr(reply, "sources", None) or None
    pieces = [SEGMENT.format(html) for html in answer_segments(head, language=language, sources=sources)]
    if omitted:
        pieces.append(_clipped_note(omitted, "answer"))
        pieces += [SEGMENT.format(html) for html in answer_segments(tail, language=language, sources=sources)]
    return "".join(pieces)


def _tool_calls_html(reply: Any) -> str:
    calls = reply.tool_calls
    if not calls:
        return ""
    lines = "\n".join(f"{call['function']['name']}({call['function']['arguments']})" for call in calls)
    return (
        f'<details class="glm-tools" open><summary>{plural(len(calls), "tool call")}</summary>'
        f'<pre><code class="language-python">{escape_text(lines)}</code></pre></details>'
    )


def footer_facts(reply: Any) -> list[tuple[str, Any]]:
    """What the footer says, as `(kind, value)` pairs in order, for the HTML and the terminal: a
    quiet row of model · tokens · cost · time, each detail one hover (or `reply.usage`) away.

    `("replayed", date)`, `("status", text)` when the ending is unusual, `("model", name)`,
    `("tokens", (total, detail))` (or `("text", "N characters received")` without usage),
    `("cost", "$0.0012")` when the model's price is known, `("time", (seconds, detail))` where
    the detail names the time to first token and the rate."""
    facts: list[tuple[str, Any]] = []
    replayed = getattr(reply, "replayed_at", None)
    if replayed:
        facts.append(("replayed", replayed[:10]))
    # A broken stream says "incomplete" here; the error line under the output says why (once).
    status = "incomplete" if reply.stopped == "error" else reply.status
    if status not in _QUIET_STATUSES:
        facts.append(("status", status))
    facts.append(("model", reply.model or "unknown model"))
    usage = reply.usage
    if usage is not None:
        extras = [
            f"{count:,} {label}"
            for count, label in ((usage.cached_tokens, "cached"), (usage.reasoning_tokens, "reasoning"))
            if count
        ]
        detail = f"{usage.prompt_tokens:,} prompt + {usage.completion_tokens:,} completion" + (
            f" ({', '.join(extras)})" if extras else ""
        )
        facts.append(("tokens", (usage.prompt_tokens + usage.completion_tokens, detail)))
        cost = cost_of(reply.model, usage, warn=False)  # a view says nothing of an unknown price
        if cost is not None:
            facts.append(("cost", format_cost(cost)))
    elif reply.text:
        facts.append(("text", f"{plural(len(reply.text), 'character')} received"))
    if reply.elapsed is not None:
        details = []
        if reply.ttft is not None:
            details.append(f"first token {format_seconds(reply.ttft)}")
        if reply.tokens_per_second is not None:
            details.append(f"{reply.tokens_per_second:,.0f} tok/s")
        facts.append(("time", (reply.elapsed, " · ".join(details))))
    return facts


def footer_html(reply: Any) -> str:
    """One quiet row under the answer: how it ended if unusual, model · tokens · cost · time,
    the breakdowns in `title`s (the time in a `glm-time` span, with its title, that
    `tests/nbval_sanitize.cfg` blanks; a replayed answer's provenance first, in its own span)."""
    parts: list[str] = []
    replayed = ""
    for kind, value in footer_facts(reply):
        if kind == "replayed":
            replayed = f'<span class="glm-replayed">replayed · recorded {escape_text(value)} · </span>'
        elif kind == "status":
            parts.append(f"<strong>⚠ {escape_text(value)}</strong>")
        elif kind == "tokens":
            total, detail = value
            parts.append(f'<span title="{escape_text(detail)} tokens">{plural(total, "token")}</span>')
        elif kind == "time":
            seconds, detail = value
            title = f' title="{escape_text(detail)}"' if detail else ""
            parts.append(f'<span class="glm-time"{title}>{format_seconds(seconds)}</span>')
        elif kind == "cost":
            parts.append(
                f'<span class="glm-cost" title="at the dated price table\'s prices">{escape_text(value)}</span>'
            )
        else:
            parts.append(escape_text(value))
    return f'<p class="glm-footer"><small>{replayed}{" · ".join(parts)}</small></p>'


def reply_html(reply: Any) -> str:
    """The whole reply as one HTML fragment: the stylesheet, then one sanitised `div.glm-reply`."""
    pieces = [REPLY_OPEN]
    reasoning = reply.reasoning
    if reasoning.strip():
        summary = reasoning_summary(len(reasoning.split()), reply.reasoning_seconds)
        pieces.append(
            SEGMENT.format(
                f'<details class="glm-reasoning"><summary>{summary}</summary>'
                f"{_markdown_clipped(reasoning, 'reasoning')}</details>"
            )
        )
    notes = "".join(f'<p class="glm-note">{escape_text(note)}</p>' for note in getattr(reply, "notes", ()))
    pieces += [
        _answer_html(reply),
        sources_html(getattr(reply, "sources", None) or ()),
        _tool_calls_html(reply),
        notes,
        footer_html(reply),
        "</div>",
    ]
    # The Markdown parts are clean already; this pass covers our own markup too. The stylesheet
    # and the Copy buttons are our constants, added after it.
    html = copy_buttons(sanitize_html(_outside_outline("".join(pieces))))
    return style_tag(html) + html


def _outside_outline(html: str) -> str:
    """`html` with every heading marked `jp-toc-ignore` if it has more than
    `OUTLINE_MAX_HEADINGS` (sanitised Markdown writes headings as bare `<hN>`; text that looks
    like one is escaped)."""
    if len(_HEADING_OPEN.findall(html)) <= OUTLINE_MAX_HEADINGS:
        return html
    return _HEADING_OPEN.sub(rf'<h\1 class="{TOC_IGNORE_CLASS}">', html)


def reply_bundle(
    reply: Any, include: Any = None, exclude: Any = None
) -> tuple[dict[str, str], dict[str, Any]]:
    """`(data, metadata)` for `Reply._repr_mimebundle_`: HTML, a one-line text, provenance."""
    data = {"text/plain": repr(reply)}
    wanted = (include is None or "text/html" in include) and not (exclude and "text/html" in exclude)
    if wanted:
        data["text/html"] = reply_html(reply)
    return data, {KEY: provenance(reply)}
