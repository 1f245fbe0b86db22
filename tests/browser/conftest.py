"""Real JupyterLab and Notebook 7 in headless Chromium: the harness of the browser tests.

One of each per session: a local GLM server (the project's `server` fixture when
`tests/fixtures.py` has one, else our own), a JupyterLab on 127.0.0.1 whose kernels inherit
`ZAI_BASE_URL` / `ZAI_API_KEY`, and a Chromium profile (Debian's `/usr/bin/chromium`, driven by
Playwright's sync API). Per test: a fresh page wrapped in `Lab`, whose notebooks are written into
the server's temp root dir; a screenshot of every test is saved to `artifacts/browser/<test>.png`
and the test's kernels are shut down afterwards.

Fixtures:
- `lab`: a page on JupyterLab, light theme.
- `app`: the same `Lab` helper, parametrised over every front end: `lab-light`, `lab-dark`,
  `nb7-light`, `nb7-dark` (`app.kind`, `app.theme`). Each variant's server starts when a test
  first needs it (3-5 s); pytest groups the tests by variant and stops a server before the next.
- `in_frontends("lab-light", "nb7-dark")`: a decorator that runs an `app` test in those variants
  only (layout and keys differ by front end, colours by theme; each variant costs a run).
- `beacon`: a loopback HTTP server that records every request (`beacon.url`, `beacon.hits`).
`Lab` also records every request of its page (`requests`, `foreign_requests()`), reads the theme
and WCAG contrast of text (`theme_info()`, `contrast()`; `unreadable(rows)` keeps the rows under
the bar), records layout (`record_layout()` / `layout()`: an element's height and the notebook
scroller's scrollTop on every animation frame, DOM mutation and scroll event) and crops
screenshots to an element (`shot()`).

Run alone:

    .venv/bin/python -m pytest tests/browser -m browser

What the tests read from the product's DOM (keep these stable, or update the tests): in `%%glm`
outputs `details.glm-reasoning` (reasoning), `.glm-status` (the waiting line), `.glm-math`
(MathML); in the chat widget `.glm-footer` / `.glm-chat-stopped` / `.glm-chat-error` (how a turn
ended). Everything else is JupyterLab's own DOM, text content, or `window.jupyterapp` (also
exposed by Notebook 7, whose notebook DOM is JupyterLab's: same selectors, same scroller
`.jp-WindowedPanel-outer`).

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
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}
FRONTEND_KINDS = ("lab", "nb7")


# -- skip / fail when there is no browser -------------------------------------------------------


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        if _in_ci():
            pytest.fail(
                f"{CHROMIUM} is missing and CI is set: install Debian's chromium (bash .ci/setup test)"
            )
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
    kind: str = "lab"  # "lab" (JupyterLab) or "nb7" (Notebook 7)
    theme: str = "light"  # "light" or "dark"

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

    def put_notebook(self, path: str, nb: Any, *, trusted: bool) -> None:
        """Save notebook `nb` (a dict) as `path` through the contents API, as JupyterLab saves
        one: with `trusted`, every code cell is marked trusted, so the server signs it (reopened,
        its HTML is rendered as is); without, it stays unsigned (its HTML is sanitised)."""
        cells = [
            dict(c, metadata=dict(c.get("metadata", {}), trusted=trusted)) if c["cell_type"] == "code" else c
            for c in nb["cells"]
        ]  # fmt: skip
        content = dict(nb, cells=cells)
        self.api(
            "PUT", f"/api/contents/{path}", {"type": "notebook", "format": "json", "content": content}, 300
        )

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_lab_home(home: Path, theme: str = "light") -> dict[str, str]:
    """Private Jupyter dirs: the venv's Python as the only `python3` kernel, no news, no updates,
    and the JupyterLab theme `theme` ("light" or "dark"; Notebook 7 reads the same settings)."""
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
    (notif / "themes.jupyterlab-settings").write_text(json.dumps({"theme": THEMES[theme]}))
    return {k: str(v) for k, v in dirs.items()}


def start_jupyter(
    kind: str, theme: str, endpoint: GLMEndpoint, home: Path, root: Path
) -> tuple[JupyterLabServer, subprocess.Popen]:
    """Start JupyterLab (`kind="lab"`) or Notebook 7 (`"nb7"`) on 127.0.0.1 and wait for it.

    Its kernels inherit `ZAI_BASE_URL` / `ZAI_API_KEY` of `endpoint`; `home` holds its private
    Jupyter dirs (theme `theme`), `root` its notebooks. Stop it with `_stop_lab`.
    """
    if kind not in FRONTEND_KINDS or theme not in THEMES:
        raise ValueError(f"unknown front end {kind!r} / theme {theme!r}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "JPY_"))}
    env.update(_write_lab_home(home, theme))
    env.update(
        ZAI_BASE_URL=endpoint.base_url,
        ZAI_API_KEY=endpoint.api_key,
        PYTHONUNBUFFERED="1",
        # our private data dir (with the venv-python kernelspec) before the venv's share/jupyter
        JUPYTER_PREFER_ENV_PATH="0",
    )
    port = _free_port()
    log = home / f"{kind}-{theme}.log"
    app = "LabApp" if kind == "lab" else "JupyterNotebookApp"
    cmd = [
        sys.executable, "-m", "jupyterlab" if kind == "lab" else "notebook",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={LAB_TOKEN}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.allow_root=True",
        "--ServerApp.open_browser=False",
        f"--{app}.expose_app_in_browser=True",
        "--LanguageServerManager.autodetect=False",
    ]  # fmt: skip
    if kind == "lab":
        cmd += ["--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
    lab = JupyterLabServer(f"http://127.0.0.1:{port}", LAB_TOKEN, root, proc.pid, log, kind, theme)
    try:
        deadline = time.monotonic() + LAB_START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{kind} exited with {proc.returncode}:\n{lab.log_tail()}")
            try:
                lab.api("GET", "/api/status", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{kind} did not answer /api/status:\n{lab.log_tail()}") from None
                time.sleep(0.25)
    except BaseException:
        _stop_lab(lab, proc)
        raise
    return lab, proc


@pytest.fixture(scope="session")
def jupyter_lab(
    chromium_path: str, glm_endpoint: GLMEndpoint, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[JupyterLabServer]:
    """JupyterLab, light theme: the server of the `lab` fixture and of `app[lab-light]`."""
    home = tmp_path_factory.mktemp("lab-home")
    root = tmp_path_factory.mktemp("lab-root")
    lab, proc = start_jupyter("lab", "light", glm_endpoint, home, root)
    try:
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
  // The element that scrolls the notebook: `.jp-WindowedPanel-outer` in JupyterLab 4 and in
  // Notebook 7 alike; else the nearest scrollable ancestor of the first cell.
  scroller(path) {
    const p = this.panel(path);
    if (!p) return null;
    const outer = p.node.querySelector('.jp-WindowedPanel-outer');
    if (outer) return outer;
    for (let n = p.node.querySelector('.jp-Cell'); n; n = n.parentElement) {
      const o = getComputedStyle(n).overflowY;
      if ((o === 'auto' || o === 'scroll') && n.scrollHeight > n.clientHeight) return n;
    }
    return document.scrollingElement;
  },
  theme() {
    const b = document.body;
    const c0 = getComputedStyle(b).getPropertyValue('--jp-layout-color0').trim();
    return {name: b.dataset.jpThemeName || null, light: b.dataset.jpThemeLight === 'true',
            layoutColor0: c0, layoutRGB: this.rgba(c0)};
  },
  // Layout recorders: `name` -> the element's height and the scroller's scrollTop, sampled on
  // every animation frame (a row only when something changed; `frames` counts them all), in a
  // MutationObserver on the element (reading the size there forces layout, where the browser
  // clamps scrollTop) and on every scroll event of the scroller.
  recorders: {},
  recordLayout(name, el, scroller) {
    this.stopLayout(name);
    const t0 = performance.now();
    const rec = {series: [], frames: 0, raf: 0, last: '', el, scroller};
    const sample = (src) => {
      const r = el.getBoundingClientRect();
      const row = {t: performance.now() - t0, src, height: r.height, top: r.top,
                   connected: el.isConnected,
                   scrollTop: scroller ? scroller.scrollTop : null,
                   scrollHeight: scroller ? scroller.scrollHeight : null};
      const key = [row.height, row.top, row.connected, row.scrollTop, row.scrollHeight].join();
      if (src === 'frame' && key === rec.last) return;
      rec.last = key;
      rec.series.push(row);
    };
    const frame = () => { rec.frames += 1; sample('frame'); rec.raf = requestAnimationFrame(frame); };
    rec.observer = new MutationObserver(() => sample('mutation'));
    rec.observer.observe(el, {childList: true, subtree: true, characterData: true, attributes: true});
    rec.onScroll = () => sample('scroll');
    if (scroller) scroller.addEventListener('scroll', rec.onScroll, {passive: true});
    sample('start');
    rec.raf = requestAnimationFrame(frame);
    this.recorders[name] = rec;
  },
  layoutSeries(name) {
    const rec = this.recorders[name];
    return rec ? {series: rec.series, frames: rec.frames} : null;
  },
  stopLayout(name) {
    const rec = this.recorders[name];
    if (!rec) return null;
    cancelAnimationFrame(rec.raf);
    rec.observer.disconnect();
    if (rec.scroller) rec.scroller.removeEventListener('scroll', rec.onScroll);
    delete this.recorders[name];
    return {series: rec.series, frames: rec.frames};
  },
  // WCAG contrast of the text of every visible element under `root` that has text of its own
  // (or of those matching `selector`) against its effective background: translucent colours and
  // backgrounds are composited over what is beneath them (white under everything), and CSS
  // opacity between the text and its background fades the text. Returns the rows.
  rgba(css) {
    const c = this._ctx || (this._ctx = Object.assign(document.createElement('canvas'), {width: 1, height: 1})
      .getContext('2d', {willReadFrequently: true}));
    c.clearRect(0, 0, 1, 1);
    c.fillStyle = '#000'; c.fillStyle = css; c.fillRect(0, 0, 1, 1);
    const d = c.getImageData(0, 0, 1, 1).data;
    return [d[0], d[1], d[2], d[3] / 255];
  },
  contrast(root, selector) {
    const over = (top, under) => [0, 1, 2].map(i => top[i] * top[3] + under[i] * (1 - top[3]));
    const lum = (c) => { const [r, g, b] = c.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
                         return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
    // the colour under `el`'s text, and the opacity of the elements between (`opacity: .6`
    // mutes the text against that background)
    const background = (el) => {
      const layers = [];
      let opacity = 1;
      for (let n = el; n; n = n.parentElement) {
        const style = getComputedStyle(n);
        const bg = this.rgba(style.backgroundColor);
        if (bg[3] > 0) { layers.push(bg); if (bg[3] >= 1) break; }
        opacity *= Number(style.opacity);
      }
      let under = [255, 255, 255];
      for (const l of layers.reverse()) under = over(l, under);
      return [under, opacity];
    };
    const els = selector ? [...root.querySelectorAll(selector)] : [root, ...root.querySelectorAll('*')];
    const rows = [];
    for (const el of els) {
      const own = [...el.childNodes].some(n => n.nodeType === 3 && n.data.trim());
      if (!own || !el.checkVisibility()) continue;
      const [bg, opacity] = background(el);
      const color = this.rgba(getComputedStyle(el).color);
      const fg = over([...color.slice(0, 3), color[3] * opacity], bg);
      const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
      rows.push({tag: el.tagName.toLowerCase(), cls: el.getAttribute('class') || '',
                 text: el.textContent.trim().slice(0, 40), disabled: el.matches(':disabled'),
                 color: fg.map(Math.round),
                 background: bg.map(Math.round), ratio: (a + 0.05) / (b + 0.05)});
    }
    return rows;
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


@dataclass(frozen=True)
class PageRequest:
    """A request the page made (`method` is "WEBSOCKET" for a websocket)."""

    method: str
    url: str
    resource_type: str


class Lab:
    """One browser page on a JupyterLab or Notebook 7 server, with notebook helpers.

    `kind` ("lab" / "nb7") and `theme` ("light" / "dark") come from the server. Every request
    the page makes is in `requests` (see `foreign_requests`).
    """

    def __init__(self, page: Any, server: JupyterLabServer, name: str) -> None:
        self.page = page
        self.server = server
        self.name = name
        self.path: str | None = None
        self.console: list[str] = []
        self.requests: list[PageRequest] = []
        self.shots = 0
        self.layout_frames = 0  # animation frames seen by the last `layout()` read
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        page.on("request", lambda r: self.requests.append(PageRequest(r.method, r.url, r.resource_type)))
        page.on("websocket", lambda ws: self.requests.append(PageRequest("WEBSOCKET", ws.url, "websocket")))

    @property
    def kind(self) -> str:
        return self.server.kind

    @property
    def theme(self) -> str:
        return self.server.theme

    def foreign_requests(self) -> list[PageRequest]:
        """Requests to anywhere but the Jupyter server (data:, blob: and about: URLs aside)."""
        origins = (self.server.url + "/", self.server.url.replace("http", "ws", 1) + "/")
        return [
            r for r in self.requests
            if not r.url.startswith(origins) and not r.url.startswith(("data:", "blob:", "about:"))
        ]  # fmt: skip

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

    def url_for(self, path: str) -> str:
        """The page of notebook `path`: `/lab/tree/…?reset` (fresh workspace) or `/notebooks/…`."""
        if self.kind == "nb7":
            return f"{self.server.url}/notebooks/{path}?token={self.server.token}"
        return f"{self.server.url}/lab/tree/{path}?reset&token={self.server.token}"

    def open(self, path: str, *, wait_kernel: bool = True) -> None:
        """Open `path`, wait for the server's theme to apply and its kernel to be idle."""
        self.path = path
        self.page.goto(self.url_for(path), wait_until="domcontentloaded")
        self.page.wait_for_function(
            "p => { const w = window.__glmt.panel(p); return !!(w && w.context.isReady); }",
            arg=path,
            timeout=KERNEL_TIMEOUT * 1000,
        )
        self.page.wait_for_function(
            "name => document.body.dataset.jpThemeName === name", arg=THEMES[self.theme], timeout=20_000
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

    def show_cell(self, index: int) -> None:
        """Scroll cell `index` into view. Cells far off screen are not laid out (JupyterLab's
        windowing): their text reads as "" and their size as 0 until shown."""
        self.page.evaluate(
            "([p, i]) => window.__glmt.panel(p).content.scrollToItem(i, 'start')", [self.path, index]
        )
        self.cell(index).wait_for(state="visible")

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

    def shot(self, target: Any, path: Path | str) -> Path:
        """Screenshot of one element (a Locator, e.g. `cell(1)` or `output(1)`) into `path`.
        The page grows taller first if the element would not fit (JupyterLab's layout is fixed
        to the window: what lies outside it is not painted)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        target.scroll_into_view_if_needed()
        size, box = self.page.viewport_size, target.bounding_box()
        if box and box["height"] + 300 > size["height"]:
            self.page.set_viewport_size({"width": size["width"], "height": int(box["height"]) + 300})
            self.page.wait_for_timeout(300)  # JupyterLab lays out again on resize
            target.scroll_into_view_if_needed()
        target.screenshot(path=str(path), animations="disabled", caret="hide")
        return path

    # -- what the page looks like -------------------------------------------------------------

    def theme_info(self) -> dict:
        """`{"name", "light", "layoutColor0", "layoutRGB"}` of the page: which theme applies."""
        return self.page.evaluate("() => window.__glmt.theme()")

    def contrast(self, root: Any, selector: str | None = None) -> list[dict]:
        """WCAG contrast rows (`tag`, `cls`, `text`, `disabled`, `color`, `background`, `ratio`) of every
        visible element with text of its own under `root` (a Locator), or of those matching
        `selector`."""
        return self.page.evaluate(
            "([el, sel]) => window.__glmt.contrast(el, sel)", [root.element_handle(), selector]
        )

    def scroller(self) -> Any:
        """The element that scrolls the notebook (`.jp-WindowedPanel-outer`, Lab and Notebook 7)."""
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer").first

    def scroll_top(self) -> float:
        return self.page.evaluate("p => window.__glmt.scroller(p).scrollTop", self.path)

    def record_layout(self, target: Any, name: str = "layout", scroller: Any = None) -> None:
        """Start recording `target`'s height and top and the scroller's scrollTop/scrollHeight on
        every animation frame (changes only), every DOM mutation under `target` and every scroll
        event. `scroller` (a Locator) defaults to the notebook's scroller; read with `layout`."""
        scroll = scroller.element_handle() if scroller is not None else None
        self.page.evaluate(
            """([name, el, sc, p]) => window.__glmt.recordLayout(name, el, sc || window.__glmt.scroller(p))""",
            [name, target.element_handle(), scroll, self.path],
        )

    def layout(self, name: str = "layout", *, stop: bool = True) -> list[dict]:
        """The rows recorded so far (`t` ms, `src` "start"/"frame"/"mutation"/"scroll", `height`,
        `top`, `connected`, `scrollTop`, `scrollHeight`); `stop=False` keeps recording."""
        fn = "stopLayout" if stop else "layoutSeries"
        got = self.page.evaluate(f"n => window.__glmt.{fn}(n)", name)
        if got is None:
            raise AssertionError(f"no layout recorder named {name!r} is running")
        self.layout_frames = got["frames"]
        return got["series"]


def _test_name(node: pytest.Item) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", node.name).strip("_")[:80]


@contextmanager
def _page_on(browser_context: Any, server: JupyterLabServer, name: str) -> Iterator[Lab]:
    """A fresh page on `server` wrapped in `Lab`; screenshot, console log, kernels shut down after."""
    page = browser_context.new_page()
    page.set_default_timeout(30_000)
    helper = Lab(page, server, name)
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
        _shutdown_sessions(server)


@pytest.fixture
def lab(browser_context: Any, jupyter_lab: JupyterLabServer, request: pytest.FixtureRequest) -> Iterator[Lab]:
    """A fresh page on the session's JupyterLab; screenshot and kernel shutdown afterwards."""
    with _page_on(browser_context, jupyter_lab, _test_name(request.node)) as helper:
        yield helper


# -- every front end: JupyterLab and Notebook 7, light and dark -----------------------------------

FRONTENDS = [("lab", "light"), ("lab", "dark"), ("nb7", "light"), ("nb7", "dark")]


@pytest.fixture(scope="session", params=FRONTENDS, ids=[f"{k}-{t}" for k, t in FRONTENDS])
def frontend(
    request: pytest.FixtureRequest,
    chromium_path: str,
    glm_endpoint: GLMEndpoint,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[JupyterLabServer]:
    """One server per variant, started when a test first needs it. Lab-light is `jupyter_lab`;
    pytest groups the tests by variant and stops a variant's server before starting the next."""
    kind, theme = request.param
    if (kind, theme) == ("lab", "light"):
        yield request.getfixturevalue("jupyter_lab")
        return
    home = tmp_path_factory.mktemp(f"{kind}-{theme}-home")
    root = tmp_path_factory.mktemp(f"{kind}-{theme}-root")
    server, proc = start_jupyter(kind, theme, glm_endpoint, home, root)
    try:
        yield server
    finally:
        _stop_lab(server, proc)


@pytest.fixture
def app(browser_context: Any, frontend: JupyterLabServer, request: pytest.FixtureRequest) -> Iterator[Lab]:
    """Like `lab`, once per front end: JupyterLab and Notebook 7, each light and dark
    (ids `lab-light`, `lab-dark`, `nb7-light`, `nb7-dark`; `app.kind`, `app.theme`)."""
    with _page_on(browser_context, frontend, _test_name(request.node)) as helper:
        yield helper


def in_frontends(*variants: str) -> pytest.MarkDecorator:
    """Run a test that takes `app` in these variants only (ids of `FRONTENDS`, e.g. "nb7-dark").

    Layout, keys and scrolling differ by front end, colours by theme: pick the variants where
    the test can tell them apart. The session's servers are shared with the `app` tests."""
    ids = [f"{k}-{t}" for k, t in FRONTENDS]
    unknown = set(variants) - set(ids)
    if unknown:
        raise ValueError(f"unknown front ends {sorted(unknown)}; known: {ids}")
    chosen = [FRONTENDS[ids.index(v)] for v in variants]
    return pytest.mark.parametrize("frontend", chosen, indirect=True, ids=list(variants))


# -- readable text ------------------------------------------------------------------------------

MIN_CONTRAST = 4.5  # WCAG AA for body text
MIN_TOKEN_CONTRAST = 3.0  # syntax-highlighting token colours inside code blocks


def ours(rows: list[dict]) -> list[dict]:
    """Rows (from `Lab.contrast`) but Jupyter's own prompts ("[2]:"), which are not ours to judge."""
    return [r for r in rows if "jp-OutputPrompt" not in r["cls"] and "jp-InputPrompt" not in r["cls"]]


def unreadable(rows: list[dict]) -> list[dict]:
    """Rows under the bar: body text below 4.5, syntax-highlighting tokens below 3; disabled
    controls aside (WCAG exempts inactive controls; they are dimmed on purpose)."""
    return [
        r for r in ours(rows)
        if not r.get("disabled") and r["ratio"] < (MIN_TOKEN_CONTRAST if "glm-tok-" in r["cls"] else MIN_CONTRAST)
    ]  # fmt: skip


# -- a loopback beacon --------------------------------------------------------------------------


@dataclass(frozen=True)
class BeaconHit:
    method: str
    path: str
    headers: dict[str, str]


class Beacon:
    """A tiny HTTP server on 127.0.0.1 that answers everything with 204 and records it: point
    hostile content at `url` and assert that `hits` stays empty."""

    def __init__(self, lifetime: float = 600.0) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        hits: list[BeaconHit] = []
        self.hits = hits

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                hits.append(BeaconHit(self.command, self.path, dict(self.headers.items())))
                self.send_response(204)
                self.send_header("Access-Control-Allow-Origin", "*")
                self.end_headers()

            do_GET = do_POST = do_HEAD = do_OPTIONS = do_PUT = do_DELETE = _record

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="beacon", daemon=True)
        self._thread.start()
        # stops itself if nobody does (a test killed mid-way)
        self._timer = threading.Timer(lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()

    def stop(self) -> None:
        self._timer.cancel()
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)


@pytest.fixture
def beacon() -> Iterator[Beacon]:
    """A loopback beacon (`beacon.url`, `beacon.hits`), stopped after the test."""
    b = Beacon()
    try:
        yield b
    finally:
        b.stop()


def _shutdown_sessions(lab: JupyterLabServer) -> None:
    """Stop the kernels this test started (2 cores: idle kernels still cost)."""
    try:
        for session in lab.api("GET", "/api/sessions") or []:
            lab.api("DELETE", f"/api/sessions/{session['id']}")
    except Exception as exc:
        print(f"could not shut the kernels down: {exc}")
