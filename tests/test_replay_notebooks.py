"""Record and replay in real kernels: `%glm replay`, the file beside the notebook, one-line misses,
and a notebook run in auto mode against a local server, then again by nbval in replay mode with
the server gone — identical outputs, no request."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

from glm_notebook.server import LocalServer, ServerConfig

from .kernel_harness import Kernel
from .refresh_notebooks import LIVE_ONLY, ROOT, execute
from .refresh_notebooks import NOTEBOOKS as ALL_NOTEBOOKS

NOTEBOOK = ROOT / "notebooks" / "replay.ipynb"
RECORDINGS = ROOT / "notebooks" / "replay.glm.jsonl"
CLOSED = "http://127.0.0.1:9/api/paas/v4"  # the discard port: nothing listens


def offline_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ZAI_API_KEY", "GLM_REPLAY", "JPY_SESSION_NAME")}
    return {**env, "ZAI_BASE_URL": CLOSED, **extra}


def nbval(path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Strict nbval (the project's pytest options and sanitizer) on one notebook."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-c",
            str(ROOT / "pyproject.toml"),
            "--rootdir",
            str(ROOT),
            str(path),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def one_line_error(run) -> str:
    assert run.error is not None, run.messages
    assert len(run.error["traceback"]) == 1, run.error["traceback"]
    return run.error["traceback"][0]


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    """A kernel in CI's replay mode: no key, no server; recordings in a scratch file."""
    folder = tmp_path_factory.mktemp("offline")
    shutil.copy(RECORDINGS, folder / "analysis.glm.jsonl")
    kernel = Kernel(
        offline_env(
            GLM_REPLAY="replay", PYTHONPATH=str(ROOT), JPY_SESSION_NAME=str(folder / "analysis.ipynb")
        )
    )
    assert kernel.run(f"import os; os.chdir({str(folder)!r})\n%load_ext glm_notebook").error is None
    yield kernel, folder
    kernel.shutdown()


def test_a_recorded_cell_replays_without_key_or_server_and_says_so(offline):
    kernel, folder = offline
    run = kernel.run("%%glm -o haiku\nWrite a haiku about autumn leaves")
    assert run.error is None, run.messages
    html = run.result["text/html"]
    assert "replayed · recorded 20" in html
    (result,) = [c for k, c in run.messages if k == "execute_result"]
    assert result["metadata"]["glm_notebook"]["replayed"].endswith("Z")
    status = kernel.run("%glm replay status").stdout
    assert (
        "analysis.glm.jsonl" in status
        and "mode         replay" in status
        and "1 replayed, 0 missed" in status
    )
    assert "mode from    GLM_REPLAY" in status


def test_a_changed_option_is_a_one_line_miss_naming_the_prompt(offline):
    kernel, _ = offline
    line = one_line_error(kernel.run("%%glm -t 0.9\nWrite a haiku about autumn leaves"))
    assert "ReplayMissError" in line and "'Write a haiku about autumn leaves'" in line
    assert "analysis.glm.jsonl" in line and "GLM_REPLAY=auto" in line
    assert "Traceback" not in line


def test_replay_commands_and_their_mistakes(offline):
    kernel, folder = offline
    said = kernel.run("%glm replay off").stdout
    assert "Replay replay (GLM_REPLAY=replay in the environment wins)" in said
    assert kernel.run("%glm replay sometimes").stderr.startswith(
        "UsageError: %glm replay 'sometimes': use on, auto"
    )
    assert "takes a pace (auto, recorded, instant), not 'fast'" in kernel.run("%glm replay on fast").stderr
    before = (folder / "analysis.glm.jsonl").read_text().count("\n")
    assert kernel.run("%glm replay prune").stdout.startswith("Kept 1 entries, dropped 3")
    assert (folder / "analysis.glm.jsonl").read_text().count("\n") == 1 < before


def test_the_file_is_found_beside_the_notebook_or_must_be_set(server, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("JPY_SESSION_NAME", None)
    kernel = Kernel(env)
    try:
        kernel.run(f"import os; os.chdir({str(tmp_path)!r})\n%load_ext glm_notebook")
        line = kernel.run("%glm replay on").stderr
        assert (
            line.startswith("UsageError: Replay is auto but the notebook's path is unknown")
            and "GLM.replay_path" in line
        )
        vscode = kernel.run(f"__vsc_ipynb_file__ = {str(tmp_path / 'study.ipynb')!r}\n%glm replay on")
        assert vscode.stdout.strip() == "Replay auto: study.glm.jsonl"
        assert kernel.run("%%glm\nHello there").error is None
        assert (
            json.loads((tmp_path / "study.glm.jsonl").read_text())["request"]["messages"][0]["content"]
            == "Hello there"
        )
        kernel.run('%config GLM.replay_path = "elsewhere/x.glm.jsonl"')
        assert (
            kernel.run("%glm replay record instant").stdout.strip() == "Replay record: elsewhere/x.glm.jsonl"
        )
        assert (
            kernel.run("%%glm\nHello there").error is None
            and (tmp_path / "elsewhere" / "x.glm.jsonl").exists()
        )
        assert kernel.run("%glm replay off").stdout.startswith("Replay off")
    finally:
        kernel.shutdown()


def test_a_notebook_recorded_in_auto_mode_replays_identically_with_the_server_gone(tmp_path):
    shutil.copy(NOTEBOOK, tmp_path / "demo.ipynb")
    local = LocalServer(ServerConfig(api_key="cycle-key-5d1f0e7a2b")).start()
    saved = dict(os.environ)
    try:
        os.environ.update(
            ZAI_BASE_URL=local.base_url, ZAI_API_KEY=local.api_key, GLM_REPLAY="auto",
            JPY_SESSION_NAME=str(tmp_path / "demo.ipynb"), PYTHONPATH=str(ROOT),
        )  # fmt: skip
        notebook = execute(tmp_path / "demo.ipynb")
        requests = len(local.records)
    finally:
        local.stop()
        os.environ.clear()
        os.environ.update(saved)
    nbformat.write(notebook, tmp_path / "demo.ipynb")
    recordings = (tmp_path / "demo.glm.jsonl").read_bytes()
    assert requests == 4 == recordings.count(b"\n")  # two cells, and a tool loop of two requests
    assert b"cycle-key" not in recordings and local.base_url.encode() not in recordings
    assert b"cycle-key" not in (tmp_path / "demo.ipynb").read_bytes()
    assert "['Florence']" in nbformat.writes(notebook)  # the tool ran while recording

    result = nbval(tmp_path / "demo.ipynb", offline_env(GLM_REPLAY="replay", PYTHONPATH=str(ROOT)))
    assert result.returncode == 0, result.stdout[-3000:]
    assert (tmp_path / "demo.glm.jsonl").read_bytes() == recordings  # nothing new was recorded


def _replayed_copy(tmp_path: Path) -> Path:
    shutil.copy(NOTEBOOK, tmp_path / "study.ipynb")
    shutil.copy(RECORDINGS, tmp_path / "study.glm.jsonl")
    return tmp_path / "study.ipynb"


def _replayed_answers(notebook: Any) -> list[str]:
    return [
        output["data"]["text/html"]
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if "replayed · recorded" in output.get("data", {}).get("text/html", "")
    ]


@pytest.mark.parametrize("runner", ["nbclient", "nbconvert", "papermill"])
def test_runners_find_the_notebook_and_replay_at_once_with_no_path_configured(tmp_path, runner):
    """No JPY_SESSION_NAME, no GLM_REPLAY_PATH: the kernel finds the notebook by its cells."""
    path = _replayed_copy(tmp_path)
    env = offline_env(GLM_REPLAY="replay", PYTHONPATH=str(ROOT))
    out = tmp_path / "out" / "study.ipynb"
    out.parent.mkdir()
    command = {
        "nbclient": [sys.executable, "-c", _NBCLIENT, str(path), str(out)],
        "nbconvert": [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                      "--output-dir", str(out.parent), str(path)],
        "papermill": [sys.executable, "-m", "papermill", "--cwd", str(tmp_path), str(path), str(out)],
    }[runner]  # fmt: skip
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    executed = nbformat.read(out, as_version=4)
    assert len(_replayed_answers(executed)) >= 2
    assert "unknown" not in nbformat.writes(executed)
    status = [o for c in executed.cells if "%glm replay status" in c.source for o in c.get("outputs", [])]
    assert all("(pace instant)" in o.get("text", "") for o in status)  # a runner: at once


_NBCLIENT = """
import sys, nbformat
from nbclient import NotebookClient
from pathlib import Path
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, resources={"metadata": {"path": str(Path(sys.argv[1]).parent)}}).execute()
nbformat.write(nb, sys.argv[2])
"""


def test_a_frontend_notebook_replays_at_its_pace_and_a_runner_at_once(tmp_path):
    path = _replayed_copy(tmp_path)
    env = offline_env(GLM_REPLAY="replay", PYTHONPATH=str(ROOT))
    for watched, pace in ((False, "instant"), (True, "recorded")):
        kernel = Kernel({**env, **({"JPY_SESSION_NAME": str(path)} if watched else {})})
        try:
            kernel.run(f"import os; os.chdir({str(tmp_path)!r})\n%load_ext glm_notebook")
            cell = "%%glm -o haiku\nWrite a haiku about autumn leaves"
            if not watched:  # a runner runs the notebook's own cells; this one is in it
                assert cell in "".join(c.source for c in nbformat.read(path, as_version=4).cells)
            assert kernel.run(cell).error is None
            status = kernel.run("%glm replay status").stdout
            assert "study.glm.jsonl" in status and f"(pace {pace})" in status, status
        finally:
            kernel.shutdown()


def test_a_cell_no_notebook_here_holds_is_one_line_saying_so(tmp_path):
    kernel = Kernel(offline_env(GLM_REPLAY="replay", PYTHONPATH=str(ROOT)))
    try:
        kernel.run(f"import os; os.chdir({str(tmp_path)!r})\n%load_ext glm_notebook")
        line = kernel.run("%%glm\nWrite a haiku about autumn leaves").stderr
        assert line.count("\n") == 1 and line.startswith("UsageError: Replay is replay but")
        assert f"the notebook's path is unknown here (no notebook in {tmp_path} holds this cell)" in line
        assert "GLM.replay_path" in line
    finally:
        kernel.shutdown()


RECORDED = [path for path in ALL_NOTEBOOKS if path.with_name(path.stem + ".glm.jsonl").exists()]


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.name)
def test_the_example_notebooks_pass_offline_in_replay_mode(path: Path):
    """CI's check of the docs: each notebook that carries its recordings (tests/refresh_notebooks
    makes them) replays under strict nbval with no key and no server, and records nothing."""
    recordings = path.with_name(path.stem + ".glm.jsonl")
    before = recordings.read_bytes()
    result = nbval(path, offline_env(GLM_REPLAY="replay", PYTHONPATH=str(ROOT)))
    assert result.returncode == 0, result.stdout[-3000:]
    assert recordings.read_bytes() == before


def test_the_replay_notebook_carries_its_recordings():
    assert NOTEBOOK in RECORDED
    assert {path.name for path in ALL_NOTEBOOKS} - {path.name for path in RECORDED} == set(LIVE_ONLY)


def test_the_chat_widget_records_and_replays_through_the_magics_settings(server, tmp_path):
    kernel = Kernel(
        {**os.environ, "PYTHONPATH": str(ROOT), "GLM_REPLAY_PATH": str(tmp_path / "chat.glm.jsonl")}
    )
    try:
        assert kernel.run("%load_ext glm_notebook\n%glm replay on").error is None
        first = kernel.run(
            'from glm_notebook import chat\nw = chat()\nr1 = await w.send("Hi widget")\nprint(r1.replayed_at)'
        )
        assert first.error is None and first.stdout.strip() == "None", first.messages
        start = len(server.records)
        kernel.run("%glm replay replay instant")
        again = kernel.run(
            "from glm_notebook.render.reply_view import footer_html\n"
            'w2 = chat()\nr2 = await w2.send("Hi widget")\n'
            'print(r2.text == r1.text, r2.replayed_at is not None, "replayed · recorded" in footer_html(r2))'
        )
        assert again.error is None and again.stdout.strip() == "True True True", again.messages
        assert len(server.records) == start
    finally:
        kernel.shutdown()


def test_replay_settings_are_checked_when_set():
    from traitlets import TraitError

    from glm_notebook.notebook.magic import GLM

    settings = GLM()
    settings.replay = "ON"
    assert settings.replay == "auto"
    with pytest.raises(TraitError, match="GLM.replay must be one of on, off, auto, record, replay"):
        settings.replay = "sometimes"
    with pytest.raises(TraitError, match="GLM.replay_pace must be one of auto, recorded, instant"):
        settings.replay_pace = "fast"
