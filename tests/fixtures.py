"""Shared fixtures, loaded as a plugin (`-p tests.fixtures` in pyproject's addopts) so that they
also apply when only notebooks are collected: one local Z.ai-compatible server for the whole
session, real kernels.

The server's URL and key go into os.environ at session start, so every kernel started by a
test or by nbval (which runs the notebooks in notebooks/) talks to it, never to the real API.
"""

from __future__ import annotations

import os

import pytest

from glm_notebook.server import LocalServer, ServerConfig

from .kernel_harness import Kernel

_SERVER: LocalServer | None = None


def offline_replay() -> bool:
    """`GLM_REPLAY=replay pytest notebooks/…`: the notebooks replay their recordings with no
    server, no key and a base URL where nothing listens, so any request that escapes fails."""
    return os.environ.get("GLM_REPLAY", "").strip().lower() == "replay"


def pytest_sessionstart(session: pytest.Session) -> None:
    global _SERVER
    if offline_replay():
        # Replay needs no key (tests/test_replay*.py show it); this placeholder only makes
        # `%glm config` read as in the recorded run. Nothing listens at the discard port.
        os.environ["ZAI_API_KEY"] = "replay-placeholder-0000"
        os.environ["ZAI_BASE_URL"] = "http://127.0.0.1:9/api/paas/v4"
        return
    _SERVER = LocalServer(ServerConfig(api_key="test-key-9c1e5d27b04f"))
    _SERVER.start()
    os.environ["ZAI_BASE_URL"] = _SERVER.base_url
    os.environ["ZAI_API_KEY"] = _SERVER.api_key


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _SERVER is not None:
        _SERVER.stop()


@pytest.fixture(scope="session")
def server() -> LocalServer:
    """The session's local server (instant answers)."""
    if offline_replay():
        pytest.skip("GLM_REPLAY=replay: no local server in this session")
    assert _SERVER is not None
    return _SERVER


@pytest.fixture(scope="module")
def kernel() -> Kernel:
    """A real IPython kernel with this session's server in its environment."""
    k = Kernel(dict(os.environ))
    yield k
    k.shutdown()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Like JupyterLab, tell a notebook's kernel (started by nbval in this hook) which notebook it
    # runs: %glm replay finds its recordings file beside it (name.glm.jsonl).
    if item.path.suffix == ".ipynb":
        os.environ["JPY_SESSION_NAME"] = str(item.path)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Browser tests last: Playwright's sync API keeps an event loop running in this thread for
    # the rest of the session, which asyncio.run() in ordinary tests would trip over.
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
