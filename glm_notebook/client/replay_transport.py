"""httpx transports that record answers into a `Replay` file or serve them from it.

`GLMClient(replay=...)` mounts these under its connection pools, so a replayed answer goes
through exactly the code a live one does: the same SSE parsing, `Reply`, display and tool loop.
A replayed response carries the header `x-glm-replayed: <when it was recorded>`; the client
copies it to `Reply.replayed_at`. Only complete 2xx answers are recorded: errors, and streams
stopped before their end, are not.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx

from ..errors import MissingAPIKeyError
from .replay import REPLAY_HEADER, Entry, Replay, entry_from_stream

__all__ = ["ReplayTransport", "AsyncReplayTransport"]

_DONE = "data: [DONE]"


def _body(request: httpx.Request) -> dict[str, Any]:
    try:
        value = json.loads(request.read() or b"{}")
    except ValueError:
        value = {}
    return value if isinstance(value, dict) else {}


def _replayed(request: httpx.Request, entry: Entry, stream: Any) -> httpx.Response:
    headers = {"content-type": entry.content_type, REPLAY_HEADER: entry.recorded_at}
    return httpx.Response(entry.status, headers=headers, stream=stream, request=request)


def _recording(request: httpx.Request, response: httpx.Response, stream: Any) -> httpx.Response:
    """`response` with its body read through `stream` (which records it)."""
    return httpx.Response(
        response.status_code,
        headers=response.headers,
        stream=stream,
        extensions=response.extensions,
        request=request,
    )


def _check_key(request: httpx.Request) -> None:
    if "authorization" not in request.headers:
        raise MissingAPIKeyError()


class _Recorder:
    """Splits a response body into server-sent events as it arrives, with their times."""

    def __init__(self, replay: Replay, body: dict[str, Any], response: httpx.Response, start: float) -> None:
        self.replay = replay
        self.body = body
        self.status = response.status_code
        self.content_type = response.headers.get("content-type", "")
        self.start = start
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.pending = ""
        self.events: list[tuple[float, str]] = []
        self.saved = False

    def feed(self, chunk: bytes) -> None:
        now = time.perf_counter() - self.start
        self.pending += self.decoder.decode(chunk)
        *complete, self.pending = self.pending.split("\n\n")
        self.events.extend((now, text) for text in complete if text.strip())

    def end(self, *, eof: bool) -> None:
        """Save the answer if it is whole: the body ended, or `[DONE]` arrived."""
        if self.saved:
            return
        self.pending += self.decoder.decode(b"", final=True)
        if self.pending.strip():
            self.events.append((time.perf_counter() - self.start, self.pending.rstrip("\n")))
            self.pending = ""
        whole = eof or any(text.strip() == _DONE for _, text in self.events[-2:])
        if whole and self.events:
            self.saved = True
            self.replay.record(entry_from_stream(self.body, self.events, self.content_type, self.status))


class _RecordingStream(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, recorder: _Recorder) -> None:
        self.inner = inner
        self.recorder = recorder
        self.eof = False

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.inner:
            self.recorder.feed(chunk)
            yield chunk
        self.eof = True

    def close(self) -> None:
        try:
            self.inner.close()
        finally:
            self.recorder.end(eof=self.eof)


class _AsyncRecordingStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, recorder: _Recorder) -> None:
        self.inner = inner
        self.recorder = recorder
        self.eof = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.inner:
            self.recorder.feed(chunk)
            yield chunk
        self.eof = True

    async def aclose(self) -> None:
        try:
            await self.inner.aclose()
        finally:
            self.recorder.end(eof=self.eof)


#: About how much of a replayed body (characters) goes to the client at once when its events are
#: due together, as a network read would (one read per event cost more than the parsing itself).
_READ_SIZE = 65_536


def _due(entry: Entry, instant: bool, start: float) -> Iterator[tuple[float, bytes]]:
    """The body in chunks, each with the time to wait for before it: events due at the same time
    (all of them, when `instant`) go together, up to `_READ_SIZE`."""
    batch: list[str] = []
    size, batch_at = 0, 0.0
    for at, text in entry.events:
        if batch and (size >= _READ_SIZE or (not instant and at > batch_at)):
            yield start + batch_at, "".join(batch).encode()
            batch, size = [], 0
        if not batch:
            batch_at = at
        batch.append(text + "\n\n")
        size += len(text) + 2
    if batch:
        yield start + batch_at, "".join(batch).encode()


class _ReplayStream(httpx.SyncByteStream):
    def __init__(self, entry: Entry, instant: bool, start: float) -> None:
        self.entry, self.instant, self.start = entry, instant, start

    def __iter__(self) -> Iterator[bytes]:
        for due, chunk in _due(self.entry, self.instant, self.start):
            wait = 0.0 if self.instant else due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            yield chunk


class _AsyncReplayStream(httpx.AsyncByteStream):
    def __init__(self, entry: Entry, instant: bool, start: float) -> None:
        self.entry, self.instant, self.start = entry, instant, start

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for due, chunk in _due(self.entry, self.instant, self.start):
            wait = 0.0 if self.instant else due - time.perf_counter()
            await asyncio.sleep(max(0.0, wait))  # also yields to other tasks when instant
            yield chunk


def _should_record(response: httpx.Response) -> bool:
    return 200 <= response.status_code < 300


class ReplayTransport(httpx.BaseTransport):
    """Serves recorded answers and records new ones around a real transport (sync)."""

    def __init__(self, replay: Replay, inner: httpx.BaseTransport | None = None) -> None:
        self.replay = replay
        self.inner = inner if inner is not None else httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        start = time.perf_counter()
        body = _body(request)
        entry = self.replay.lookup(body)
        if entry is not None:
            return _replayed(request, entry, _ReplayStream(entry, self.replay.pace == "instant", start))
        _check_key(request)
        response = self.inner.handle_request(request)
        if not _should_record(response):
            return response
        assert isinstance(response.stream, httpx.SyncByteStream)
        recorder = _Recorder(self.replay, body, response, start)
        return _recording(request, response, _RecordingStream(response.stream, recorder))

    def close(self) -> None:
        self.inner.close()


class AsyncReplayTransport(httpx.AsyncBaseTransport):
    """The async twin of `ReplayTransport`."""

    def __init__(self, replay: Replay, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.replay = replay
        self.inner = inner if inner is not None else httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        start = time.perf_counter()
        body = _body(request)
        entry = self.replay.lookup(body)
        if entry is not None:
            return _replayed(request, entry, _AsyncReplayStream(entry, self.replay.pace == "instant", start))
        _check_key(request)
        response = await self.inner.handle_async_request(request)
        if not _should_record(response):
            return response
        assert isinstance(response.stream, httpx.AsyncByteStream)
        recorder = _Recorder(self.replay, body, response, start)
        return _recording(request, response, _AsyncRecordingStream(response.stream, recorder))

    async def aclose(self) -> None:
        await self.inner.aclose()
