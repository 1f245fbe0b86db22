"""A local Z.ai-compatible chat-completions server (Starlette + uvicorn).

The test peer of the project and the default backend of the demo: deterministic answers,
test directives (`[[key=value]]` in a prompt or a `/_/key=value/` path prefix) and replay of
recorded exchanges. Nothing here imports IPython.
"""

from __future__ import annotations

from .app import ServerConfig, create_app
from .directives import DirectiveError, Directives, format_directives, parse_directives
from .records import RequestRecord
from .replay import list_recordings
from .runner import LocalServer, run_server

__all__ = [
    "LocalServer",
    "ServerConfig",
    "create_app",
    "Directives",
    "DirectiveError",
    "RequestRecord",
    "run_server",
    "list_recordings",
    "parse_directives",
    "format_directives",
]
