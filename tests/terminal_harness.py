"""Terminal IPython in a real pseudo-terminal, read back as the screen a person would see.

`Terminal(env)` starts `ipython` (this venv's, prompt_toolkit and all) on a pty of the given
size; `run(source)` types a cell and waits for the next prompt (`type` / `wait` apart, with
`interrupt_after` between, for Ctrl-C); `screen()` is the final screen
state (scrollback included) as plain text, decoded by pyte, a VT100 emulator; `raw` holds every
byte the program wrote.
"""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pyte

__all__ = ["Terminal"]

_IPYTHON = Path(sys.executable).with_name("ipython")


def _take_terminal() -> None:
    """In the child, after `setsid`: make the pty its controlling terminal, so Ctrl-C sends
    SIGINT as in a real terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """`ipython` on a `cols` × `rows` pty with `env` (plus a private IPYTHONDIR under `home`)."""

    def __init__(self, env: dict[str, str], home: Path, *, cols: int = 100, rows: int = 50) -> None:
        self.cols, self.rows = cols, rows
        self.raw = bytearray()
        self.screen_state = pyte.HistoryScreen(cols, rows, history=5000)
        self.stream = pyte.ByteStream(self.screen_state)
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = {
            **env,
            "TERM": "xterm-256color",
            "IPYTHONDIR": str(home),
            "PROMPT_TOOLKIT_NO_CPR": "1",  # no cursor-position queries to answer
            "COLUMNS": str(cols),
            "LINES": str(rows),
        }
        self.process = subprocess.Popen(
            [str(_IPYTHON), "--no-banner", "--HistoryManager.enabled=False", "--no-confirm-exit"],
            stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True, close_fds=True,
            preexec_fn=_take_terminal,
        )  # fmt: skip
        os.close(slave)
        self.cells = 0
        self._wait_for_prompt(1)

    def _read(self, seconds: float) -> None:
        ready, _, _ = select.select([self.master], [], [], seconds)
        if ready:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # the program exited
                return
            self.raw += data
            self.stream.feed(data)

    def _wait_for_prompt(self, number: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        prompt = f"In [{number}]:"
        while prompt not in self.screen():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"no {prompt!r}; screen:\n{self.screen()}")
            self._read(0.1)

    def type(self, source: str) -> None:
        """Type a cell: `source`'s lines joined by Enter, run with Esc-Enter."""
        self.cells += 1
        lines = source.split("\n")
        for line in lines[:-1]:
            os.write(self.master, line.encode() + b"\r")
            self._read(0.2)
        os.write(self.master, lines[-1].encode() + b"\x1b\r")

    def wait(self, timeout: float = 60) -> str:
        """Wait for the next prompt; the screen text of the last cell (prompt to next prompt)."""
        self._wait_for_prompt(self.cells + 1, timeout)
        screen = self.screen()
        return screen[
            screen.rindex(f"In [{self.cells}]:") : screen.rindex(f"In [{self.cells + 1}]:")
        ].rstrip()

    def run(self, source: str, timeout: float = 60) -> str:
        """Type a cell and wait for it to finish; returns its screen text (see `wait`)."""
        self.type(source)
        return self.wait(timeout)

    def interrupt_after(self, text: str, timeout: float = 60) -> None:
        """Wait until `text` shows on the screen, then press Ctrl-C."""
        deadline = time.monotonic() + timeout
        while text not in self.screen():
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r}; screen:\n{self.screen()}")
            self._read(0.05)
        os.write(self.master, b"\x03")

    def screen(self) -> str:
        """Scrollback and screen as text, trailing spaces and blank lines dropped."""

        def row(line: dict) -> str:
            return "".join(line[x].data for x in range(self.cols)).rstrip()

        lines = [row(line) for line in self.screen_state.history.top]
        lines += [row(self.screen_state.buffer[y]) for y in range(self.rows)]
        return "\n".join(lines).rstrip("\n")

    def close(self) -> None:
        if self.process.poll() is None:
            os.write(self.master, b"exit\r")
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        os.close(self.master)
