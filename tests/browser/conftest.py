"""Real JupyterLab in headless Chromium: the harness of the browser tests.

One of each per session: a local GLM server (the project's `server` fixture when
`tests/fixtures.py` has one, else our own), a JupyterLab on 127.0.0.1 whose kernels inherit
`ZAI_BASE_URL` / `ZAI_API_KEY`, and a Chromium profile (Debian's `/usr/bin/chromium`, driven by
Playwright's sync API). Per test: a fresh page wrapped in `Lab` (fixture `lab`), whose notebooks
are written into the server's temp root dir; a screenshot of every test is saved to
`artifacts/browser/<test>.png` and the test's kernels are shut down afterwards.

Run alone:

    .venv/bin/python -m pytest tests/browser -m browser

What the tests read from the product's DOM (keep these stable, or update the tests): in `%%glm`
outputs `details.glm-reasoning` (reasoning), `.glm-status` (the waiting line), `.glm-math`
(MathML); in the chat widget `.glm-footer` / `.glm-chat-stopped` / `.glm-chat-error` (how a
turn ended). Everything else is JupyterLab's own DOM, text content, or `window.jupyterapp`.

Without `/usr/bin/chromium` (or `$GLM_TEST_CHROMIUM`) the tests are skipped, unless `CI` is set:
then they fail.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

CHROMIUM = os.environ.get("GLM_TEST_CHROMIUM", "/usr/bin/chromium")  # override for other setups
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts" / "browser"
LAB_TOKEN = "glm-browser-test-token"
LAB_START_TIMEOUT = 90.0
KERNEL_TIMEOUT = 60.0
OWN_API_KEY = "glm-browser-test-key"


# -- skip / fail when there is no browser -------------------------------------------------------


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        if _in_ci():
            pytest.fail(f"{CHROMIUM} is missing and CI is set: install Debian's chromium (bash .ci/setup test)")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); browser tests skipped")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        if _in_ci():
            pytest.fail(f"playwright is not installed: {exc}")
        pytest.skip(f"playwright is not installed: {exc}")
    return CHROMIUM


# -- the local GLM server -----------------------------------------------------------------------


@dataclass
class GLMEndpoint:
    base_url: str
    api_key: str
    server: Any  # the LocalServer, for its `.records`


@pytest.fixture(scope="session")
def glm_endpoint(request: pytest.FixtureRequest) -> Iterator[GLMEndpoint]:
    """The project's session `server` fixture if there is one, else a LocalServer of our own."""
    try:
        shared = request.getfixturevalue("server")
    except pytest.FixtureLookupError:
        shared = None
    if shared is not None and getattr(shared, "base_url", None):
        yield GLMEndpoint(shared.base_url, shared.api_key, shared)
        return
    from glm_notebook.server import LocalServer, ServerConfig

    own = LocalServer(ServerConfig(api_key=OWN_API_KEY, token_delay=0.0)).start()
    try:
        yield GLMEndpoint(own.base_url, own.api_key, own)
    finally:
        own.stop()


# -- JupyterLab ---------------------------------------------------------------------------------


@dataclass
class JupyterLabServer:
    url: str  # http://127.0.0.1:PORT
    token: str
    root: Path
    pid: int
    log: Path

    def api(self, method: str, path: str, body: Any = None, timeout: float = 10.0) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.url}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_lab_home(home: Path) -> dict[str, str]:
    """Private Jupyter dirs: the venv's Python as the only `python3` kernel, no news, no updates."""
    dirs = {
        "JUPYTER_CONFIG_DIR": home / "config",
        "JUPYTER_DATA_DIR": home / "data",
        "JUPYTER_RUNTIME_DIR": home / "runtime",
        "IPYTHONDIR": home / "ipython",
        "JUPYTERLAB_SETTINGS_DIR": home / "settings",
        "JUPYTERLAB_WORKSPACES_DIR": home / "workspaces",
    }
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    spec = dirs["JUPYTER_DATA_DIR"] / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3 (glm_notebook venv)",
                "language": "python",
                "metadata": {"debugger": False},
            }
        )
    )
    notif = dirs["JUPYTERLAB_SETTINGS_DIR"] / "@jupyterlab" / "apputils-extension"
    notif.mkdir(parents=True)
    (notif / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    return {k: str(v) for k, v in dirs.items()}


@pytest.fixture(scope="session")
def jupyter_lab(
    chromium_path: str, glm_endpoint: GLMEndpoint, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[JupyterLabServer]:
    home = tmp_path_factory.mktemp("lab-home")
    root = tmp_path_factory.mktemp("lab-root")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "JPY_"))}
    env.update(_write_lab_home(home))
    env.update(
        ZAI_BASE_URL=glm_endpoint.base_url,
        ZAI_API_KEY=glm_endpoint.api_key,
        PYTHONUNBUFFERED="1",
        # our private data dir (with the venv-python kernelspec) before the venv's share/jupyter
        JUPYTER_PREFER_ENV_PATH="0",
    )
    port = _free_port()
    log = home / "jupyterlab.log"
    cmd = [
        sys.executable, "-m", "jupyterlab",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={LAB_TOKEN}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.allow_root=True",
        "--ServerApp.open_browser=False",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LanguageServerManager.autodetect=False",
    ]  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
    lab = JupyterLabServer(f"http://127.0.0.1:{port}", LAB_TOKEN, root, proc.pid, log)
    try:
        deadline = time.monotonic() + LAB_START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {proc.returncode}:\n{lab.log_tail()}")
            try:
                lab.api("GET", "/api/status", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not answer /api/status:\n{lab.log_tail()}")
                time.sleep(0.25)
        yield lab
    finally:
        _stop_lab(lab, proc)


def _stop_lab(lab: JupyterLabServer, proc: subprocess.Popen) -> None:
    """Shut the server down (it stops its kernels), then make sure its PID is gone."""
    if proc.poll() is None:
        try:
            lab.api("POST", "/api/shutdown", timeout=5)
        except Exception:
            pass
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


# -- the browser --------------------------------------------------------------------------------

# Helpers installed in every page before JupyterLab loads; they read `window.jupyterapp` lazily.
PAGE_HELPERS = r"""
window.__glmt = {
  panel(path) {
    const app = window.jupyterapp;
    if (!app) return null;
    const cur = app.shell.currentWidget;
    if (path === undefined) return cur && cur.content && cur.sessionContext ? cur : null;
    for (const w of app.shell.widgets('main')) {
      if (w.context && w.context.path === path) return w;
    }
    return null;
  },
  kernelState(path) {
    const p = this.panel(path);
    const k = p && p.sessionContext.session && p.sessionContext.session.kernel;
    return k ? {connection: k.connectionStatus, status: k.status, id: k.id} : null;
  },
  cells(path) {
    const p = this.panel(path);
    if (!p) return null;
    return p.content.widgets.map((c, i) => ({
      index: i,
      type: c.model.type,
      state: c.model.type === 'code' ? c.model.executionState : 'idle',
      count: c.model.type === 'code' ? c.model.executionCount : null,
      outputs: c.model.type === 'code' ? c.model.outputs.length : 0,
    }));
  },
};
"""


@pytest.fixture(scope="session")
def browser_context(chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=chromium_path,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        ctx.add_init_script(PAGE_HELPERS)
        try:
            yield ctx
        finally:
            ctx.close()


class Lab:
    """One browser page on the session's JupyterLab, with notebook helpers."""

    def __init__(self, page: Any, server: JupyterLabServer, name: str) -> None:
        self.page = page
        self.server = server
        self.name = name
        self.path: str | None = None
        self.console: list[str] = []
        self.shots = 0
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))

    # -- notebooks on disk --------------------------------------------------------------------

    def write_notebook(self, cells: list[str | tuple[str, str]], name: str | None = None) -> str:
        """Write a notebook of code cells (or `("markdown", text)` pairs); returns its path."""
        import nbformat

        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        for cell in cells:
            if isinstance(cell, tuple) and cell[0] == "markdown":
                nb.cells.append(nbformat.v4.new_markdown_cell(cell[1]))
            else:
                nb.cells.append(nbformat.v4.new_code_cell(cell if isinstance(cell, str) else cell[1]))
        path = name or f"{self.name}-{uuid.uuid4().hex[:6]}.ipynb"
        nbformat.write(nb, self.server.root / path)
        return path

    def read_notebook(self, path: str | None = None) -> Any:
        import nbformat

        return nbformat.read(self.server.root / (path or self.path), as_version=4)

    # -- opening and the kernel ---------------------------------------------------------------

    def open(self, path: str, *, wait_kernel: bool = True) -> None:
        """Open `path` in a fresh workspace (`?reset`) and wait for its kernel to be idle."""
        self.path = path
        url = f"{self.server.url}/lab/tree/{path}?reset&token={self.server.token}"
        self.page.goto(url, wait_until="domcontentloaded")
        self.page.wait_for_function(
            "p => { const w = window.__glmt.panel(p); return !!(w && w.context.isReady); }",
            arg=path,
            timeout=KERNEL_TIMEOUT * 1000,
        )
        if wait_kernel:
            self.wait_kernel_idle()
        self.page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(state="visible")

    def kernel_state(self) -> dict | None:
        return self.page.evaluate("p => window.__glmt.kernelState(p)", self.path)

    def wait_kernel_idle(self, timeout: float = KERNEL_TIMEOUT) -> float:
        """Wait until the kernel is connected and idle; returns the seconds waited."""
        t0 = time.monotonic()
        self.page.wait_for_function(
            """p => { const s = window.__glmt.kernelState(p);
                      return !!s && s.connection === 'connected' && s.status === 'idle'; }""",
            arg=self.path,
            timeout=timeout * 1000,
            polling=50,
        )
        return time.monotonic() - t0

    def cells(self) -> list[dict]:
        return self.page.evaluate("p => window.__glmt.cells(p)", self.path)

    # -- running ------------------------------------------------------------------------------

    def command(self, name: str, args: dict | None = None, *, wait: bool = True) -> None:
        """Execute a JupyterLab command; with `wait=False` its promise is not awaited."""
        if wait:
            self.page.evaluate("([n, a]) => window.jupyterapp.commands.execute(n, a)", [name, args or {}])
        else:
            self.page.evaluate(
                "([n, a]) => { window.jupyterapp.commands.execute(n, a); }", [name, args or {}]
            )

    def run_all(self) -> None:
        """Start running every cell and return at once (to watch the outputs stream)."""
        self.page.evaluate(
            "p => { const w = window.__glmt.panel(p); window.jupyterapp.shell.activateById(w.id);"
            " window.jupyterapp.commands.execute('notebook:run-all-cells'); }",
            self.path,
        )
        # the first cell is marked running before we go on, so wait_done cannot return early
        self.page.wait_for_function(
            "p => window.__glmt.cells(p).some(c => c.state === 'running' || c.count !== null)",
            arg=self.path,
            timeout=10_000,
            polling=20,
        )

    def wait_done(self, timeout: float = 120.0) -> float:
        """Wait until no cell is running, every code cell ran and the kernel is idle."""
        t0 = time.monotonic()
        self.page.wait_for_function(
            """p => { const cs = window.__glmt.cells(p); const s = window.__glmt.kernelState(p);
                      return !!cs && !!s && s.status === 'idle'
                        && cs.every(c => c.type !== 'code' || (c.state !== 'running' && c.count !== null)); }""",
            arg=self.path,
            timeout=timeout * 1000,
            polling=50,
        )
        return time.monotonic() - t0

    def run_all_and_wait(self, timeout: float = 120.0) -> None:
        self.run_all()
        self.wait_done(timeout)

    def wait_cell_running(self, index: int, timeout: float = 30.0) -> None:
        self.page.wait_for_function(
            "([p, i]) => window.__glmt.cells(p)[i].state === 'running'",
            arg=[self.path, index],
            timeout=timeout * 1000,
            polling=20,
        )

    def interrupt_from_toolbar(self) -> None:
        """Click the notebook toolbar's interrupt button (the square)."""
        self.page.locator(
            ".jp-NotebookPanel-toolbar [data-command='notebook:interrupt-kernel']"
        ).first.click()

    def save(self) -> None:
        self.command("docmanager:save")
        self.page.wait_for_function(
            "p => { const w = window.__glmt.panel(p); return !!w && !w.context.model.dirty; }",
            arg=self.path,
            timeout=20_000,
        )

    def reopen(self) -> None:
        """Close the page's notebook view and open the saved file again (same kernel session)."""
        self.open(self.path)

    # -- the DOM ------------------------------------------------------------------------------

    def cell(self, index: int) -> Any:
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").nth(index)

    def output(self, index: int) -> Any:
        return self.cell(index).locator(".jp-OutputArea")

    def output_text(self, index: int) -> str:
        """The visible text of a cell's output area (as a person would read it)."""
        return self.output(index).inner_text()

    def output_html(self, index: int) -> str:
        return self.output(index).inner_html()

    def screenshot(self, label: str = "") -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.shots += 1
        stem = f"{self.name}-{label}" if label else self.name
        path = ARTIFACTS / f"{stem}.png"
        self.page.screenshot(path=str(path), full_page=False)
        return path


def _test_name(node: pytest.Item) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", node.name).strip("_")[:80]


@pytest.fixture
def lab(
    browser_context: Any, jupyter_lab: JupyterLabServer, request: pytest.FixtureRequest
) -> Iterator[Lab]:
    """A fresh page on the session's JupyterLab; screenshot and kernel shutdown afterwards."""
    page = browser_context.new_page()
    page.set_default_timeout(30_000)
    helper = Lab(page, jupyter_lab, _test_name(request.node))
    try:
        yield helper
    finally:
        try:
            helper.screenshot()
        except Exception as exc:  # a closed/crashed page should not hide the test's own error
            print(f"screenshot failed: {exc}")
        if helper.console:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            (ARTIFACTS / f"{helper.name}-console.log").write_text("\n".join(helper.console) + "\n")
        page.close()
        _shutdown_sessions(jupyter_lab)


def _shutdown_sessions(lab: JupyterLabServer) -> None:
    """Stop the kernels this test started (2 cores: idle kernels still cost)."""
    try:
        for session in lab.api("GET", "/api/sessions") or []:
            lab.api("DELETE", f"/api/sessions/{session['id']}")
    except Exception as exc:
        print(f"could not shut the kernels down: {exc}")
