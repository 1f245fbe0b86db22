"""A real IPython kernel driven over ZeroMQ, for tests that need to see what a notebook sees.

`Kernel.run(code)` executes a cell and returns a `CellRun` with every iopub message in order
(with its header, whose `date` the kernel stamped when sending) and the outputs folded the way
nbclient saves them (display updates and `clear_output(wait=True)` applied).
"""

from __future__ import annotations

import json
import queue
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jupyter_client.manager import KernelManager

__all__ = ["Kernel", "CellRun", "Running"]


@dataclass
class CellRun:
    """One executed cell: its iopub messages and the outputs a saved notebook would hold."""

    messages: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    headers: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    stdout: str = ""
    stderr: str = ""
    clear_pending: bool = False

    def of_type(self, *types: str) -> list[dict[str, Any]]:
        return [content for kind, content in self.messages if kind in types]

    def peak_per_second(self, window: float = 3.0) -> tuple[int, int]:
        """Peak messages and bytes (JSON of the content) per second, by the kernel's own send
        times, as Jupyter Server measures them before it drops output past 1,000 messages/s or
        1 MB/s: the counts of the last `rate_limit_window` (3 s by default) divided by it."""
        stamps = []
        for header, (_, content) in zip(self.headers, self.messages, strict=True):
            date = header["date"]
            when = date if isinstance(date, datetime) else datetime.fromisoformat(str(date))
            stamps.append((when.timestamp(), len(json.dumps(content))))
        peak_messages = peak_bytes = start = window_bytes = 0
        for end, (t, size) in enumerate(stamps):
            window_bytes += size
            while stamps[start][0] <= t - window:
                window_bytes -= stamps[start][1]
                start += 1
            peak_messages = max(peak_messages, round((end - start + 1) / window))
            peak_bytes = max(peak_bytes, round(window_bytes / window))
        return peak_messages, peak_bytes

    def fold(self, kind: str, content: dict[str, Any]) -> None:
        """Apply one iopub message to `outputs` the way nbclient does (`clear_output(wait=True)`
        clears when the next output arrives)."""
        if self.clear_pending and kind in ("stream", "display_data", "execute_result", "error"):
            self.outputs.clear()
            self.clear_pending = False
        if kind == "stream":
            name = content["name"]
            if name == "stdout":
                self.stdout += content["text"]
            else:
                self.stderr += content["text"]
            self.outputs.append({"output_type": "stream", **content})
        elif kind in ("display_data", "execute_result"):
            out = {"output_type": kind, "data": content["data"], "metadata": content["metadata"]}
            display_id = (content.get("transient") or {}).get("display_id")
            if display_id:
                out["display_id"] = display_id
            self.outputs.append(out)
            if kind == "execute_result":
                self.result = content["data"]
        elif kind == "update_display_data":
            display_id = content["transient"]["display_id"]
            for out in self.outputs:
                if out.get("display_id") == display_id:
                    out["data"], out["metadata"] = content["data"], content["metadata"]
        elif kind == "clear_output":
            if content.get("wait"):
                self.clear_pending = True
            else:
                self.outputs.clear()
        elif kind == "error":
            self.error = content
            self.outputs.append({"output_type": "error", **content})


class Running:
    """A cell that is executing; `wait()` collects it."""

    def __init__(self, kernel: Kernel, msg_id: str) -> None:
        self.kernel = kernel
        self.msg_id = msg_id
        self.run = CellRun()
        self.started = False

    def poll(self, timeout: float = 0.05) -> bool:
        """Read available iopub messages; True once the cell finished."""
        client = self.kernel.client
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                msg = client.get_iopub_msg(timeout=max(remaining, 0.001))
            except queue.Empty:
                return False
            if msg["parent_header"].get("msg_id") != self.msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "status":
                if content["execution_state"] == "busy":
                    self.started = True
                elif content["execution_state"] == "idle":
                    return True
                continue
            if kind == "execute_input":
                continue
            self.run.messages.append((kind, content))
            self.run.times.append(time.monotonic())
            self.run.headers.append(msg["header"])
            self.run.fold(kind, content)

    def wait_for(self, predicate, timeout: float = 60) -> None:
        """Read messages until `predicate(run)` holds (fails the test after `timeout`)."""
        deadline = time.monotonic() + timeout
        while not predicate(self.run):
            if self.poll() or time.monotonic() > deadline:
                if predicate(self.run):
                    return
                raise AssertionError(f"condition not reached; messages: {self.run.messages[-5:]}")

    def wait(self, timeout: float = 120) -> CellRun:
        deadline = time.monotonic() + timeout
        while not self.poll(0.5):
            if time.monotonic() > deadline:
                raise AssertionError(f"cell did not finish; last messages: {self.run.messages[-5:]}")
        return self.run


class Kernel:
    """A fresh IPython kernel on this venv's Python (or `python`, e.g. another venv's), with the
    given environment (and working directory: a kernel imports from it first)."""

    def __init__(self, env: dict[str, str], cwd: str | None = None, python: str | None = None) -> None:
        self.manager = KernelManager(kernel_name="python3")
        self.manager.kernel_spec.argv[0] = python or sys.executable
        self.manager.start_kernel(env=env, **({"cwd": cwd} if cwd else {}))
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def start(self, code: str) -> Running:
        """Begin executing `code`; return the handle."""
        return Running(self, self.client.execute(code, allow_stdin=False))

    def run(self, code: str, timeout: float = 120) -> CellRun:
        """Execute `code` and return what it produced."""
        return self.start(code).wait(timeout)

    def interrupt(self) -> None:
        self.manager.interrupt_kernel()

    def shutdown(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)
