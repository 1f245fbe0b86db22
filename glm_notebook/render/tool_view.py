"""HTML of a tool loop: each call as a collapsed line, the steps' reasoning, the final answer.

Shared classes: a call is `details.glm-tool` whose `summary` reads
`weather(location="Florence") → 18 °C, clear` (shortened); inside, the full arguments and
result (`pre.glm-tool-args`, `pre.glm-tool-result`, each capped at `MAX_DETAIL` characters),
each under a small label `p.glm-tool-label` ("Arguments", then "Result", or "Error" for a call
that failed).
States: `.glm-tool-pending` (arguments still streaming), `.glm-tool-running`, `.glm-tool-error`
(the summary says "error:" in words), `.glm-tool-declined`, `.glm-tool-skipped` (not run). A
step's reasoning is a collapsed `details.glm-reasoning`; notes are `p.glm-tool-note`.
Arguments and results are untrusted text: escaped, then the whole fragment is sanitised.

For a live display, `ToolTrace` folds the loop's events and renders the steps that are over
once each (their HTML is cached) and the current step's calls on each redraw:
`trace.closed_html() + <live view of stream.reply.final> + trace.current_html()`.
"""

from __future__ import annotations

import json
from typing import Any

from ..results.provenance import KEY, provenance
from ..results.tool_reply import (
    StepStarted,
    ToolCall,
    ToolCallFinished,
    ToolCallStarted,
    ToolReply,
    forming_signature,
    shorten,
)
from ..text import one_line, plural
from ..wire.events import ToolCallDelta
from .highlight import copy_buttons
from .markdown import escape_text, markdown_html, sanitize_html
from .phrases import reasoning_summary
from .reply_view import REPLY_OPEN, footer_html
from .sources import sources_html
from .styles import style_tag

__all__ = [
    "MAX_DETAIL",
    "tool_call_html",
    "pending_call_html",
    "waiting_call_html",
    "step_html",
    "tool_reply_html",
    "calls_phrase",
    "tool_footer_html",
    "tool_reply_bundle",
    "ToolTrace",
]

MAX_DETAIL = 4000
"""At most this many characters of arguments or result inside a call's details."""

_SUMMARY_LIMIT = 100
_STATE_CLASS = {
    "running": "glm-tool-running",
    "error": "glm-tool-error",
    "cancelled": "glm-tool-error",
    "declined": "glm-tool-declined",
    "not_run": "glm-tool-skipped",
}


def _capped(text: str) -> str:
    if len(text) <= MAX_DETAIL:
        return text
    return f"{text[:MAX_DETAIL]}… ({len(text) - MAX_DETAIL:,} more characters)"


def _pretty_arguments(arguments: str) -> str:
    try:
        return json.dumps(json.loads(arguments), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return arguments


def _part(kind: str, label: str, text: str) -> str:
    """A labelled block inside a call: `p.glm-tool-label` then `pre.glm-tool-{kind}`."""
    return (
        f'<p class="glm-tool-label">{label}</p>'
        f'<pre class="glm-tool-{kind}"><code>{escape_text(_capped(text))}</code></pre>'
    )


def _arguments_html(call: ToolCall) -> str:
    return _part("args", "Arguments", _pretty_arguments(call.arguments))


def _outcome(call: ToolCall) -> str:
    if call.status == "running":
        return "running…"
    if call.status == "cancelled":
        return f"error: {call.error or 'interrupted'}"
    if call.error:
        return f"error: {call.error}"
    if call.status == "declined":
        return "declined"
    if call.status == "not_run":
        return "not run (step limit)"
    return one_line(call.result or "")


def _summary(signature: str, outcome: str, seconds: float | None = None) -> str:
    """`<summary>`: the call, an arrow, the outcome and the duration as separate parts (the
    duration right-aligned), so that they never run into each other."""
    timing = f'<span class="glm-time">{seconds:.2f} s</span>' if seconds is not None else ""
    outcome = shorten(outcome, max(20, _SUMMARY_LIMIT - len(signature)))
    return (
        f'<summary><span class="glm-tool-sig">{escape_text(signature)}</span><span class="glm-tool-arrow"> → </span>'
        f'<span class="glm-tool-out">{escape_text(outcome)}</span>{timing}</summary>'
    )


def tool_call_html(call: ToolCall) -> str:
    """One call as `details.glm-tool`: `name(args) → result   0.12 s` summary, full text inside."""
    state = _STATE_CLASS.get(call.status, "glm-tool-ok")
    body = [_arguments_html(call)]
    if call.status != "running":
        label, shown = ("Error", call.error) if call.error else ("Result", call.result or "")
        body.append(_part("result", label, shown))
    return sanitize_html(
        f'<details class="glm-tool {state}">{_summary(call.signature(60), _outcome(call), call.seconds)}'
        f"{''.join(body)}</details>"
    )


def pending_call_html(name: str, arguments: str) -> str:
    """A call whose arguments are still streaming, as far as they read:
    `weather(location="Florence", …` (complete pairs only, never a raw JSON fragment)."""
    text = forming_signature(name, arguments[:MAX_DETAIL], _SUMMARY_LIMIT)
    return sanitize_html(
        '<details class="glm-tool glm-tool-pending"><summary><span class="glm-tool-sig">'
        f"{escape_text(text)}</span></summary></details>"
    )


def waiting_call_html(call: ToolCall) -> str:
    """A call that is known but not started yet (waiting for `approve`, or for the call before
    it): `weather(location="Florence") → waiting…`."""
    return sanitize_html(
        f'<details class="glm-tool glm-tool-pending">{_summary(call.signature(60), "waiting…")}'
        f"{_arguments_html(call)}</details>"
    )


def _reasoning_html(text: str, seconds: float | None) -> str:
    if not text.strip():
        return ""
    return (
        f'<details class="glm-reasoning"><summary>{reasoning_summary(len(text.split()), seconds)}</summary>'
        f"{markdown_html(text)}</details>"
    )


def step_html(step: Any, *, reasoning: bool = True) -> str:
    """A finished tool step: its reasoning (collapsed; left out when the view shows the turn's
    reasoning in one row), its short text, its calls."""
    reply = step.reply
    parts = [_reasoning_html(reply.reasoning, reply.reasoning_seconds)] if reasoning else []
    if reply.text.strip():
        parts.append(markdown_html(reply.text))
    parts += [tool_call_html(call) for call in step.calls]
    return sanitize_html(f'<div class="glm-tool-step">{"".join(parts)}</div>')


def calls_phrase(calls: list[ToolCall]) -> str:
    """`3 tool calls (1 failed, 1 declined)` for the footer."""
    counts = {"failed": 0, "declined": 0, "not run": 0, "cancelled": 0}
    for call in calls:
        key = {"error": "failed", "not_run": "not run"}.get(call.status, call.status)
        if key in counts:
            counts[key] += 1
    extras = ", ".join(f"{n} {word}" for word, n in counts.items() if n)
    return plural(len(calls), "tool call") + (f" ({extras})" if extras else "")


def tool_footer_html(reply: ToolReply) -> str:
    """The Reply footer (tokens summed over the loop, timings) ending with how many calls ran."""
    return footer_html(reply).replace("</small></p>", f" · {calls_phrase(reply.calls)}</small></p>", 1)


def _turn_reasoning_html(steps: list[Any]) -> str:
    """The reasoning of every step of a turn in one collapsed row (each step's under a label
    when there are several): `Reasoning · 120 words · 1.4 s`."""
    thought = [(step.step, step.reply) for step in steps if step.reply.reasoning.strip()]
    if not thought:
        return ""
    words = sum(len(reply.reasoning.split()) for _, reply in thought)
    times = [reply.reasoning_seconds for _, reply in thought if reply.reasoning_seconds is not None]
    inner = "".join(
        (f'<p class="glm-tool-label">Step {number}</p>' if len(thought) > 1 else "")
        + markdown_html(reply.reasoning)
        for number, reply in thought
    )
    summary = reasoning_summary(words, sum(times) if times else None)
    return f'<details class="glm-reasoning"><summary>{summary}</summary>{inner}</details>'


def tool_reply_html(reply: ToolReply) -> str:
    """The whole loop: the turn's reasoning in one row, every tool step, the final answer, a
    footer with summed tokens and calls."""
    steps = reply.steps
    tool_steps = steps if reply.stopped == "max_steps" or reply.tool_calls else steps[:-1]
    pieces = [REPLY_OPEN, _turn_reasoning_html(steps)]
    pieces += [step_html(step, reasoning=False) for step in tool_steps]
    if len(tool_steps) < len(steps):
        final = reply.final
        if final.text.strip():
            pieces.append(markdown_html(final.text, reply.sources or None))
    pieces.append(sources_html(reply.sources))
    if reply.note:
        pieces.append(f'<p class="glm-tool-note">{escape_text(reply.note)}</p>')
    pieces += [f'<p class="glm-note">{escape_text(note)}</p>' for note in reply.notes]
    pieces += [tool_footer_html(reply), "</div>"]
    return sanitize_html("".join(pieces))


def tool_reply_bundle(
    reply: ToolReply, include: Any = None, exclude: Any = None
) -> tuple[dict[str, str], dict[str, Any]]:
    """`(data, metadata)` for `ToolReply._repr_mimebundle_`."""
    data = {"text/plain": repr(reply)}
    wanted = (include is None or "text/html" in include) and not (exclude and "text/html" in exclude)
    if wanted:
        html = copy_buttons(tool_reply_html(reply))
        data["text/html"] = style_tag(html) + html  # styled without a kernel too
    meta = provenance(reply)
    meta["tool_calls"] = [
        {"step": c.step, "name": c.name, "status": c.status,
         "seconds": None if c.seconds is None else round(c.seconds, 3)}
        for c in reply.calls
    ]  # fmt: skip
    return data, {KEY: meta}


class ToolTrace:
    """Folds a tool loop's events into HTML for a live display (no I/O).

    `apply(event)` takes every event of `ToolStream`/`AsyncToolStream`; `closed_html()` is the
    steps that are over (each rendered once), `current_html()` the current step's calls: pending
    ones with their arguments as they stream in, then running, then finished.
    """

    def __init__(self, reply: ToolReply) -> None:
        self.reply = reply
        self._pending: dict[int, list[str]] = {}
        self._closed: list[str] = []
        self._calls: dict[int, tuple[str, str]] = {}  # index → (status, HTML) of this step
        self._started: set[int] = set()  # calls of this step that started (or ended)

    def apply(self, event: Any) -> None:
        kind = type(event)
        if kind is StepStarted:
            self._pending.clear()
            self._calls.clear()
            self._started.clear()
            done = self.reply.steps[: max(0, event.step - 1)]
            for step in done[len(self._closed) :]:
                self._closed.append(step_html(step))
        elif kind is ToolCallDelta:
            name_args = self._pending.setdefault(event.index, ["", ""])
            if event.name:
                name_args[0] = event.name if not name_args[0] else name_args[0]
            name_args[1] += event.arguments
        elif kind in (ToolCallStarted, ToolCallFinished):
            self._pending.pop(event.call.index, None)
            self._started.add(event.call.index)

    def closed_html(self) -> str:
        return "".join(self._closed)

    def running(self) -> list[ToolCall]:
        """The current step's calls that started and have not ended."""
        calls = self.reply.steps[-1].calls if self.reply.steps else []
        return [c for c in calls if c.index in self._started and c.status == "running"]

    def current_html(self) -> str:
        if not self.reply.steps or len(self._closed) >= len(self.reply.steps):
            return ""
        calls = self.reply.steps[-1].calls
        known = {call.index for call in calls}
        parts = [self._call_html(call) for call in calls]
        parts += [
            pending_call_html(name, args)
            for index, (name, args) in sorted(self._pending.items())
            if index not in known
        ]
        return "".join(parts)

    def _call_html(self, call: ToolCall) -> str:
        status = call.status if call.index in self._started else "waiting"
        cached = self._calls.get(call.index)
        if cached is None or cached[0] != status:
            html = tool_call_html(call) if status != "waiting" else waiting_call_html(call)
            cached = self._calls[call.index] = (status, html)
        return cached[1]
