"""Reopening a saved notebook with a huge `%%glm` answer (issue 13), in real JupyterLab / Notebook 7.

For each answer size, a notebook (a `%load_ext glm_notebook` cell, then `%%glm` with `[[huge=N]]`)
is executed with nbclient against the local server, with this checkout and with a baseline tree
(`--baseline DIR`, executed with `PYTHONPATH=DIR`), and saved through the Jupyter server's
contents API as JupyterLab saves a notebook: by default signed, as the user's own notebook is
(JupyterLab then renders its HTML as is; `--trust untrusted` measures a notebook received from
someone else, whose HTML JupyterLab sanitises). Then each saved notebook is opened in
a fresh page of headless Debian Chromium (the browser tests' harness: `tests/browser/conftest.py`)
and we read, from navigation start:

- `shown`: the cell's last output is in the DOM (the `.glm-reply` final view when it has one);
- `ready`: `shown`, and no main-thread long task (> 50 ms, Long Tasks API) for `--quiet` seconds
  after: the time of the later of the two;
- the longest long task, the sum of all long tasks, and Chromium's `Performance.getMetrics`
  (JS heap used after a GC, DOM nodes, seconds of style recalculation + layout, of script);
- whether the tab crashed (then the row says so).

A page not shown and idle within `--timeout` is reported as such; the check itself runs in the
page, so a main thread blocked for minutes (the baseline's 5 MB notebook) delays the report, and
closing that page waits until its renderer is done (or killed).

A tiny answer (1,000 characters, this checkout) is opened first as the floor: what JupyterLab
itself takes to open a notebook on this machine.

    .venv/bin/python benchmarks/bench_reopen.py                                    # this checkout
    .venv/bin/python benchmarks/bench_reopen.py --baseline /work/wt/base-reopen   # with ratios
    .venv/bin/python benchmarks/bench_reopen.py --sizes 1000000,5000000 --frontends lab,nb7

Figures are printed, not asserted (the machine is shared; compare ratios from the same run).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import nbformat  # noqa: E402
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError  # noqa: E402

from glm_notebook.server import LocalServer, ServerConfig  # noqa: E402
from tests import refresh_notebooks  # noqa: E402
from tests.browser.conftest import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    PAGE_HELPERS,
    GLMEndpoint,
    JupyterLabServer,
    _page_on,
    _stop_lab,
    start_jupyter,
)

FLOOR_SIZE = 1_000

# Installed in each measured page before JupyterLab loads: long tasks, and the first animation
# frame at which the cell's last output is in the DOM (`__REOPEN_WANT__`: how many outputs, and
# whether the last one must hold `.glm-reply`).
JS_WATCH = r"""
(() => {
  const want = __REOPEN_WANT__;
  const r = window.__reopen = {tasks: [], shown: null};
  try {
    new PerformanceObserver(list => {
      for (const e of list.getEntries()) r.tasks.push([e.startTime, e.duration]);
    }).observe({type: 'longtask', buffered: true});
  } catch (e) { r.noLongTasks = String(e); }
  const shown = () => {
    const cells = document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell');
    const area = cells.length === 2 && cells[1].querySelector('.jp-OutputArea');
    if (!area) return false;
    const kids = area.querySelectorAll(':scope > .jp-OutputArea-child');
    if (kids.length !== want.outputs) return false;
    const last = kids[kids.length - 1];
    return want.reply ? !!last.querySelector('.glm-reply') : last.textContent.trim().length > 0;
  };
  const frame = () => {
    if (shown()) { r.shown = performance.now(); return; }
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
})();
"""

JS_STATE = """() => { const r = window.__reopen; if (!r) return null;
  const ends = r.tasks.map(([s, d]) => s + d);
  return {now: performance.now(), shown: r.shown, lastTaskEnd: ends.length ? Math.max(...ends) : 0,
          longest: r.tasks.reduce((m, [, d]) => Math.max(m, d), 0),
          total: r.tasks.reduce((m, [, d]) => m + d, 0), count: r.tasks.length,
          noLongTasks: r.noLongTasks || null}; }"""

#: The state once the last output is shown and no long task came for `quiet` ms; else null.
JS_READY = f"""quiet => {{ const s = ({JS_STATE})();
  return s && s.shown !== null && s.now - Math.max(s.shown, s.lastTaskEnd) >= quiet ? s : null; }}"""


@dataclass
class Saved:
    """A saved notebook: where, how many outputs its cell left, its size on disk."""

    path: Path
    outputs: int
    size: int
    reply: bool  # the last output is a `.glm-reply` final view
    seconds: float  # executing it


def execute(tree: Path, endpoint: GLMEndpoint, size: int, dest: Path) -> Saved:
    """Run the notebook in a fresh kernel importing `glm_notebook` from `tree`; save it as `dest`."""
    t0 = time.monotonic()
    done = refresh_notebooks.huge_answer_notebook(
        dest, size, base_url=endpoint.base_url, api_key=endpoint.api_key, tree=tree, timeout=1800
    )
    nbformat.write(done, dest)
    return load(dest, time.monotonic() - t0)


def load(path: Path, seconds: float = 0.0) -> Saved:
    outputs = nbformat.read(path, as_version=4).cells[1].outputs
    reply = bool(outputs) and "glm-reply" in str(outputs[-1].get("data", {}).get("text/html", ""))
    return Saved(path, len(outputs), path.stat().st_size, reply, seconds)


def measure(
    ctx: Any, server: JupyterLabServer, saved: Saved, name: str, timeout: float, quiet: float
) -> dict:
    """Open `saved` (already in the server's root) in a fresh page and read the figures."""
    want = json.dumps({"outputs": saved.outputs, "reply": saved.reply})
    with _page_on(ctx, server, name) as lab:
        crashed: list[bool] = []
        lab.page.on("crash", lambda _page: crashed.append(True))
        lab.page.add_init_script(JS_WATCH.replace("__REOPEN_WANT__", want))
        cdp = ctx.new_cdp_session(lab.page)
        cdp.send("Performance.enable")
        lab.path = saved.path.name
        t0 = time.monotonic()
        row: dict = {"crashed": False, "timeout": False}
        try:
            lab.page.goto(lab.url_for(saved.path.name), wait_until="commit", timeout=timeout * 1000)
            # (the driver enforces the timeout even while the page's main thread is blocked)
            state = lab.page.wait_for_function(
                JS_READY,
                arg=quiet * 1000,
                timeout=max(1.0, timeout - (time.monotonic() - t0)) * 1000,
                polling=200,
            ).json_value()
        except PlaywrightTimeoutError:
            row.update(timeout=True, wall=time.monotonic() - t0)
            return row
        except Exception as exc:  # the tab crashed (or the page closed under us)
            if not crashed and "crash" not in str(exc).lower():
                raise
            row.update(crashed=True, wall=time.monotonic() - t0)
            return row
        cdp.send("HeapProfiler.collectGarbage")
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        row.update(
            shown=state["shown"] / 1000,
            ready=max(state["shown"], state["lastTaskEnd"]) / 1000,
            longest=state["longest"] / 1000,
            tasks=state["total"] / 1000,
            heap=metrics.get("JSHeapUsedSize", 0) / 1e6,
            nodes=int(metrics.get("Nodes", 0)),
            layout=metrics.get("RecalcStyleDuration", 0) + metrics.get("LayoutDuration", 0),
            script=metrics.get("ScriptDuration", 0),
            note=state["noLongTasks"],
        )
        return row


HEAD = (f"{'answer':>9} {'front':>5} {'tree':>8} | {'outputs':>7} {'saved':>9} | {'shown s':>7} "
        f"{'ready s':>7} {'longest':>7} {'tasks s':>7} {'heap MB':>7} {'nodes':>7} "
        f"{'style+layout s':>14} {'script s':>8}")  # fmt: skip
RATIO_KEYS = ("shown", "ready", "longest", "tasks", "heap", "nodes", "layout", "script")


def median(rows: list[dict]) -> dict:
    """The run with the median `ready` time; a crash or a timeout in any run wins (and says so)."""
    bad = [r for r in rows if "shown" not in r]
    if bad:
        return dict(bad[0], runs=f"{len(bad)} of {len(rows)} runs")
    ranked = sorted(rows, key=lambda r: r["ready"])
    return dict(ranked[len(ranked) // 2], spread=(ranked[0]["ready"], ranked[-1]["ready"]))


def line(size: int, front: str, tree: str, saved: Saved, r: dict) -> str:
    left = f"{size:>9,} {front:>5} {tree:>8} | {saved.outputs:>7,} {saved.size / 1e6:>7.2f}MB | "
    if r.get("crashed"):
        return left + f"tab crashed after {r['wall']:.1f} s ({r.get('runs', '1 run')})"
    if "shown" not in r:
        return left + f"not shown and idle after {r['wall']:.0f} s (timeout; {r.get('runs', '1 run')})"
    return left + (
        f"{r['shown']:>7.2f} {r['ready']:>7.2f} {r['longest']:>7.2f} {r['tasks']:>7.2f} "
        f"{r['heap']:>7.1f} {r['nodes']:>7,} {r['layout']:>14.2f} {r['script']:>8.2f}"
        + (
            f"  (ready {r['spread'][0]:.2f}-{r['spread'][1]:.2f} s)"
            if r["spread"][0] != r["spread"][1]
            else ""
        )
        + (f"  {r['note']}" if r.get("note") else "")
    )


def ratio_line(size: int, front: str, new: dict, old: dict) -> str:
    if "shown" not in new or "shown" not in old:
        return f"{size:>9,} {front:>5} {'ratio':>8} | (no ratio: a run did not finish)"
    cells = [new[k] / old[k] if old[k] else float("nan") for k in RATIO_KEYS]
    widths = (7, 7, 7, 7, 7, 7, 14, 8)
    return f"{size:>9,} {front:>5} {'ratio':>8} | {'':>7} {'':>9} | " + " ".join(
        f"{c:>{w}.2f}" for c, w in zip(cells, widths, strict=True)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="another tree to compare with (e.g. bef41d7)")
    parser.add_argument("--sizes", default="1000000", help="answer sizes, comma-separated")
    parser.add_argument("--frontends", default="lab", help="lab, nb7 or lab,nb7")
    parser.add_argument("--trust", choices=("trusted", "untrusted"), default="trusted")
    parser.add_argument("--quiet", type=float, default=2.0, help="seconds without a long task = idle")
    parser.add_argument("--timeout", type=float, default=300.0, help="give up on a page after this")
    parser.add_argument("--repeat", type=int, default=1, help="open each notebook N times (median)")
    parser.add_argument("--keep", type=Path, help="keep the executed notebooks here; reuse them if present")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    # `kill PID` still stops the Jupyter server, the local server and the browser (finally blocks)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    trees = [("this", REPO)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    sizes = [int(s) for s in args.sizes.split(",")]
    glm = LocalServer(ServerConfig(api_key="bench-key-0000", token_delay=0.0)).start()
    endpoint = GLMEndpoint(glm.base_url, glm.api_key, glm)
    work = Path(tempfile.mkdtemp(prefix="bench-reopen-"))
    keep = args.keep or work / "notebooks"
    keep.mkdir(parents=True, exist_ok=True)
    try:
        notebooks: dict[tuple[int, str], Saved] = {}
        for size, (name, tree) in [(FLOOR_SIZE, trees[0])] + [(s, t) for s in sizes for t in trees]:
            dest = keep / f"reopen-{name}-{size}.ipynb"
            if args.keep and dest.exists():
                notebooks[size, name] = load(dest)
                continue
            notebooks[size, name] = saved = execute(tree, endpoint, size, dest)
            print(f"executed {size:,} characters with {name} in {saved.seconds:.1f} s: "
                  f"{saved.outputs:,} outputs, {saved.size:,} bytes", flush=True)  # fmt: skip
        with sync_playwright() as pw:
            ctx = pw.chromium.launch_persistent_context(
                str(work / "profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                viewport={"width": 1400, "height": 1000},
            )  # fmt: skip
            ctx.add_init_script(PAGE_HELPERS)
            try:
                for front in args.frontends.split(","):
                    home, root = work / f"{front}-home", work / f"{front}-root"
                    root.mkdir()
                    server, proc = start_jupyter(front, "light", endpoint, home, root)
                    try:
                        print(
                            f"\n{front} ({args.trust} notebooks, idle = {args.quiet:g} s without a long task)"
                        )
                        print(HEAD)
                        for saved in notebooks.values():  # saved as JupyterLab saves: signed or not
                            nb = json.loads(saved.path.read_text())
                            server.put_notebook(saved.path.name, nb, trusted=args.trust == "trusted")
                        # warm the browser's cache with the floor notebook, then measure it
                        floor = notebooks[FLOOR_SIZE, "this"]
                        placed = Saved(root / floor.path.name, floor.outputs, floor.size, floor.reply, 0)
                        measure(ctx, server, placed, "bench-reopen-warmup", args.timeout, args.quiet)
                        floor_row = median([measure(ctx, server, placed, "bench-reopen-floor", args.timeout, args.quiet)
                                            for _ in range(args.repeat)])  # fmt: skip
                        print(line(FLOOR_SIZE, front, "this", floor, floor_row), flush=True)
                        for size in sizes:
                            runs: dict[str, list[dict]] = {name: [] for name, _ in trees}
                            for i in range(args.repeat):  # alternate which tree goes first
                                for name, _ in trees[:: 1 if i % 2 == 0 else -1]:
                                    saved = notebooks[size, name]
                                    placed = Saved(
                                        root / saved.path.name, saved.outputs, saved.size, saved.reply, 0
                                    )
                                    runs[name].append(measure(ctx, server, placed, f"bench-reopen-{front}-{name}-{size}",
                                                              args.timeout, args.quiet))  # fmt: skip
                            rows = {name: median(r) for name, r in runs.items()}
                            for name, _ in trees:
                                print(line(size, front, name, notebooks[size, name], rows[name]), flush=True)
                            if len(rows) == 2:
                                print(ratio_line(size, front, rows["this"], rows["baseline"]), flush=True)
                    finally:
                        _stop_lab(server, proc)
            finally:
                ctx.close()
    finally:
        glm.stop()


if __name__ == "__main__":
    main()
