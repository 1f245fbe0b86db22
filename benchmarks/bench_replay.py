"""CPU cost per chunk of record and replay, next to the plain client in the same run.

The same 20,000-chunk stream from a loopback firehose (see bench_client.py) is read by a plain
`GLMClient`, by one recording it (`record` mode: every chunk split into events, timed, and the
entry written as one JSON line), and by one replaying it (`replay` mode, pace `instant`: parsing
the file's line, rebuilding the body, the same client code path). CPU of the reading thread.

    .venv/bin/python benchmarks/bench_replay.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_client import CHUNKS, firehose_body, serve

from glm_notebook import GLMClient, Replay

ROUNDS = 5


def run(base_url: str, replay: Replay | None) -> float:
    start = time.thread_time()
    with GLMClient("bench-key-0000", base_url, max_retries=0, replay=replay) as client:
        reply = client.chat("go")
    assert reply.complete and reply.chunks - 1 == CHUNKS
    return (time.thread_time() - start) / CHUNKS * 1e6


def main() -> None:
    url = serve(firehose_body())
    folder = Path(tempfile.mkdtemp())
    run(url, None)
    run(url, Replay(folder / "warm.glm.jsonl", mode="record"))  # warm up
    plain, record, replay = [], [], []
    for i in range(ROUNDS):  # interleaved, so drift hits all alike
        path = folder / f"r{i}.glm.jsonl"
        plain.append(run(url, None))
        record.append(run(url, Replay(path, mode="record")))
        replay.append(run(url, Replay(path, mode="replay", pace="instant")))
    mp, mr, ms = (statistics.median(x) for x in (plain, record, replay))
    size = (folder / "r0.glm.jsonl").stat().st_size
    print(f"stream of {CHUNKS} chunks, median of {ROUNDS} rounds, CPU of the reading thread")
    print(f"  plain GLMClient   : {mp:6.2f} µs/chunk")
    print(f"  recording         : {mr:6.2f} µs/chunk  (ratio {mr / mp:.2f})")
    print(f"  replaying instant : {ms:6.2f} µs/chunk  (ratio {ms / mp:.2f})")
    print(f"  entry size        : {size / CHUNKS:6.1f} bytes/chunk ({size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
