"""Fixtures that must win over a plugin's own (the shared ones are in `tests.fixtures`)."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio only (anyio's own fixture, which also asks for trio, loses to
    a conftest's but not always to another plugin's)."""
    return "asyncio"
