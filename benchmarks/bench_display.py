"""What the live `%%glm` display costs per answer character, at a fast and a model-like pace:
this checkout next to a baseline tree (and the physical limit), in real kernels.

For each case a fresh kernel runs `%%glm [[huge=N,delay=D]]` against the local server and we sum
the JSON of every display message the cell sends (`display_data`, `update_display_data`, the
final `execute_result`): bytes per answer character, split into live and final. The limit is one
byte per character of text plus the final HTML once; the final HTML of this Markdown (code,
tables, math) alone is ~5 bytes per character. Peers (chatlas, lisette) are run when installed.

    .venv/bin/python benchmarks/bench_display.py                        # this checkout only
    .venv/bin/python benchmarks/bench_display.py --baseline /path/tree  # before/after ratios

Figures are printed, not asserted (the machine is shared; compare ratios from the same run).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from glm_notebook.server import LocalServer  # noqa: E402
from tests.kernel_harness import Kernel  # noqa: E402

#: (answer characters, seconds between 4–8-character chunks): ~300 chars/s is a model's pace.
CASES = ((5_000, 0.02), (20_000, 0.002), (100_000, 0.0))
LIVE = ("display_data", "update_display_data")


CLIENT = """
import time
from glm_notebook import GLMClient
_t0 = time.process_time()
for _ in GLMClient().stream([{"role": "user", "content": %r}]):
    pass
print(time.process_time() - _t0)
"""


def measure(tree: Path, server: LocalServer, size: int, delay: float) -> tuple[float, ...]:
    """(live, final) display bytes and (cell, client) kernel CPU µs per answer character for one
    answer, in a fresh kernel."""
    env = dict(os.environ, ZAI_BASE_URL=server.base_url, ZAI_API_KEY=server.api_key, PYTHONPATH=str(tree))
    kernel = Kernel(env, cwd=str(tree))
    prompt = f"[[huge={size},delay={delay}]] Write"
    try:
        kernel.run("%load_ext glm_notebook")
        kernel.run("%%glm\n[[huge=2000]] Warm up")  # first-use imports are not per character
        kernel.run("import time\n_t0 = time.process_time()")
        run = kernel.run(f"%%glm\n{prompt}", timeout=900)
        cell = float(kernel.run("print(time.process_time() - _t0)").stdout)
        client = float(kernel.run(CLIENT % prompt, timeout=900).stdout)
    finally:
        kernel.shutdown()
    live = sum(len(json.dumps(c)) for kind, c in run.messages if kind in LIVE)
    final = sum(len(json.dumps(c)) for kind, c in run.messages if kind == "execute_result")
    return live / size, final / size, cell / size * 1e6, client / size * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline", type=Path, default=None, help="another checkout to compare")
    args = parser.parse_args()
    trees = [("this", REPO)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    peers = [name for name in ("chatlas", "lisette") if importlib.util.find_spec(name)]
    print(f"peers installed: {', '.join(peers) or 'none (pip install chatlas lisette to compare)'}")
    print(
        f"{'answer':>8} {'chars/s':>8} {'tree':>9} {'live B/char':>12} {'final B/char':>13} {'total':>7}"
        f" {'CPU µs/char':>12} {'client':>7}"
    )
    with LocalServer() as server:
        for size, delay in CASES:
            pace = f"{6 / delay:,.0f}" if delay else "max"
            totals = {}
            for name, tree in trees:
                live, final, cpu, client = measure(tree, server, size, delay)
                totals[name] = live + final
                print(
                    f"{size:>8,} {pace:>8} {name:>9} {live:>12.1f} {final:>13.1f} {live + final:>7.1f}"
                    f" {cpu:>12.1f} {client:>7.1f}"
                )
            if "baseline" in totals:
                print(
                    f"{'':>8} {'':>8} {'ratio':>9} {'':>12} {'':>13} {totals['this'] / totals['baseline']:>7.2f}"
                )


if __name__ == "__main__":
    main()
