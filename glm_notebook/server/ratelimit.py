"""Server-wide latency and a concurrency limit for chat completions (ASGI middleware).

`ServerConfig(latency=0.2)` holds every chat request that long before answering;
`ServerConfig(max_concurrent=K)` answers 429 (code 1302, `Retry-After`) to any request that
arrives while K are being answered — how Z.ai reacts to too many requests in flight. The
`RateLimitLog` (`server.state.limits`) records each arrival, so tests can watch a client back off.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .wire import JSON_CONTENT_TYPE, dumps, error_payload

__all__ = ["RateLimitLog", "Arrival", "ConcurrencyLimit"]


@dataclass(frozen=True, slots=True)
class Arrival:
    """One chat request as the limiter saw it."""

    at: float
    """`time.monotonic()` when it arrived (for a 429: when the refusal went out)."""
    admitted: bool
    in_flight: int
    """Requests being answered when it arrived (itself not counted)."""
    prompt: str


@dataclass
class RateLimitLog:
    """What the limiter did: arrivals in order, the peak in flight."""

    arrivals: list[Arrival] = field(default_factory=list)
    peak: int = 0
    in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def rejected(self) -> int:
        return sum(not a.admitted for a in self.arrivals)

    @property
    def admitted(self) -> int:
        return sum(a.admitted for a in self.arrivals)

    def clear(self) -> None:
        with self._lock:
            self.arrivals.clear()
            self.peak = 0


def _prompt(body: bytes) -> str:
    try:
        messages = json.loads(body).get("messages") or []
        users = [m.get("content") for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        return users[-1] if users and isinstance(users[-1], str) else ""
    except (ValueError, AttributeError):
        return ""


class ConcurrencyLimit:
    """ASGI middleware: latency and `max_concurrent` for `…/chat/completions` (see module doc)."""

    def __init__(self, app: ASGIApp, state: Any) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        config = self.state.config
        limit, latency = config.max_concurrent, config.latency
        if (
            scope["type"] != "http"
            or not scope["path"].endswith("/chat/completions")
            or (limit is None and not latency)
        ):
            await self.app(scope, receive, send)
            return
        body, receive = await _buffer(receive)
        log: RateLimitLog = self.state.limits
        with log._lock:
            admitted = limit is None or log.in_flight < limit
            arrival = Arrival(time.monotonic(), admitted, log.in_flight, _prompt(body))
            log.arrivals.append(arrival)
            if admitted:
                log.in_flight += 1
                log.peak = max(log.peak, log.in_flight)
        if not admitted:
            await _too_many(send, config.rate_limit_retry_after)
            return
        try:
            if latency:
                await asyncio.sleep(latency)
            await self.app(scope, receive, send)
        finally:
            with log._lock:
                log.in_flight -= 1


async def _buffer(receive: Receive) -> tuple[bytes, Receive]:
    messages: list[Message] = []
    chunks: list[bytes] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break

    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    return b"".join(chunks), replay


async def _too_many(send: Send, retry_after: float | None) -> None:
    body = dumps(
        error_payload(
            "1302",
            "High concurrency usage of this API, please reduce concurrency or contact customer service to increase limits",
        )
    ).encode()
    headers = [(b"content-type", JSON_CONTENT_TYPE.encode()), (b"content-length", str(len(body)).encode())]
    if retry_after is not None:
        text = str(int(retry_after)) if retry_after == int(retry_after) else str(retry_after)
        headers.append((b"retry-after", text.encode()))
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
