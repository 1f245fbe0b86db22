"""Hostile bodies for hardening tests: broken gzip, oversized bodies and lines, odd
`Retry-After` values (wrong-shape chunks and escape codes are in `shapes.py`). Bodies are
generated lazily, so a 400 MB reply costs the server no memory.
"""

from __future__ import annotations

import email.utils
import time
import zlib
from collections.abc import Iterable, Iterator

from .steps import Emit, Step, padded_steps
from .wire import Identity, dumps

__all__ = ["gzip_steps", "big_error_steps", "big_json_steps", "retry_after_header"]

# After a sync flush a deflate stream is byte-aligned; 0x07 starts a block of reserved type 3.
_INVALID_DEFLATE = b"\x07\xff\xff\xff\xff"


def gzip_steps(steps: Iterable[Step], broken_after: int) -> Iterator[Step]:
    """`steps` gzip-compressed piece by piece; after `broken_after` chunks, bytes no inflater
    accepts (then the body ends). With fewer chunks than that, a valid gzip body."""
    compressor = zlib.compressobj(wbits=31)
    sent = 0
    for step in steps:
        if not isinstance(step, Emit):
            yield step
            continue
        if sent >= broken_after:
            yield Emit(compressor.flush(zlib.Z_SYNC_FLUSH) + _INVALID_DEFLATE)
            return
        data = compressor.compress(step.data) + compressor.flush(zlib.Z_SYNC_FLUSH)
        sent += step.chunks
        yield Emit(data, chunks=step.chunks)
    yield Emit(compressor.flush())


def big_error_steps(code: str, size: int) -> Iterator[Step]:
    """A Z.ai error body of `size` bytes (its message is the padding)."""
    head = dumps({"error": {"code": code, "message": ""}})[:-3].encode()
    return padded_steps(head, size, b'"}}')


def big_json_steps(identity: Identity, size: int) -> Iterator[Step]:
    """A whole JSON completion of `size` bytes (its content is the padding)."""
    head = dumps({"id": identity.id, "created": identity.created, "model": identity.model})[:-1]
    head += ',"choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"'
    return padded_steps(head.encode(), size, b'"}}]}')


def retry_after_header(value: str) -> str:
    """The `Retry-After` header for a directive value: `past` / `date` (a day ago / ahead) become
    HTTP dates; anything else (`3600`, `inf`, `-5`, `nan`) is sent as written."""
    if value == "past":
        return email.utils.formatdate(time.time() - 86400, usegmt=True)
    if value == "date":
        return email.utils.formatdate(time.time() + 86400, usegmt=True)
    return value
