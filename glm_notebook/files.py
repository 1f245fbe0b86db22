"""Files glm_notebook writes beside a notebook (recordings, saved chats) are reached through paths
someone else may have committed: never follow a symbolic link, never write into anything but a
regular file, and never truncate in place (a new file is renamed over the old one).
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from .errors import GLMError
from .text import short_line

__all__ = ["UnsafeFileError", "check_path", "open_nofollow", "replace_file"]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


class UnsafeFileError(GLMError):
    """A file glm_notebook would read or write is a symbolic link, not a regular file, or lies
    in a directory reached through a link: refused rather than followed."""


def _name(path: Path) -> str:
    return short_line(str(path), 160)


def check_path(path: str | os.PathLike[str], error: type[GLMError] = UnsafeFileError) -> Path:
    """`path` if it is a regular file or absent, in a directory that is not a symbolic link."""
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if parent.is_symlink():
        raise error(f"{_name(parent)} is a symbolic link: not reading or writing {target.name} through it.")
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        return target
    except OSError as exc:
        raise error(f"Cannot use {_name(target)}: {exc.strerror or exc}.") from None
    if stat.S_ISLNK(mode):
        raise error(
            f"{_name(target)} is a symbolic link: not reading or writing through it "
            "(replace it with a regular file)."
        )
    if not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise error(f"{_name(target)} is {kind}: give the path of a file.")
    return target


def open_nofollow(
    path: str | os.PathLike[str], flags: int, error: type[GLMError] = UnsafeFileError, mode: int = 0o644
) -> int:
    """`os.open` that refuses a symbolic link or anything but a regular file at `path`; the fd."""
    target = check_path(path, error)
    try:
        fd = os.open(target, flags | _NOFOLLOW, mode)
    except OSError as exc:  # ELOOP: it became a link after the check
        raise error(f"Cannot open {_name(target)}: {exc.strerror or exc}.") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise error(f"{_name(target)} is not a regular file.")
    return fd


def replace_file(path: str | os.PathLike[str], data: bytes, error: type[GLMError] = UnsafeFileError) -> Path:
    """Write `data` to a new file beside `path` and rename it over `path` (never half-written,
    never through a link). Keeps an existing file's permissions; a new one gets 0644 (umask)."""
    target = check_path(path, error)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        mode = stat.S_IMODE(os.lstat(target).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=directory)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
