"""The request log tests read: one `RequestRecord` per request, updated while it streams."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from .directives import Directives

__all__ = ["RequestRecord", "RequestLog"]


@dataclass(eq=False)
class RequestRecord:
    """What the server saw and did for one request (never the Authorization header)."""

    index: int
    path: str
    body: Any = field(default=None, repr=False)
    """The parsed JSON body, or None when it was not JSON (not in the repr: it may hold
    megabytes of Base64 images)."""
    directives: Directives | None = None
    status: int | None = None
    stream: bool = False
    chunks_sent: int = 0
    """Completion chunks (delta chunks and the final chunk) handed to the connection so far."""
    pieces_sent: int = 0
    """Body messages handed to the connection (one per `split` piece)."""
    bytes_sent: int = 0
    completed: bool = False
    """The whole planned body went out and the response ended cleanly."""
    disconnected: bool = False
    """The client went away before the end of the response."""
    aborted: bool = False
    """The server dropped the connection on purpose (`cut`)."""
    finished: threading.Event = field(default_factory=threading.Event, repr=False)
    """Set once the handler is completely done with the request."""


class RequestLog(Sequence[RequestRecord]):
    """An ordered, thread-safe list of records."""

    def __init__(self) -> None:
        self._items: list[RequestRecord] = []
        self._changed = threading.Condition()

    def open(self, path: str) -> RequestRecord:
        """Append and return a new record for a request to `path`."""
        with self._changed:
            record = RequestRecord(index=len(self._items), path=path)
            self._items.append(record)
            self._changed.notify_all()
            return record

    @overload
    def __getitem__(self, index: int) -> RequestRecord: ...
    @overload
    def __getitem__(self, index: slice) -> list[RequestRecord]: ...
    def __getitem__(self, index: int | slice) -> RequestRecord | list[RequestRecord]:
        with self._changed:
            return self._items[index]

    def __len__(self) -> int:
        with self._changed:
            return len(self._items)

    def __iter__(self) -> Iterator[RequestRecord]:
        return iter(self.snapshot())

    def snapshot(self) -> list[RequestRecord]:
        """A copy of the list (the records themselves are live)."""
        with self._changed:
            return list(self._items)

    def clear(self) -> None:
        """Forget every record; indexes restart at 0."""
        with self._changed:
            self._items.clear()

    def wait_finished(self, index: int, timeout: float = 5.0) -> RequestRecord:
        """Wait until record `index` exists and its handler is done; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._items) > index, timeout):
                raise TimeoutError(f"no request #{index} within {timeout} s")
            record = self._items[index]
        if not record.finished.wait(max(0.0, deadline - time.monotonic())):
            raise TimeoutError(f"request #{index} did not finish within {timeout} s")
        return record
