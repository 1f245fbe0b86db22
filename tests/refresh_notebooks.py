"""Re-execute the example notebooks against a fresh local server and save them with outputs,
recording their answers beside them (`name.glm.jsonl`, replay mode `auto`) for replay in CI.

    .venv/bin/python -m tests.refresh_notebooks                       # all of them
    .venv/bin/python -m tests.refresh_notebooks notebooks/quickstart.ipynb

Run it after changing what the magic, the widget, the renderer or the server's answers show;
nbval (on in this project's pytest options) then compares fresh runs with what was saved.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
DOCS_KEY = "local-docs-key-0000"
#: Notebooks run live only (no recordings beside them, so no offline check), and why.
LIVE_ONLY = {
    "many_prompts.ipynb": "its plain GLMClient() and the Batch API's /files and /batches are not recorded",
}


def execute(
    path: Path, timeout: int = 120, *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> nbformat.NotebookNode:
    """Run every cell of `path` in a fresh kernel and return it. The kernel's environment is
    `env` (default: this process's) and its working directory `cwd` (default: `path`'s)."""
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    manager = KernelManager(kernel_name="python3")
    manager.kernel_spec.argv[0] = sys.executable
    client = NotebookClient(
        notebook,
        km=manager,
        timeout=timeout,
        record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    kernel_options: dict = {} if env is None else {"env": env}
    if cwd is not None:
        kernel_options["cwd"] = str(cwd)
    client.execute(**kernel_options)
    return notebook


def huge_answer_notebook(
    path: Path, size: int, *, base_url: str, api_key: str, tree: Path = ROOT, timeout: int = 600
) -> nbformat.NotebookNode:
    """Write `%load_ext glm_notebook` + a `%%glm [[huge=size]]` cell to `path`, run it against the
    server at `base_url` with `glm_notebook` imported from `tree` (a kernel imports from its
    working directory first, so it runs in `tree`), and return the executed notebook."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext glm_notebook"),
        nbformat.v4.new_code_cell(f"%%glm\n[[huge={size}]] Write a long answer"),
    ]
    nbformat.write(nb, path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "JPY_"))}
    env.update(PYTHONPATH=str(tree), ZAI_BASE_URL=base_url, ZAI_API_KEY=api_key)
    return execute(path, timeout=timeout, env=env, cwd=tree)


def refresh(paths: Iterable[Path | str] = NOTEBOOKS) -> None:
    """Re-execute the notebooks against a new local server and save them with their outputs."""
    from glm_notebook.server import LocalServer, ServerConfig

    server = LocalServer(ServerConfig(api_key=DOCS_KEY))
    server.start()
    names = ("ZAI_BASE_URL", "ZAI_API_KEY", "GLM_REPLAY", "JPY_SESSION_NAME")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(ZAI_BASE_URL=server.base_url, ZAI_API_KEY=server.api_key, GLM_REPLAY="auto")
    try:
        for path in map(Path, paths):
            recordings = path.with_name(path.stem + ".glm.jsonl")
            recordings.unlink(missing_ok=True)  # record anew
            os.environ["JPY_SESSION_NAME"] = str(path.resolve())
            nbformat.write(execute(path), path)
            if path.name in LIVE_ONLY:
                recordings.unlink(missing_ok=True)
            print(f"executed and saved {path}")
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


if __name__ == "__main__":
    refresh(sys.argv[1:] or NOTEBOOKS)
