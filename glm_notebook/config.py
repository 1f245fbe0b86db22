"""Where settings come from: arguments first, then the environment, then defaults."""

from __future__ import annotations

import os

import httpx

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "DEFAULT_TIMEOUT",
    "DEFAULT_MAX_RETRIES",
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "resolve_api_key",
    "resolve_base_url",
    "mask_key",
]

DEFAULT_BASE_URL = "https://api.z.ai/api/paas/v4"
DEFAULT_MODEL = "glm-4.6"
API_KEY_ENV = "ZAI_API_KEY"
BASE_URL_ENV = "ZAI_BASE_URL"
#: Connect within 10 s; the stream may go silent for at most 120 s between pieces.
DEFAULT_TIMEOUT = httpx.Timeout(120.0, connect=10.0)
DEFAULT_MAX_RETRIES = 2


def resolve_api_key(explicit: str | None = None) -> str | None:
    """The API key: the argument, else `ZAI_API_KEY`, else None."""
    key = explicit if explicit else os.environ.get(API_KEY_ENV)
    return key.strip() if key and key.strip() else None


def resolve_base_url(explicit: str | None = None) -> str:
    """The base URL: the argument, else `ZAI_BASE_URL`, else the international endpoint."""
    url = explicit or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    return url.strip().rstrip("/")


def mask_key(key: str | None) -> str:
    """A key safe to show: its last four characters only (`'…wxyz'`), or `'(not set)'`."""
    if not key:
        return "(not set)"
    return "…" + key[-4:] if len(key) >= 12 else "…"
