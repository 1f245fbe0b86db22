"""The harness itself: JupyterLab starts, runs a cell in the venv's kernel, the DOM shows it."""

from __future__ import annotations

import os
import sys

import pytest

pytestmark = pytest.mark.browser


def test_lab_runs_a_cell_in_the_venv_kernel(lab):
    path = lab.write_notebook(
        [
            "print(1)",
            "import os, sys; print(sys.executable); print(os.environ.get('ZAI_BASE_URL'))",
        ]
    )
    lab.open(path)
    lab.run_all_and_wait(timeout=60)
    assert lab.output_text(0).strip() == "1"
    executable, base_url = lab.output_text(1).strip().splitlines()
    assert os.path.realpath(executable) == os.path.realpath(sys.executable)
    assert base_url.startswith("http://127.0.0.1:")

