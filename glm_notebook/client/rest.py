"""Plain JSON and file requests to the API root (`/models`, `/files`, `/batches`) with the
client's key: no streaming answers, no retries, errors as our `GLMError`s, and the same caps as
chat calls (an error body past `MAX_ERROR_BODY` and a JSON reply past `MAX_JSON_BODY` are not
read; a file's content is read line by line, each line at most `MAX_SSE_EVENT`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx

from ..errors import APIConnectionError, ProtocolError, error_for_status
from ..text import short_line
from ..wire.protocol import parse_error_body
from .config import MAX_ERROR_BODY, MAX_JSON_BODY, MAX_SSE_EVENT

if TYPE_CHECKING:
    from .base import BaseClient

__all__ = ["RestResponse", "send", "raise_for_status", "json_object", "json_lines"]


class RestResponse:
    """A response read up to a cap: its status, headers and (capped) body."""

    def __init__(self, response: httpx.Response, content: bytes) -> None:
        self.status_code = response.status_code
        self.headers = response.headers
        self.content = content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


def _request(client: BaseClient, method: str, path: str, **kw: Any) -> tuple[str, httpx.Request]:
    client._check_key()
    headers = {"Authorization": client._headers()["Authorization"]}
    url = f"{client.base_url}{path}"
    return url, client._sync_http.build_request(method, url, headers=headers, **kw)


def _failed(url: str, exc: httpx.TransportError) -> APIConnectionError:
    # `from None` at the raise: httpx's exception holds the request, whose headers hold the key.
    return APIConnectionError(f"The request to {url} failed: {short_line(str(exc), 200)}.")


def send(client: BaseClient, method: str, path: str, *, cap: int = MAX_JSON_BODY, **kw: Any) -> RestResponse:
    """`method` `{base_url}{path}` with the key; the response whatever its status, its body
    read up to `cap` bytes (an error body up to `MAX_ERROR_BODY`); `ProtocolError` past it."""
    url, request = _request(client, method, path, **kw)
    try:
        response = client._sync_http.send(request, stream=True)
        try:
            limit = MAX_ERROR_BODY if response.status_code >= 400 else cap
            body = bytearray()
            for piece in response.iter_bytes():
                body += piece
                if len(body) > limit:
                    if response.status_code >= 400:
                        del body[limit:]
                        break
                    raise ProtocolError(
                        f"The reply from {short_line(url, 120)} is larger than {limit // 2**20} MiB: not read."
                    )
        finally:
            response.close()
    except httpx.TransportError as exc:
        raise _failed(url, exc) from None
    return RestResponse(response, bytes(body))


def raise_for_status(response: RestResponse) -> RestResponse:
    """`response`, or the most specific `GLMError` for its error status."""
    if response.status_code >= 400:
        code, message = parse_error_body(response.content)
        raise error_for_status(response.status_code, code, message)
    return response


def json_object(response: RestResponse, what: str) -> dict[str, Any]:
    """The body as a JSON object; `ProtocolError` in one line when it is not one."""
    try:
        value = json.loads(response.content)
    except (ValueError, RecursionError):
        raise ProtocolError(f"The service's reply to {what} is not JSON.") from None
    if not isinstance(value, dict):
        raise ProtocolError(f"The service's reply to {what} is not a JSON object.")
    return value


def json_lines(client: BaseClient, path: str) -> Iterator[dict[str, Any]]:
    """The JSON objects of a JSON Lines file at `path`, read as they arrive; blank, broken and
    over-long lines (past `MAX_SSE_EVENT`) are passed over."""
    url, request = _request(client, "GET", path)
    try:
        response = client._sync_http.send(request, stream=True)
        try:
            if response.status_code >= 400:
                body = b""
                for piece in response.iter_bytes():
                    body += piece
                    if len(body) > MAX_ERROR_BODY:
                        break
                raise_for_status(RestResponse(response, body[:MAX_ERROR_BODY]))
            pending = b""
            for piece in response.iter_bytes():
                pending += piece
                *lines, pending = pending.split(b"\n")
                if len(pending) > MAX_SSE_EVENT:
                    pending = b""  # an endless line: dropped (its end is dropped below too)
                yield from filter(None, map(_json_line, lines))
            if pending:
                line = _json_line(pending)
                if line is not None:
                    yield line
        finally:
            response.close()
    except httpx.TransportError as exc:
        raise _failed(url, exc) from None


def _json_line(raw: bytes) -> dict[str, Any] | None:
    if not raw.strip() or len(raw) > MAX_SSE_EVENT:
        return None
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None
