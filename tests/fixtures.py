"""Shared fixtures, loaded as a plugin (`-p tests.fixtures` in pyproject's addopts) so that they
also apply when only notebooks are collected: one local Z.ai-compatible server for the whole
session, real kernels.

The server's URL and key go into os.environ at session start, so every kernel started by a
test or by nbval (which runs the notebooks in notebooks/) talks to it, never to the real API.
"""

from __future__ import annotations

import json
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Browser tests last: Playwright's sync API keeps an event loop running in this thread for
    # the rest of the session, which asyncio.run() in ordinary tests would trip over.
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture(scope="module")
def k(kernel: Kernel) -> Kernel:
    """A module's kernel with `%load_ext glm_notebook` done."""
    run = kernel.run("%load_ext glm_notebook")
    assert run.error is None and not run.messages, run.messages
    return kernel


class Wire:
    """What the widget sends to the browser, read at the comm layer: `comm.create_comm` is the
    factory hook a kernel installs (ipykernel sets it the same way); this one records instead."""

    def __init__(self) -> None:
        self.sent: list[dict] = []

    def custom(self) -> list[dict]:
        """The custom messages (the chat protocol), in order."""
        return [d["content"] for d in self.sent if d.get("method") == "custom"]

    def ops(self, *ops: str) -> list[dict]:
        return [m for m in self.custom() if m["op"] in ops]

    def bytes(self) -> int:
        """Bytes of every custom message as JSON (what goes over the websocket)."""
        return sum(len(json.dumps(m, ensure_ascii=False).encode()) for m in self.custom())

    def states(self) -> list[dict]:
        return [d["state"] for d in self.sent if d.get("method") == "update" and "state" in d]


@pytest.fixture
def wire():
    import comm
    from comm.base_comm import BaseComm

    record = Wire()

    class RecordingComm(BaseComm):
        def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
            if msg_type == "comm_msg" and isinstance(data, dict):
                record.sent.append(json.loads(json.dumps(data)))

    before = comm.create_comm
    comm.create_comm = RecordingComm
    try:
        yield record
    finally:
        comm.create_comm = before
