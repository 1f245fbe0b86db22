"""Live rendering of a streaming answer with bounded cost per update. No I/O, no IPython.

Re-rendering and re-sending the whole answer on every delta costs O(n²) over a long answer.
`LiveAnswer` keeps the cost of each update bounded instead:

- The view is a list of **panes** (one notebook display or one widget each). Pane 0 shows the
  reasoning (or a waiting line); panes 1..k show the answer in **segments**.
- `BlockSplitter` cuts the growing answer into finished Markdown blocks. A block is finished
  when a blank line (outside a code fence or `$$` block) is followed by a line that starts at
  column 0 and does not continue a list, as soon as that line's first characters tell (so the
  line was never shown with the block above it). Splitting before an indented line would turn
  list continuations into code blocks, so it never does.
- A finished block is rendered once and cached. The current segment collects finished blocks
  until it holds `segment_chars` of HTML, then it is closed and a new pane starts. Each update
  re-renders only the open tail, so it carries at most one segment plus the tail.
- Long blocks (a 50 kB code block, a table of 2,000 rows) are cut by force at a line boundary
  once they pass `MAX_BLOCK_CHARS`: a code fence is closed and reopened, a table keeps its
  header row. The final view (`reply_view`) renders the whole text in one pass anyway.
- The open tail is made streaming-safe: an unclosed code fence renders as a code block, a
  partial table row (or a header row still waiting for its `|---|` line) is held back until
  its newline, and an unclosed math opener (`$`, `$$`, `\\(`, `\\[`) is held back until it
  closes, so raw TeX never flashes up and then jumps.
- Reasoning is visible while the model thinks (its last `reasoning_chars` only), then collapses
  into `<details><summary>Reasoning · N words · 3.2 s</summary>…</details>` in the same update
  that first shows answer text (an answer that starts with a blank line or a held-back opener
  would otherwise leave the output short for a frame); while streaming the collapsed body is
  still its tail only, as some servers interleave more reasoning.
- `max_chars` stops rendering past that many answer characters (the rest is only counted).

```python
live = LiveAnswer()
throttle = Throttle(20)
for event in stream:
    live.apply(event)
    if throttle.ready():
        for pane in live.changes():
            show(pane.index, pane.html)       # "" means: nothing to show in this pane
for pane in live.changes(final=True):
    show(pane.index, pane.html)
```
"""

from __future__ import annotations

import html as html_module
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..results.pieces import Pieces
from ..wire.events import ContentDelta, ReasoningDelta, SearchResults, Source
from .highlight import Resumable
from .markdown import MD_OPEN, escape_text, markdown_html
from .phrases import reasoning_summary

__all__ = [
    "LiveAnswer",
    "PaneUpdate",
    "answer_segments",
    "BlockSplitter",
    "Throttle",
    "SEGMENT_CHARS",
    "NOTEBOOK_SEGMENT_CHARS",
    "MAX_BLOCK_CHARS",
    "MAX_LINE_CHARS",
    "REASONING_TAIL_CHARS",
    "DEFAULT_UPDATES_PER_SECOND",
    "ByteBudget",
]

#: HTML characters of finished blocks a segment pane holds before the next pane starts (at
#: least; past ten times this, a tenth of the answer's HTML so far).
SEGMENT_CHARS = 4_000
#: The same for the `%%glm` output, whose panes are notebook outputs; `answer_segments` (the final
#: view) uses it too. A redraw re-sends the open pane: small panes keep that cheap, while the
#: live view's cap (`max_chars`) keeps the number of outputs bounded.
NOTEBOOK_SEGMENT_CHARS = 600
#: The largest a growing segment gets: a pane JupyterLab applies in a millisecond (8,000 took
#: ~230 ms each late in a 50k answer, measured by tests/browser/test_lab.py).
MAX_SEGMENT_CHARS = 3_000
#: A block longer than this (source characters) is cut at the next line boundary.
MAX_BLOCK_CHARS = 3_000
#: A line longer than this (no newline yet) is cut where it stands.
MAX_LINE_CHARS = 4_000
#: While the model reasons, only this many trailing characters of reasoning are shown.
REASONING_TAIL_CHARS = 3_000
#: Default cap on redraws per second.
DEFAULT_UPDATES_PER_SECOND = 20.0

_FENCE_OPEN = re.compile(r"^([ \t]*)(`{3,}|~{3,})(.*)$")
_LIST_ITEM = re.compile(r"^(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)")
_TABLE_DELIMITER = re.compile(r"^[ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")
#: The start of a line that is (or may become) a code fence's opening line: shown early, its
#: backticks would flash up as text (or as an empty inline code span) before the block forms.
_FENCE_ARRIVING = re.compile(r"[ \t]{0,3}(?:`{1,2}|~{1,2}|`{3,}[^`\n]*|~{3,}[^\n]*)\Z")
#: A list marker, or digits that may become one (`12` before its `.`).
_MARKER_START = re.compile(r"[-*+]|\d{1,9}[.)]?")
_BARE_MARKER = re.compile(r"[ \t]*(?:#{1,6}|[-*+]|\d{1,9}[.)]|>)[ \t]*\Z")
#: Characters of an unclosed `*emphasis` the live tail holds back; further back it shows raw.
EMPHASIS_HOLD_CHARS = 200
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_WORD = re.compile(r"\S+")
_TAG = re.compile(r"<[^>]*>")


@dataclass(frozen=True, slots=True)
class PaneUpdate:
    """Pane `index` now shows `html` (`""`: show nothing). Pane 0 is reasoning/status.

    `text` is the same pane as plain text (the Markdown source), for frontends without HTML.
    """

    index: int
    html: str
    text: str = ""


class Throttle:
    """At most `per_second` draws: the first call to `ready()` is True, later calls only once
    `1/per_second` seconds passed since the last True. No threads; the caller always draws the
    final state itself. `per_second=None` never holds back; `0` allows only the first draw.
    """

    def __init__(
        self,
        per_second: float | None = DEFAULT_UPDATES_PER_SECOND,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = (
            None if per_second is None else (float("inf") if per_second <= 0 else 1.0 / per_second)
        )
        self.clock = clock
        self._last: float | None = None

    def ready(self) -> bool:
        """True when a draw is allowed now (and counts it as done)."""
        now = self.clock()
        if self._last is not None and self.interval is not None and now - self._last < self.interval:
            return False
        self._last = now
        return True


class ByteBudget:
    """Holds back redraws that would make a live view cost more than `per_char` bytes per
    character received (past a first `allowance`, so a short answer streams at the full rate),
    but never for longer than `max_wait` seconds. A redraw re-sends the open pane whatever the
    pace, so at a model's pace the rate cap alone would cost bytes per second, not per character.
    """

    def __init__(
        self,
        per_char: float = 6.0,
        allowance: int = 12_000,
        max_wait: float = 0.5,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_char, self.allowance, self.max_wait, self.clock = per_char, allowance, max_wait, clock
        self.sent = 0
        self._last = -math.inf

    def allows(self, received: int) -> bool:
        """True when a redraw now stays within the budget for `received` characters (or the last
        one is `max_wait` old)."""
        return (
            self.sent <= self.allowance + self.per_char * received
            or self.clock() - self._last >= self.max_wait
        )

    def spend(self, size: int) -> None:
        """A redraw of `size` bytes went out."""
        self.sent += size
        self._last = self.clock()


class BlockSplitter:
    """Cuts a growing Markdown text into finished blocks and an open tail (pure, no rendering).

    `feed(text)` returns the blocks finished by `text`; `tail` is the open rest (always valid
    Markdown on its own); `display_tail()` is the tail minus what would flash up and jump
    (partial table rows, unclosed math); `close()` returns the last block.
    """

    def __init__(self, *, max_block: int = MAX_BLOCK_CHARS, max_line: int = MAX_LINE_CHARS) -> None:
        self.max_block = max_block
        self.max_line = max_line
        self._buf = ""  # text not yet frozen: complete lines, then maybe a partial line
        self._prefix = ""  # Markdown that reopens a fence or table cut by force
        self._scanned = 0  # _buf[:_scanned] has been read line by line
        self._fence: tuple[str, str] | None = None  # (closing marker, opener line)
        self._math: str | None = None  # closing delimiter of an open display-math block
        self._math_at = 0  # where the open display-math block starts in _buf
        self._blank = False  # the previous line was blank (outside fences and math)
        self._table_head: str | None = None  # header + delimiter rows of the current table
        self._previous = ""  # the previous line

    @property
    def tail(self) -> str:
        """The open, unfinished Markdown."""
        return self._prefix + self._buf

    @property
    def in_code(self) -> bool:
        """True while inside a fenced code block."""
        return self._fence is not None

    def feed(self, text: str) -> list[str]:
        """Add `text`; return the blocks it finished (Markdown sources, in order)."""
        self._buf += text
        blocks: list[str] = []
        while True:
            end = self._buf.find("\n", self._scanned)
            if end < 0:
                break
            start, self._scanned = self._scanned, end + 1
            line = self._buf[start:end]
            if start > self.max_block and self._may_cut_before(line, start):
                blocks.append(self._cut_by_force(start))
                start = 0
            block = self._read_line(line, start)
            if block:
                blocks.append(block)
        cut = self._early_cut()
        if cut:
            blocks.append(cut)
        if len(self._buf) - self._scanned > self.max_line:
            blocks.append(self._cut_line_by_force())
        return blocks

    def _early_cut(self) -> str | None:
        """The block before the partial last line, once that line's first characters settle
        that a block ends there (the cut `feed` would make when the line is complete): the line
        then starts the tail before it was ever shown with the block above it, so a pane that
        closes after that block never loses text it showed."""
        at = self._scanned
        partial = self._buf[at:]
        if self._blank and at and partial and _new_block_settled(partial):
            return self._cut(at)
        if at > self.max_block and partial and self._may_cut_before(partial, at):
            return self._cut_by_force(at)
        return None

    def close(self) -> str:
        """The rest as a final block (empty string if nothing is left)."""
        rest = self.tail if self._buf.strip() else ""
        self._buf, self._prefix, self._scanned = "", "", 0
        self._fence = self._math = self._table_head = None
        self._blank, self._previous = False, ""
        return rest

    @classmethod
    def safe_prefix(cls, text: str) -> str:
        """The part of a complete `text` that is safe to show while more may follow."""
        splitter = cls(max_block=len(text) + 1, max_line=len(text) + 1)
        return "".join(splitter.feed(text)) + splitter.display_tail()

    # -- line by line -------------------------------------------------------------------------

    def _read_line(self, line: str, start: int) -> str | None:
        stripped = line.strip()
        if self._fence is not None:
            closer, _ = self._fence
            if stripped.startswith(closer) and not stripped.strip(closer[0]):
                self._fence = None
            return None
        if self._math is not None:
            if not stripped:  # display math never spans a blank line
                self._math, self._blank = None, True
            elif stripped.endswith(self._math):
                self._math = None
            return None
        if not stripped:
            self._blank, self._table_head = True, None
            return None
        block = None
        if self._blank and start > 0 and line[0] not in " \t" and not _LIST_ITEM.match(line):
            block = self._cut(start)
            start = 0
        self._blank = False
        self._open_blocks(line, stripped, start)
        self._previous = line
        return block

    def _open_blocks(self, line: str, stripped: str, start: int) -> None:
        fence = _FENCE_OPEN.match(line)
        if fence and not (fence.group(2)[0] == "`" and "`" in fence.group(3)):
            self._fence = (fence.group(2), line)
        elif stripped.startswith("$$") and not (len(stripped) > 3 and stripped.endswith("$$")):
            self._math, self._math_at = "$$", start
        elif stripped.startswith("\\[") and not (len(stripped) > 3 and stripped.endswith("\\]")):
            self._math, self._math_at = "\\]", start
        elif (
            self._table_head is None
            and "-" in line
            and self._previous.lstrip().startswith("|")
            and _TABLE_DELIMITER.match(line)
        ):
            self._table_head = f"{self._previous}\n{line}\n"

    # -- cutting ------------------------------------------------------------------------------

    def _cut(self, at: int) -> str:
        block = self._prefix + self._buf[:at]
        self._prefix, self._buf = "", self._buf[at:]
        self._scanned = max(0, self._scanned - at)
        return block

    def _fence_reopen(self) -> tuple[str, str]:
        closer, opener = self._fence  # type: ignore[misc]
        indent = opener[: len(opener) - len(opener.lstrip())]
        return f"{indent}{closer}\n", f"{opener}\n"

    def _may_cut_before(self, line: str, start: int) -> bool:
        """A block longer than `max_block` may be cut before `line`: anywhere in a code fence,
        else before a line at column 0 (cutting before an indented line would turn a list
        continuation into code), and anywhere once it is twice too long."""
        if self._fence is not None or start > 2 * self.max_block:
            return True
        return self._math is None and bool(line.strip()) and line[0] not in " \t"

    def _cut_by_force(self, at: int) -> str:
        """The block grew too long: freeze it at line boundary `at`, keeping its context."""
        if self._fence is not None:
            close, reopen = self._fence_reopen()
            block = self._cut(at) + close
            self._prefix = reopen
        else:
            block = self._cut(at)
            self._math = None
            if self._table_head is not None:
                self._prefix = self._table_head
        return block

    def _cut_line_by_force(self) -> str:
        """A single line passed `max_line`: freeze it where it stands (at a space if possible)."""
        if self._fence is not None:
            close, reopen = self._fence_reopen()
            block = self._cut(len(self._buf)) + "\n" + close
            self._prefix = reopen
            return block
        space = self._buf.rfind(" ", self._scanned)
        at = space + 1 if space > self._scanned else len(self._buf)
        block = self._cut(at)
        self._math = None
        return block

    # -- the streaming-safe tail --------------------------------------------------------------

    def display_tail(self) -> str:
        """The tail without the bits that would flash up raw and then jump."""
        text = self._buf
        if self._fence is not None:  # an unclosed fence renders as a code block: fine
            line_start = text.rfind("\n") + 1
            last = text[line_start:].strip()
            if last and not last.strip(self._fence[0][0]):
                text = text[:line_start]  # maybe the closing fence: its marks would flash up
            return self._prefix + text
        if self._math is not None:
            return self._prefix + text[: self._math_at]
        line_start = text.rfind("\n") + 1
        last = text[line_start:]
        if (
            last.lstrip().startswith("|")
            or _FENCE_ARRIVING.match(last)
            or _BARE_MARKER.match(last)
            or _MARKER_START.fullmatch(last.lstrip(" \t"))
        ):
            # a partial table row, a fence whose opening line is arriving, or a line that is only
            # a marker so far (`#`, `-`, `1.`, `>`: an empty heading or item would flash; digits
            # may become one, and after a blank line `_early_cut` waits to know)
            text = text[:line_start]
        if self._table_head is None and text.endswith("\n"):
            body = text[:-1]
            start = body.rfind("\n") + 1
            before = body[: start - 1].rsplit("\n", 1)[-1] if start else ""
            if body[start:].lstrip().startswith("|") and not before.lstrip().startswith("|"):
                text = text[:start]  # a header row waiting for its |---| line
        paragraph = 0
        for match in _BLANK_LINE.finditer(text):
            paragraph = match.end()
        opener = _unclosed_math(text, paragraph)
        if opener is not None:
            text = text[:opener]
        opener = _unclosed_emphasis(text, paragraph)
        if opener is not None:
            text = text[:opener]
        return self._prefix + text


def _new_block_settled(line: str) -> bool:
    """True when a (partial) `line` after a blank line surely starts a block of its own: it
    starts at column 0 and can no longer become a list item (which continues a loose list)."""
    if line[0] in " \t":
        return False
    marker = _MARKER_START.match(line)
    if marker is None:
        return True
    rest = line[marker.end() :]
    # digits then anything are no marker (`12 apples`); a marker is one only with a space after it
    return rest != "" and (marker.group()[-1].isdigit() or rest[0] not in " \t")


def _unclosed_math(text: str, start: int) -> int | None:
    """Where an inline math opener in `text[start:]` is still waiting for its closer."""
    i, n = start, len(text)
    opened: tuple[int, str] | None = None
    while i < n:
        char = text[i]
        if opened is not None:
            at, closer = opened
            if char == "\\" and closer in ("$", "$$") and not text.startswith(closer, i + 1):
                i += 2
            elif closer == "$" and char == "$" and text[i - 1].isspace():
                opened = None  # "$10 and $": not math; this "$" may open instead
            elif text.startswith(closer, i):
                opened, i = None, i + len(closer)
            else:
                i += 1
            continue
        if char == "\\":
            pair = text[i : i + 2]
            if pair in ("\\(", "\\["):
                opened = (i, "\\)" if pair == "\\(" else "\\]")
            i += 2
        elif char == "`":
            run = len(text) - len(text[i:].lstrip("`")) - i
            close = text.find("`" * run, i + run)
            i = i + run if close < 0 else close + run
        elif char == "$":
            if text.startswith("$$", i):
                opened, i = (i, "$$"), i + 2
            elif text[i + 1 : i + 2].isdigit() or text[i + 1 : i + 2].isspace():
                i += 1  # "$5", "$ ": money or prose, not math
            else:
                opened, i = (i, "$"), i + 1
        else:
            i += 1
    return None if opened is None else opened[0]


def _is_punctuation(char: str) -> bool:
    return not char.isalnum() and not char.isspace()


def _unclosed_emphasis(text: str, start: int) -> int | None:
    """Where an emphasis opener (`*`, `**`, `_`, `__`) in `text[start:]` still waits for its
    closer, or where a delimiter run ends the text: held back, so `*word` never flashes its
    asterisk before turning italic. CommonMark's flanking rules, simplified; code spans and math
    are skipped; an opener more than `EMPHASIS_HOLD_CHARS` back shows as it is."""
    openers: list[tuple[int, str]] = []
    i, n = start, len(text)
    while i < n:
        char = text[i]
        if char == "\\":
            pair = text[i : i + 2]
            closer = {"\\(": "\\)", "\\[": "\\]"}.get(pair)
            close = -1 if closer is None else text.find(closer, i + 2)
            i = i + 2 if close < 0 else close + 2
            continue
        if char in "`$":
            run = len(text) - len(text[i:].lstrip(char)) - i
            follow = text[i + run : i + run + 1]
            close = text.find(char * run, i + run)
            if close < 0 or (char == "$" and (follow.isdigit() or follow.isspace())):
                i += run  # no closer: a lone backtick, or money
            else:
                i = close + run
            continue
        if char not in "*_":
            i += 1
            continue
        end = i
        while end < n and text[end] == char:
            end += 1
        if end == n:  # a delimiter run is arriving: it may open, close or be a bullet
            return min([i] + [at for at, _ in openers if n - at <= EMPHASIS_HOLD_CHARS])
        before, after = (text[i - 1] if i else " "), text[end]
        left = not after.isspace() and (
            not _is_punctuation(after) or before.isspace() or _is_punctuation(before)
        )
        right = not before.isspace() and (
            not _is_punctuation(before) or after.isspace() or _is_punctuation(after)
        )
        if char == "_":
            left, right = (
                left and (not right or _is_punctuation(before)),
                right and (not left or _is_punctuation(after)),
            )
        if right and any(kind == char for _, kind in openers):
            while openers.pop()[1] != char:
                pass
        elif left:
            openers.append((i, char))
        i = end
    return next((at for at, _ in openers if n - at <= EMPHASIS_HOLD_CHARS), None)


_CONTAINER_CLOSE = "</div>"


def _pane(inner: str) -> str:
    """Blocks of one pane in one `div.glm-md` (nothing for nothing)."""
    return f"{MD_OPEN}{inner}{_CONTAINER_CLOSE}" if inner else ""


def answer_segments(
    text: str,
    *,
    language: str | None = None,
    segment_chars: int = NOTEBOOK_SEGMENT_CHARS,
    grow: bool = True,
    sources: Sequence[Source] | None = None,
) -> list[str]:
    """`text` rendered exactly as the live answer panes show it once the stream ended: one HTML
    fragment per pane. The final view is built from these, so it flows like the live view."""
    live = LiveAnswer(waiting=None, language=language, segment_chars=segment_chars, grow=grow)
    if sources:
        live.cite(sources)
    live.feed_content(text)
    live.changes(final=True)
    return [html for html in live.panes[1:] if html]


def _count_words(text: str, inside_word: bool) -> tuple[int, bool]:
    """Words starting in non-empty `text`, given whether the text before ended inside a word;
    and whether `text` ends inside a word."""
    count = len(_WORD.findall(text))
    if count and inside_word and not text[0].isspace():
        count -= 1
    return count, not text[-1].isspace()


class LiveAnswer:
    """A streaming reply as HTML panes; each call to `changes()` returns only what changed.

    Feed it with `apply(event)` (stream events), or `feed_reasoning(text)` / `feed_content(text)`,
    or `sync(reply)` to catch up with a `Reply` that someone else feeds. Then `changes()` gives
    the `PaneUpdate`s since the last call; `changes(final=True)` flushes everything (the whole
    tail, reasoning collapsed). `panes` is the current HTML of every pane.

    Pane 0: a waiting line, then the reasoning (open while the model thinks, collapsed once the
    answer starts), or `""` if there was no reasoning. Panes 1..k: the answer, one segment each.
    `language="json"` shows the answer as a code block of that language instead of Markdown.
    `grow=True` makes each segment at least a tenth of the answer's HTML so far, up to
    `MAX_SEGMENT_CHARS` (notebook outputs: few however long the answer). `max_chars` caps the answer shown: past it, text is counted (`content_chars`, `capped`) but
    no longer rendered, so panes, bytes and memory stay bounded however long the answer gets.
    Reasoning that keeps arriving after the answer began is shown by its bounded tail until
    `changes(final=True)`. All HTML comes from `markdown_html` or is escaped here: safe to show.
    """

    def __init__(
        self,
        *,
        segment_chars: int = SEGMENT_CHARS,
        reasoning_chars: int = REASONING_TAIL_CHARS,
        max_block: int = MAX_BLOCK_CHARS,
        language: str | None = None,
        waiting: str | None = "Waiting for the model…",
        max_chars: int | None = None,
        grow: bool = False,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.segment_chars = segment_chars
        self.grow = grow
        self.max_chars = max_chars
        self.reasoning_chars = reasoning_chars
        self.language = language
        self.waiting = waiting
        self.clock = clock
        self._splitter = BlockSplitter(max_block=max_block)
        self._segments: list[list[str]] = []  # rendered finished blocks, per segment
        self._sources: list[list[str]] = []  # their Markdown source, per segment
        self._segment_size = 0
        self._html_size = 0  # HTML of every finished block
        self._content_chars = 0
        self._shown_chars = 0
        self._tail_dirty = False
        self._closed_segments: list[int] = []  # segments closed since the last changes()
        self._reasoning = Pieces()
        self._reasoning_tail = ""
        self._reasoning_words = 0
        self._in_word = False
        self._reasoning_dirty = waiting is not None
        self._thinking_since: float | None = None
        self._thinking_seconds: float | None = None
        self._sent: dict[int, str] = {}
        self._answer_shown = False  # an answer pane has shown text: the reasoning may collapse
        self._finished = False
        self._cites: list[Source] | None = None  # a web search's sources, once they arrived
        self._resume = Resumable()  # the open tail's code block, lexed where it grew

    # -- input --------------------------------------------------------------------------------

    def apply(self, event: Any) -> None:
        """Take one stream event; only reasoning and answer deltas matter here."""
        kind = type(event)
        if kind is ContentDelta:
            self.feed_content(event.text)
        elif kind is ReasoningDelta:
            self.feed_reasoning(event.text)
        elif kind is SearchResults:
            self.cite([*(self._cites or ()), *event.sources])

    def cite(self, sources: Sequence[Source]) -> None:
        """Link `[ref_N]` citations to these sources in the blocks rendered from now on."""
        self._cites = list(sources) if sources else None

    def sync(self, reply: Any) -> None:
        """Catch up with `reply` (anything with `.reasoning` and `.text`), reading only what is new."""
        sources = getattr(reply, "sources", None)
        if sources and len(sources) != len(self._cites or ()):
            self.cite(sources)
        reasoning, seen = reply.reasoning, len(self._reasoning)
        if len(reasoning) > seen:
            self.feed_reasoning(reasoning[seen:])
        text = reply.text
        if len(text) > self._content_chars:
            self.feed_content(text[self._content_chars :])

    def feed_reasoning(self, text: str) -> None:
        """Add reasoning text."""
        if not text:
            return
        if self._thinking_since is None:
            self._thinking_since = self.clock()
        self._reasoning.append(text)
        tail = self._reasoning_tail + text
        if len(tail) > 2 * self.reasoning_chars:
            tail = tail[-self.reasoning_chars :]
        self._reasoning_tail = tail
        words, self._in_word = _count_words(text, self._in_word)
        self._reasoning_words += words
        self._reasoning_dirty = True

    def feed_content(self, text: str) -> None:
        """Add answer text."""
        if not text:
            return
        if not self._content_chars and self._thinking_since is not None:
            self._thinking_seconds = self.clock() - self._thinking_since
        self._content_chars += len(text)
        if self.max_chars is not None:
            text = text[: max(0, self.max_chars - self._shown_chars)]
            if not text:
                return  # past the cap: counted, not shown
        self._shown_chars += len(text)
        for block in self._splitter.feed(text):
            self._add_block(block)
        self._tail_dirty = True

    # -- output -------------------------------------------------------------------------------

    @property
    def content_chars(self) -> int:
        """Characters of answer received so far."""
        return self._content_chars

    @property
    def received_chars(self) -> int:
        """Characters of reasoning and answer received so far."""
        return len(self._reasoning) + self._content_chars

    @property
    def capped(self) -> bool:
        """True once the answer passed `max_chars`: the rest is counted but not shown."""
        return self._content_chars > self._shown_chars

    @property
    def reasoning_words(self) -> int:
        """Words of reasoning so far."""
        return self._reasoning_words

    @property
    def panes(self) -> list[str]:
        """The current HTML of every pane that was returned so far (index = pane number)."""
        return [self._sent.get(i, "") for i in range(max(self._sent, default=-1) + 1)]

    def changes(self, *, final: bool = False) -> list[PaneUpdate]:
        """The panes whose HTML changed since the last call, in pane order.

        A pane is first reported once it has something to show, so a caller that creates one
        display per pane should create any missing lower-numbered panes first (to keep their
        order). `final=True` renders the whole rest (no holding back) and the collapsed
        reasoning; call it once at the end.
        """
        if final and not self._finished:
            self._finished = True
            rest = self._splitter.close()
            if rest:
                self._add_block(rest)
            self._tail_dirty = True
            self._reasoning_dirty = True
        fresh: dict[int, tuple[str, str]] = {}
        for segment in self._closed_segments:
            fresh[segment + 1] = (_pane("".join(self._segments[segment])), "".join(self._sources[segment]))
            self._segments[segment], self._sources[segment] = [], []  # a closed pane never changes
        self._closed_segments.clear()
        if self._tail_dirty:
            self._tail_dirty = False
            if self._finished:
                source = ""
            elif self.language is not None:  # code: nothing to hold back
                source = self._splitter.tail
            else:
                source = self._splitter.display_tail()
            tail = self._render(source, self._resume)
            if self._segments or tail:
                if not self._segments:
                    self._segments.append([])
                    self._sources.append([])
                last = len(self._segments) - 1
                fresh[last + 1] = (
                    _pane("".join(self._segments[last]) + tail),
                    "".join(self._sources[last]) + (source if tail else ""),
                )
        if not self._answer_shown and any(html for html, _ in fresh.values()):
            self._answer_shown = True
            self._reasoning_dirty = True  # collapse the reasoning / drop the waiting line
        if self._reasoning_dirty:
            self._reasoning_dirty = False
            fresh[0] = self._reasoning_html()
        updates = []
        for index in sorted(fresh):
            html, text = fresh[index]
            if self._sent.get(index, "") == html:
                continue  # unchanged, or a pane that would start out empty
            self._sent[index] = html
            updates.append(PaneUpdate(index, html, text))
        return updates

    # -- internals ----------------------------------------------------------------------------

    def _render(self, source: str, resume: Resumable | None = None) -> str:
        """One block's HTML, without the `div.glm-md` container (`_pane` adds one per pane, so
        the blocks of a pane flow exactly as they do in the final view). `resume`: the open
        tail's, so its growing code block is lexed only where it grew (finished blocks are
        lexed whole)."""
        if not source.strip():
            return ""
        if self.language is not None:
            return (
                f'<pre><code class="language-{escape_text(self.language)}">{escape_text(source)}</code></pre>'
            )
        html = markdown_html(source, self._cites, resume)
        if html.startswith(MD_OPEN) and html.endswith(_CONTAINER_CLOSE):
            return html[len(MD_OPEN) : -len(_CONTAINER_CLOSE)]
        return html

    def _add_block(self, source: str) -> None:
        html = self._render(source)
        if not self._segments:
            self._segments.append([])
            self._sources.append([])
        # A full segment closes after the block that filled it: that block was this pane's open
        # tail and the next one's first line never showed here (`BlockSplitter._early_cut`), so
        # nothing moves to another pane (which would flash: gone here, then shown there).
        self._segments[-1].append(html)
        self._sources[-1].append(source)
        self._segment_size += len(html)
        self._html_size += len(html)
        # `grow`: panes grow with the answer (a tenth of it at least): small while it is short,
        # so a redraw re-sends little, and few however long it gets (notebook outputs).
        limit = self.segment_chars
        if self.grow:
            limit = min(max(limit, self._html_size // 10), MAX_SEGMENT_CHARS)
        if self._segment_size >= limit:
            self._closed_segments.append(len(self._segments) - 1)
            self._segments.append([])
            self._sources.append([])
            self._segment_size = 0

    def _reasoning_html(self) -> tuple[str, str]:
        """Pane 0 as (HTML, plain text)."""
        if not self._reasoning:
            if self._answer_shown or self._finished or self.waiting is None:
                return "", ""
            return f'<p class="glm-status"><em>{escape_text(self.waiting)}</em></p>', self.waiting
        if self._answer_shown or self._finished:
            seconds = self._thinking_seconds
            if seconds is None and self._thinking_since is not None:
                seconds = self.clock() - self._thinking_since
            summary = reasoning_summary(self._reasoning_words, seconds)
            if self._finished:
                body = markdown_html(self._reasoning.value())
            else:
                # Some servers keep sending reasoning after the answer began: while streaming,
                # the collapsed body is the bounded tail, so a redraw never re-sends it all.
                body = self._reasoning_tail_html()
            html = f'<details class="glm-reasoning"><summary>{summary}</summary>{body}</details>'
            return html, html_module.unescape(_TAG.sub("", summary))
        words = f"{self._reasoning_words:,} word{'s' if self._reasoning_words != 1 else ''}"
        html = (
            f'<details class="glm-reasoning" open><summary>Thinking · {words}</summary>'
            f"{self._reasoning_tail_html()}</details>"
        )
        tail, cut = self._reasoning_tail_text()
        return html, f"Thinking…\n{'…' if cut else ''}{tail}"

    def _reasoning_tail_text(self) -> tuple[str, bool]:
        """The last `reasoning_chars` of reasoning (from a line start if one is near), and
        whether anything before it is left out."""
        tail = self._reasoning_tail
        cut = len(tail) > self.reasoning_chars or len(self._reasoning) > len(tail)
        if len(tail) > self.reasoning_chars:
            tail = tail[-self.reasoning_chars :]
        if cut:
            newline = tail.find("\n")
            if 0 <= newline < len(tail) // 2:
                tail = tail[newline + 1 :]
        return tail, cut

    def _reasoning_tail_html(self) -> str:
        tail, cut = self._reasoning_tail_text()
        ellipsis = '<p class="glm-ellipsis">…</p>' if cut else ""
        return ellipsis + markdown_html(BlockSplitter.safe_prefix(tail))
