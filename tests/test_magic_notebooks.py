"""The documentation notebooks: checks of what they hold (every notebook, then the %%glm ones).

nbval (`pytest notebooks/…`, on by default in this project) runs each notebook in a fresh kernel
against the session's local server and compares with the saved outputs. After changing the magic,
the renderer or the server's answers, re-execute and save them with
`.venv/bin/python -m tests.refresh_notebooks` (see that module).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from .refresh_notebooks import DOCS_KEY, ROOT
from .refresh_notebooks import NOTEBOOKS as ALL_NOTEBOOKS

NOTEBOOKS = [
    ROOT / "notebooks" / name
    for name in ("quickstart.ipynb", "capture_and_reuse.ipynb", "conversations.ipynb", "configuration.ipynb")
]


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: p.name)
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
        [result] = cell.outputs  # the live panes were cleared: the Reply alone stays
        assert result.output_type == "execute_result"
        assert set(result.data) == {"text/plain", "text/html"}
        assert result.data["text/plain"].startswith("<Reply ")
        assert "glm_notebook" in result.metadata
        text = nbformat.writes(notebook)
        assert DOCS_KEY not in text and "test-key-" not in text
