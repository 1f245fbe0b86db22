"""The %%glm documentation notebooks: how to re-execute them, and checks of what they hold.

nbval (`pytest notebooks/…`, on by default in this project) runs each notebook in a fresh kernel
against the session's local server and compares with the saved outputs. After changing the magic,
the renderer or the server's answers, re-execute and save them with:

    .venv/bin/python -c "from tests.test_magic_notebooks import refresh; refresh()"

(optionally `refresh(["notebooks/quickstart.ipynb"])`). It starts a local server, runs every
cell with nbclient in this venv's Python, and writes the notebooks back with their outputs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = [
    ROOT / "notebooks" / name
    for name in ("quickstart.ipynb", "capture_and_reuse.ipynb", "conversations.ipynb", "configuration.ipynb")
]
DOCS_KEY = "local-docs-key-0000"


def execute(path: Path, timeout: int = 120) -> nbformat.NotebookNode:
    """Run every cell of `path` in a fresh kernel (environment: this process's) and return it."""
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
    client.execute()
    return notebook


def refresh(paths: Iterable[Path | str] = NOTEBOOKS) -> None:
    """Re-execute the notebooks against a new local server and save them with their outputs."""
    from glm_notebook.server import LocalServer, ServerConfig

    server = LocalServer(ServerConfig(api_key=DOCS_KEY))
    server.start()
    saved = {name: os.environ.get(name) for name in ("ZAI_BASE_URL", "ZAI_API_KEY")}
    os.environ.update(ZAI_BASE_URL=server.base_url, ZAI_API_KEY=server.api_key)
    try:
        for path in map(Path, paths):
            nbformat.write(execute(path), path)
            print(f"executed and saved {path}")
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_each_code_cell_is_explained_and_was_run(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    previous = None
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert previous is not None and previous.cell_type == "markdown", cell.source
            assert cell.execution_count is not None, cell.source
            assert all(out.output_type != "error" for out in cell.outputs), cell.source
        previous = cell


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_glm_cells_keep_one_copy_of_the_answer(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    glm_cells = [c for c in notebook.cells if c.cell_type == "code" and c.source.startswith("%%glm")]
    assert glm_cells
    for cell in glm_cells:
        *panes, result = cell.outputs
        assert all(out.output_type == "display_data" and out.data == {"text/plain": ""} for out in panes)
        assert result.output_type == "execute_result"
        assert set(result.data) == {"text/plain", "text/html"}
        assert result.data["text/plain"].startswith("<Reply ")
        assert "glm_notebook" in result.metadata
        text = nbformat.writes(notebook)
        assert DOCS_KEY not in text and "test-key-" not in text
