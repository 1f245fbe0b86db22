"""The README's first command: `glm-notebook demo` runs the quickstart in a real kernel."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_demo_command_prints_whole_answers_with_their_footers(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("ZAI_API_KEY", "ZAI_BASE_URL", "GLM_DISPLAY")}
    done = subprocess.run(
        ["bash", str(ROOT / ".ci" / "demo"), "--out", str(tmp_path), "--token-delay", "0.001"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout  # (after the set-up's own lines on a fresh checkout)
    assert "\nNo ZAI_API_KEY set: using the bundled local server" in "\n" + out
    # the kernel's sockets are encrypted, so ipykernel has no plain-TCP warning to print
    assert "without encryption" not in out + done.stderr, done.stderr
    # each answer whole, as terminal IPython shows it: reasoning summary, the text, the footer
    poem = out[out.index("Write a poem about spring") : out.index("<Reply glm-4.6: 803 chars")]
    assert "Reasoning · " in poem and "| Measure | Value |" in poem and "$$\\sum_{i=1}^{n} i" in poem
    assert re.search(r"— glm-4\.6 · 298 tokens · \$[\d.]+ · [\d.]+ s\n", poem)
    assert "receiving…" not in out and "Waiting for" not in out  # no live-view fragments
    notebook = nbformat.read(tmp_path / "quickstart.ipynb", as_version=4)
    results = [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "execute_result"]
    assert any("Write a poem about spring" in o.data.get("text/html", "") for o in results)
    assert "Write a poem about spring" in (tmp_path / "quickstart.html").read_text()


def test_demo_uses_the_configured_service_when_a_key_is_set(tmp_path, server):
    env = {**os.environ, "ZAI_API_KEY": server.api_key, "ZAI_BASE_URL": server.base_url}
    done = subprocess.run(
        [sys.executable, "-m", "glm_notebook.cli", "demo", "--out", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"Using the real Z.ai API at {server.base_url}" in done.stdout
    assert server.api_key not in done.stdout + done.stderr
    assert (tmp_path / "quickstart.ipynb").exists()


def test_demo_never_writes_control_sequences_from_the_model(tmp_path):
    hostile = "\x1b]52;c;SGVsbG8=\x07\x1b[2J"
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("%load_ext glm_notebook"),
        nbformat.v4.new_code_cell(f"evil = {hostile!r}"),
        nbformat.v4.new_code_cell("%%glm\n[[echo]] before {evil} after"),
    ])  # fmt: skip
    path = tmp_path / "hostile.ipynb"
    nbformat.write(notebook, path)
    env = {k: v for k, v in os.environ.items() if k not in ("ZAI_API_KEY", "ZAI_BASE_URL")}
    done = subprocess.run(
        [sys.executable, "-m", "glm_notebook.cli", "demo", "--notebook", str(path), "--out", str(tmp_path / "out"),
         "--token-delay", "0.001"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "before  after" in done.stdout
    assert "\x1b]52" not in done.stdout and "\x1b[2J" not in done.stdout and "\x07" not in done.stdout
