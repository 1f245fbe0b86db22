"""The Starlette application: routes, auth, validation, directives and the request log."""

from __future__ import annotations

import hmac
import math
import threading
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from .answers import count_prompt_words, derive_answer, message_text
from .batches import BatchStore, batch_routes
from .directives import DirectiveError, Directives, extract_directives, parse_directives
from .errors import ApiError
from .faults import big_error_steps, big_json_steps, gzip_steps, retry_after_header
from .models import SERVED_MODELS, models_routes
from .ratelimit import ConcurrencyLimit, RateLimitLog
from .records import RequestLog, RequestRecord
from .replay import REPLAY_KEYS, default_recordings_dir, load_recording, replay_steps
from .shapes import ANSI_MESSAGE, wrong_shape
from .steps import Step, body_steps, cut_at_stop, stream_steps
from .tools import ToolAnswer, extract_tool_directives, loop_turn, tool_answer
from .transport import PacedResponse, Splitter, quiet_deliberate_aborts
from .validation import parse_json, validate_chat_request
from .vision import check_images, image_answer
from .web_search import search_sources, web_answer, web_search_options
from .wire import (
    HTML_CONTENT_TYPE,
    HTML_ERROR_PAGE,
    JSON_CONTENT_TYPE,
    SSE_CONTENT_TYPE,
    Identity,
    completion_payload,
    dumps,
    error_payload,
    usage_payload,
)

__all__ = ["ServerConfig", "ServerState", "create_app", "API_PREFIXES"]

API_PREFIXES = ("/api/paas/v4", "/api/coding/paas/v4")
"""API roots served (general and Coding-Plan layouts)."""


@dataclass
class ServerConfig:
    """How the local server behaves; the key never appears in its repr."""

    api_key: str = field(default="local-glm-key", repr=False)
    token_delay: float = 0.0
    """Seconds between chunks (the `delay` directive overrides it per request)."""
    recordings_dir: Path | None = field(default_factory=default_recordings_dir)
    """Folder in the zai-recordings layout served under `/replay/{name}/...`."""
    latency: float = 0.0
    """Seconds every chat request waits before it is answered (see `ratelimit.py`)."""
    max_concurrent: int | None = None
    """Answer 429 / 1302 to chat requests arriving while this many are being answered."""
    rate_limit_retry_after: float | None = 0.2
    """The `Retry-After` of those 429s (None: no header)."""
    batch_line_delay: float = 0.0
    """Seconds before each line of a batch is answered (see `batches.py`)."""
    bare_image_models: tuple[str, ...] = ()
    """Vision models that refuse data-URL images with 1210 and take bare Base64 (see vision.py)."""
    models: tuple[str, ...] | None = SERVED_MODELS
    """The models answered (others get 1211, as from the service) and listed by `GET /models`;
    None: any model name is answered."""
    list_models: bool = True
    """Offer `GET /models` (False: 404, as on a service without it)."""


class ServerState:
    """Per-app state: the config, the request log and the `times=K` counters."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.records = RequestLog()
        self.limits = RateLimitLog()
        self.batches = BatchStore()
        self._counters: dict[str, int] = {}
        self._lock = threading.Lock()

    def admit(self, directives: Directives) -> Directives:
        """Count this directive text; past `times=K` requests its faults are switched off."""
        if directives.times is None:
            return directives
        with self._lock:
            seen = self._counters[directives.source] = self._counters.get(directives.source, 0) + 1
        return directives if seen <= directives.times else directives.without_faults()

    def reset(self) -> None:
        """Clear the request log and the `times` counters."""
        with self._lock:
            self._counters.clear()
        self.records.clear()
        self.limits.clear()


def _check_auth(header: str | None, api_key: str) -> None:
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "1001", "Authentication parameter not received in Header")
    if not hmac.compare_digest(token.strip().encode(), api_key.encode()):
        raise ApiError(401, "1000", "Authentication failed")


def _parse(texts: list[str]) -> Directives:
    try:
        return parse_directives(texts)
    except DirectiveError as exc:
        raise ApiError(400, "1214", str(exc)) from None


def _delivery(d: Directives) -> dict[str, Any]:
    return {
        "splitter": Splitter(*d.split, d.seed) if d.split else None,
        "header_delay": math.inf if d.no_response else d.stall_headers or 0.0,
    }


def _error_response(
    error: ApiError, record: RequestRecord, directives: Directives | None = None
) -> PacedResponse:
    d = directives or Directives()
    headers = [("content-type", JSON_CONTENT_TYPE)]
    if error.retry_after is not None:
        headers.append(("retry-after", retry_after_header(error.retry_after)))
    steps: Iterable[Step]
    if d.big_error:
        steps = big_error_steps(error.code, d.big_error)
    else:
        body = dumps(error_payload(error.code, error.message, flat=error.flat)).encode()
        headers.append(("content-length", str(len(body))))
        steps = body_steps(body, d, chunks=0)
    return PacedResponse(steps, record=record, status_code=error.status, headers=headers, **_delivery(d))


def _chat_reply(state: ServerState, request: Request, record: RequestRecord) -> Response:
    _check_auth(request.headers.get("authorization"), state.config.api_key)
    chat = validate_chat_request(record.body, state.config.models)
    check_images(chat.model, chat.messages, state.config.bare_image_models)
    record.stream = chat.stream
    users = [m for m in chat.messages if m.get("role") == "user"]
    prompt, calls = extract_tool_directives(message_text(users[-1].get("content")) if users else "")
    question, groups = extract_directives(prompt)
    directives = _parse([request.path_params.get("directives", ""), *groups])
    record.directives = directives
    d = state.admit(directives)

    if d.content_type == "html":
        headers = [("content-type", HTML_CONTENT_TYPE), ("content-length", str(len(HTML_ERROR_PAGE)))]
        return PacedResponse(
            body_steps(HTML_ERROR_PAGE, d, chunks=0),
            record=record,
            status_code=d.status or 200,
            headers=headers,
            **_delivery(d),
        )
    if d.big_error or (d.status is not None and d.status != 200):
        message = ANSI_MESSAGE if d.ansi_error else d.message
        error = ApiError(d.status or 500, d.code, message, flat=d.flat, retry_after=d.retry_after)
        return _error_response(error, record, d)

    search = web_search_options(chat.body)
    sources = search_sources(question, search) if search is not None else None
    answer = (
        tool_answer(chat.messages, chat.body, calls, thinking=chat.thinking, rounds=d.tool_rounds)
        or (web_answer(question, sources, thinking=chat.thinking) if sources else None)
        or (None if d.echo else image_answer(chat.messages, thinking=chat.thinking))
        or derive_answer(
            chat.messages,
            thinking=chat.thinking,
            json_mode=chat.json_mode,
            echo=d.echo,
            huge=d.huge,
            unicode_sample=d.u2028,
        )
    )
    tokens = answer.tokens()
    finish = answer.finish_reason
    if chat.stop is not None:
        tokens = cut_at_stop(tokens, chat.stop)
    if chat.max_tokens is not None and len(tokens) > chat.max_tokens:
        tokens, finish = tokens[: chat.max_tokens], "length"
    finish = d.finish or finish
    reasoning = [text for kind, text in tokens if kind == "reasoning_content"]
    content = [text for kind, text in tokens if kind == "content"]
    usage = usage_payload(count_prompt_words(chat.messages) + 8, len(reasoning), len(tokens) - len(reasoning))
    identity = Identity.fresh(chat.model, with_object=not d.no_object)

    steps: Iterable[Step]
    if d.big_json:
        steps = big_json_steps(identity, d.big_json)
        headers = [("content-type", JSON_CONTENT_TYPE)]
    elif chat.stream:
        delay = d.delay if d.delay is not None else state.config.token_delay
        steps = stream_steps(
            tokens,
            identity=identity,
            finish_reason=finish,
            usage=usage,
            directives=d,
            delay=delay,
            web_search=sources,
        )
        headers = [("content-type", SSE_CONTENT_TYPE), ("cache-control", "no-cache")]
    else:
        request_id = chat.body.get("request_id")
        payload = completion_payload(
            identity,
            content="".join(content),
            reasoning="".join(reasoning),
            finish_reason=finish,
            usage=usage,
            request_id=request_id if isinstance(request_id, str) else None,
            tool_calls=answer.tool_calls if isinstance(answer, ToolAnswer) else None,
            web_search=sources,
        )
        if d.shape:
            payload = wrong_shape(payload, d.shape, "message")
        body = dumps(payload).encode()
        steps = body_steps(body, d)
        headers = [("content-type", JSON_CONTENT_TYPE)]
        if d.gzip_broken is None:
            headers.append(("content-length", str(len(body))))
    if d.gzip_broken is not None:
        steps = gzip_steps(steps, d.gzip_broken)
        headers.append(("content-encoding", "gzip"))
    return PacedResponse(steps, record=record, headers=headers, **_delivery(d))


def _replay_reply(state: ServerState, request: Request, record: RequestRecord) -> Response:
    _check_auth(request.headers.get("authorization"), state.config.api_key)
    directives = _parse([request.path_params.get("directives", "")])
    record.directives = directives
    refused = sorted(directives.given - REPLAY_KEYS)
    if refused:
        raise ApiError(400, "1214", f"Directive(s) not supported with replay: {', '.join(refused)}")
    name = request.path_params["name"]
    recording = load_recording(state.config.recordings_dir, name)
    if recording is None:  # a recorded tool loop: NAME.0, NAME.1, … by the request's turn
        recording = load_recording(state.config.recordings_dir, f"{name}.{loop_turn(record.body)}")
    if recording is None:
        raise ApiError(404, "1222", f"Recording {name!r} not found")
    d = state.admit(directives)
    record.stream = recording.is_stream
    headers = [("content-type", recording.content_type)]
    if not recording.is_stream and d.cut is None:
        headers.append(("content-length", str(len(recording.body))))
    delay = d.delay if d.delay is not None else state.config.token_delay
    steps = replay_steps(recording, d, delay)
    return PacedResponse(steps, record=record, status_code=recording.status, headers=headers, **_delivery(d))


_Reply = Callable[[ServerState, Request, RequestRecord], Response]


def _endpoint(reply: _Reply) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a reply builder: open the record, read the body, turn `ApiError` into a reply."""

    async def endpoint(request: Request) -> Response:
        state: ServerState = request.app.state.glm
        record = state.records.open(request.url.path)
        try:
            record.body = parse_json(await request.body())
            return reply(state, request, record)
        except ApiError as error:
            return _error_response(error, record)
        except ClientDisconnect:
            record.disconnected = True
            record.finished.set()
            return Response(status_code=400)
        except BaseException:
            record.status = 500
            record.finished.set()
            raise

    endpoint.__name__ = reply.__name__.strip("_")
    return endpoint


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    code, message = ("1222", "The API does not exist") if status == 404 else ("1214", "Method not allowed")
    if status >= 500:
        code, message = "500", "Internal Error"
    body = dumps(error_payload(code, message)).encode()
    return Response(body, status_code=status, media_type=JSON_CONTENT_TYPE)


def create_app(config: ServerConfig | None = None) -> Starlette:
    """A Starlette app speaking the Z.ai chat-completions protocol; `app.state.records` is its log."""
    quiet_deliberate_aborts()
    state = ServerState(config or ServerConfig())
    chat, replay = _endpoint(_chat_reply), _endpoint(_replay_reply)
    routes = []
    for api in API_PREFIXES:
        routes += [
            Route(f"{api}/chat/completions", chat, methods=["POST"]),
            Route(f"/_/{{directives}}{api}/chat/completions", chat, methods=["POST"]),
            Route(f"/replay/{{name}}{api}/chat/completions", replay, methods=["POST"]),
            Route(f"/_/{{directives}}/replay/{{name}}{api}/chat/completions", replay, methods=["POST"]),
            *batch_routes(api),
            *(models_routes(api) if state.config.list_models else []),
        ]
    app = Starlette(
        routes=routes,
        exception_handlers={404: _http_error, 405: _http_error},
        middleware=[Middleware(ConcurrencyLimit, state=state)],
    )
    app.state.glm = state
    app.state.records = state.records
    return app
