"""What the live `%%glm` display costs per answer character, at a fast and a model-like pace:
this checkout next to a baseline tree (and the physical limit), in real kernels.

For each case a fresh kernel runs `%%glm [[huge=N,delay=D]]` against the local server and we sum
the JSON of every display message the cell sends (`display_data`, `update_display_data`, the
final `execute_result`): bytes per answer character, split into live and final. The floor, from
the same run, is what rendering live and saving once cannot go below: each display's last
message (the state it ended in, sent once) plus the final result; `×floor` is the total over it.
The final HTML of this Markdown (code, tables, math) alone is ~5 bytes per character. Peers
(chatlas, lisette) are named when installed; the issue's figures for them came from their own
notebooks' messages.

    .venv/bin/python benchmarks/bench_display.py                        # this checkout only
    .venv/bin/python benchmarks/bench_display.py --baseline /path/tree  # before/after ratios
    .venv/bin/python benchmarks/bench_display.py --peers /tmp/peers/bin/python
        # and chatlas / lisette, from a venv that has them and ipykernel:
        #   python -m venv /tmp/peers
        #   /tmp/peers/bin/pip install chatlas openai lisette "toolslm<0.3.48" ipykernel

Figures are printed, not asserted (the machine is shared; compare ratios from the same run).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def _sizes(run: Any) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """(kind, bytes of its JSON, content) of every display message a cell sent."""
    for kind, content in run.messages:
        if kind in LIVE or kind == "execute_result":
            yield kind, len(json.dumps(content)), content


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
    live = final = 0
    last: dict[str, int] = {}  # each display's last message: the state it ended in, sent once
    for kind, size_of, content in _sizes(run):
        if kind == "execute_result":
            final += size_of
        else:
            live += size_of
            last[content["transient"]["display_id"]] = size_of
    floor = sum(last.values()) + final
    return live / size, final / size, floor / size, cell / size * 1e6, client / size * 1e6


#: The same prompt through each peer's documented notebook streaming (both re-send the whole
#: Markdown on every chunk): chatlas's `Chat.chat()` echo, lisette's `display_stream`.
PEERS = {
    "chatlas": (
        "from chatlas import ChatOpenAICompletions\n"
        "_chat = ChatOpenAICompletions(base_url={base!r}, api_key={key!r}, model='glm-4.6')\n"
        # (without `stream_options`, which the local server refuses as it refuses any field the
        # service does not document)
        "_chat.chat({prompt!r}, kwargs={{'stream_options': __import__('openai').NOT_GIVEN}})"
    ),
    "lisette": (
        "from lisette import Chat\nfrom lisette.core import display_stream\n"
        "_chat = Chat('openai/glm-4.6', api_base={base!r}, api_key={key!r},"
        " callkw={{'additional_drop_params': ['stream_options']}})\n"
        "display_stream(_chat({prompt!r}, stream=True))"
    ),
}


def peer_available(python: str, name: str) -> bool:
    return subprocess.run([python, "-c", f"import {name}, ipykernel"], capture_output=True).returncode == 0


def measure_peer(python: str, name: str, server: LocalServer, size: int, delay: float) -> float | None:
    """Display bytes per answer character of one peer's cell (live and final together; None if
    it showed nothing). lisette's `display_stream` raises IndexError once the answer is shown:
    litellm hands it the usage (which the service sends with the last chunk) as a chunk of its
    own without choices; its messages are counted all the same."""
    env = dict(os.environ, OPENAI_API_KEY=server.api_key, LITELLM_LOCAL_MODEL_COST_MAP="True")
    kernel = Kernel(env, cwd=tempfile.gettempdir(), python=python)
    prompt = f"[[huge={size},delay={delay}]] Write"
    try:
        code = PEERS[name].format(base=server.base_url, key=server.api_key, prompt=prompt)
        run = kernel.run(code, timeout=900)
    finally:
        kernel.shutdown()
    sent = sum(size_of for _, size_of, _ in _sizes(run))
    if run.error is not None:
        print(f"  ({name}'s cell ended with {run.error.get('ename')}: {run.error.get('evalue', '')[:120]})")
    return sent / size if sent else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline", type=Path, default=None, help="another checkout to compare")
    parser.add_argument("--peers", default=sys.executable, help="a Python with chatlas / lisette")
    args = parser.parse_args()
    trees = [("this", REPO)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    peers = [name for name in PEERS if peer_available(args.peers, name)]
    print(f"peers: {', '.join(peers) or 'none installed (see --peers)'}")
    print(
        f"{'answer':>8} {'chars/s':>8} {'tree':>9} {'live B/char':>12} {'final B/char':>13} {'total':>7}"
        f" {'floor':>6} {'×floor':>7} {'CPU µs/char':>12} {'client':>7}"
    )
    with LocalServer() as server:
        for size, delay in CASES:
            pace = f"{6 / delay:,.0f}" if delay else "max"
            totals = {}
            for name, tree in trees:
                live, final, floor, cpu, client = measure(tree, server, size, delay)
                totals[name] = live + final
                print(
                    f"{size:>8,} {pace:>8} {name:>9} {live:>12.1f} {final:>13.1f} {live + final:>7.1f}"
                    f" {floor:>6.1f} {(live + final) / floor:>7.2f} {cpu:>12.1f} {client:>7.1f}"
                )
            for name in peers:
                total = measure_peer(args.peers, name, server, size, delay)
                if total is not None:
                    totals[name] = total
                    print(
                        f"{size:>8,} {pace:>8} {name:>9} {'':>12} {'':>13} {total:>7.1f}"
                        f"   (this tree sends {totals['this'] / total:.3f}× as much)"
                    )
            if "baseline" in totals:
                print(
                    f"{'':>8} {'':>8} {'ratio':>9} {'':>12} {'':>13} {totals['this'] / totals['baseline']:>7.2f}"
                )


if __name__ == "__main__":
    main()
