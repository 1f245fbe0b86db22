"""`client.map` throughput against the local server, next to a plain asyncio.gather baseline.

Part 1: 500 prompts, 200 ms latency per answer, the server admits 16 requests at a time, so
the physical limit is 16 / 0.2 s = 80 prompts/s. Measured: map(concurrency=16) and
`asyncio.gather` over `client.achat` with a `Semaphore(16)`, in the same run.
Part 2: the server answers 429 (code 1302, Retry-After 0.2 s) to every request above 8 in
flight; both clients still ask for 16. Reported: finished count, retries (429s the server sent),
wall time. Answers are short (`echo`) so the 2-core machine measures waiting, not parsing, and
the server runs in a child process so that it does not share the client's interpreter lock.

    .venv/bin/python benchmarks/bench_map.py [N]
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sys
import time
from typing import Any

from glm_notebook import GLMClient, GLMError
from glm_notebook.client.many import forget_results
from glm_notebook.server import LocalServer, ServerConfig

LATENCY = 0.2
LIMIT = 16


def prompts(n: int, tag: str) -> list[str]:
    return [f"{tag} prompt {i}" for i in range(n)]


def run_map(client: GLMClient, items: list[str]) -> tuple[int, float]:
    forget_results()
    start = time.perf_counter()
    results = client.map(items, concurrency=LIMIT, progress=False, thinking=False)
    return results.done, time.perf_counter() - start


def run_gather(client: GLMClient, items: list[str]) -> tuple[int, float]:
    async def main() -> int:
        gate = asyncio.Semaphore(LIMIT)

        async def one(prompt: str) -> bool:
            async with gate:
                try:
                    await client.achat(prompt, thinking=False)
                    return True
                except GLMError:
                    return False

        try:
            return sum(await asyncio.gather(*(one(p) for p in items)))
        finally:
            await client.aclose()

    start = time.perf_counter()
    done = asyncio.run(main())
    return done, time.perf_counter() - start


def serve(options: dict[str, Any], conn: Any) -> None:
    """The local server in a child process; answers "reset" and "rejected" over the pipe."""
    with LocalServer(ServerConfig(**options)) as server:
        conn.send((server.url_with(echo=True), server.api_key))
        while (command := conn.recv()) != "stop":
            if command == "reset":
                server.reset()
                conn.send(None)
            else:
                conn.send(server.state.limits.rejected)


def measure(max_concurrent: int, n: int, label: str) -> None:
    options = {
        "api_key": "bench",
        "latency": LATENCY,
        "max_concurrent": max_concurrent,
        "rate_limit_retry_after": 0.2,
    }
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    child = context.Process(target=serve, args=(options, theirs), daemon=True)
    child.start()
    base, key = ours.recv()
    try:
        for name, runner in (("map", run_map), ("gather+semaphore", run_gather)):
            ours.send("reset")
            ours.recv()
            cpu = time.process_time()
            with GLMClient(key, base) as client:
                done, wall = runner(client, prompts(n, f"{label}-{name}"))
            cpu = time.process_time() - cpu
            ours.send("rejected")
            rejected = ours.recv()
            print(
                f"  {name:17s} {done:4d}/{n} finished  {wall:6.2f} s  {done / wall:6.1f} prompts/s  "
                f"{done / wall / (LIMIT / LATENCY):5.0%} of {LIMIT / LATENCY:.0f}/s  429s sent: {rejected:3d}  "
                f"client CPU {cpu / wall:4.0%} of wall"
            )
    finally:
        ours.send("stop")
        child.join(10)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    print(f"{n} prompts, {LATENCY * 1000:.0f} ms per answer, client concurrency {LIMIT}")
    print(f"server admits {LIMIT} at a time (physical limit {LIMIT / LATENCY:.0f} prompts/s):")
    measure(LIMIT, n, "plain")
    print("server answers 429 above 8 in flight (Retry-After 0.2 s):")
    measure(8, n, "storm")
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
