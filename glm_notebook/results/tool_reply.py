"""What a tool loop produces: its events, each call's record, and the `ToolReply`. No I/O here.

A tool loop (`client.stream(..., tools=[fn])`) yields, for each step (one request to the model):
`StepStarted(step, reply)`, that request's own stream events (`ReasoningDelta`, `ContentDelta`,
`ToolCallDelta` with the argument fragments as they arrive, `Finish`, ...), then for each call
the model asked for `ToolCallStarted(call)` and `ToolCallFinished(call)`; `StepLimit` when
`max_steps` ends the loop while the model still wants tools.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from ..hooks import Viewable
from ..text import one_line, plural
from ..wire.events import Source, Usage
from .cost import cost_of
from .reply import Reply

__all__ = [
    "ToolCall",
    "ToolStep",
    "ToolReply",
    "StepStarted",
    "ToolCallStarted",
    "ToolCallFinished",
    "StepLimit",
    "ToolEvent",
    "CALL_STATUSES",
    "call_signature",
    "parse_arguments",
    "shorten",
    "Approval",
    "approval",
    "reveal",
]

#: Call statuses: "running" → "ok" | "error" | "declined" | "not_run" | "cancelled".
CALL_STATUSES = ("running", "ok", "error", "declined", "not_run", "cancelled")


def shorten(text: str, limit: int) -> str:
    """`text` on one line, cut to `limit` characters with `…`."""
    text = one_line(text)
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "…"


def parse_arguments(arguments: str) -> dict[str, Any] | None:
    """The model's JSON arguments as a dict; None when they are not a JSON object (or are
    nested too deeply to read)."""
    try:
        value = json.loads(arguments) if arguments.strip() else {}
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def call_signature(name: str, arguments: str, limit: int = 80) -> str:
    """`weather(location="Florence")` from a name and the JSON arguments (shortened)."""
    args = parse_arguments(arguments)
    if isinstance(args, dict):
        inner = ", ".join(f"{key}={json.dumps(value, ensure_ascii=False)}" for key, value in args.items())
    else:
        inner = arguments
    return shorten(f"{name}({inner})", limit)


def forming_signature(name: str, arguments: str, limit: int = 80) -> str:
    """A call whose JSON arguments are still arriving, as far as they read: the pairs complete
    so far as `name=value`, then a string value as it forms (`write(path="a.txt", text="Dear…`),
    never a raw JSON fragment."""
    pairs, done, last = _partial(arguments) if arguments.strip() else ({}, False, -1)
    shown = [f"{key}={json.dumps(value, ensure_ascii=False)}" for key, value in pairs.items()]
    if not done:
        rest = arguments[last + 1 :] if pairs else arguments.lstrip("{ ")
        tail = _FORMING_STRING.search(rest)
        closed = None if tail else _closed_string_pair(rest)
        if closed:
            shown.append(closed)
        elif tail:
            try:
                text = json.loads('"' + re.sub(r"\\\\?$|\\u[0-9a-fA-F]{0,3}$", "", tail.group(2)) + '"')
            except ValueError:
                text = ""
            key = json.loads(f'"{tail.group(1)}"')
            shown.append(f"{key}={json.dumps(text, ensure_ascii=False)[:-1]}…")
        else:
            shown.append("…")
    return shorten(f"{name or '…'}({', '.join(shown)}" + (")" if done else ""), limit)


def _closed_string_pair(rest: str) -> str | None:
    """`key="value"` for a last pair whose string has closed but no `,` or `}` followed yet."""
    try:
        pair = json.loads("{" + rest + "}")
    except ValueError:
        return None
    if not isinstance(pair, dict) or len(pair) != 1:
        return None
    [(key, value)] = pair.items()
    return f"{key}={json.dumps(value, ensure_ascii=False)}" if isinstance(value, str) else None


# The start of a top-level pair whose string value is still arriving: `"text": "Dear A`.
_FORMING_STRING = re.compile(r'^\s*"((?:[^"\\]|\\.){1,100})"\s*:\s*"((?:[^"\\]|\\.)*\\?)$', re.S)


def partial_arguments(arguments: str) -> tuple[dict[str, Any], bool]:
    """The top-level pairs of a JSON object that are complete in `arguments` (a prefix of the
    object), and whether the whole object is. Linear in the text: one scan for the commas at
    depth 1 outside strings, then one parse of the prefix up to the last of them."""
    pairs, done, _ = _partial(arguments)
    return pairs, done


def _partial(arguments: str) -> tuple[dict[str, Any], bool, int]:
    """`partial_arguments`, and where the last comma between top-level pairs is (or -1)."""
    whole = parse_arguments(arguments)
    if isinstance(whole, dict):
        return whole, True, -1
    last = _last_pair_end(arguments)
    if last < 0:
        return {}, False, last
    try:
        pairs = json.loads(arguments[:last] + "}")
    except (ValueError, RecursionError):
        return {}, False, last
    return (pairs if isinstance(pairs, dict) else {}), False, last


def _last_pair_end(arguments: str) -> int:
    """Where the last comma between top-level pairs is (outside strings), or -1."""
    depth, in_string, escaped, last = 0, False, False, -1
    for index, char in enumerate(arguments):
        if in_string:
            escaped = not escaped and char == "\\"
            in_string = escaped or char != '"'
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
        elif char == "," and depth == 1:
            last = index
    return last


# Characters a reader cannot see or that reorder what they see: control and format characters
# (bidi overrides and isolates, zero-width ones, the BOM), line and paragraph separators, tags.
_INVISIBLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f"
    "\u200b-\u200f\u2028-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb"
    "\U000e0000-\U000e0fff]"
)


def reveal(text: str) -> str:
    """`text` with every invisible or direction-changing character shown as `<U+202E>`."""
    return _INVISIBLE.sub(lambda m: f"<U+{ord(m.group()):04X}>", text)


def _middle(text: str, limit: int) -> tuple[str, bool]:
    """`text` cut in the middle to about `limit` characters (both ends stay); whether it was."""
    if len(text) <= limit:
        return text, False
    keep = max(8, (limit - 30) // 2)
    left_out = len(text) - 2 * keep
    return f"{text[:keep]} …[{left_out:,} characters]… {text[-keep:]}", True


@dataclass(frozen=True)
class Approval:
    """What a person is asked to approve: the function and every argument, readable.

    `lines` holds one `name = value` line per argument (values as JSON; a long one shortened in
    the middle so both ends show; invisible and direction-changing characters shown as
    `<U+…>`); `note` says what was shortened or left out, or is empty when nothing was.
    """

    name: str
    lines: tuple[str, ...]
    note: str = ""

    def question(self) -> str:
        """The whole question as plain text (for `input()`)."""
        body = "\n".join(f"    {line}" for line in self.lines) or "    (no arguments)"
        note = f"\n  ({self.note})" if self.note else ""
        return f"The model wants to call {self.name} with:\n{body}{note}\nRun {self.name}? [y/N] "


def approval(name: str, arguments: str, value_limit: int = 240, max_arguments: int = 30) -> Approval:
    """The `Approval` of a call to `name` with the JSON `arguments` the model sent."""
    shown_name = reveal(name)[:120]
    args = parse_arguments(arguments)
    if args is None:
        raw, cut = _middle(reveal(arguments), value_limit * 2)
        note = "arguments that are not a JSON object" + (", shortened in the middle" if cut else "")
        return Approval(shown_name, (raw,), note)
    lines, shortened = [], 0
    for key, value in list(args.items())[:max_arguments]:
        shown, cut = _middle(reveal(json.dumps(value, ensure_ascii=False)), value_limit)
        shortened += cut
        lines.append(f"{reveal(str(key))[:80]} = {shown}")
    notes = []
    if shortened:
        notes.append(f"{plural(shortened, 'long value')} shortened in the middle")
    if len(args) > max_arguments:
        notes.append(
            f"{plural(len(args) - max_arguments, 'more argument')} not shown: skip unless you expect them"
        )
    return Approval(shown_name, tuple(lines), "; ".join(notes))


@dataclass(eq=False)
class ToolCall:
    """One call the model asked for: what was called, with what, what came back, how long it took.

    `arguments` is the JSON text as the model sent it; `value` the Python return value; `result`
    the text sent back to the model (for an error: `Error: ValueError: …`); `error` the error
    in one line (type and message) or None; `status` one of running, ok, error, declined,
    not_run (the step limit came first), cancelled (interrupted while running).
    """

    step: int
    index: int
    id: str | None
    name: str
    arguments: str
    status: str = "running"
    value: Any = field(default=None, repr=False)
    result: str | None = None
    error: str | None = None
    seconds: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def args(self) -> dict[str, Any] | None:
        """The arguments parsed from JSON, or None when they are not a JSON object."""
        return parse_arguments(self.arguments)

    def signature(self, limit: int = 80) -> str:
        """`weather(location="Florence")`, shortened to `limit` characters."""
        return call_signature(self.name, self.arguments, limit)

    def approval(self) -> Approval:
        """What to show before running this call (every argument, readable; see `Approval`)."""
        return approval(self.name, self.arguments)

    def summary(self, limit: int = 120) -> str:
        """One line: `weather(location="Florence") → 18 °C, clear` (or `→ error: …`)."""
        head = self.signature(min(60, limit))
        if self.status == "running":
            return f"{head} …"
        outcome = f"error: {self.error}" if self.error else (self.result or "")
        return shorten(f"{head} → {outcome}", limit)

    def message(self) -> dict[str, Any]:
        """The `tool` message that carries the result back to the model."""
        return {"role": "tool", "tool_call_id": self.id, "content": self.result or ""}


@dataclass(eq=False)
class ToolStep:
    """One request to the model and the calls it asked for (none on the last step)."""

    step: int
    reply: Reply
    calls: list[ToolCall] = field(default_factory=list)


# -- events -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepStarted:
    """Request number `step` (from 1) is about to be sent; `reply` is its `Reply`, still empty,
    which the events up to the next `StepStarted` fill (a display can render it live)."""

    step: int
    reply: Reply = field(repr=False)


@dataclass(frozen=True, slots=True)
class ToolCallStarted:
    """A call is about to run (`call.status == "running"`); `call` is the live record."""

    call: ToolCall


@dataclass(frozen=True, slots=True)
class ToolCallFinished:
    """A call ended: `call.status` is ok, error, declined, not_run or cancelled."""

    call: ToolCall


@dataclass(frozen=True, slots=True)
class StepLimit:
    """The loop stopped after `max_steps` requests while the model still asked for tools."""

    max_steps: int
    note: str


ToolEvent = StepStarted | ToolCallStarted | ToolCallFinished | StepLimit


@dataclass(eq=False)
class ToolReply(Viewable):
    """The result of a tool loop: every step, every call, the final answer, the whole history.

    Reads like a `Reply`: `text`, `reasoning`, `finish_reason`, `model` … are those of the last
    step; `usage` is summed over all requests; `elapsed` spans the whole loop. `steps` holds
    each request's `Reply` and its `ToolCall`s, `calls` all calls in order. `messages` is the
    conversation as sent plus every assistant and tool message of the loop and the final
    answer, ready to send again; `new_messages` only what the loop added. `stopped` is
    "max_steps", "interrupted", "stopped" or "error" when the loop did not end by itself.
    """

    messages: list[dict[str, Any]] = field(default_factory=list, repr=False)
    steps: list[ToolStep] = field(default_factory=list)
    max_steps: int = 10
    stopped: str | None = None
    error: str | None = None
    note: str | None = None
    notes: list[str] = field(default_factory=list, repr=False)
    """Short notes from whoever asked (e.g. `%%glm`'s "{topc} is not defined"), shown with it."""
    start: int = field(default=0, repr=False)
    started_at: float = field(default_factory=time.perf_counter, repr=False)
    started_time: float = field(default_factory=time.time, repr=False)
    ended_at: float | None = field(default=None, repr=False)

    # -- the last step ------------------------------------------------------------------------

    @property
    def final(self) -> Reply:
        """The `Reply` of the last request (an empty one before the first)."""
        return self.steps[-1].reply if self.steps else Reply()

    @property
    def text(self) -> str:
        return self.final.text

    @property
    def reasoning(self) -> str:
        return self.final.reasoning

    @property
    def sources(self) -> list[Source]:
        """Every step's web search sources, each ref once."""
        seen: dict[str, Source] = {}
        for step in self.steps:
            for source in step.reply.sources:
                seen.setdefault(source.ref, source)
        return list(seen.values())

    @property
    def reasoning_seconds(self) -> float | None:
        return self.final.reasoning_seconds

    @property
    def finish_reason(self) -> str | None:
        return self.final.finish_reason

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        """Wire tool calls of the last step (empty when the loop ended with an answer)."""
        return self.final.tool_calls

    @property
    def model(self) -> str | None:
        return self.final.model

    @property
    def id(self) -> str | None:
        return self.final.id

    @property
    def created(self) -> int | None:
        return self.final.created

    @property
    def request(self) -> dict[str, Any]:
        return self.final.request

    @property
    def request_sha256(self) -> str | None:
        return self.final.request_sha256

    @property
    def chunks(self) -> int:
        return sum(s.reply.chunks for s in self.steps)

    @property
    def done(self) -> bool:
        return self.final.done

    # -- the whole loop -----------------------------------------------------------------------

    @property
    def calls(self) -> list[ToolCall]:
        """Every call of every step, in order."""
        return [call for s in self.steps for call in s.calls]

    @property
    def replayed_at(self) -> str | None:
        """When the answers were recorded, if every step was replayed (the earliest), else None."""
        stamps = [step.reply.replayed_at for step in self.steps]
        return min(stamps) if stamps and all(stamps) else None  # type: ignore[type-var]

    @property
    def cost(self) -> float | None:
        """What the whole loop cost in USD (every request); None for an unknown price."""
        return cost_of(self.model, self.usage)

    @property
    def usage(self) -> Usage | None:
        """Token counts summed over every request of the loop."""
        usages = [s.reply.usage for s in self.steps if s.reply.usage is not None]
        return sum(usages[1:], usages[0]) if usages else None

    @property
    def new_messages(self) -> list[dict[str, Any]]:
        """The assistant and tool messages the loop added (and the final answer)."""
        return self.messages[self.start :]

    @property
    def complete(self) -> bool:
        return self.stopped is None and self.final.complete

    @property
    def ttft(self) -> float | None:
        """Seconds from the start of the loop to the first token of its first request."""
        for s in self.steps:
            if s.reply.first_token_at is not None:
                return s.reply.first_token_at - self.started_at
        return None

    @property
    def elapsed(self) -> float | None:
        return None if self.ended_at is None else self.ended_at - self.started_at

    @property
    def tokens_per_second(self) -> float | None:
        """Completion tokens per second of generation, over all requests."""
        usage, span = self.usage, 0.0
        for s in self.steps:
            r = s.reply
            if r.first_token_at is not None and r.ended_at is not None:
                span += r.ended_at - r.first_token_at
        if usage is None or span <= 0:
            return None
        return usage.completion_tokens / span

    @property
    def status(self) -> str:
        """One short phrase: how the loop ended."""
        if self.stopped == "max_steps":
            return f"stopped after {self.max_steps} steps (max_steps)"
        if self.stopped is not None and self.stopped != "error":
            return self.stopped
        if self.stopped == "error":
            return f"incomplete: {self.error}" if self.error else "incomplete"
        return self.final.status

    def finish(
        self, *, stopped: str | None = None, error: str | None = None, note: str | None = None
    ) -> None:
        """Mark the end of the loop; only the first call counts."""
        if self.ended_at is not None:
            return
        self.ended_at = time.perf_counter()
        self.stopped, self.error, self.note = stopped, error, note

    def json(self) -> Any:
        """The final answer parsed as JSON."""
        return self.final.json()

    def message(self, *, reasoning: bool = False) -> dict[str, Any]:
        """The final assistant message (see `Reply.message`)."""
        return self.final.message(reasoning=reasoning)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        calls = len(self.calls)
        return (
            f"<ToolReply {self.model or '?'}: {len(self.steps)} step{'s' * (len(self.steps) != 1)}, "
            f"{calls} tool call{'s' * (calls != 1)}, {len(self.text)} chars, {self.status}>"
        )
