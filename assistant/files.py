"""Files that must survive a crash, and locks between processes: the one durable write and the one
lock every module uses (the collection's transactions, index builds, the ONNX export, milvus-lite).

A durable write goes to a temporary file beside its target, is flushed and fsynced, renamed over
the target (atomic on POSIX) and the folder fsynced: a reader sees the old content or the new,
never half of it, and after a power cut the new content is there once the call returned. A lock
is `flock` on a file: the kernel lets go of it when the descriptor is closed or its process dies,
so a killed command never leaves a lock behind.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

from assistant.errors import AssistantError, StorageError
from assistant.i18n import N_


def fsync_file(path: Path) -> None:
    """Make a file's content durable."""
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def fsync_dir(path: Path) -> None:
    """Make a folder's entries (a rename, a new file) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_SCRATCH = re.compile(r"\..+\.tmp-[0-9a-f]{8}")
"""The name of `write_durably`'s temporary file: `.<target>.tmp-<8 hex digits>`."""


def write_durably(path: Path, data: bytes | str, *, mode: int | None = None) -> None:
    """Replace `path` with `data` (text is written as UTF-8) atomically and durably. With `mode`
    (e.g. 0o600 for a file of secrets) the temporary file is created with that mode, so the content
    is never readable by others even for a moment, and the rename keeps it; without, the umask's.
    A process killed part-way leaves its temporary file (`remove_scratch` clears them) and `path`
    as it was."""
    scratch = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if mode is None else mode)
        if mode is not None:
            os.fchmod(fd, mode)  # exactly `mode`, whatever the umask took away
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(scratch, path)
    finally:
        scratch.unlink(missing_ok=True)
    fsync_dir(path.parent)


def scratch_files(folder: Path) -> list[Path]:
    """The temporary files `write_durably` left in `folder` (not below it) when killed part-way."""
    try:
        return [path for path in folder.iterdir() if _SCRATCH.fullmatch(path.name) and path.is_file()]
    except (FileNotFoundError, NotADirectoryError):
        return []


def remove_scratch(folder: Path) -> list[str]:
    """Delete `scratch_files(folder)`; their names. Only with the lock that guards the folder's
    writes held, or a live writer's file could go."""
    found = scratch_files(folder)
    for path in found:
        path.unlink(missing_ok=True)
    return [path.name for path in found]


def append_durably(path: Path, line: str, *, mode: int = 0o600) -> None:
    """Add one line to the end of `path` (made with `mode` if missing) and make it durable: a log
    that only grows (the operator's audit trail), where a crash may lose at most the line being
    written, never an earlier one."""
    created = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, mode)
    try:
        os.write(fd, (line.rstrip("\n") + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        fsync_dir(path.parent)  # the new file's name, or a crash could lose the whole file


def lock_file(path: Path, *, wait: bool = True) -> int | None:
    """An open descriptor of `path` (created if missing) holding its exclusive lock; closing it lets
    go. None when another process holds the lock and `wait` is False."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def locked(path: Path) -> Iterator[int]:
    """Hold the lock of `path` (waiting for it) for the `with` block."""
    fd = lock_file(path)
    assert fd is not None
    try:
        yield fd
    finally:
        os.close(fd)


def held_elsewhere(path: Path) -> bool:
    """Whether another process holds the lock of `path` (without waiting, and without keeping it)."""
    fd = lock_file(path, wait=False)
    if fd is None:
        return True
    os.close(fd)
    return False


FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
"""The errors of a file system with no room left (for anyone, for this user, for one more byte of this file)."""
REFUSED = (*FULL, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO)
"""The errors a file system gives a write it refuses: FULL, a read-only or unwritable folder, a failing disk."""

DISK_FULL = N_("the disk holding {folder} is full ({reason}): free some space and run the command again; "
               "the collection is as it was")
CANNOT_WRITE = N_("cannot write in {folder} ({reason}): check the disk and the folder's permissions, and run the "
                  "command again; the collection is as it was")


def refused_write(error: BaseException) -> int | None:
    """The errno of a write the file system refused, however the library that wrote reports it: an
    OSError, SQLite's OperationalError ("database or disk is full"), FAISS's RuntimeError (its C++
    writer puts strerror in the message); None for any other error."""
    if isinstance(error, OSError):
        return error.errno if error.errno in REFUSED else None
    if isinstance(error, sqlite3.OperationalError):
        text = str(error).lower()
        found = {"disk is full": errno.ENOSPC, "readonly": errno.EROFS, "disk i/o error": errno.EIO}
        return next((number for words, number in found.items() if words in text), None)
    if isinstance(error, RuntimeError):
        return next((number for number in REFUSED if os.strerror(number) in str(error)), None)
    return None


@contextlib.contextmanager
def storage_refusals(folder: Path) -> Iterator[None]:
    """Turn the file system refusing a write inside the block (see `refused_write`) into the one-line
    StorageError that says what to do, for a change that undoes itself on any error (the
    collection's transactions): so the message can say the collection is as it was."""
    try:
        yield
    except AssistantError:
        raise
    except Exception as error:
        number = refused_write(error)
        if number is None:
            raise
        raise StorageError(DISK_FULL if number in FULL else CANNOT_WRITE, folder=str(folder),
                           reason=os.strerror(number)) from error
