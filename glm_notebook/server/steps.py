"""A reply as a script of steps (emit bytes, pause, abort), with the directives' faults woven in."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .directives import Directives
from .shapes import ANSI_MESSAGE, USAGE_SHAPES, wrong_shape
from .wire import DONE, Identity, broken_frame, delta_chunk, dumps, error_payload, final_chunk, sse_frame

__all__ = ["Emit", "Pause", "Abort", "Step", "stream_steps", "body_steps", "cut_at_stop", "padded_steps"]

_PIECE = 64 * 1024


@dataclass(frozen=True, slots=True)
class Emit:
    """Send these bytes; `chunks` counts the completion chunks they hold."""

    data: bytes
    chunks: int = 0


@dataclass(frozen=True, slots=True)
class Pause:
    """Wait before the next step (pending split pieces are flushed first)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Abort:
    """Drop the connection without finishing the body."""


Step = Emit | Pause | Abort


def stream_steps(
    tokens: Sequence[tuple[str, str]],
    *,
    identity: Identity,
    finish_reason: str,
    usage: dict[str, Any],
    directives: Directives,
    delay: float = 0.0,
    web_search: list[dict[str, Any]] | None = None,
) -> Iterator[Step]:
    """The SSE body: one chunk per token, the final chunk, `[DONE]`, and any requested faults.
    A web search's sources ride on the first chunk (a top-level `web_search` array).

    Fault positions count delta chunks; a position past the last delta applies just before
    the final chunk.
    """
    d = directives
    count = len(tokens)

    def position(value: int | None) -> int | None:
        return None if value is None else min(value, count)

    stall_at = position(d.at) if d.stall else None
    line_at = position(d.at) if d.long_line or d.long_event else None
    shape_at = None
    if d.shape:
        shape_at = count if d.shape in USAGE_SHAPES else position(d.at)
    cut_at, end_at = position(d.cut), position(d.end)
    error_at, bad_at = position(d.error_frame), position(d.bad_json)
    frames = 0

    def frame(data: str, event: str | None = None) -> bytes:
        nonlocal frames
        frames += 1
        if not d.comments:
            return sse_frame(data, crlf=d.crlf, event=event)
        return sse_frame(
            data,
            crlf=d.crlf,
            event=event,
            event_id=str(frames),
            retry=3000 if frames == 1 else None,
            comment="keep-alive" if frames % 4 == 0 else None,
        )

    if d.comments:
        yield Emit(b": keep-alive\r\n\r\n" if d.crlf else b": keep-alive\n\n")
    for i in range(count + 1):
        if i == stall_at:
            yield Pause(d.stall or 0.0)
        if i == cut_at:
            yield Abort()
            return
        if i == end_at:
            return
        if i == error_at:
            message = d.message or "Network error, please try again later"
            error = error_payload(d.code or "1234", ANSI_MESSAGE if d.ansi_error else message)
            yield Emit(frame(dumps(error), "error" if d.error_event else None))
            return
        if i == bad_at:
            yield Emit(broken_frame(identity))
        if i == line_at and d.long_line:
            head = f'data: {{"id":"{identity.id}","choices":[{{"index":0,"delta":{{"content":"'
            yield from padded_steps(head.encode(), d.long_line)
            return
        if i == line_at and d.long_event:
            yield from _data_lines(d.long_event)
            return
        if i == count:
            break
        if i and delay:
            yield Pause(delay)
        field, text = tokens[i]
        chunk = delta_chunk(identity, field, text, null_finish=d.null_finish)
        if i == 0 and web_search is not None:
            chunk["web_search"] = web_search
        if i == shape_at:
            chunk = wrong_shape(chunk, d.shape or "")
        yield Emit(frame(dumps(chunk)), chunks=1)
    if count and delay:
        yield Pause(delay)
    final = final_chunk(identity, finish_reason, usage)
    if not count and web_search is not None:
        final["web_search"] = web_search
    if shape_at == count:
        final = wrong_shape(final, d.shape or "")
    yield Emit(frame(dumps(final)), chunks=1)
    yield Emit(frame(DONE))


def cut_at_stop(tokens: Sequence[tuple[str, Any]], stop: str) -> list[tuple[str, Any]]:
    """The tokens up to the answer's first `stop` (which is not sent), as the service stops there."""
    kept: list[tuple[str, Any]] = []
    text = ""
    for field, piece in tokens:
        if field != "content":
            kept.append((field, piece))
            continue
        start = max(0, len(text) - len(stop) + 1)
        text += piece
        at = text.find(stop, start)
        if at < 0:
            kept.append((field, piece))
            continue
        sent = len(text) - len(piece)  # what earlier tokens already sent
        if at > sent:
            kept.append((field, text[sent:at]))
        elif at < sent:  # the stop began in earlier tokens: take them back
            kept = _drop_content(kept, sent - at)
        return kept
    return kept


def _drop_content(tokens: list[tuple[str, Any]], count: int) -> list[tuple[str, Any]]:
    """`tokens` without their last `count` characters of content."""
    while count > 0 and tokens and tokens[-1][0] == "content":
        field, piece = tokens.pop()
        if len(piece) > count:
            tokens.append((field, piece[: len(piece) - count]))
        count -= len(piece)
    return tokens


def body_steps(body: bytes, directives: Directives, *, chunks: int = 1) -> list[Step]:
    """A whole body; `stall` pauses before it, `cut=N` sends N bytes and drops the connection."""
    steps: list[Step] = [Pause(directives.stall)] if directives.stall else []
    if directives.cut is not None:
        return [*steps, Emit(body[: directives.cut]), Abort()]
    return [*steps, Emit(body, chunks=chunks)]


def padded_steps(head: bytes, size: int, tail: bytes = b"") -> Iterator[Step]:
    """`head`, then `x` bytes, then `tail`: `size` bytes in all, sent in 64 KiB pieces."""
    yield Emit(head)
    filler = b"x" * _PIECE
    left = max(0, size - len(head) - len(tail))
    while left > 0:
        piece = filler if left >= _PIECE else filler[:left]
        left -= len(piece)
        yield Emit(piece)
    if tail:
        yield Emit(tail)


def _data_lines(size: int) -> Iterator[Step]:
    """`size` bytes of `data: xxx` lines with no blank line between them, in 64 KiB pieces."""
    line = b"data: " + b"x" * 58 + b"\n"
    piece = line * (_PIECE // len(line))
    left = size
    while left > 0:
        part = piece if left >= len(piece) else piece[:left]
        left -= len(part)
        yield Emit(part)
