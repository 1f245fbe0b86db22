"""`BaseClient`: streams chat completions from Z.ai (sync and async), with retries. `GLMClient`
(`glm.py`) adds the capabilities on top; capabilities take a `BaseClient`.

```python
client = GLMClient()                      # key from ZAI_API_KEY, base URL from ZAI_BASE_URL
reply = client.chat("Say hi in Portuguese", model="glm-4.6")
for event in client.stream("Write a haiku"):
    ...
```

Transport errors are mapped to `glm_notebook.errors` here, at the boundary, in our words. Retries
happen only before any event was delivered; a `Retrying` event precedes each wait. Leaving a
stream early closes its HTTP connection.

Hardening: the key is checked before any request and held so that no repr shows it; what is read
from the wire is capped (`MAX_ERROR_BODY`, `MAX_JSON_BODY`, `MAX_SSE_EVENT`); chunks of the wrong
shape, undecodable bodies and oversized replies end in a one-line `ProtocolError` that keeps the
partial answer; `Retry-After` is honoured up to `MAX_RETRY_AFTER` and never shortens the backoff.
"""

from __future__ import annotations

import email.utils
import json
import math
import os
import random
import time
import warnings
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator, Mapping
from datetime import timezone
from typing import Any, TypeVar

import httpx
from httpx_sse import EventSource, ServerSentEvent

from ..errors import (
    APIConnectionError,
    APITimeoutError,
    GLMError,
    IncompleteStreamError,
    InsecureURLWarning,
    InvalidAPIKeyError,
    MissingAPIKeyError,
    ProtocolError,
    RateLimitError,
    ServerError,
    ServiceStreamError,
    error_for_status,
)
from ..results.ledger import LEDGER
from ..results.reply import Reply
from ..text import short_line
from ..wire.events import Event, Retrying
from ..wire.protocol import (
    ChunkDecoder,
    InvalidChunk,
    Messages,
    StreamErrorFrame,
    build_request,
    completion_events,
    parse_error_body,
    request_key,
)
from .config import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_MODEL,
    DEFAULT_TIMEOUT,
    KEY_MASK,
    MAX_ERROR_BODY,
    MAX_JSON_BODY,
    MAX_SSE_EVENT,
    APIKey,
    api_key_problem,
    base_url_problem,
    is_clear_text,
    mask_key_in,
    mask_secret,
    resolve_api_key,
    resolve_base_url,
)
from .content import switch_image_form
from .models import checked_aliases, known_models, resolve_alias, suggest_model
from .replay import REPLAY_HEADER, Replay
from .rest import aread_capped, error_body, read_capped

__all__ = [
    "BaseClient",
    "Stream",
    "AsyncStream",
    "MAX_ERROR_BODY",
    "MAX_JSON_BODY",
    "MAX_SSE_EVENT",
    "MAX_RETRY_AFTER",
]

#: Longest `Retry-After` honoured, in seconds; a longer one ends the call at once and says so.
MAX_RETRY_AFTER = 30.0
#: Longest backoff between retries, in seconds.
_MAX_BACKOFF = 30.0
_MIB = 1024 * 1024

EventCallback = Callable[[Event], Any]
_C = TypeVar("_C", bound="BaseClient")
#: Base URLs already checked for clear-text http (warned at most once each).
_CHECKED_URLS: set[str] = set()


class BaseClient:
    """The HTTP core of a client for Z.ai's chat completions: configuration, requests, retries,
    streams. Sync and async methods share one configuration. `GLMClient` adds the capabilities.

    `api_key` defaults to `ZAI_API_KEY`, `base_url` to `ZAI_BASE_URL` or
    `https://api.z.ai/api/paas/v4`, both read now (the key with surrounding whitespace removed;
    a key with a line break, space, control or non-ASCII character inside fails at the first
    request with `InvalidAPIKeyError`, before anything is sent). `timeout` is an `httpx.Timeout`
    or seconds: its read part is the longest the stream may go silent (a read timeout is not
    retried: it already waited that long). `max_retries` retries connection failures, 5xx and
    "busy" codes before any data arrived, waiting `retry_backoff * 2**n` seconds with jitter,
    or longer if `Retry-After` says so (more than `MAX_RETRY_AFTER`: no retry). `replay`
    records answers into a file and replays them (a `Replay`, or a path: auto mode; see
    `glm_notebook.client.replay`). `aliases` maps short names to model names.
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
        aliases: Mapping[str, str] | None = None,
    ) -> None:
        self._key = APIKey(resolve_api_key(api_key))
        self.base_url = resolve_base_url(base_url)
        self.model = model
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self.replay = replay if isinstance(replay, Replay) or replay is None else Replay(replay)
        #: Short names for models (`{"fast": "glm-4.5-air"}`): `model="fast"` sends glm-4.5-air.
        self.aliases: dict[str, str] = checked_aliases(aliases or {})
        self._listed_models: list[str] | None = None  # what GET /models said, once asked
        self._http: httpx.Client | None = None
        self._ahttp: httpx.AsyncClient | None = None
        # Models that took images only as bare Base64 (after a 1210 on the data URL form).
        self._bare_image_models: set[str] = set()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, model={self.model!r}, api_key={self._key.masked()!r})"

    # -- requests -----------------------------------------------------------------------------

    def _prepare(self, messages: Messages, model: str | None, params: dict[str, Any]) -> _Call:
        self._check_key()
        url = self.base_url
        problem = base_url_problem(url)
        if problem is not None:
            raise APIConnectionError(
                f"The base URL {short_line(url, 120)!r} {problem}: check ZAI_BASE_URL or base_url=."
            )
        if url not in _CHECKED_URLS:
            _CHECKED_URLS.add(url)
            if is_clear_text(url):
                warnings.warn(
                    f"{short_line(url, 120)} is plain http to another machine: the API key travels "
                    "unencrypted. Use https:// unless this network is yours.",
                    InsecureURLWarning,
                    stacklevel=3,
                )
        body = build_request(messages, model=self.resolve_model(model), **params)
        mask_key_in(body["messages"], self._key.reveal())  # whatever path put it there
        if body["model"] in self._bare_image_models:
            switch_image_form(body["messages"], bare=True)
        return _Call(self, f"{url}/chat/completions", body)

    def hide_key(self, text: str) -> str:
        """`text` with this client's API key replaced by `[API key hidden]` (for text that goes
        out or is shown: tool results and errors, prompts built from notebook state)."""
        return mask_secret(text, self._key.reveal(), KEY_MASK)[0]

    def resolve_model(self, model: str | None = None) -> str:
        """The model name sent for `model` (the client's own when None), aliases applied."""
        return resolve_alias(model or self.model, self.aliases)

    def _check_key(self) -> None:
        # No local variable holds the key: a traceback's frames must not show it.
        if not self._key:
            if self._replaying:  # only a request that goes out needs one (the transport says so)
                return
            raise MissingAPIKeyError()
        problem = api_key_problem(self._key.reveal() or "")
        if problem is not None:
            raise InvalidAPIKeyError(problem, self._key.masked())

    def _headers(self) -> dict[str, str]:
        """A request's headers, built per request so that no long-lived object holds the key."""
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
        if self._key:  # with replay on, a request may go without one (and is then refused)
            headers["Authorization"] = f"Bearer {self._key.reveal()}"
        return headers

    def stream(self, messages: Messages, *, model: str | None = None, **params: Any) -> Stream:
        """Stream a completion: iterate events; `.reply` holds what arrived so far."""
        return Stream(self._prepare(messages, model, params))

    def astream(self, messages: Messages, *, model: str | None = None, **params: Any) -> AsyncStream:
        """The async twin of `stream`: `async for event in client.astream(...)`."""
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
            self._ahttp = self._new_async_http()
        return self._ahttp

    def _new_async_http(self, **kw: Any) -> httpx.AsyncClient:
        """A new async pool for this client's settings (recording / replaying when replay is on)."""
        transport = None
        if self._replaying:
            from .replay_transport import AsyncReplayTransport

            inner = httpx.AsyncHTTPTransport(**kw)  # the pool limits go to the real transport
            transport = AsyncReplayTransport(self.replay, inner)  # type: ignore[arg-type]
            kw = {}
        return httpx.AsyncClient(timeout=self.timeout, transport=transport, **kw)

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

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    async def __aenter__(self: _C) -> _C:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()


class _Call:
    """One request and its retry policy, shared by the sync and async loops (no I/O here)."""

    def __init__(self, client: BaseClient, url: str, body: dict[str, Any]) -> None:
        self.client = client
        self.url = url
        self.body = body
        public = {k: v for k, v in body.items() if k not in ("messages", "stream")}
        self.reply = Reply(model=body["model"], request=public, request_sha256=request_key(body))
        self.decoder = ChunkDecoder()
        self.delivered = False
        self.answered = False
        self.encoding = ""
        self.attempt = 0
        self.images_switched = False

    def check_status(self, response: httpx.Response, raw: bytes) -> None:
        code, message = parse_error_body(raw)
        retry_after = _retry_after(response.headers.get("retry-after"))
        raise error_for_status(response.status_code, code, message, retry_after=retry_after)

    def check_content_type(self, response: httpx.Response, head: bytes) -> None:
        kind = response.headers.get("content-type", "").partition(";")[0].strip()
        raise ProtocolError(
            f"Expected an event stream from {self.url} but got "
            f"{short_line(kind, 60) or 'no content type'} (HTTP {response.status_code}): "
            f"{short_line(head[:1000].decode('utf-8', 'replace'), 120)!r}. Is the base URL right?",
            status=response.status_code,
        )

    def events(self, sse: ServerSentEvent) -> list[Event]:
        if sse.event == "error":
            code, message = parse_error_body(sse.data.encode())
            raise _service_error(code, message)
        try:
            events = self.decoder.decode(sse.data)
        except StreamErrorFrame as frame:
            raise _service_error(frame.code, frame.message) from None
        except InvalidChunk as exc:
            raise ProtocolError(f"The service sent a broken chunk: {exc}.") from None
        apply = self.reply.apply
        for event in events:
            apply(event)
        self.reply.chunks = self.decoder.chunks
        self.reply.done = self.decoder.done
        return events

    def whole(self, raw: bytes | None) -> list[Event]:
        """Events of a non-streamed JSON completion (`raw` is None when it was over the cap)."""
        if raw is None:
            raise ProtocolError(
                f"The service's JSON reply is larger than {MAX_JSON_BODY // _MIB} MiB; stopped reading it."
            )
        try:
            events = completion_events(json.loads(raw))
        except ValueError:
            raise ProtocolError(f"The service sent invalid JSON: {raw[:80]!r}.") from None
        except StreamErrorFrame as frame:
            raise _service_error(frame.code, frame.message, "in its reply") from None
        except InvalidChunk as exc:
            raise ProtocolError(f"The service sent a malformed reply: {exc}.") from None
        for event in events:
            self.reply.apply(event)
        self.decoder.done = True
        if self.reply.finish_reason is None:
            raise ProtocolError("The service's JSON reply holds no finished answer (no finish_reason).")
        LEDGER.add(self.reply)
        return events

    def end(self) -> None:
        """The stream ended: an error if no answer finished, else the answer counts in the
        session's ledger."""
        if self.reply.finish_reason is None:
            raise IncompleteStreamError(
                "The connection closed before the answer finished; the partial answer is kept."
            )
        LEDGER.add(self.reply)

    def map_error(self, exc: httpx.HTTPError) -> GLMError:
        """Our error, in our words, for an httpx failure (its class name stays out of the text)."""
        base = self.client.base_url
        timeout = self.client.timeout
        if isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout)):
            error: GLMError = APITimeoutError(
                f"Connecting to {base} timed out after {timeout.connect or 0:g} s. "
                "Check ZAI_BASE_URL and your network."
            )
        elif isinstance(exc, httpx.WriteTimeout):
            error = APITimeoutError(f"Sending the request to {base} timed out.")
        elif isinstance(exc, httpx.TimeoutException):
            seconds = timeout.read or 0
            if not self.answered:
                error = APITimeoutError(
                    f"{base} sent no answer for {seconds:g} s; gave up without asking again. "
                    "Raise the timeout if the model needs longer.",
                    waited=True,
                )
            else:
                error = APITimeoutError(
                    f"The stream went silent for {seconds:g} s and was closed; "
                    "raise the timeout if the model needs longer.",
                    waited=True,
                )
        elif isinstance(exc, httpx.DecodingError):
            error = ProtocolError(
                "The service's compressed reply could not be decoded "
                f"(Content-Encoding {short_line(self.encoding, 40) or 'unknown'})."
            )
        elif isinstance(exc, httpx.ConnectError):
            error = APIConnectionError(
                f"Could not connect to {base} ({_connect_reason(exc)}). Check ZAI_BASE_URL and your network."
            )
        elif self.delivered or self.reply.chunks:
            error = IncompleteStreamError(
                "The connection broke before the answer finished; the partial answer is kept."
            )
        elif self.answered:
            error = APIConnectionError(f"The connection to {base} broke before any answer arrived.")
        else:
            error = APIConnectionError(f"{base} closed the connection without answering.")
        # The httpx error stays as the cause, but bare: no traceback frames or request (whose
        # headers hold the key) hang off our error.
        error.__cause__ = _bare(exc)
        return error

    def retry_delay(self, error: GLMError) -> float | None:
        """Seconds to wait before retrying, or None when this error ends the call.

        The normal backoff is `retry_backoff * 2**n` with jitter; `Retry-After` may only make
        the wait longer, and one over `MAX_RETRY_AFTER` ends the call.
        """
        if self.delivered or not error.retryable or self.attempt >= self.client.max_retries:
            return None
        wait = error.retry_after
        if wait is not None and wait > MAX_RETRY_AFTER:
            return None
        self.attempt += 1
        backoff = min(self.client.retry_backoff * 2.0 ** (self.attempt - 1), _MAX_BACKOFF)
        backoff *= 0.5 + random.random() / 2
        return backoff if wait is None else max(wait, backoff)

    def retrying(self, error: GLMError, delay: float) -> Retrying:
        return Retrying(self.attempt, self.client.max_retries, delay, _retry_reason(error))

    def fail(self, error: GLMError) -> GLMError:
        """Mark the reply as ended by `error` and return `error`, ready to raise (no frames)."""
        wait = error.retry_after
        if wait is not None and wait >= 1:
            error.hint = (
                "The service asked to wait indefinitely before trying again."
                if math.isinf(wait)
                else f"The service asked to wait {_duration(wait)} before trying again."
            )
        if error.code == "1211" and not error.hint:
            error.hint = _unknown_model_hint(self.body["model"], known_models(self.client))
        elif error.code == "1210" and not error.hint:
            error.hint = _refused_setting_hint(self.body)
        elif not error.hint and (error.code == "1222" or getattr(error, "status", None) == 404):
            error.hint = (
                f"Check the base URL ({self.client.base_url}): it must end in /api/paas/v4 "
                "(/api/coding/paas/v4 for the GLM Coding Plan); set ZAI_BASE_URL or %config GLM.base_url."
            )
        self.reply.finish(stopped="error", error=error.message)
        if self.delivered:
            error.reply = self.reply
        # Its frames (the attempt's locals hold the response, whose request holds the key) go.
        return error.with_traceback(None)

    def switch_images(self, error: GLMError) -> bool:
        """After a 1210 about an image, send the images once more in the other form (bare
        Base64 / data URL) and remember the form that worked for this model. True: retry now."""
        if self.delivered or self.images_switched or getattr(error, "code", None) != "1210":
            return False
        message = (getattr(error, "message", "") or "").lower()
        if "image" not in message and "图片" not in message:
            return False
        model = self.body["model"]
        bare = model not in self.client._bare_image_models
        if not switch_image_form(self.body["messages"], bare=bare):
            return False
        self.images_switched = True
        self.reply.request_sha256 = request_key(self.body)
        (self.client._bare_image_models.add if bare else self.client._bare_image_models.discard)(model)
        return True

    def reset_for_retry(self) -> None:
        self.decoder = ChunkDecoder()
        self.answered = False
        self.encoding = ""


def _unknown_model_hint(model: str, known: list[str]) -> str:
    """`Did you mean 'glm-4.6'?`, else the names known here (the service's list when fetched)."""
    guess = suggest_model(model, [m for m in known if m != model])
    if guess is not None:
        return f"Did you mean {guess!r}? (client.models() or %glm models lists them)"
    names = sorted((m for m in known if m != model), reverse=True)  # newest first, roughly
    shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
    return f"Models known here: {shown} (client.models() or %glm models lists them)." if names else ""


#: Settings that only some models take, as (body field, how to leave it out).
_MODEL_SETTINGS = (
    ("reasoning_effort", "leave out reasoning_effort (-e)"),
    ("tool_stream", "pass tool_stream=False"),
    ("response_format", "leave out response_format (--json)"),
)


def _refused_setting_hint(body: dict[str, Any]) -> str:
    """For a 1210 (invalid parameter): the model-specific settings this request sent, by name."""
    model = body.get("model")
    sent = [f"{name}={body[name]!r}: {how}" for name, how in _MODEL_SETTINGS if name in body]
    thinking = body.get("thinking")
    if isinstance(thinking, dict):
        if "clear_thinking" in thinking:
            sent.append(f"clear_thinking={thinking['clear_thinking']!r}: leave it out")
        if thinking.get("type") == "disabled":
            sent.append("thinking disabled: some models always think (--thinking)")
    if any(isinstance(t, dict) and t.get("type") == "web_search" for t in body.get("tools") or ()):
        sent.append("web_search: leave out --web")
    if not sent:
        return ""
    return f"{model} may not take a setting this request sent — " + "; ".join(sent) + "."


def _retry_reason(error: GLMError) -> str:
    """Why a request is sent again, in a few words: "rate limit (code 1302)", "server error (HTTP 503)"."""
    if isinstance(error, RateLimitError):
        return f"rate limit (code {error.code})" if error.code else "rate limit"
    if isinstance(error, ServerError):
        return f"server error (HTTP {error.status})"
    if isinstance(error, APITimeoutError):
        return "connection timeout"
    if isinstance(error, APIConnectionError):
        return "connection failure"
    if isinstance(error, IncompleteStreamError):
        return "dropped connection"
    return f"service error (code {error.code})" if error.code else "service error"


def _service_error(code: str | None, message: str | None, where: str = "mid-stream") -> ServiceStreamError:
    return ServiceStreamError(
        f"The service reported an error {where} (code {code}): {message or 'no message'}",
        code=code,
        server_message=message,
    )


def _bare(exc: httpx.HTTPError) -> BaseException:
    """A copy of `exc` with its message only: no traceback, no request."""
    try:
        return type(exc)(short_line(str(exc), 200))
    except Exception:  # an httpx class with another signature: the plain text will do
        return Exception(short_line(str(exc), 200))


def _connect_reason(exc: httpx.ConnectError) -> str:
    text = str(exc).lower()
    if "refused" in text:
        return "connection refused"
    if any(s in text for s in ("name or service", "nodename", "getaddrinfo", "name resolution")):
        return "host name not found"
    if "ssl" in text or "certificate" in text or "tls" in text:
        return "TLS handshake failed"
    if "unreachable" in text:
        return "network unreachable"
    return short_line(str(exc), 80) or "connection failed"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.3g} h"
    return f"{seconds / 86400:.0f} days"


def _retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header (seconds or an HTTP date; past = 0), or None."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None  # neither seconds nor an HTTP date: ignore it
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = when.timestamp() - time.time()
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)


def _event_too_long() -> ProtocolError:
    return ProtocolError(
        f"The service sent more than {MAX_SSE_EVENT // _MIB} MiB without ending an event "
        "(a line or lines with no blank line after them); stopped reading."
    )


# Every blank line (LF LF, CR CR, CRLF CRLF, LF CR, CRLF LF, CR CRLF ...) holds one of these.
_BLANKS = ("\n\n", "\r\r", "\n\r")


def _since_blank(text: str, since: int, last: str) -> int:
    """Characters since the last blank line, after `text` (`last`: the char before `text`)."""
    end = max(text.rfind("\n\n"), text.rfind("\r\r"), text.rfind("\n\r"))
    if end >= 0:
        return len(text) - end - 2
    if last + text[:1] in _BLANKS:
        return len(text) - 1
    return since + len(text)


class _EventCapped:
    """What `EventSource` reads of a response (`headers`, `iter_text`, `aiter_text`), refusing
    to go on once `MAX_SSE_EVENT` characters came without a blank line: the SSE decoders would
    buffer an endless line, or an endless run of `data:` lines, whole.
    """

    __slots__ = ("headers", "_response")

    def __init__(self, response: httpx.Response) -> None:
        self.headers = response.headers
        self._response = response

    def iter_text(self) -> Iterator[str]:
        since, last = 0, ""
        for text in self._response.iter_text():
            if text:
                since, last = _since_blank(text, since, last), text[-1]
                if since > MAX_SSE_EVENT:
                    raise _event_too_long()
                yield text

    async def aiter_text(self) -> AsyncIterator[str]:
        since, last = 0, ""
        async for text in self._response.aiter_text():
            if text:
                since, last = _since_blank(text, since, last), text[-1]
                if since > MAX_SSE_EVENT:
                    raise _event_too_long()
                yield text


class Stream:
    """Events of one streamed completion; a context manager. `.reply` grows as events arrive.

    Breaking out of the loop, `close()`, an exception or Ctrl-C closes the HTTP connection.
    A `Retrying` event comes before each wait to send the request again.
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

    def __enter__(self) -> Stream:
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

    def __aiter__(self) -> AsyncStream:
        return self

    async def __anext__(self) -> Event:
        return await self._gen.__anext__()

    async def aclose(self) -> None:
        """Stop reading and close the connection; the reply keeps what arrived."""
        await self._gen.aclose()

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(self, kind: type | None, *exc: Any) -> None:
        import asyncio

        if kind is not None and issubclass(kind, (asyncio.CancelledError, KeyboardInterrupt)):
            self.reply.finish(stopped="interrupted")
        await self.aclose()


def _internal(call: _Call, exc: Exception) -> None:
    """A failure that is not ours to map (a bug): the reply still ends marked as an error."""
    call.reply.finish(stopped="error", error=short_line(f"internal error: {exc!r}", 200))


def _run(call: _Call) -> Generator[Event, None, None]:
    """The sync loop: attempts and retries. Holds no reference to its Stream (no cycle)."""
    http = call.client._sync_http
    try:
        while True:
            try:
                yield from _attempt(call, http)
                call.reply.finish()
                return
            except httpx.HTTPError as exc:
                error = call.map_error(exc)
            except GLMError as exc:
                error = exc
            if call.switch_images(error):
                call.reset_for_retry()
                continue
            delay = call.retry_delay(error)
            if delay is None:
                raise call.fail(error)
            yield call.retrying(error, delay)
            time.sleep(delay)
            call.reset_for_retry()
    except GeneratorExit:
        call.reply.finish(stopped="stopped")
        raise
    except KeyboardInterrupt:
        call.reply.finish(stopped="interrupted")
        raise
    except GLMError:
        raise
    except Exception as exc:
        _internal(call, exc)
        raise


def _attempt(call: _Call, http: httpx.Client) -> Generator[Event, None, None]:
    with http.stream("POST", call.url, json=call.body, headers=call.client._headers()) as response:
        call.answered = True
        call.encoding = response.headers.get("content-encoding", "")
        if response.status_code >= 400:
            body = read_capped(response.iter_bytes(), MAX_ERROR_BODY)
            call.check_status(response, error_body(body))
        call.reply.replayed_at = response.headers.get(REPLAY_HEADER)
        kind = response.headers.get("content-type", "")
        if "application/json" in kind:
            events = call.whole(read_capped(response.iter_bytes(), MAX_JSON_BODY))
            call.delivered = True
            yield from events
            return
        if "text/event-stream" not in kind:
            call.check_content_type(response, next(response.iter_bytes(), b""))
        for sse in EventSource(_EventCapped(response)).iter_sse():  # type: ignore[arg-type]
            events = call.events(sse)
            if events:
                call.delivered = True
                yield from events
            if call.decoder.done:
                break
        call.end()


async def _arun(call: _Call) -> AsyncGenerator[Event, None]:
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
            except httpx.HTTPError as exc:
                error = call.map_error(exc)
            except GLMError as exc:
                error = exc
            finally:
                await attempt.aclose()  # closes the response at once, also on cancellation
            if call.switch_images(error):
                call.reset_for_retry()
                continue
            delay = call.retry_delay(error)
            if delay is None:
                raise call.fail(error)
            yield call.retrying(error, delay)
            await asyncio.sleep(delay)
            call.reset_for_retry()
    except GeneratorExit:
        call.reply.finish(stopped="stopped")
        raise
    except (KeyboardInterrupt, asyncio.CancelledError):
        call.reply.finish(stopped="interrupted")
        raise
    except GLMError:
        raise
    except Exception as exc:
        _internal(call, exc)
        raise


async def _aattempt(call: _Call, http: httpx.AsyncClient) -> AsyncGenerator[Event, None]:
    request = http.stream("POST", call.url, json=call.body, headers=call.client._headers())
    async with request as response:
        call.answered = True
        call.encoding = response.headers.get("content-encoding", "")
        if response.status_code >= 400:
            body = await aread_capped(response.aiter_bytes(), MAX_ERROR_BODY)
            call.check_status(response, error_body(body))
        call.reply.replayed_at = response.headers.get(REPLAY_HEADER)
        kind = response.headers.get("content-type", "")
        if "application/json" in kind:
            for event in call.whole(await aread_capped(response.aiter_bytes(), MAX_JSON_BODY)):
                call.delivered = True
                yield event
            return
        if "text/event-stream" not in kind:
            head = b""
            async for piece in response.aiter_bytes():
                head = piece
                break
            call.check_content_type(response, head)
        events_source = EventSource(_EventCapped(response)).aiter_sse()  # type: ignore[arg-type]
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
        call.end()
