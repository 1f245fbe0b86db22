"""Plain JSON and file requests to the API root (`/models`, `/files`, `/batches`) with the
client's key: no streaming, no retries, errors as our `GLMError`s."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from ..errors import APIConnectionError, error_for_status
from ..text import short_line
from ..wire.protocol import parse_error_body

if TYPE_CHECKING:
    from .base import BaseClient

__all__ = ["send", "raise_for_status"]


def send(client: BaseClient, method: str, path: str, **kw: Any) -> httpx.Response:
    """`method` `{base_url}{path}` with the key; the response whatever its status."""
    client._check_key()
    headers = {"Authorization": client._headers()["Authorization"]}
    url = f"{client.base_url}{path}"
    try:
        return client._sync_http.request(method, url, headers=headers, **kw)
    except httpx.TransportError as exc:
        # `from None`: httpx's exception holds the request, whose headers hold the key.
        raise APIConnectionError(f"The request to {url} failed: {short_line(str(exc), 200)}.") from None


def raise_for_status(response: httpx.Response) -> httpx.Response:
    """`response`, or the most specific `GLMError` for its error status."""
    if response.status_code >= 400:
        code, message = parse_error_body(response.content)
        raise error_for_status(response.status_code, code, message)
    return response
