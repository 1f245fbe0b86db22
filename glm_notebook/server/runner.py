"""Run the app with uvicorn: `LocalServer` in a background thread, `run_server` in the foreground."""

from __future__ import annotations

import socket
import sys
import threading
import time
from types import TracebackType
from typing import Any
from urllib.parse import quote

import uvicorn

from .app import ServerConfig, ServerState, create_app
from .directives import format_directives
from .records import RequestRecord

__all__ = ["LocalServer", "run_server"]


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def _uvicorn_config(app: Any, host: str, port: int, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="off",
        http="h11",
        ws="none",
        timeout_graceful_shutdown=2,
    )


class LocalServer:
    """A local Z.ai-compatible server on a background thread (port 0 = pick a free port).

    >>> with LocalServer() as server:
    ...     client = SomeClient(base_url=server.base_url, api_key=server.api_key)
    """

    def __init__(self, config: ServerConfig | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config or ServerConfig()
        self.app = create_app(self.config)
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle -------------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> LocalServer:
        """Start serving and wait until the socket accepts connections."""
        if self._thread is not None:
            return self
        sock = _bind(self.host, self._requested_port)
        self._port = sock.getsockname()[1]
        server = uvicorn.Server(_uvicorn_config(self.app, self.host, self._port, "warning"))
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=f"glm-local-server:{self._port}", daemon=True
        )
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                sock.close()
                raise RuntimeError(f"local GLM server did not start on {self.host}:{self._port}")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving; open streams are cancelled after a short grace period."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(timeout)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # addresses -------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The bound port (known once started)."""
        if self._port is None:
            raise RuntimeError("the server is not started")
        return self._port

    @property
    def origin(self) -> str:
        """`http://HOST:PORT`."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The API base URL for clients: `http://HOST:PORT/api/paas/v4`."""
        return f"{self.origin}/api/paas/v4"

    @property
    def api_key(self) -> str:
        """The key clients must send as `Authorization: Bearer <key>`."""
        return self.config.api_key

    def url_with(self, **directives: Any) -> str:
        """The base URL with a `/_/key=value,flag/` prefix: every request through it gets them."""
        text = format_directives(**directives)
        return f"{self.origin}/_/{text}/api/paas/v4" if text else self.base_url

    def replay_url(self, name: str, **directives: Any) -> str:
        """A base URL whose chat completions replay recording `name` (split/delay/... allowed)."""
        text = format_directives(**directives)
        prefix = f"/_/{text}" if text else ""
        return f"{self.origin}{prefix}/replay/{quote(name, safe='')}/api/paas/v4"

    # observation -----------------------------------------------------------------------------
    @property
    def state(self) -> ServerState:
        return self.app.state.glm

    @property
    def records(self) -> list[RequestRecord]:
        """A snapshot of the request log, oldest first (the records themselves stay live)."""
        return self.state.records.snapshot()

    def wait_finished(self, index: int, timeout: float = 5.0) -> RequestRecord:
        """Wait until request `index` is fully handled (e.g. its disconnect was observed)."""
        return self.state.records.wait_finished(index, timeout)

    def reset(self) -> None:
        """Clear the request log and the `times=K` counters."""
        self.state.reset()


def run_server(
    host: str = "127.0.0.1",
    port: int = 8765,
    config: ServerConfig | None = None,
    *,
    log_level: str = "info",
    announce: bool = True,
) -> None:
    """Serve in the foreground until interrupted (for `glm-notebook serve`).

    With `announce`, prints the base URL (never the key) to stderr once the socket is bound.
    """
    config = config or ServerConfig()
    sock = _bind(host, port)
    bound = sock.getsockname()[1]
    if announce:
        shown = f"[{host}]" if ":" in host else host
        print(f"GLM local server: http://{shown}:{bound}/api/paas/v4", file=sys.stderr, flush=True)
    uvicorn.Server(_uvicorn_config(create_app(config), host, bound, log_level)).run(sockets=[sock])
