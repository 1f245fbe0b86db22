"""Showing a streaming answer where the `%%glm` cell runs: notebook displays or plain text.

Notebook (a Jupyter kernel): each `LiveAnswer` pane is one display created with **empty data**
(`{}`, `display_id=True`) and updated in place (at most `updates_per_second` times a second, and
within a `ByteBudget` of bytes per character received: a redraw re-sends its open pane, so at a
model's pace the budget, not the rate, bounds what the cell costs). The stylesheet goes out
once, in a display of its own that is never updated. The reasoning (pane 0) shares the first
display with the answer's first pane, so it collapses in the same update that shows the answer's
first text (a frame painted between two updates would be taller or shorter). The last display
ends with a quiet status line (`p.glm-status`,
where the final footer will be) that says what is happening: waiting, "retrying after … (1/2)
in 1.5 s", "no data for 12 s…", how much arrived. Live panes carry `text/plain` only where it is
short (the status line, the calls): the final result carries the whole answer as text.

When the stream ends the sink sends `clear_output(wait=True)`; the next output, the `Reply`'s
`execute_result` (its bundle is the final view), then replaces every pane in one frontend step,
so the output area never collapses in between and the reader's scroll position stays put.
Why this passes strict nbval: nbval ignores `clear_output` and updates and keeps the first
`display_data` of each output, whose data `{}` compares as nothing; nbclient and JupyterLab
apply the clear, so the saved notebook holds the `Reply` once. If the stream fails or is
interrupted, the clear is followed by the partial `Reply` (marked incomplete / interrupted) as a
display, then the one-line error.

Because `%%glm` streams on the kernel's main thread, which blocks while the server is silent, a
small daemon thread (`_Ticker`) draws text the rate cap held back within one interval and keeps
the status line current; all drawing happens under one lock, in the cell's context (parent
header), and stops before the end.

A tool loop (`%%glm --tools`): `run_stream` hands the sink the `ToolReply` first
(`tool_loop`). Display 0 then holds the finished steps (`render.tool_view.ToolTrace`, each step
rendered once: reasoning collapsed, calls as collapsed `details.glm-tool`), the current step's
`LiveAnswer` panes follow, and its calls (arguments streaming in, running, done) end the last
pane above the status line ("running weather(location="Florence")… 2 s"). Each new step starts
a new `LiveAnswer` in the same displays and blanks those it no longer needs, so the number of
displays stays that of the longest step plus one.

Terminal IPython and other plain frontends: `terminal.TextSink` writes the answer to stdout
(a tool loop: one line per call, `call.summary()`).
"""

from __future__ import annotations

import contextvars
import math
import threading
import time
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import GLMError
from ..render.live import NOTEBOOK_SEGMENT_CHARS, ByteBudget, LiveAnswer, Throttle
from ..render.markdown import escape_text
from ..render.reply_view import MAX_DISPLAY_CHARS, REPLY_OPEN, SEGMENT
from ..render.styles import style_tag
from ..render.tool_view import ToolTrace
from ..results.tool_reply import StepStarted, ToolCallFinished, ToolCallStarted, ToolReply
from ..text import one_line
from ..wire.events import ContentDelta, ReasoningDelta, Retrying, SearchResults, ToolCallDelta

if TYPE_CHECKING:
    from ..client import GLMClient
    from ..results.reply import Reply
    from ..wire.events import Event

__all__ = [
    "EMPTY",
    "SILENCE_SECONDS",
    "GLMInterrupted",
    "Sink",
    "LiveSink",
    "QuietSink",
    "supports_live_display",
    "run_stream",
]

_VISIBLE = (ContentDelta, ReasoningDelta)
_TOOL_EVENTS = (StepStarted, ToolCallDelta, ToolCallStarted, ToolCallFinished)

#: What every live pane starts as: no data at all (see the module docstring).
EMPTY: dict[str, str] = {}
#: Seconds without data before the status line says so.
SILENCE_SECONDS = 3.0
_PANE_OPEN = REPLY_OPEN.replace('class="glm-reply', 'class="glm-reply glm-live', 1)


class GLMInterrupted(KeyboardInterrupt):
    """The user interrupted a `%%glm` cell. The connection was closed; `reply` holds what arrived.

    A `KeyboardInterrupt`, so Run All stops and `except Exception` does not swallow it; IPython
    shows `_render_traceback_`'s single line instead of a traceback.
    """

    def __init__(self, reply: Reply | None) -> None:
        super().__init__("interrupted")
        self.reply = reply

    def __str__(self) -> str:
        if self.reply is not None and self.reply.text:
            return f"interrupted; the partial answer ({len(self.reply.text):,} characters) is kept."
        return "interrupted before the answer started."

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[0;31mKeyboardInterrupt\x1b[0m: {self}"]


def supports_live_display(shell: Any) -> bool:
    """True when displays can be updated in place (a Jupyter kernel talking to a frontend).

    ipykernel publishes displays through `ZMQDisplayPublisher`, which sends `display_data` and
    `update_display_data` messages. Terminal IPython uses the base `DisplayPublisher`, which only
    prints `text/plain`, and `%%capture` swaps in `CapturingDisplayPublisher`, which would record
    every update as a new output. Both get plain text instead. The class is matched by name so
    that ipykernel need not be importable here. (A kernel cannot learn whether its frontend
    honours display ids; every current Jupyter frontend does.)
    """
    publisher = getattr(shell, "display_pub", None)
    return any(cls.__name__ == "ZMQDisplayPublisher" for cls in type(publisher).__mro__)


class Sink(Protocol):
    """Where a streaming answer goes while it arrives."""

    def start(self) -> None:
        """Before the request: show that something is happening."""

    def event(self, event: Event) -> None:
        """One stream event arrived."""

    def finish(self, reply: Reply | None, failed: bool) -> None:
        """The stream ended (`failed`: error or interrupt); leave the screen in its final state."""

    def tool_loop(self, reply: ToolReply) -> None:
        """The stream is a tool loop whose `ToolReply` is `reply` (before its first event)."""


def _show_partial(reply: Reply | ToolReply | None) -> None:
    from IPython.display import display

    if reply is not None and (reply.text or reply.reasoning or getattr(reply, "calls", None)):
        display(reply)


def _clear_on_next_output() -> None:
    from IPython.display import clear_output

    clear_output(wait=True)


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


class LiveSink:
    """Notebook panes updated in place from a `LiveAnswer`, throttled, with a status line."""

    def __init__(
        self,
        *,
        updates_per_second: float | None,
        language: str | None = None,
        waiting: str = "Waiting for the model…",
        max_chars: int | None = MAX_DISPLAY_CHARS,
        clock: Any = time.monotonic,
    ) -> None:
        # Live, at most the beginning the final view will show (two thirds of `max_chars`): the
        # final view then holds all of it and more, so it is never shorter.
        self.shown_limit = None if max_chars is None else max_chars * 2 // 3
        self.live = self._live_answer(language)
        self.throttle = Throttle(updates_per_second, clock=clock)
        self.budget = ByteBudget(clock=clock)
        self.waiting = waiting
        self.clock = clock
        self._handles: list[Any] = []
        self._html: dict[int, str] = {0: ""}  # LiveAnswer pane -> its HTML
        self._sent_status = ""
        self._last_pane = 0
        self._lock = threading.Lock()
        self._dirty = False
        self._last_data = clock()
        self._notice = ""  # a retry in progress
        self._ticker: _Ticker | None = None
        # A tool loop: display 0 holds the finished steps, the answer's panes follow it; the
        # current step's calls end the last pane, above the status line.
        self.trace: ToolTrace | None = None
        self._offset = 0
        self._trace_dirty = False
        self._redraw = False  # every pane of the current step, e.g. after they moved
        self._stale: set[int] = set()  # displays of an earlier step to blank
        self._sent_calls = ""
        self._received = 0  # characters shown besides the current LiveAnswer's: earlier steps, calls

    # -- Sink -----------------------------------------------------------------------------------

    def start(self) -> None:
        from IPython.display import display

        with self._lock:  # the stylesheet goes out once, in an output of its own, never updated
            display(EMPTY, raw=True, display_id=True).update(
                {"text/html": style_tag(), "text/plain": ""}, raw=True
            )
            self._draw()
        interval = self.throttle.interval
        if interval is not None and math.isfinite(interval):
            self._ticker = _Ticker(self, period=min(max(interval, 0.05), 0.5))

    def event(self, event: Event) -> None:
        with self._lock:
            if isinstance(event, _VISIBLE):  # only text counts against the rate cap
                self.live.apply(event)
                self._last_data = self.clock()
                self._notice = ""
                self._dirty = True
            elif isinstance(event, SearchResults):  # later blocks link their citations
                self.live.apply(event)
                return
            elif isinstance(event, Retrying):
                self._notice = (
                    f"retrying after {one_line(event.reason)[:160]} "
                    f"({event.attempt}/{event.max_retries}) in {event.delay:.1f} s"
                )
                self._last_data = self.clock() + event.delay
                self._dirty = True
            elif self.trace is not None and isinstance(event, _TOOL_EVENTS):
                self.trace.apply(event)
                self._last_data = self.clock()
                self._dirty = True
                if type(event) is StepStarted and event.step > 1:
                    self._next_step()
                if type(event) is not ToolCallDelta:  # a state change: shown at once
                    self._draw()
                    return
                # Arguments forming: a call's signature that reads differently is drawn within
                # the rate cap alone (it is short: `pending_call_html` caps it); they count as text.
                self._received += len(event.name or "") + len(event.arguments)
                if self.trace.current_html() != self._sent_calls and self.throttle.ready():
                    self._draw()
                    return
            else:
                return
            if self._may_draw():
                self._draw()

    def tool_loop(self, reply: ToolReply) -> None:
        with self._lock:
            self.trace = ToolTrace(reply)
            self._offset = 1
            self._trace_dirty = self._redraw = True
            self._draw()

    def _live_answer(self, language: str | None) -> LiveAnswer:
        """Panes that grow with the answer, up to what the final view will show."""
        return LiveAnswer(
            language=language, waiting=None, max_chars=self.shown_limit,
            segment_chars=NOTEBOOK_SEGMENT_CHARS, grow=True,
        )  # fmt: skip

    def _next_step(self) -> None:
        """A new request of the tool loop: its answer starts over below the finished steps."""
        self._stale |= {_display_of(index) + self._offset for index in self._html}
        self._received += self.live.received_chars
        self.live = self._live_answer(self.live.language)
        self._html = {0: ""}
        self._last_pane = 0
        self._trace_dirty = self._redraw = True

    def finish(self, reply: Reply | None, failed: bool) -> None:
        if self._ticker is not None:
            self._ticker.stop()
        with self._lock:  # text the rate cap held back still shows (a terminal demo prints it)
            if self._dirty:
                self._draw()
        # The next output (the Reply's execute_result, or the partial Reply / the error) replaces
        # every pane in one step: nothing collapses in between.
        _clear_on_next_output()
        if failed:
            _show_partial(reply)

    # -- drawing (under the lock) ---------------------------------------------------------------

    def tick(self) -> None:
        """From the ticker: draw held-back text once the interval passed; keep the status current."""
        with self._lock:
            silent = self.clock() - self._last_data
            if silent >= SILENCE_SECONDS and self._status() != self._sent_status:
                self._dirty = True
            if self._dirty and self._may_draw():
                self._draw()

    def _may_draw(self) -> bool:
        """Draw now: within the byte budget (or held long enough) and the rate cap."""
        received = self._received + self.live.received_chars
        return self.budget.allows(received) and self.throttle.ready()

    def _status(self) -> str:
        """The status line's text now."""
        live = self.live
        silent = self.clock() - self._last_data
        if self.trace is not None:
            running = self.trace.running()
            if running:
                waited = f" {int(silent)} s" if silent >= 1 else ""
                return f"running {running[0].signature(60)}…{waited}"
        quiet = f"no data for {int(silent)} s…" if silent >= SILENCE_SECONDS else ""
        if self._notice:
            return f"{self.waiting} {self._notice}" + (f" · {quiet}" if quiet else "")
        if not live.content_chars:
            if live.reasoning_words:  # the open "Thinking · N words" above says it already
                return quiet
            return f"{self.waiting} {quiet}".strip()
        shown = f"receiving… {_count(live.content_chars, 'character')}"
        if live.capped:
            shown += (
                f" · the live view stops at {self.shown_limit:,}; the result will show the beginning"
                " and the end"
            )
        return f"{shown} · {quiet}" if quiet else shown

    def _draw(self) -> None:
        self._dirty = False
        changed = {_display_of(index) for index in self._html} if self._redraw else set()
        self._redraw = False
        for update in self.live.changes():
            self._html[update.index] = update.html
            changed.add(_display_of(update.index))
        last = _display_of(max(self._html))
        status = self._status()
        calls_html, calls_text = self._calls()
        if status != self._sent_status or last != self._last_pane or calls_html != self._sent_calls:
            changed |= {self._last_pane, last}
        self._sent_status, self._last_pane, self._sent_calls = status, last, calls_html
        offset, sent = self._offset, 0
        if self._trace_dirty and self.trace is not None:
            self._trace_dirty = False
            sent += self._send(0, f"{_PANE_OPEN}{self.trace.closed_html()}</div>", self._closed_text())
        # Last pane first: a new pane (with the status line) shows before the one above it
        # loses the status line, so no frame is shorter than the one before.
        for index in sorted(changed, reverse=True):
            html = self._display_html(index)
            text = ""  # plain text only where it is short: the status line and the calls
            if index == last:
                html += calls_html + (
                    f'<p class="glm-status"><small>{escape_text(status)}</small></p>' if status else ""
                )
                text = "\n".join(part for part in (calls_text, status) if part)
            sent += self._send(index + offset, f"{_PANE_OPEN}{html}</div>", text)
        for index in sorted(self._stale - {_display_of(i) + offset for i in self._html}):
            sent += self._send(index, "", "")
        self._stale.clear()
        self.budget.spend(sent)

    def _display_html(self, index: int) -> str:
        """Display `index`'s HTML from the LiveAnswer panes it shows (see `_display_of`)."""
        if index:
            return self._html.get(index + 1, "")
        reasoning, answer = self._html[0], self._html.get(1, "")
        if not (reasoning and answer):
            return reasoning + answer
        return SEGMENT.format(reasoning) + answer  # the space a display of its own would take

    def _send(self, index: int, html: str, text: str) -> int:
        """Update pane `index`; the bytes it cost."""
        self._pane(index).update({"text/html": html, "text/plain": text}, raw=True)
        return len(html.encode()) + len(text.encode())

    def _calls(self) -> tuple[str, str]:
        """The current step's calls: HTML (sanitised by `ToolTrace`) and one plain line each."""
        if self.trace is None:
            return "", ""
        html = self.trace.current_html()
        reply = self.trace.reply
        if not html or not reply.steps:
            return html, ""
        return html, "\n".join(call.summary() for call in reply.steps[-1].calls)

    def _closed_text(self) -> str:
        assert self.trace is not None
        steps = self.trace.reply.steps[:-1]
        return "\n".join(call.summary() for step in steps for call in step.calls)

    def _pane(self, index: int) -> Any:
        """The display of pane `index`, creating it and the panes before it (in order)."""
        from IPython.display import display

        while len(self._handles) <= index:
            self._handles.append(display(EMPTY, raw=True, display_id=True))
        return self._handles[index]


def _display_of(pane: int) -> int:
    """The display showing LiveAnswer pane `pane`: the reasoning (pane 0) shares one with the
    answer's first pane, so the reasoning collapses in the same update that shows the answer's
    first text (two updates would let a frame paint between them, taller or shorter)."""
    return max(pane - 1, 0)


class _Ticker:
    """A daemon thread calling `sink.tick()` every `period` seconds until `stop()`, in the
    context of the thread that made it (so ipykernel sends its outputs to the same cell)."""

    def __init__(self, sink: LiveSink, period: float) -> None:
        self._sink = sink
        self._period = period
        self._stopped = threading.Event()
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._run,), daemon=True, name="glm-live-ticker"
        )
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(self._period):
            self._sink.tick()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)


class QuietSink:
    """Nothing while streaming (`--quiet`); a failed stream still shows what arrived."""

    def start(self) -> None:
        pass

    def tool_loop(self, reply: ToolReply) -> None:
        pass

    def event(self, event: Event) -> None:
        pass

    def finish(self, reply: Reply | None, failed: bool) -> None:
        if failed:
            _show_partial(reply)


def run_stream(
    client: GLMClient,
    messages: Any,
    params: dict[str, Any],
    sink: Sink,
    notes: list[str] | None = None,
) -> tuple[Reply | None, BaseException | None]:
    """Stream one request into `sink`. Returns `(reply, error)`: the reply as far as it got
    (None if the request never started) and the `GLMError` / `GLMInterrupted` to raise, if any.
    `notes` go into the reply (`Reply.notes`), so its final view shows them.
    """
    stream = None
    reply: Reply | None = None
    error: BaseException | None = None
    try:
        sink.start()
        stream = client.stream(messages, **params)
        stream.reply.notes.extend(notes or ())
        if isinstance(stream.reply, ToolReply):
            sink.tool_loop(stream.reply)
        with stream:
            for event in stream:
                sink.event(event)
    except KeyboardInterrupt:
        # The client closed the connection if the interrupt hit it; `with` did otherwise.
        reply = stream.reply if stream is not None else None
        if reply is not None:
            reply.finish(stopped="interrupted")  # no-op if the stream already marked it
        error = GLMInterrupted(reply)
    except GLMError as exc:
        reply = stream.reply if stream is not None else exc.reply
        error = exc
    except BaseException:  # a bug of ours: tidy the screen, then let it show
        sink.finish(stream.reply if stream is not None else None, failed=True)
        raise
    else:
        reply = stream.reply
    try:
        sink.finish(reply, failed=error is not None)
    except KeyboardInterrupt:  # a second Ctrl-C while tidying up
        error = error or GLMInterrupted(reply)
    return reply, error
