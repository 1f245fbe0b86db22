"""Showing a streaming answer in terminal IPython, `%%capture` and other plain frontends.

- A real terminal with rich installed (`pip install "glm-notebook[terminal]"`): a rich `Live`
  view redrawn at most `updates_per_second` times a second. While the model thinks, the last
  lines of its reasoning, dimmed; then one dimmed line `Reasoning · N words · 3.2 s`, the answer
  rendered as Markdown (only its last screenful while it grows, all of it at the end) and a
  dimmed footer: model · tokens · timings.
- Anything else (`%%capture`, a pipe or file, `TERM=dumb`, no rich): plain text. The reasoning
  summary line, the answer as it arrives, then the footer.

Model and server text passes through `glm_notebook.text.strip_controls` on both paths, so an
answer cannot move the cursor, clear the screen or write the clipboard (OSC 52). Output always
ends with a newline, so IPython's `Out[n]:` starts a line of its own; the `Reply`'s text/plain is
one short line, so the answer is not printed twice.
"""

from __future__ import annotations

import os
import re
import sys
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

from ..render.live import BlockSplitter, Throttle
from ..render.phrases import format_seconds
from ..render.reply_view import footer_facts
from ..render.sources import CITATION_ARRIVING, plain_citations, sources_lines
from ..results.reply import Reply
from ..results.tool_reply import StepStarted, ToolCall, ToolCallFinished, ToolReply, forming_signature
from ..text import one_line, plural, strip_controls
from ..wire.events import ContentDelta, ReasoningDelta, Retrying, ToolCallDelta

if TYPE_CHECKING:
    from ..wire.events import Event

__all__ = ["TextSink", "footer_text", "reasoning_text", "TERMINAL_UPDATES_PER_SECOND"]

#: Most redraws per second of the rich view.
TERMINAL_UPDATES_PER_SECOND = 8.0
#: Reasoning lines shown while the model thinks.
_REASONING_LINES = 4
_REASONING_CHARS = 2000
# The start of an escape sequence that may be completed by the next piece of text.
_UNFINISHED = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*|[\]PX^_][^\x07\x1b]*\x1b?)?\Z|\x9b[0-?]*[ -/]*\Z"
    r"|[\x9d\x90\x98\x9e\x9f][^\x07\x9c]*\Z",
    re.DOTALL,
)
_INTRODUCERS = re.compile(r"[\x1b\x9b\x9d\x90\x98\x9e\x9f]")


def reasoning_text(reply: Reply) -> str:
    """`Reasoning · 120 words · 3.2 s` (plain text)."""
    seconds = reply.reasoning_seconds
    timing = f" · {format_seconds(seconds)}" if seconds is not None else ""
    return f"Reasoning · {plural(len(reply.reasoning.split()), 'word')}{timing}"


def footer_text(reply: Reply) -> str:
    """The footer of `render.reply_view.footer_html` as one plain line: the same quiet row,
    without the details a hover shows there (`reply.usage`, `reply.ttft` hold them)."""
    parts: list[str] = []
    for kind, value in footer_facts(reply):
        if kind == "replayed":
            parts.append(f"replayed · recorded {value}")
        elif kind == "status":
            parts.append(f"⚠ {one_line(value)}")
        elif kind == "tokens":
            parts.append(plural(value[0], "token"))
        elif kind == "time":
            parts.append(format_seconds(value[0]))
        else:
            parts.append(one_line(value))
    if isinstance(reply, ToolReply):
        from ..render.tool_view import calls_phrase

        parts.append(calls_phrase(reply.calls))
    return " · ".join(parts)


def _lines_under_answer(reply: Reply) -> list[str]:
    """The tool calls, then the web search's Sources, as plain lines under the answer."""
    lines = [
        one_line(f"tool call: {call['function']['name']}({call['function']['arguments']})")
        for call in reply.tool_calls
    ]
    sources = getattr(reply, "sources", None)
    if sources:
        lines += ["Sources:", *(one_line(line) for line in sources_lines(sources))]
    return lines


def _retrying_text(event: Retrying) -> str:
    return (
        f"retrying ({event.attempt}/{event.max_retries}) in {format_seconds(event.delay)}: "
        f"{one_line(event.reason)}"
    )


def _can_style(stream: Any) -> bool:
    """True for a real terminal (not `TERM=dumb`) when rich is installed."""
    try:
        tty = bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False
    if not tty or os.environ.get("TERM") == "dumb":
        return False
    try:
        return find_spec("rich") is not None
    except (ImportError, ValueError):  # e.g. a broken or blocked install
        return False


class TextSink:
    """A streaming answer as text on `stream` (default `sys.stdout`), for frontends that cannot
    update a display in place: rich's live view on a terminal, plain text anywhere else.

    `styled=None` picks by the stream (a terminal with rich installed → styled); `language`
    shows the answer as code in that language instead of Markdown (e.g. `"json"`).
    """

    def __init__(
        self,
        stream: Any = None,
        *,
        styled: bool | None = None,
        updates_per_second: float | None = TERMINAL_UPDATES_PER_SECOND,
        language: str | None = None,
        waiting: str = "Waiting for the model…",
    ) -> None:
        self.out = stream if stream is not None else sys.stdout
        self.styled = _can_style(self.out) if styled is None else styled
        self.seen = Reply()
        self._view: _PlainView | _RichView = (
            _RichView(self.out, updates_per_second, language, waiting)
            if self.styled
            else _PlainView(self.out)
        )

    def start(self) -> None:
        self.seen = Reply()
        self._view.start(self.seen)

    def event(self, event: Event) -> None:
        kind = type(event)
        if kind is StepStarted:  # a tool loop's next request: its answer starts over
            if event.step > 1:  # type: ignore[union-attr]
                self.seen = Reply()
                self._view.step()
            return
        if kind is ToolCallFinished:  # one line per call: `weather(location="Florence") → 18 °C`
            self._view.call(event.call)  # type: ignore[union-attr]
            return
        self.seen.apply(event)
        self._view.event(event, self.seen)

    def tool_loop(self, reply: ToolReply) -> None:
        """Nothing to prepare: calls show as they finish, the footer counts them."""

    def finish(self, reply: Reply | None, failed: bool) -> None:
        self._view.finish(reply, failed)


class _PlainView:
    """Plain text: written as it arrives, cleaned of control sequences, never rewritten."""

    def __init__(self, out: Any) -> None:
        self.out = out
        self._pending = ""  # the start of an escape sequence (or a citation) the next piece may finish
        self._cites = False  # the answer came with web sources: `[ref_N]` shows as `[N]`
        self._summarised = False
        self._at_line_start = True

    def start(self, seen: Reply) -> None:
        pass

    def step(self) -> None:
        self._summarised = False
        self._line("")

    def call(self, call: ToolCall) -> None:
        self._line(f"· {strip_controls(call.summary())}")

    def event(self, event: Event, seen: Reply) -> None:
        if isinstance(event, ContentDelta) and event.text:
            self._summarise(seen)  # reads `seen` only once: joining its text per piece is O(n²)
            self._cites = bool(seen.sources)
            self._write_clean(event.text)
        elif isinstance(event, Retrying):
            self._line(_retrying_text(event))

    def finish(self, reply: Reply | None, failed: bool) -> None:
        if self._pending:
            self._write(self._clean(self._pending))
            self._pending = ""
        if reply is None:
            self._write("" if self._at_line_start else "\n")
            return
        self._summarise(reply)
        if reply.text or reply.reasoning or reply.tool_calls or not failed:
            for line in _lines_under_answer(reply):
                self._line(line)
            self._line("")
            self._line(f"— {footer_text(reply)}")

    def _summarise(self, seen: Reply) -> None:
        """The reasoning's summary line, once, before the answer (or at the end without one)."""
        if not self._summarised:
            self._summarised = True
            if seen.reasoning.strip():
                self._line(reasoning_text(seen))
                self._line("")

    def _write_clean(self, text: str) -> None:
        text = self._pending + text
        start = None
        for match in _INTRODUCERS.finditer(text, max(0, len(text) - 4096)):
            if _UNFINISHED.match(text, match.start()):
                start = match.start()
                break
        if start is None and self._cites:
            arriving = CITATION_ARRIVING.search(text, max(0, len(text) - 12))
            start = arriving.start() if arriving else None
        if start is None:
            self._pending = ""
        else:
            text, self._pending = text[:start], text[start:]
        self._write(self._clean(text))

    def _clean(self, text: str) -> str:
        text = strip_controls(text)
        return plain_citations(text) if self._cites else text

    def _line(self, text: str) -> None:
        self._write(("" if self._at_line_start else "\n") + text + "\n")

    def _write(self, text: str) -> None:
        if text:
            self.out.write(text)
            self.out.flush()
            self._at_line_start = text.endswith("\n")


class _RichView:
    """rich's `Live`: redrawn in place at a capped rate; the final frame stays on screen."""

    def __init__(
        self, out: Any, updates_per_second: float | None, language: str | None, waiting: str
    ) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=out, force_jupyter=False)
        self.live = Live(console=self.console, auto_refresh=False, transient=False)
        self.throttle = Throttle(updates_per_second)
        self.language = language
        self.waiting = waiting
        self.status = ""
        self.splitter = BlockSplitter()
        self.blocks: list[str] = []  # finished Markdown blocks of the answer, in order

    def start(self, seen: Reply) -> None:
        self.live.update(self._frame(seen))
        self.live.start(refresh=True)

    def step(self) -> None:
        self.splitter = BlockSplitter()
        self.blocks = []

    def call(self, call: ToolCall) -> None:
        from rich.text import Text

        self.console.print(Text(f"· {strip_controls(call.summary())}", style="dim"))

    def event(self, event: Event, seen: Reply) -> None:
        if isinstance(event, Retrying):
            self.status = _retrying_text(event)
        elif not isinstance(event, (ContentDelta, ReasoningDelta, ToolCallDelta)):
            return
        else:
            self.status = ""
            if isinstance(event, ContentDelta):
                self.blocks += self.splitter.feed(event.text)
        if self.throttle.ready():
            self.live.update(self._frame(seen), refresh=True)

    def finish(self, reply: Reply | None, failed: bool) -> None:
        self.live.update(self._final(reply, failed))
        self.live.stop()  # draws the final frame whole, then a newline

    def _answer(self, text: str, language: str | None) -> Any:
        from rich.markdown import Markdown
        from rich.syntax import Syntax

        if language:
            return Syntax(text, language, word_wrap=True)
        return Markdown(text, hyperlinks=False)  # links as `text (url)`: the target stays visible

    def _visible_source(self, seen: Reply) -> str:
        """The answer's last blocks, enough to overfill the screen, and its open tail: rendering
        only these keeps a frame's cost bounded however long the answer grows."""
        lines, start = 0, len(self.blocks)
        while start > 0 and lines < 2 * self.console.size.height:
            start -= 1
            lines += self.blocks[start].count("\n") + 1
        return _cited(strip_controls("".join(self.blocks[start:]) + self.splitter.display_tail()), seen)

    def _frame(self, seen: Reply) -> Any:
        """What the screen shows while the answer streams: at most one screenful."""
        from rich.console import Group
        from rich.text import Text

        reasoning, text = (
            strip_controls(seen.reasoning[-_REASONING_CHARS:]).strip(),
            self._visible_source(seen),
        )
        parts: list[Any] = []
        if reasoning and not text:
            words = len(seen.reasoning.split())
            parts.append(Text(f"Thinking · {plural(words, 'word')}", style="dim"))
            parts.append(_Tail(Text(reasoning, style="dim italic"), _REASONING_LINES))
        elif reasoning:
            parts.append(Text(reasoning_text(seen), style="dim"))
        if text.strip():
            parts.append(self._answer(text, self.language))
        elif not reasoning:
            parts.append(Text(self.waiting, style="dim"))
        for call in seen.tool_calls:  # forming: name first, then its arguments as they complete
            function = call["function"]
            signature = forming_signature(function["name"], function["arguments"])
            parts.append(Text(f"· {strip_controls(signature)}", style="dim"))
        if self.status:
            parts.append(Text(self.status, style="dim"))
        return _Tail(Group(*parts), max(self.console.size.height - 2, 4), marker=True)

    def _final(self, reply: Reply | None, failed: bool) -> Any:
        """The whole answer, rendered, with its footer; nothing when nothing arrived."""
        from rich.console import Group
        from rich.text import Text

        if reply is None or (failed and not (reply.text or reply.reasoning or reply.tool_calls)):
            return Group()
        fmt = (reply.request or {}).get("response_format") or {}
        json_mode = isinstance(fmt, dict) and fmt.get("type") == "json_object"
        parts: list[Any] = []
        if reply.reasoning.strip():
            parts.append(Text(reasoning_text(reply), style="dim"))
        text = _cited(strip_controls(reply.text), reply)
        if text.strip():
            parts.append(self._answer(text, "json" if json_mode else self.language))
        parts += [Text(line, style="dim") for line in _lines_under_answer(reply)]
        parts.append(Text(footer_text(reply), style="dim"))
        return Group(*parts)


def _cited(text: str, reply: Reply) -> str:
    """`text` with `[ref_N]` as `[N]` when `reply` came with web sources."""
    return plain_citations(text) if reply.sources else text


class _Tail:
    """The last `lines` lines of a renderable (with `marker`, a dimmed first line saying that
    there is more above), so a live frame never outgrows the screen."""

    def __init__(self, renderable: Any, lines: int, *, marker: bool = False) -> None:
        self.renderable = renderable
        self.lines = lines
        self.marker = marker

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.segment import Segment
        from rich.style import Style

        rendered = console.render_lines(self.renderable, options, pad=False)
        keep = self.lines
        if len(rendered) > keep and self.marker:
            keep -= 1
            yield Segment("… earlier lines above", Style(dim=True))
            yield Segment.line()
        for line in rendered[-keep:] if len(rendered) > keep else rendered:
            yield from _trim(line)
            yield Segment.line()


def _trim(line: list[Any]) -> list[Any]:
    """`line` without trailing unstyled padding, so the cursor never waits at the right margin
    (where a Ctrl-C echoed as `^C` would wrap and push the live frame down a line)."""
    from rich.segment import Segment

    def padding(segment: Any) -> bool:
        return not segment.control and not (segment.style and segment.style.bgcolor)

    line = list(line)
    while line and padding(line[-1]) and not line[-1].text.strip():
        line.pop()
    if line and padding(line[-1]):
        line[-1] = Segment(line[-1].text.rstrip(), line[-1].style)
    return line
