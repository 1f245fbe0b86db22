"""Record and replay: answers kept in a JSON Lines file, served again for the same request.

```python
from glm_notebook import GLMClient, Replay

client = GLMClient(replay=Replay("analysis.glm.jsonl", mode="auto"))
```

Modes: `off`; `auto` (a recorded answer for this exact request is replayed, otherwise the
service is asked and its answer recorded); `record` (always ask, record anew); `replay` (never
ask; a request with no recording is a `ReplayMissError`). The key of an entry is the request
body as sent (model, messages, parameters, tools) in canonical JSON, hashed, so changing any
option or an interpolated value records anew.

The file: one entry per line, appended under an exclusive `flock` (two kernels, concurrent
tasks and `prune` never interleave), human-readable, holding the request body and the answer's
server-sent events with their times — never a header, an API key or a URL. A line that is not a
valid entry is skipped with one warning. The last entry for a key wins.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import threading
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import GLMError
from ..files import check_path, open_nofollow, replace_file
from ..text import one_line
from ..wire.protocol import canonical_json, request_key

__all__ = [
    "Replay",
    "ReplayStore",
    "Entry",
    "ReplayMissError",
    "MODES",
    "PACES",
    "REPLAY_HEADER",
    "request_key",
    "canonical_json",
]

MODES = ("off", "auto", "record", "replay")
PACES = ("recorded", "instant")
#: Response header a replayed answer carries: when it was recorded (ISO 8601, UTC).
REPLAY_HEADER = "x-glm-replayed"
_FORMAT = 1
#: Replaying at the recorded pace never waits longer than this between two events, nor past
#: `MAX_REPLAY_SECONDS` in all (a recordings file may be edited: `1e9` must not hang a cell).
MAX_REPLAY_GAP = 10.0
MAX_REPLAY_SECONDS = 120.0


class ReplayMissError(GLMError):
    """Replay mode, and no answer was recorded for this request."""


@dataclass
class Entry:
    """One recorded answer: the request, the response's events with their times (seconds after
    the request was sent), and what the answer reported about itself."""

    key: str
    request: dict[str, Any]
    events: list[tuple[float, str]]
    recorded_at: str
    content_type: str = "text/event-stream"
    status: int = 200
    request_id: str | None = None
    model: str | None = None
    usage: dict[str, Any] | None = None

    def line(self) -> str:
        """The entry as one line of the file (keys in a fixed, readable order)."""
        data = {
            "v": _FORMAT,
            "key": self.key,
            "recorded_at": self.recorded_at,
            "model": self.model,
            "request_id": self.request_id,
            "usage": self.usage,
            "status": self.status,
            "content_type": self.content_type,
            "request": self.request,
            "events": [[round(t, 4), _readable(text)] for t, text in self.events],
        }
        return json.dumps(data, ensure_ascii=False, separators=(", ", ": ")) + "\n"

    @classmethod
    def parse(cls, line: str) -> Entry:
        """An entry from one line; ValueError when it is not one."""
        return _entry(json.loads(line))

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Entry:
        """An entry from a line's JSON, its shape checked (see `_entry`); ValueError when a field is not
        what it must be. Event times are made safe to wait for: never negative or backwards, no
        gap over `MAX_REPLAY_GAP`, nothing later than `MAX_REPLAY_SECONDS`."""
        status = data.get("status", 200)
        if status is None:
            status = 200
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError("an entry with a bad status")
        for name in ("content_type", "request_id", "model"):
            if data.get(name) is not None and not isinstance(data[name], str):
                raise ValueError(f"an entry whose {name} is not text")
        if data.get("usage") is not None and not isinstance(data["usage"], dict):
            raise ValueError("an entry whose usage is not an object")
        events, last, shown = [], 0.0, 0.0
        for at, item in data["events"]:
            text = _wire(item)
            text.encode("utf-8")  # a lone surrogate: UnicodeEncodeError, a ValueError
            gap = min(max(0.0, float(at) - last), MAX_REPLAY_GAP)
            last = max(last, float(at))
            shown = min(shown + gap, MAX_REPLAY_SECONDS)
            events.append((shown, text))
        return cls(
            key=data["key"],
            request=data["request"],
            events=events,
            recorded_at=str(data["recorded_at"]),
            content_type=str(data.get("content_type") or "text/event-stream"),
            status=status,
            request_id=data.get("request_id"),
            model=data.get("model"),
            usage=data.get("usage"),
        )

    @property
    def body(self) -> bytes:
        """The response body to serve: the events, each ended by a blank line."""
        return "".join(text + "\n\n" for _, text in self.events).encode()


def _entry(data: Any) -> Entry:
    """The entry of a line's JSON, every field checked; ValueError when it is not one."""
    if not isinstance(data, dict) or not isinstance(data.get("key"), str):
        raise ValueError("not an entry")
    if not isinstance(data.get("request"), dict) or "recorded_at" not in data:
        raise ValueError("an entry without its request")
    events = data.get("events")
    if not isinstance(events, list) or not all(
        isinstance(e, list)
        and len(e) == 2
        and isinstance(e[0], (int, float))
        and not isinstance(e[0], bool)
        and math.isfinite(e[0])
        and isinstance(e[1], (str, dict))
        for e in events
    ):
        raise ValueError("an entry with malformed events")
    return Entry.from_data(data)


def _readable(text: str) -> Any:
    """An event as stored: `data: {json}` as the JSON object itself when that is lossless
    (readable, diff-friendly), anything else as its text."""
    if text.startswith("data: {") and "\n" not in text:
        try:
            value = json.loads(text[6:])
        except ValueError:
            return text
        if isinstance(value, dict) and _compact(value) == text[6:]:
            return value
    return text


def _wire(item: Any) -> str:
    if isinstance(item, dict):
        return "data: " + _compact(item)
    if isinstance(item, str):
        return item
    raise ValueError("an event is a string or an object")


#: JSON as compact as the service sends it (one encoder: `json.dumps` with options builds one
#: per call, a third of the cost of encoding a chunk).
_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def entry_from_stream(
    body: dict[str, Any], events: list[tuple[float, str]], content_type: str, status: int = 200
) -> Entry:
    """An entry for a response just received, with its id, model and usage read out."""
    request_id = model = usage = None
    for _, text in events:  # id and model come with the first chunk
        for payload in _payloads(text, content_type):
            request_id = request_id or payload.get("id") or payload.get("request_id")
            model = model or payload.get("model")
        if request_id and model:
            break
    for _, text in reversed(events):  # usage with the last
        usage = next((p["usage"] for p in _payloads(text, content_type) if p.get("usage")), None)
        if usage:
            break
    recorded = datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return Entry(
        key=request_key(body),
        request=body,
        events=events,
        recorded_at=recorded,
        content_type=content_type,
        status=status,
        request_id=request_id,
        model=model,
        usage=usage,
    )


def _payloads(text: str, content_type: str) -> list[dict[str, Any]]:
    if "json" in content_type:
        candidates = [text]
    else:
        candidates = [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
    found = []
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            found.append(value)
    return found


class ReplayStore:
    """The recordings file: an index of its entries, appends and prunes under `flock`.

    The index follows the file as other writers append to it (read on each lookup when the file
    grew; read anew when it shrank).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._entries: dict[str, Entry] = {}  # key -> its latest entry
        self._offset = 0
        self._lock = threading.Lock()
        self._warned: set[int] = set()

    def __repr__(self) -> str:
        return f"ReplayStore({str(self.path)!r})"

    def _refresh(self) -> None:
        if not os.path.lexists(check_path(self.path)):
            self._entries, self._offset = {}, 0
            return
        with os.fdopen(open_nofollow(self.path, os.O_RDONLY), "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size == self._offset:
                return
            if size < self._offset:  # pruned by someone: read again from the start
                self._entries, self._offset = {}, 0
            fcntl.flock(handle, fcntl.LOCK_SH)
            try:
                handle.seek(self._offset)
                data = handle.read()
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        end = data.rfind(b"\n") + 1  # a line still being written waits for the next read
        self._read_lines(data[:end], self._offset)
        self._offset += end

    def _read_lines(self, data: bytes, start: int) -> None:
        bad = []
        position = start
        for raw in data.splitlines(keepends=True):
            line_start, position = position, position + len(raw)
            if not raw.strip():
                continue
            try:
                entry = _entry(json.loads(raw.decode("utf-8")))
            except (ValueError, UnicodeDecodeError):
                if line_start not in self._warned:
                    self._warned.add(line_start)
                    bad.append(line_start)
                continue
            self._entries[entry.key] = entry
        if bad:
            warnings.warn(
                f"{self.path}: skipped {len(bad)} line(s) that are not recordings "
                f"(at byte {', '.join(map(str, bad[:5]))}); re-record those cells if needed.",
                stacklevel=4,
            )

    def get(self, key: str) -> Entry | None:
        """The latest entry recorded for `key`, if any."""
        with self._lock:
            self._refresh()
            return self._entries.get(key)

    def entries(self) -> list[Entry]:
        """Every entry in the file (the latest per key)."""
        with self._lock:
            self._refresh()
            return list(self._entries.values())

    def __len__(self) -> int:
        with self._lock:
            self._refresh()
            return len(self._entries)

    def _requests(self) -> list[dict[str, Any]]:
        with self._lock:
            self._refresh()
            return [entry.request for entry in self._entries.values()]

    def append(self, entry: Entry) -> None:
        """Add `entry` at the end of the file: one `write` under an exclusive lock, never through
        a symbolic link, and into the file now at the path (a prune may have replaced it)."""
        line = entry.line().encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = open_nofollow(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if _same_file(fd, self.path):
                    os.write(fd, line)
                    return
            finally:
                os.close(fd)  # (closing releases the lock)

    def prune(self, keep: set[str]) -> tuple[int, int]:
        """Replace the file with one holding only the entries for `keep` (the latest of each),
        written beside it and renamed into place. Returns `(kept, dropped)`; corrupt lines are
        dropped too."""
        if not os.path.lexists(check_path(self.path)):
            return 0, 0
        with self._lock, os.fdopen(open_nofollow(self.path, os.O_RDONLY), "rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # appenders wait, then find the new file
            latest: dict[str, bytes] = {}
            lines = [raw for raw in handle.read().splitlines() if raw.strip()]
            for raw in lines:
                try:
                    entry = Entry.parse(raw.decode("utf-8"))
                except (ValueError, UnicodeDecodeError):
                    continue
                latest.pop(entry.key, None)  # keep file order of the latest versions
                latest[entry.key] = raw
            kept = [raw for key, raw in latest.items() if key in keep]
            replace_file(self.path, b"".join(raw + b"\n" for raw in kept))
            self._entries, self._offset = {}, 0
        return len(kept), len(lines) - len(kept)

    def tool_results(self, messages: list[dict[str, Any]]) -> dict[str, str] | None:
        """The `tool` messages a recorded request sent right after `messages` (a conversation
        ending with an assistant message that called tools): `{tool_call_id: content}`."""
        prefix = [canonical_json(m) for m in messages]
        for request in reversed(self._requests()):
            sent = request.get("messages")
            if not isinstance(sent, list) or len(sent) <= len(prefix):
                continue
            if [canonical_json(m) for m in sent[: len(prefix)]] != prefix:
                continue
            results = {}
            for message in sent[len(prefix) :]:
                if not isinstance(message, dict) or message.get("role") != "tool":
                    break
                results[str(message.get("tool_call_id"))] = str(message.get("content") or "")
            if results:
                return results
        return None


@dataclass(eq=False)
class Replay:
    """A recordings file used in one mode: what a client records and replays.

    `pace`: "recorded" streams a replayed answer at the pace it arrived; "instant" at once.
    `run_tools`: on replay, run the functions of a tool loop again instead of taking their
    recorded results. `hits`, `misses`, `recorded` count this session; `used` holds the keys of
    every entry replayed or recorded in it (what `prune` keeps).
    """

    path: str | os.PathLike[str]
    mode: str = "auto"
    pace: str = "recorded"
    run_tools: bool = False
    hits: int = 0
    misses: int = 0
    recorded: int = 0
    used: set[str] = field(default_factory=set, repr=False)
    store: ReplayStore = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"replay mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.pace not in PACES:
            raise ValueError(f"replay pace must be one of {', '.join(PACES)}, not {self.pace!r}")
        self.store = ReplayStore(self.path)
        self._count = threading.Lock()

    @property
    def active(self) -> bool:
        return self.mode != "off"

    def lookup(self, body: dict[str, Any]) -> Entry | None:
        """The entry to replay for `body` (None: ask the service). Counts hits and misses;
        raises `ReplayMissError` in replay mode when nothing was recorded."""
        if self.mode in ("off", "record"):
            return None
        key = request_key(body)
        entry = self.store.get(key)
        with self._count:
            if entry is None:
                self.misses += 1
            else:
                self.hits += 1
                self.used.add(key)
        if entry is None and self.mode == "replay":
            raise ReplayMissError(
                f"No recording of this request in {self.store.path.name} (replay mode): "
                f"{_describe(body)}. Run the cell once with GLM_REPLAY=auto (or %glm replay auto) "
                "to record it."
            )
        return entry

    def record(self, entry: Entry) -> None:
        """Append a freshly received answer."""
        self.store.append(entry)
        with self._count:
            self.recorded += 1
            self.used.add(entry.key)

    def tool_results(self, messages: list[dict[str, Any]]) -> dict[str, str] | None:
        """Recorded results of the calls that end `messages`, when replaying without running
        tools; None otherwise."""
        if self.run_tools or self.mode not in ("auto", "replay"):
            return None
        return self.store.tool_results(messages)

    def prune(self) -> tuple[int, int]:
        """Drop every entry this session neither replayed nor recorded: `(kept, dropped)`."""
        return self.store.prune(set(self.used))

    def status(self) -> str:
        """A few lines: file, mode, pace, this session's counts, the file's size."""
        entries = len(self.store)
        try:
            size = self.store.path.stat().st_size
        except FileNotFoundError:
            size = 0
        return "\n".join(
            [
                f"replay file  {self.store.path}",
                f"mode         {self.mode} (pace {self.pace})",
                f"this session {self.hits} replayed, {self.misses} missed, {self.recorded} recorded",
                f"file         {entries} entries, {size:,} bytes",
            ]
        )


def _describe(body: dict[str, Any]) -> str:
    """Which request it was: the model and the start of the last user message."""
    prompt = ""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            prompt = content if isinstance(content, str) else canonical_json(content)
            break
    prompt = one_line(prompt)
    if len(prompt) > 60:
        prompt = prompt[:59] + "…"
    return f"{body.get('model')}, prompt {prompt!r}"


def _same_file(fd: int, path: Path) -> bool:
    """Whether open file `fd` is still the file at `path` (not replaced by a prune meanwhile)."""
    try:
        now = os.lstat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino)
