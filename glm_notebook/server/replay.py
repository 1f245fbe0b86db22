"""Serve recorded exchanges (`NAME.response` + `NAME.expected.json`) byte for byte."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .directives import Directives
from .steps import Abort, Emit, Pause, Step

__all__ = [
    "Recording",
    "REPLAY_KEYS",
    "default_recordings_dir",
    "list_recordings",
    "load_recording",
    "split_frames",
    "replay_steps",
]

REPLAY_KEYS = frozenset(
    {"split", "seed", "delay", "stall", "at", "stall_headers", "cut", "end", "times", "tag"}
)
"""Directives a replay honours; any other key is refused."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_FRAME_END = re.compile(rb"(?<=\r\n\r\n)|(?<=\n\n)")


@dataclass(frozen=True, slots=True)
class Recording:
    """One recorded reply: status, content type and exact body bytes."""

    name: str
    status: int
    content_type: str
    body: bytes

    @property
    def is_stream(self) -> bool:
        return self.content_type.startswith("text/event-stream")


def default_recordings_dir() -> Path | None:
    """`<repo root>/../shared/zai-recordings` if it exists (repo root = parent of the package)."""
    candidate = Path(__file__).resolve().parents[1].parents[1] / "shared" / "zai-recordings"
    return candidate if candidate.is_dir() else None


def list_recordings(directory: Path | str | None) -> list[str]:
    """Sorted names of the recordings in `directory` (those with both files present)."""
    if directory is None or not Path(directory).is_dir():
        return []
    folder = Path(directory)
    names = {p.name[: -len(".response")] for p in folder.glob("*.response")}
    return sorted(n for n in names if (folder / f"{n}.expected.json").is_file())


def load_recording(directory: Path | str | None, name: str) -> Recording | None:
    """The recording `name`, or None if there is no such recording."""
    if directory is None or not _NAME.match(name):
        return None
    folder = Path(directory)
    body_path, meta_path = folder / f"{name}.response", folder / f"{name}.expected.json"
    if not (body_path.is_file() and meta_path.is_file()):
        return None
    meta = json.loads(meta_path.read_text(encoding="utf-8")).get("meta", {})
    return Recording(
        name=name,
        status=int(meta.get("status", 200)),
        content_type=str(meta.get("content_type", "text/event-stream;charset=UTF-8")),
        body=body_path.read_bytes(),
    )


def split_frames(body: bytes) -> list[bytes]:
    """Cut an SSE body after each blank line; the pieces join back to `body`."""
    return [frame for frame in _FRAME_END.split(body) if frame]


def _is_chunk(frame: bytes) -> bool:
    return any(line.startswith(b"data:") and line[5:].strip() != b"[DONE]" for line in frame.splitlines())


def replay_steps(recording: Recording, directives: Directives, delay: float = 0.0) -> Iterator[Step]:
    """The recorded body frame by frame, with `delay` between frames and stall/cut/end applied."""
    frames = split_frames(recording.body) if recording.is_stream else [recording.body]
    d = directives
    for i, frame in enumerate(frames + [b""]):
        if d.stall and i == min(d.at, len(frames)):
            yield Pause(d.stall)
        if d.cut is not None and i == min(d.cut, len(frames)):
            yield Abort()
            return
        if d.end is not None and i == min(d.end, len(frames)):
            return
        if i == len(frames):
            return
        if i and delay:
            yield Pause(delay)
        yield Emit(frame, chunks=1 if not recording.is_stream or _is_chunk(frame) else 0)
