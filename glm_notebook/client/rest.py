"""Plain JSON and file requests to the API root (`/models`, `/files`, `/batches`) with the
client's key: no streaming answers, no retries, errors as our `GLMError`s, and the same caps as
chat calls (an error body past `MAX_ERROR_BODY` and a JSON reply past `MAX_JSON_BODY` are not
read; a file's content is read line by line, each line at most `MAX_SSE_EVENT`)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from ..errors import APIConnectionError, ProtocolError, error_for_status
from ..text import short_line
from ..wire.protocol import parse_error_body
from .config import MAX_ERROR_BODY, MAX_JSON_BODY, MAX_SSE_EVENT

if TYPE_CHECKING:
    from .base import BaseClient

__all__ = [
    "RestResponse",
    "send",
    "raise_for_status",
    "json_object",
    "json_lines",
    "read_capped",
    "aread_capped",
    "error_body",
]


@dataclass(frozen=True)
class RestResponse:
    """A response's status and its body, read within the caps."""

    status_code: int
    content: bytes


def read_capped(pieces: Iterator[bytes], cap: int) -> bytes | None:
    """The whole body if it is at most `cap` bytes, else None (reading stops at the cap)."""
    body = bytearray()
    for piece in pieces:
        body += piece
        if len(body) > cap:
            return None
    return bytes(body)


async def aread_capped(pieces: AsyncIterator[bytes], cap: int) -> bytes | None:
    body = bytearray()
    async for piece in pieces:
        body += piece
        if len(body) > cap:
            return None
    return bytes(body)


def error_body(body: bytes | None) -> bytes:
    """An error body read by `read_capped(…, MAX_ERROR_BODY)`, or a line saying it was too large."""
    if body is None:
        return b"(an error body larger than %d kB, not read)" % (MAX_ERROR_BODY // 1024)
    return body


def _request(client: BaseClient, method: str, path: str, **kw: Any) -> tuple[str, httpx.Request]:
    client._check_key()
    headers = {"Authorization": client._headers()["Authorization"]}
    url = f"{client.base_url}{path}"
    return url, client._sync_http.build_request(method, url, headers=headers, **kw)


def _failed(url: str, exc: httpx.TransportError) -> APIConnectionError:
    # `from None` at the raise: httpx's exception holds the request, whose headers hold the key.
    return APIConnectionError(f"The request to {url} failed: {short_line(str(exc), 200)}.")


def send(client: BaseClient, method: str, path: str, **kw: Any) -> RestResponse:
    """`method` `{base_url}{path}` with the key; the response whatever its status, its body read
    within `MAX_JSON_BODY` (an error body within `MAX_ERROR_BODY`); `ProtocolError` past it."""
    url, request = _request(client, method, path, **kw)
    try:
        response = client._sync_http.send(request, stream=True)
        try:
            if response.status_code >= 400:
                body = error_body(read_capped(response.iter_bytes(), MAX_ERROR_BODY))
            else:
                read = read_capped(response.iter_bytes(), MAX_JSON_BODY)
                if read is None:
                    raise ProtocolError(
                        f"The reply from {short_line(url, 120)} is larger than {MAX_JSON_BODY // 2**20} MiB: not read."
                    )
                body = read
        finally:
            response.close()
    except httpx.TransportError as exc:
        raise _failed(url, exc) from None
    return RestResponse(response.status_code, body)


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
                body = error_body(read_capped(response.iter_bytes(), MAX_ERROR_BODY))
                raise_for_status(RestResponse(response.status_code, body))
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
