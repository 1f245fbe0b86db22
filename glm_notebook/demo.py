"""The main job: run a notebook of `%%glm` cells in a real kernel, streaming to the terminal.

With `ZAI_API_KEY` set it talks to the real service; otherwise it starts the bundled local
server and points the kernel at it. Answers stream as plain text, whole, with their footers (the
terminal rendering); the executed notebook (and an HTML copy) are written out.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from .client.config import API_KEY_ENV, BASE_URL_ENV, DISPLAY_ENV, resolve_api_key, resolve_base_url
from .text import strip_controls

__all__ = ["run_demo", "DEFAULT_NOTEBOOK"]

DEFAULT_NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "quickstart.ipynb"


def _terminal_client(nb: Any, **kw: Any) -> Any:
    from nbclient import NotebookClient

    class TerminalClient(NotebookClient):
        """Echoes each cell's source and its outputs to the terminal as they arrive (their text
        cleaned of control sequences: a model's answer must not drive the terminal). The kernel
        streams answers as text (`GLM_DISPLAY=text`), as terminal IPython shows them: the
        reasoning's summary line, the answer as it arrives, the footer."""

        def process_message(self, msg: dict, cell: Any, cell_index: int) -> Any:
            kind, content = msg["msg_type"], msg["content"]
            if kind == "execute_input":
                print(f"\n\x1b[1mIn [{content['execution_count']}]:\x1b[0m {content['code']}", flush=True)
            elif kind == "stream":
                sys.stdout.write(strip_controls(content["text"]))
            elif kind == "display_data":  # updates of a display in place have no terminal form
                print(strip_controls(content["data"].get("text/plain", "")))
            elif kind == "execute_result":
                count, plain = content["execution_count"], content["data"].get("text/plain", "")
                print(f"\n\x1b[1mOut[{count}]:\x1b[0m {strip_controls(plain)}")
            elif kind == "error":
                print("\n" + "\n".join(content["traceback"]))
            sys.stdout.flush()
            return super().process_message(msg, cell, cell_index)

    return TerminalClient(nb, **kw)


def _encrypt_transport(manager: Any) -> None:
    """CurveZMQ-encrypt the kernel's sockets when pyzmq and the kernel spec support it
    (jupyter_client ≥ 8.9), instead of plain TCP, which ipykernel warns about on start-up."""
    import zmq

    if zmq.has("curve") and manager.has_trait("transport_encryption"):
        manager.transport_encryption = "auto"


def run_demo(
    *, notebook: Path | None = None, out: Path = Path("artifacts/demo"), token_delay: float = 0.02
) -> int:
    """Execute `notebook` (default: notebooks/quickstart.ipynb); returns a process exit code."""
    import nbformat
    from nbconvert import HTMLExporter

    path = notebook or DEFAULT_NOTEBOOK
    os.environ[DISPLAY_ENV] = "text"  # the kernel inherits this process's environment
    nb = nbformat.read(path, as_version=4)
    server = None
    if resolve_api_key():
        print(f"Using the real Z.ai API at {resolve_base_url()}")
    else:
        from .server import LocalServer, ServerConfig

        server = LocalServer(ServerConfig(token_delay=token_delay)).start()
        # The kernel inherits this process's environment.
        os.environ.update({API_KEY_ENV: server.api_key, BASE_URL_ENV: server.base_url})
        print(f"No ZAI_API_KEY set: using the bundled local server at {server.base_url}")
    try:
        client = _terminal_client(
            nb,
            kernel_name="python3",
            timeout=600,
            allow_errors=False,
            resources={"metadata": {"path": str(path.parent)}},
        )
        client.km = client.create_kernel_manager()
        client.km.kernel_spec.argv[0] = sys.executable
        _encrypt_transport(client.km)
        client.execute()
    finally:
        if server is not None:
            server.stop()
    out.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out / path.name)
    html, _ = HTMLExporter().from_notebook_node(nb)
    (out / path.with_suffix(".html").name).write_text(html, encoding="utf-8")
    print(f"\n\nWrote {out / path.name} and {out / path.with_suffix('.html').name}")
    return 0
