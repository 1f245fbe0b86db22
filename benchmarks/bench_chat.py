"""Bytes the chat widget sends to the browser, next to re-rendering the transcript on each update.

Chats of 10k, 50k and 200k characters (turns of 5,000-character answers from the local server's
`huge` directive), each answer redrawn every `EVERY` characters (what a ~20/s redraw cap gives
at a fast token rate). Compared:

- baseline: on every redraw, render the open answer whole (Markdown → HTML) and send the whole
  transcript, as a widget holding one HTML value would (finished turns' HTML is cached, so
  its CPU is a lower bound);
- glm_notebook: the `ChatWidget` itself, driving the real local server over loopback; its
  messages are read at the comm layer (`comm.create_comm`, the hook a kernel installs) and
  counted as the JSON that goes over the websocket. Finished blocks go once, only the open
  pane is replaced, earlier turns are never re-sent.

Prints total bytes, the largest single message, the number of messages, and the bytes ratio.
(No CPU column: the widget's run includes the HTTP client and the in-process server.)

    .venv/bin/python benchmarks/bench_chat.py
"""

from __future__ import annotations

import asyncio
import json

import comm
from comm.base_comm import BaseComm

from glm_notebook.client import GLMClient
from glm_notebook.render.markdown import markdown_html
from glm_notebook.server import LocalServer
from glm_notebook.server.answers import huge_markdown

SIZES = (10_000, 50_000, 200_000)
TURN = 5_000
EVERY = 500


class Counter(BaseComm):
    """A comm that counts what would be published instead of publishing it."""

    messages: list[int] = []

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        if msg_type == "comm_msg" and isinstance(data, dict) and data.get("method") == "custom":
            Counter.messages.append(len(json.dumps(data["content"]).encode()))


def baseline(chat_chars: int) -> tuple[int, int, int]:
    """Re-render and re-send the whole transcript every EVERY characters."""
    total = largest = count = 0
    done = ""
    for _ in range(chat_chars // TURN):
        answer = huge_markdown(TURN)
        for end in [*range(EVERY, TURN, EVERY), TURN]:
            html = done + markdown_html(answer[:end])
            size = len(json.dumps({"value": html}).encode())
            total += size
            largest = max(largest, size)
            count += 1
        done = html
    return total, largest, count


async def ours(server: LocalServer, chat_chars: int) -> tuple[int, int, int]:
    from glm_notebook.notebook.widget import ChatWidget

    Counter.messages = []
    client = GLMClient(server.api_key, server.base_url, max_retries=0)
    widget = ChatWidget(client=client, thinking=False)
    # Redraw every EVERY characters: the throttle's clock is the answer's length.
    for turn in range(chat_chars // TURN):
        widget.updates_per_second = None
        task = widget.send(f"[[huge={TURN}]] part {turn}")
        view = widget._views[-1]
        view.throttle.clock = lambda view=view: len(view.turn.answer) // EVERY
        view.throttle.interval = 1
        await task
    widget.close()
    await client.aclose()
    return sum(Counter.messages), max(Counter.messages), len(Counter.messages)


def main() -> None:
    comm.create_comm = Counter
    server = LocalServer().start()
    try:
        print(
            f"turns of {TURN:,} characters, redraw every {EVERY} characters; bytes = JSON sent to the browser"
        )
        print(f"{'chat':>8} | {'baseline bytes':>14} {'largest':>9} {'msgs':>5} | "
              f"{'ours bytes':>11} {'largest':>8} {'msgs':>5} | {'bytes ratio':>11}")  # fmt: skip
        for size in SIZES:
            bb, bl, bn = baseline(size)
            ob, ol, on = asyncio.run(ours(server, size))
            print(
                f"{size:>8,} | {bb:>14,} {bl:>9,} {bn:>5,} | {ob:>11,} {ol:>8,} {on:>5,} | {ob / bb:>11.3f}"
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
