"""Bytes and CPU a streaming answer costs the notebook, next to re-rendering it whole each time.

For answers of 10k, 50k and 200k characters, fed in 6-character deltas with a redraw after every
`EVERY` characters (what a ~20/s refresh cap gives at a fast token rate), it compares:

- baseline: render the whole accumulated Markdown and publish it on every redraw;
- glm_notebook: `LiveAnswer` panes — frozen blocks cached, only the open segment re-sent.

Prints total bytes published, the largest single update, CPU seconds, and the ratios.

    .venv/bin/python benchmarks/bench_render.py
"""

from __future__ import annotations

import time

from glm_notebook.render.live import LiveAnswer
from glm_notebook.render.markdown import markdown_html
from glm_notebook.server.answers import huge_markdown
from glm_notebook.wire.events import ContentDelta

SIZES = (10_000, 50_000, 200_000)
DELTA = 6
EVERY = 500


def deltas(text: str) -> list[str]:
    return [text[i : i + DELTA] for i in range(0, len(text), DELTA)]


def baseline(text: str) -> tuple[int, int, float]:
    start = time.process_time()
    total = largest = 0
    seen = 0
    acc: list[str] = []
    for piece in deltas(text):
        acc.append(piece)
        seen += len(piece)
        if seen >= EVERY:
            seen = 0
            size = len(markdown_html("".join(acc)).encode())
            total += size
            largest = max(largest, size)
    size = len(markdown_html(text).encode())
    return total + size, max(largest, size), time.process_time() - start


def live(text: str) -> tuple[int, int, float]:
    start = time.process_time()
    view = LiveAnswer()
    total = largest = 0
    seen = 0

    def publish(updates) -> None:
        nonlocal total, largest
        for update in updates:
            size = len(update.html.encode()) + len(update.text.encode())
            total += size
            largest = max(largest, size)

    for piece in deltas(text):
        view.apply(ContentDelta(piece))
        seen += len(piece)
        if seen >= EVERY:
            seen = 0
            publish(view.changes())
    publish(view.changes(final=True))
    return total, largest, time.process_time() - start


def main() -> None:
    print(
        f"redraw every {EVERY} characters; bytes = everything published (glm_notebook counts HTML + text/plain)"
    )
    print(
        f"{'answer':>8} | {'baseline bytes':>14} {'largest':>9} {'cpu s':>6} | "
        f"{'ours bytes':>11} {'largest':>8} {'cpu s':>6} | {'bytes ratio':>11} {'cpu ratio':>9}"
    )
    for size in SIZES:
        text = huge_markdown(size)
        bb, bl, bc = baseline(text)
        ob, ol, oc = live(text)
        print(
            f"{size:>8,} | {bb:>14,} {bl:>9,} {bc:>6.2f} | {ob:>11,} {ol:>8,} {oc:>6.2f} | "
            f"{ob / bb:>11.3f} {oc / bc:>9.3f}"
        )


if __name__ == "__main__":
    main()
