"""What a huge `%%glm` answer costs the notebook (issue 13): this checkout next to a baseline tree.

For each answer size, a fresh real kernel (jupyter_client) runs `%%glm [[huge=N]]` against the
local server (after a 30k warm-up answer) and we read its iopub messages: wall time of the cell,
the kernel's memory (RSS before; peak; after the cell, the `Reply` alive in `Out`; after `del` of
the result, `%reset -f out` and three more results; then after glibc's `malloc_trim(0)`, which
tells memory still in use from freed memory the allocator kept), the number of messages, the peak
messages and bytes in any one second (by the kernel's send times; Jupyter Server drops output past
1,000 messages/s or 1 MB/s), the outputs the cell leaves (folded as nbclient saves them) and their
size in the saved notebook; then the same answer once more under tracemalloc: Python's peak and
what it keeps after the cell (the `Reply` alive), in bytes per answer byte. Then the bytes sent
when 200k characters of reasoning keep arriving after the answer began (redraw every 1,000
characters).

    .venv/bin/python benchmarks/bench_huge.py                        # this checkout only
    .venv/bin/python benchmarks/bench_huge.py --baseline /work/main  # before/after ratios
    .venv/bin/python benchmarks/bench_huge.py --sizes 100000,1000000,5000000

Figures are printed, not asserted (the machine is shared; compare ratios from the same run).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from glm_notebook.server import LocalServer, ServerConfig  # noqa: E402
from tests.kernel_harness import Kernel  # noqa: E402

INTERLEAVED = r"""
from glm_notebook.wire.events import ContentDelta, ReasoningDelta
from glm_notebook.render.live import LiveAnswer
live = LiveAnswer()
live.apply(ContentDelta("The answer begins.\n\n"))
sent = total = 0
piece = "reasoning goes on and on. " * 4
while total < 200_000:
    live.apply(ReasoningDelta(piece))
    total += len(piece)
    if total % 1_000 < len(piece):
        sent += sum(len(u.html) for u in live.changes())
print(sent)
"""

TRACED = """
import gc, tracemalloc
gc.collect()
tracemalloc.start()
_m0 = tracemalloc.get_traced_memory()[0]
"""
TRACED_END = """
gc.collect()
_m1, _peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
print(_peak - _m0, _m1 - _m0)
"""

TRIM = """
import ctypes, ctypes.util
ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)
print(_p.memory_info().rss)
"""


HELD = r"""
import gc as _gc
from glm_notebook import Reply as _Reply
_gc.collect()
_left = [o for o in _gc.get_objects() if isinstance(o, _Reply) and len(o.text) > 100_000]
print(len(_left), sorted({type(r).__name__ for o in _left for r in _gc.get_referrers(o)} - {"list"}))
del _left
"""


def measure(tree: Path, server: LocalServer, size: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), ZAI_BASE_URL=server.base_url, ZAI_API_KEY=server.api_key)
    kernel = Kernel(env, cwd=str(tree))  # (a kernel imports from its working directory first)
    try:
        kernel.run("%load_ext glm_notebook\nimport psutil, os\n_p = psutil.Process(os.getpid())")
        kernel.run("%%glm\n[[huge=30000]] Warm up")  # imports (Markdown, Pygments lexers) before measuring
        before = int(kernel.run("print(_p.memory_info().rss)").stdout)
        kernel.run("import resource")
        t0 = time.monotonic()
        run = kernel.run(f"%%glm -o big\n[[huge={size}]] Write a lot", timeout=1800)
        seconds = time.monotonic() - t0
        peak_rss = int(kernel.run("print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)").stdout)
        after = int(kernel.run("import gc; gc.collect(); print(_p.memory_info().rss)").stdout.split()[-1])
        kernel.run("del big\n%reset -f out")
        for value in range(3):  # IPython keeps `_`, `__`, `___` (also in user_ns_hidden) until 3 more results
            kernel.run(str(value))
        # "after del" is only true when no Reply is left: count them (and say what holds one).
        alive = kernel.run(HELD).stdout.strip()
        freed = int(kernel.run("gc.collect(); print(_p.memory_info().rss)").stdout)
        trimmed = int(kernel.run(TRIM).stdout)
        kernel.run(TRACED)
        kernel.run(f"%%glm -o big\n[[huge={size}]] Write a lot", timeout=1800)
        py_peak, py_kept = map(int, kernel.run(TRACED_END).stdout.split())
        top_messages, top_bytes = run.peak_per_second()
        return {
            "s": seconds,
            "rss0": before / 1e6,
            "rss": peak_rss / 1e6,
            "after": after / 1e6,
            "del": freed / 1e6,
            "trim": trimmed / 1e6,
            "held": alive,
            "py peak": py_peak / size,
            "py kept": py_kept / size,
            "msgs": len(run.messages),
            "msg/s": top_messages,
            "B/s": top_bytes,
            "outputs": len(run.outputs),
            "saved": len(json.dumps(run.outputs)),
            "kinds": dict(Counter(kind for kind, _ in run.messages)),
            "error": run.error and run.error.get("ename"),
        }
    finally:
        kernel.shutdown()


def interleaved(tree: Path) -> int:
    out = subprocess.run(
        [sys.executable, "-c", INTERLEAVED], env=dict(os.environ, PYTHONPATH=str(tree)),
        cwd=tree, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return int(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="another checkout to compare with (e.g. main)")
    parser.add_argument("--sizes", default="100000,1000000", help="answer sizes, comma-separated")
    args = parser.parse_args()
    trees = [("this", REPO)] + ([("baseline", args.baseline)] if args.baseline else [])
    server = LocalServer(ServerConfig(api_key="bench-key-0000")).start()
    try:
        print(f"{'answer':>9} {'tree':>8} | {'time s':>7} {'rss MB: before → peak':>21} "
              f"{'after':>6} {'del':>6} {'trim':>6} {'msgs':>6} {'msg/s':>6} "
              f"{'bytes/s':>10} {'outputs':>7} {'saved bytes':>12} {'py peak B/B':>11} {'kept B/B':>8}")  # fmt: skip
        for size in map(int, args.sizes.split(",")):
            rows = {name: measure(tree, server, size) for name, tree in trees}
            for name, r in rows.items():
                print(f"{size:>9,} {name:>8} | {r['s']:>7.1f} {r['rss0']:>13.0f} → {r['rss']:>5.0f} "
                      f"{r['after']:>6.0f} {r['del']:>6.0f} {r['trim']:>6.0f} "
                      f"{r['msgs']:>6,} {r['msg/s']:>6,} {r['B/s']:>10,} {r['outputs']:>7,} "
                      f"{r['saved']:>12,} {r['py peak']:>11.2f} {r['py kept']:>8.2f}"
                      f"  Replies left after del: {r['held']}"
                      + (f"  error: {r['error']}" if r["error"] else ""))  # fmt: skip
            if len(rows) == 2:
                a, b = rows["this"], rows["baseline"]
                print(f"{'':>9} {'ratio':>8} | {a['s'] / b['s']:>7.2f} {'':>13}   {a['rss'] / b['rss']:>5.2f} "
                      f"{a['after'] / b['after']:>6.2f} {a['del'] / b['del']:>6.2f} {a['trim'] / b['trim']:>6.2f} "
                      f"{a['msgs'] / b['msgs']:>6.2f} {a['msg/s'] / b['msg/s']:>6.2f} {a['B/s'] / b['B/s']:>10.2f} "
                      f"{a['outputs'] / b['outputs']:>7.3f} {a['saved'] / b['saved']:>12.3f}")  # fmt: skip
        for name, tree in trees:
            print(
                f"interleaved reasoning (200k chars, redraw every 1k), {name}: {interleaved(tree):,} bytes sent"
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
