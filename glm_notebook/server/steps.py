"""A reply as a script of steps (emit bytes, pause, abort), with the directives' faults woven in."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Union

from .directives import Directives
from .wire import DONE, Identity, broken_frame, delta_chunk, dumps, error_payload, final_chunk, sse_frame

__all__ = ["Emit", "Pause", "Abort", "Step", "stream_steps", "body_steps"]


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


Step = Union[Emit, Pause, Abort]


def stream_steps(
    tokens: Sequence[tuple[str, str]],
    *,
    identity: Identity,
    finish_reason: str,
    usage: dict[str, Any],
    directives: Directives,
    delay: float = 0.0,
) -> Iterator[Step]:
    """The SSE body: one chunk per token, the final chunk, `[DONE]`, and any requested faults.

    Fault positions count delta chunks; a position past the last delta applies just before
    the final chunk.
    """
    d = directives
    count = len(tokens)

    def position(value: int | None) -> int | None:
        return None if value is None else min(value, count)

    stall_at = position(d.at) if d.stall else None
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
            error = error_payload(d.code or "1234", d.message or "Network error, please try again later")
            yield Emit(frame(dumps(error), "error" if d.error_event else None))
            return
        if i == bad_at:
            yield Emit(broken_frame(identity))
        if i == count:
            break
        if i and delay:
            yield Pause(delay)
        field, text = tokens[i]
        yield Emit(frame(dumps(delta_chunk(identity, field, text, null_finish=d.null_finish))), chunks=1)
    if count and delay:
        yield Pause(delay)
    yield Emit(frame(dumps(final_chunk(identity, finish_reason, usage))), chunks=1)
    yield Emit(frame(DONE))


def body_steps(body: bytes, directives: Directives, *, chunks: int = 1) -> list[Step]:
    """A whole body; `stall` pauses before it, `cut=N` sends N bytes and drops the connection."""
    steps: list[Step] = [Pause(directives.stall)] if directives.stall else []
    if directives.cut is not None:
        return [*steps, Emit(body[: directives.cut]), Abort()]
    return [*steps, Emit(body, chunks=chunks)]
