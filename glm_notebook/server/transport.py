"""Play a step script over ASGI: pacing, byte-level splitting, deliberate aborts, disconnects."""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Iterable
from typing import Any

import anyio
import anyio.lowlevel
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .records import RequestRecord
from .steps import Abort, Emit, Pause, Step

__all__ = ["Splitter", "PacedResponse", "DeliberateAbort", "quiet_deliberate_aborts"]


class DeliberateAbort(Exception):
    """Raised out of the app so uvicorn drops the connection mid-body (the `cut` directive)."""


class _HideDeliberateAborts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, DeliberateAbort)


def quiet_deliberate_aborts() -> None:
    """Keep uvicorn from logging a traceback for each deliberate abort (idempotent)."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _HideDeliberateAborts) for f in logger.filters):
        logger.addFilter(_HideDeliberateAborts())


class Splitter:
    """Re-cut a byte stream into pieces of low..high bytes (seeded, so deterministic)."""

    def __init__(self, low: int, high: int, seed: int = 0) -> None:
        self._random = random.Random(seed)
        self._low, self._high = low, high
        self._buffer = bytearray()
        self._next = self._draw()

    def _draw(self) -> int:
        return self._random.randint(self._low, self._high)

    def feed(self, data: bytes) -> list[bytes]:
        """Add bytes; return every complete piece."""
        self._buffer += data
        pieces = []
        while len(self._buffer) >= self._next:
            pieces.append(bytes(self._buffer[: self._next]))
            del self._buffer[: self._next]
            self._next = self._draw()
        return pieces

    def flush(self) -> list[bytes]:
        """Return what is buffered as a last (shorter) piece."""
        if not self._buffer:
            return []
        piece = bytes(self._buffer)
        self._buffer.clear()
        return [piece]


class PacedResponse(Response):
    """A response that plays `steps`, one ASGI body message per piece, and keeps `record` current.

    A concurrent listener notices `http.disconnect` and cancels the delivery; an `Abort` step
    raises `DeliberateAbort` after flushing, so the client sees a truncated body.
    """

    def __init__(
        self,
        steps: Iterable[Step],
        *,
        record: RequestRecord,
        status_code: int = 200,
        headers: Iterable[tuple[str, str]] = (),
        splitter: Splitter | None = None,
        header_delay: float = 0.0,
    ) -> None:
        self.status_code = status_code
        self.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        self.background = None
        self._steps = steps
        self._record = record
        self._splitter = splitter
        self._header_delay = header_delay
        self._completed = False
        record.status = status_code

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        outcome = "incomplete"
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(self._watch_disconnect, receive, group.cancel_scope)
                outcome = await self._deliver(send)
                group.cancel_scope.cancel()
        finally:
            close = getattr(self._steps, "close", None)
            if close is not None:
                close()
            self._record.completed = outcome == "completed"
            self._record.aborted = outcome == "aborted"
            self._record.finished.set()
        if outcome == "aborted":
            raise DeliberateAbort("connection dropped on purpose (cut directive)")

    async def _watch_disconnect(self, receive: Receive, scope: anyio.CancelScope) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                if not self._completed:
                    self._record.disconnected = True
                scope.cancel()
                return

    async def _send_body(self, send: Send, pieces: list[bytes]) -> None:
        for piece in pieces:
            if piece:
                await send({"type": "http.response.body", "body": piece, "more_body": True})
                self._record.pieces_sent += 1
                self._record.bytes_sent += len(piece)

    async def _deliver(self, send: Send) -> str:
        if self._header_delay == math.inf:
            await anyio.sleep_forever()  # `no_response`: until the client goes away
        elif self._header_delay:
            await anyio.sleep(self._header_delay)
        start: dict[str, Any] = {
            "type": "http.response.start",
            "status": self.status_code,
            "headers": self.raw_headers,
        }
        await send(start)
        splitter = self._splitter
        for step in self._steps:
            if isinstance(step, Emit):
                await self._send_body(send, splitter.feed(step.data) if splitter else [step.data])
                self._record.chunks_sent += step.chunks
                await anyio.lowlevel.checkpoint()
            elif isinstance(step, Pause):
                if splitter:
                    await self._send_body(send, splitter.flush())
                await anyio.sleep(step.seconds)
            elif isinstance(step, Abort):
                if splitter:
                    await self._send_body(send, splitter.flush())
                return "aborted"
        if splitter:
            await self._send_body(send, splitter.flush())
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        self._completed = True
        return "completed"
