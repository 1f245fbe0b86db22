"""`GLMClient`: streams chat completions from Z.ai (sync and async), with retries.

```python
client = GLMClient()                      # key from ZAI_API_KEY, base URL from ZAI_BASE_URL
reply = client.chat("Say hi in Portuguese", model="glm-4.6")
for event in client.stream("Write a haiku"):
    ...
```

Transport errors are mapped to `glm_notebook.errors` here, at the boundary. Retries happen only
before any event was delivered; leaving a stream early closes its HTTP connection.
"""

from __future__ import annotations

import email.utils
import json
import os
import random
import time
from typing import Any, AsyncIterator, Callable, Iterator

import httpx
from httpx_sse import EventSource, ServerSentEvent

from .config import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_MODEL,
    DEFAULT_TIMEOUT,
    mask_key,
    resolve_api_key,
    resolve_base_url,
)
from .errors import (
    APIConnectionError,
    APITimeoutError,
    GLMError,
    IncompleteStreamError,
    MissingAPIKeyError,
    ProtocolError,
    ServiceStreamError,
    error_for_status,
)
from .events import Event
from .protocol import (
    ChunkDecoder,
    InvalidChunk,
    Messages,
    StreamErrorFrame,
    build_request,
    completion_events,
    parse_error_body,
)
from .replay import REPLAY_HEADER, Replay
from .reply import Reply
from .tools import runs_tools

__all__ = ["GLMClient", "Stream", "AsyncStream"]

_MAX_RETRY_DELAY = 30.0
EventCallback = Callable[[Event], Any]


class GLMClient:
    """A client for Z.ai's chat completions. Sync and async methods share one configuration.

    `api_key` defaults to `ZAI_API_KEY`, `base_url` to `ZAI_BASE_URL` or
    `https://api.z.ai/api/paas/v4`, both read now. `timeout` is an `httpx.Timeout` or seconds:
    its read part is the longest the stream may go silent. `max_retries` retries connection
    failures, 5xx and "busy" codes before any data arrived, waiting `retry_backoff * 2**n`
    seconds with jitter, or what `Retry-After` says. `replay` records answers into a file and
    replays them (a `Replay`, or a path: auto mode; see `glm_notebook.replay`).
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        model: str = DEFAULT_MODEL,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_backoff: float = 0.5,
        replay: Replay | str | os.PathLike[str] | None = None,
    ) -> None:
        self._api_key = resolve_api_key(api_key)
        self.base_url = resolve_base_url(base_url)
        self.model = model
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self.replay = replay if isinstance(replay, Replay) or replay is None else Replay(replay)
        self._http: httpx.Client | None = None
        self._ahttp: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return (
            f"GLMClient(base_url={self.base_url!r}, model={self.model!r}, "
            f"api_key={mask_key(self._api_key)!r})"
        )

    # -- requests -----------------------------------------------------------------------------

    def _prepare(self, messages: Messages, model: str | None, params: dict[str, Any]) -> "_Call":
        if not self._api_key and not self._replaying:
            raise MissingAPIKeyError()
        body = build_request(messages, model=model or self.model, **params)
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
        if self._api_key:  # with replay on and no key, only a request that goes out needs one
            headers["Authorization"] = f"Bearer {self._api_key}"
        return _Call(self, f"{self.base_url}/chat/completions", body, headers)

    def stream(self, messages: Messages, *, model: str | None = None, **params: Any) -> "Stream":
        """Stream a completion: iterate events; `.reply` holds what arrived so far.

        With Python functions in `tools=`, a `ToolStream` runs the tool loop (`approve=`,
        `max_steps=`; see `glm_notebook.toolloop`).
        """
        if runs_tools(params.get("tools")):
            from .toolloop import ToolStream

            return ToolStream(self, messages, model=model, **params)  # type: ignore[return-value]
        return Stream(self._prepare(messages, model, params))

    def astream(
        self, messages: Messages, *, model: str | None = None, **params: Any
    ) -> "AsyncStream":
        """The async twin of `stream`: `async for event in client.astream(...)`."""
        if runs_tools(params.get("tools")):
            from .toolloop import AsyncToolStream

            return AsyncToolStream(self, messages, model=model, **params)  # type: ignore[return-value]
        return AsyncStream(self._prepare(messages, model, params))

    def chat(
        self,
        messages: Messages,
        *,
        model: str | None = None,
        on_event: EventCallback | None = None,
        **params: Any,
    ) -> Reply:
        """Send `messages`, wait for the whole answer, return the `Reply` (streams underneath)."""
        with self.stream(messages, model=model, **params) as stream:
            for event in stream:
                if on_event is not None:
                    on_event(event)
        return stream.reply

    async def achat(
        self,
        messages: Messages,
        *,
        model: str | None = None,
        on_event: EventCallback | None = None,
        **params: Any,
    ) -> Reply:
        """The async twin of `chat`."""
        async with self.astream(messages, model=model, **params) as stream:
            async for event in stream:
                if on_event is not None:
                    on_event(event)
        return stream.reply

    # -- connection pools ---------------------------------------------------------------------

    @property
    def _replaying(self) -> bool:
        return self.replay is not None and self.replay.active

    @property
    def _sync_http(self) -> httpx.Client:
        if self._http is None:
            transport = None
            if self._replaying:
                from .replay_transport import ReplayTransport

                transport = ReplayTransport(self.replay)  # type: ignore[arg-type]
            self._http = httpx.Client(timeout=self.timeout, transport=transport)
        return self._http

    @property
    def _async_http(self) -> httpx.AsyncClient:
        if self._ahttp is None:
            transport = None
            if self._replaying:
                from .replay_transport import AsyncReplayTransport

                transport = AsyncReplayTransport(self.replay)  # type: ignore[arg-type]
            self._ahttp = httpx.AsyncClient(timeout=self.timeout, transport=transport)
        return self._ahttp

    def close(self) -> None:
        """Close the sync connection pool."""
        if self._http is not None:
            self._http.close()
            self._http = None

    async def aclose(self) -> None:
        """Close both connection pools."""
        self.close()
        if self._ahttp is not None:
            await self._ahttp.aclose()
            self._ahttp = None

    def __enter__(self) -> "GLMClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    async def __aenter__(self) -> "GLMClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()


class _Call:
    """One request and its retry policy, shared by the sync and async loops (no I/O here)."""

    def __init__(self, client: GLMClient, url: str, body: dict, headers: dict) -> None:
        self.client = client
        self.url = url
        self.body = body
        self.headers = headers
        public = {k: v for k, v in body.items() if k not in ("messages", "stream")}
        self.reply = Reply(model=body["model"], request=public)
        self.decoder = ChunkDecoder()
        self.delivered = False
        self.attempt = 0

    def check_status(self, response: httpx.Response, raw: bytes) -> None:
        code, message = parse_error_body(raw)
        retry_after = _retry_after(response.headers.get("retry-after"))
        raise error_for_status(response.status_code, code, message, retry_after=retry_after)

    def check_content_type(self, response: httpx.Response, head: bytes) -> None:
        kind = response.headers.get("content-type", "").partition(";")[0].strip()
        snippet = " ".join(head.decode("utf-8", "replace").split())[:120]
        raise ProtocolError(
            f"Expected an event stream from {self.url} but got {kind or 'no content type'} "
            f"(HTTP {response.status_code}): {snippet!r}. Is the base URL right?",
            status=response.status_code,
        )

    def events(self, sse: ServerSentEvent) -> list[Event]:
        if sse.event == "error":
            code, message = parse_error_body(sse.data.encode())
            raise ServiceStreamError(
                f"The service reported an error mid-stream (code {code}): {message}",
                code=code,
                server_message=message,
            )
        try:
            events = self.decoder.decode(sse.data)
        except StreamErrorFrame as frame:
            raise ServiceStreamError(
                f"The service reported an error mid-stream (code {frame.code}): {frame.message}",
                code=frame.code,
                server_message=frame.message,
            ) from None
        except InvalidChunk as exc:
            raise ProtocolError(f"The service sent a broken chunk: {exc}") from None
        apply = self.reply.apply
        for event in events:
            apply(event)
        self.reply.chunks = self.decoder.chunks
        self.reply.done = self.decoder.done
        return events

    def whole(self, raw: bytes) -> list[Event]:
        """Events of a non-streamed JSON completion."""
        try:
            body = json.loads(raw)
        except ValueError:
            raise ProtocolError(f"The service sent invalid JSON: {raw[:80]!r}") from None
        events = completion_events(body)
        for event in events:
            self.reply.apply(event)
        self.decoder.done = True
        return events

    def check_end(self) -> None:
        if self.reply.finish_reason is None:
            raise IncompleteStreamError(
                "The connection closed before the answer finished; the partial answer is kept."
            )

    def map_transport(self, exc: httpx.TransportError) -> GLMError:
        seconds = self.client.timeout.read
        if isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout)):
            return APITimeoutError(f"Connecting to {self.client.base_url} timed out.")
        if isinstance(exc, httpx.TimeoutException):
            return APITimeoutError(
                f"The stream went silent for {seconds:g} s and was closed; "
                "raise the timeout if the model needs longer."
            )
        if isinstance(exc, httpx.ConnectError):
            return APIConnectionError(
                f"Could not connect to {self.client.base_url}: {exc}. Check ZAI_BASE_URL and your network."
            )
        if self.delivered or self.reply.chunks:
            return IncompleteStreamError(
                f"The connection broke mid-answer ({type(exc).__name__}); the partial answer is kept."
            )
        return APIConnectionError(f"The connection to {self.client.base_url} failed: {exc}.")

    def retry_delay(self, error: GLMError) -> float | None:
        """Seconds to wait before retrying, or None when this error ends the call."""
        if self.delivered or not error.retryable or self.attempt >= self.client.max_retries:
            return None
        self.attempt += 1
        if error.retry_after is not None:
            return min(error.retry_after, _MAX_RETRY_DELAY)
        backoff = self.client.retry_backoff * 2 ** (self.attempt - 1)
        return min(backoff, _MAX_RETRY_DELAY) * (0.5 + random.random() / 2)

    def fail(self, error: GLMError) -> GLMError:
        self.reply.finish(stopped="error", error=error.message)
        if self.delivered:
            error.reply = self.reply
        return error

    def reset_for_retry(self) -> None:
        self.decoder = ChunkDecoder()


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None  # neither seconds nor an HTTP date: ignore it
    return max(0.0, when.timestamp() - time.time())


class Stream:
    """Events of one streamed completion; a context manager. `.reply` grows as events arrive.

    Breaking out of the loop, `close()`, an exception or Ctrl-C closes the HTTP connection.
    """

    def __init__(self, call: _Call) -> None:
        self._call = call
        self.reply: Reply = call.reply
        self._gen = _run(call)

    def __iter__(self) -> Iterator[Event]:
        # The generator itself: a `for` loop that breaks drops it, which closes the connection.
        return self._gen

    def __next__(self) -> Event:
        return next(self._gen)

    def close(self) -> None:
        """Stop reading and close the connection; the reply keeps what arrived."""
        self._gen.close()

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, kind: type | None, *exc: Any) -> None:
        if kind is KeyboardInterrupt:
            self.reply.finish(stopped="interrupted")
        self.close()


class AsyncStream:
    """The async twin of `Stream`: `async for event in stream`; `async with`; `aclose()`."""

    def __init__(self, call: _Call) -> None:
        self._call = call
        self.reply: Reply = call.reply
        self._gen = _arun(call)

    def __aiter__(self) -> "AsyncStream":
        return self

    async def __anext__(self) -> Event:
        return await self._gen.__anext__()

    async def aclose(self) -> None:
        """Stop reading and close the connection; the reply keeps what arrived."""
        await self._gen.aclose()

    async def __aenter__(self) -> "AsyncStream":
        return self

    async def __aexit__(self, kind: type | None, *exc: Any) -> None:
        import asyncio

        if kind is not None and issubclass(kind, (asyncio.CancelledError, KeyboardInterrupt)):
            self.reply.finish(stopped="interrupted")
        await self.aclose()


def _run(call: _Call) -> Iterator[Event]:
    """The sync loop: attempts and retries. Holds no reference to its Stream (no cycle)."""
    http = call.client._sync_http
    try:
        while True:
            try:
                yield from _attempt(call, http)
                call.reply.finish()
                return
            except httpx.TransportError as exc:
                error = call.map_transport(exc)
                error.__cause__ = exc
            except GLMError as exc:
                error = exc
            delay = call.retry_delay(error)
            if delay is None:
                raise call.fail(error)
            time.sleep(delay)
            call.reset_for_retry()
    except GeneratorExit:
        call.reply.finish(stopped="stopped")
        raise
    except KeyboardInterrupt:
        call.reply.finish(stopped="interrupted")
        raise


def _attempt(call: _Call, http: httpx.Client) -> Iterator[Event]:
    with http.stream("POST", call.url, json=call.body, headers=call.headers) as response:
        if response.status_code >= 400:
            call.check_status(response, response.read())
        call.reply.replayed_at = response.headers.get(REPLAY_HEADER)
        kind = response.headers.get("content-type", "")
        if "application/json" in kind:
            events = call.whole(response.read())
            call.delivered = True
            yield from events
            return
        if "text/event-stream" not in kind:
            call.check_content_type(response, next(response.iter_bytes(), b""))
        for sse in EventSource(response).iter_sse():
            events = call.events(sse)
            if events:
                call.delivered = True
                yield from events
            if call.decoder.done:
                break
        call.check_end()


async def _arun(call: _Call) -> AsyncIterator[Event]:
    """The async twin of `_run`."""
    import asyncio  # here, so that `import glm_notebook` stays light

    http = call.client._async_http
    try:
        while True:
            attempt = _aattempt(call, http)
            try:
                async for event in attempt:
                    yield event
                call.reply.finish()
                return
            except httpx.TransportError as exc:
                error = call.map_transport(exc)
                error.__cause__ = exc
            except GLMError as exc:
                error = exc
            finally:
                await attempt.aclose()  # closes the response at once, also on cancellation
            delay = call.retry_delay(error)
            if delay is None:
                raise call.fail(error)
            await asyncio.sleep(delay)
            call.reset_for_retry()
    except GeneratorExit:
        call.reply.finish(stopped="stopped")
        raise
    except (KeyboardInterrupt, asyncio.CancelledError):
        call.reply.finish(stopped="interrupted")
        raise


async def _aattempt(call: _Call, http: httpx.AsyncClient) -> AsyncIterator[Event]:
    async with http.stream("POST", call.url, json=call.body, headers=call.headers) as response:
        if response.status_code >= 400:
            call.check_status(response, await response.aread())
        call.reply.replayed_at = response.headers.get(REPLAY_HEADER)
        kind = response.headers.get("content-type", "")
        if "application/json" in kind:
            for event in call.whole(await response.aread()):
                call.delivered = True
                yield event
            return
        if "text/event-stream" not in kind:
            head = b""
            async for piece in response.aiter_bytes():
                head = piece
                break
            call.check_content_type(response, head)
        events_source = EventSource(response).aiter_sse()
        try:
            async for sse in events_source:
                events = call.events(sse)
                for event in events:
                    call.delivered = True
                    yield event
                if call.decoder.done:
                    break
        finally:
            await events_source.aclose()
        call.check_end()
