"""CPU cost per chunk of glm_notebook's streaming client, next to a bare httpx-sse loop.

Both read the same 20,000-chunk stream from a loopback firehose (uvicorn, in another thread).
CPU time is measured with `time.thread_time()` on the reading thread only, so the server's
work is not counted. Prints µs per chunk, the ratio (target <= 1.3), and import times.

    .venv/bin/python benchmarks/bench_client.py
"""

from __future__ import annotations

import json
import socket
import statistics
import subprocess
import sys
import threading
import time

import httpx
import uvicorn
from httpx_sse import EventSource

from glm_notebook import GLMClient

CHUNKS = 20_000
ROUNDS = 5


def firehose_body(n: int = CHUNKS) -> bytes:
    frames = []
    for i in range(n):
        delta = {"role": "assistant", "content": f" word{i % 97}"}
        chunk = {
            "id": "bench",
            "created": 1,
            "object": "chat.completion.chunk",
            "model": "glm-4.6",
            "choices": [{"index": 0, "delta": delta}],
        }
        frames.append(f"data: {json.dumps(chunk, separators=(',', ':'))}\n\n")
    last = {
        "id": "bench",
        "created": 1,
        "model": "glm-4.6",
        "choices": [{"index": 0, "finish_reason": "stop", "delta": {"role": "assistant", "content": ""}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": n, "total_tokens": n + 1},
    }
    frames.append(f"data: {json.dumps(last)}\n\ndata: [DONE]\n\n")
    return "".join(frames).encode()


def make_app(body: bytes):
    pieces = [body[i : i + 4096] for i in range(0, len(body), 4096)]

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream;charset=UTF-8")],
            }
        )
        for piece in pieces:
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    return app


def serve(body: bytes) -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(make_app(body), log_level="warning", lifespan="off"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    return f"http://127.0.0.1:{port}/api/paas/v4"


def bare(base_url: str) -> int:
    n = 0
    with httpx.Client() as http, http.stream("POST", f"{base_url}/chat/completions", json={}) as r:
        for sse in EventSource(r).iter_sse():
            if sse.data == "[DONE]":
                break
            chunk = json.loads(sse.data)
            if chunk["choices"][0]["delta"].get("content"):
                n += 1
    return n


def ours(base_url: str) -> int:
    with GLMClient("bench-key-0000", base_url, max_retries=0) as client:
        reply = client.chat("go")
    assert reply.complete
    return reply.chunks - 1


def cpu_us_per_chunk(fn, base_url: str) -> float:
    start = time.thread_time()
    n = fn(base_url)
    assert n == CHUNKS, n
    return (time.thread_time() - start) / CHUNKS * 1e6


def import_ms(module: str) -> float:
    code = f"import time; t=time.perf_counter(); import {module}; print(time.perf_counter()-t)"
    runs = [float(subprocess.check_output([sys.executable, "-c", code])) for _ in range(5)]
    return statistics.median(runs) * 1000


def main() -> None:
    url = serve(firehose_body())
    bare(url), ours(url)  # warm up
    b, o = [], []
    for _ in range(ROUNDS):  # interleaved, so drift hits both alike
        b.append(cpu_us_per_chunk(bare, url))
        o.append(cpu_us_per_chunk(ours, url))
    mb, mo = statistics.median(b), statistics.median(o)
    print(f"stream of {CHUNKS} chunks, median of {ROUNDS} rounds, CPU of the reading thread")
    print(f"  bare httpx-sse + json.loads : {mb:6.2f} µs/chunk")
    print(f"  glm_notebook GLMClient      : {mo:6.2f} µs/chunk")
    print(f"  ratio                       : {mo / mb:6.2f}  (target <= 1.3)")
    base = import_ms("httpx_sse")
    mine = import_ms("glm_notebook")
    print(f"import httpx_sse: {base:.0f} ms; import glm_notebook: {mine:.0f} ms (ratio {mine / base:.2f})")


if __name__ == "__main__":
    main()
