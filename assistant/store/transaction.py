"""Changes to the collection happen whole or not at all, one at a time.

`assistant add`, `remove` and `index` (and the rebuild `serve` may do at start) each run as one
transaction under one lock, from reading the corpus to the last file moved:

- `index/.lock`: an fcntl lock held for the whole read-embed-write sequence. The kernel lets go of
  it when its process dies, even by SIGKILL. It holds the holder's pid and command, for the message
  a second command shows while it waits (or, with `--no-wait`, when it gives up).
- `index/JOURNAL`: written and fsynced before anything changes. It names the build folder this
  change will switch to, the staging folder `corpus/.staged-<id>/` that holds the files an `add`
  brings in (document and sidecar), and the corpus files a `remove` takes out.

The corpus folder itself does not change until the new build is in use: the build reads the corpus
as the change will leave it (`corpus.Overlay`: staged files in, removed files out). The commit point
is the atomic replacement of `index/CURRENT`. After it, the staged files are moved into `corpus/`,
the removed ones deleted, old builds removed, and the journal deleted.

Recovery (`recover`), run by the next command that takes the lock and, when no command holds it, by
`ask`, `docs` and `serve` at start: a journal found while holding the lock belongs to a process that
died. If `CURRENT` names the journal's build, the change is completed (the backend store's
`recover(..., commit=True)`, staged files moved in, removed files deleted, old builds removed);
otherwise it is rolled back (the backend's `recover(..., commit=False)`, the new build and the
staging folder deleted; the corpus was never touched). Either way one line says so.

`ASSISTANT_TEST_PAUSE_AT=<step>` makes a process stop at that step and wait to be killed
(`checkpoint`), or to be told to go on with SIGUSR1: the fault-injection tests kill it there with
SIGKILL, or hold it there while a second command waits. The steps, in order: "locked", "staged"
(add), "embedded", "written", "switched", "completing".
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import signal
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from assistant.errors import AssistantError
from assistant.files import fsync_dir, lock_file, write_durably
from assistant.ingest.corpus import Overlay

log = logging.getLogger(__name__)

LOCK_FILE = ".lock"
JOURNAL_FILE = "JOURNAL"
STAGED_PREFIX = ".staged-"
PAUSE_ENV = "ASSISTANT_TEST_PAUSE_AT"
STEPS = ("locked", "staged", "embedded", "written", "switched", "completing")


class CollectionBusyError(AssistantError):
    """Another command holds the collection's lock and this one was told not to wait."""


def checkpoint(step: str) -> None:
    """The fault-injection hook: when `ASSISTANT_TEST_PAUSE_AT` names `step`, say so on stderr and
    wait to be killed, or for SIGUSR1 to go on. Does nothing otherwise (one environment lookup)."""
    if os.environ.get(PAUSE_ENV) != step:
        return
    resumed = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGUSR1, lambda *_: resumed.set())
    sys.stderr.write(f"paused at {step} (pid {os.getpid()})\n")
    sys.stderr.flush()
    while not resumed.wait(0.05):
        pass
    if previous is not None:
        signal.signal(signal.SIGUSR1, previous)


def new_build_name() -> str:
    """The name of a new build folder: time-ordered, unique."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"build-{stamp}-{uuid.uuid4().hex[:8]}"


# --- the lock ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def collection_lock(index_dir: Path, command: str, *, wait: bool = True) -> Iterator[None]:
    """Hold the collection's lock for a whole change. A second command waits (saying so once) or,
    with `wait=False`, fails with a one-line CollectionBusyError; nothing is half-applied."""
    index_dir.mkdir(parents=True, exist_ok=True)
    path = index_dir / LOCK_FILE
    fd = lock_file(path, wait=False)
    if fd is None:
        holder = _holder(path)
        if not wait:
            raise CollectionBusyError(f"{holder} is changing the collection in {index_dir}: try again when it "
                                      "has finished (without --no-wait, this command waits for it)") from None
        log.warning("%s is changing the collection in %s: waiting for it to finish (--no-wait gives up instead)",
                    holder, index_dir)
        fd = lock_file(path)
        assert fd is not None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "command": command}).encode(), 0)
        yield
    finally:
        os.close(fd)  # lets go of the lock


def _holder(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            found = json.loads(handle.read(4096) or b"{}")
        return f"another `assistant {found['command']}` (pid {int(found['pid'])})"
    except (ValueError, KeyError, TypeError, OSError):
        return "another command"


def try_lock(index_dir: Path, command: str) -> contextlib.AbstractContextManager[bool]:
    """The lock when it is free (True), or nothing when another command holds it (False): for
    commands that only read, and recover what a dead one left only when no live one is at work."""

    @contextlib.contextmanager
    def attempt() -> Iterator[bool]:
        if not index_dir.is_dir():
            yield False
            return
        try:
            with collection_lock(index_dir, command, wait=False):
                yield True
        except CollectionBusyError:
            yield False
        except OSError as error:  # a read-only index folder: nothing to recover from here
            if error.errno not in (errno.EACCES, errno.EROFS, errno.EPERM):
                raise
            yield False

    return attempt()


# --- the journal ------------------------------------------------------------------------------------


@dataclass
class Journal:
    """What one change is about to do; on disk as `index/JOURNAL` while it runs."""

    operation: str
    """"add", "remove" or "index"."""
    corpus_dir: str
    build: str
    """The build folder (in the index folder) that the change switches `CURRENT` to."""
    backend: str
    staged: str | None = None
    """The staging folder (in the corpus folder) of the incoming files."""
    incoming: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    pid: int = field(default_factory=os.getpid)
    started: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def corpus(self) -> Path:
        return Path(self.corpus_dir)

    @property
    def staged_dir(self) -> Path | None:
        return self.corpus / self.staged if self.staged else None

    @property
    def overlay(self) -> Overlay:
        """The corpus as this change leaves it."""
        return Overlay(staged=self.staged_dir, removed=frozenset(self.removed))

    def describe(self) -> str:
        return f"`assistant {self.operation}` (pid {self.pid}, started {self.started})"

    def save(self, index_dir: Path) -> None:
        """Write the journal durably (a temporary file fsynced, renamed, the folder fsynced)."""
        write_durably(index_dir / JOURNAL_FILE, json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, index_dir: Path) -> Journal | None:
        """The journal in `index_dir`, None when there is none; a damaged one raises ValueError."""
        try:
            data = json.loads((index_dir / JOURNAL_FILE).read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            raise ValueError(str(error)) from None
        if not isinstance(data, dict):
            raise ValueError("not an object")
        try:
            journal = cls(**data)
        except TypeError as error:
            raise ValueError(str(error)) from None
        names = [journal.build, *journal.incoming, *journal.removed, *([journal.staged] if journal.staged else [])]
        if not journal.build.startswith("build-") or any(not _plain_name(name) for name in names):
            raise ValueError("it names a file outside its folders")
        return journal

    @staticmethod
    def delete(index_dir: Path) -> None:
        (index_dir / JOURNAL_FILE).unlink(missing_ok=True)
        fsync_dir(index_dir)


def begin(index_dir: Path, corpus_dir: Path, operation: str, backend: str, *, incoming: list[str] | None = None,
          removed: list[str] | None = None) -> Journal:
    """Start a change (the lock held): its journal written, its staging folder made when files come in."""
    journal = Journal(operation=operation, corpus_dir=str(corpus_dir.resolve()), build=new_build_name(),
                      backend=backend, incoming=list(incoming or []), removed=list(removed or []))
    if journal.incoming:
        journal.staged = f"{STAGED_PREFIX}{journal.build.rsplit('-', 1)[-1]}"
    journal.save(index_dir)
    if journal.staged_dir is not None:
        journal.staged_dir.mkdir()
    return journal


def apply_to_corpus(journal: Journal) -> None:
    """After the switch: move the staged files into the corpus and delete the removed ones. Safe to
    run again after a kill part-way (what is done already is skipped)."""
    corpus, staged = journal.corpus, journal.staged_dir
    for position, name in enumerate(journal.incoming):
        source = staged / name if staged is not None else None
        if source is not None and source.exists():
            os.replace(source, corpus / name)
        if position == 0:
            checkpoint("completing")
    for position, name in enumerate(journal.removed):
        (corpus / name).unlink(missing_ok=True)
        if position == 0 and not journal.incoming:
            checkpoint("completing")
    fsync_dir(corpus)
    if staged is not None:
        shutil.rmtree(staged, ignore_errors=True)


def undo(index_dir: Path, journal: Journal) -> None:
    """Before the switch: delete what the change made (its build, its staging folder); the corpus
    folder was never touched."""
    for folder in (index_dir / journal.build, index_dir / f"{journal.build}.partial"):
        shutil.rmtree(folder, ignore_errors=True)
    if journal.staged_dir is not None:
        shutil.rmtree(journal.staged_dir, ignore_errors=True)


def _plain_name(name: object) -> bool:
    return isinstance(name, str) and bool(name) and name not in (".", "..") and "/" not in name and "\0" not in name
