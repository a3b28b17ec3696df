"""Reading documents within a time budget, in a worker process (issue 28).

Size limits (`ExtractionLimits`) bound what is known to cost; the budget
(`ExtractionLimits.max_document_seconds`, ASSISTANT_MAX_DOCUMENT_SECONDS) bounds the rest: a parser
that takes far longer than a document's size warrants (joining the lines of one 117 KB paragraph
took 48.7 s before issue 28) or never returns. Each document is read, extracted, cleaned and cut
into passages in a worker process; one that has not finished within the budget is refused with one
line naming it, the worker is killed, and a new one reads the next document. A worker that dies
(a parser's crash, the kernel's out-of-memory killer) refuses its document the same way.

Why a worker process, and one for a whole batch (measured on this 2-core machine, eval/ingest_bench.md):
- a deadline checked between pages or steps cannot stop a step that does not return (one page's
  text, one regular expression, libxml2 or zlib at work), and an alarm signal reaches only the
  main thread, and Python code only, while the operator's upload runs in a server thread;
- a new process per document costs its start each time: 17 ms a document forked from a fork
  server that has imported the package (against 0.19 ms to read a small document in process), on
  every rebuild of the collection; forking the command itself is unsafe once it runs threads (the
  models', the web server's);
- one worker per batch costs its start once (0.11 s), and a document only the hand-over of its
  bytes and its passages (0.55 ms a small document in all).
The worker also holds itself to each document's budget in CPU seconds (RLIMIT_CPU): if the command
dies, a worker stuck in a loop does not outlive it for long.

A budget of 0 reads in the command's own process, with no time limit.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from multiprocessing import Pipe
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType

from assistant.errors import AssistantError, CorpusError
from assistant.i18n import N_, Message
from assistant.ingest.chunking import Passage, chunk_document
from assistant.ingest.corpus import Document, Overlay, corpus_files, load_document, no_documents
from assistant.ingest.formats import ExtractionLimits, first_line
from assistant.progress import report

log = logging.getLogger(__name__)

OVER_BUDGET = N_("{name} took more than {seconds} s to read (setting ASSISTANT_MAX_DOCUMENT_SECONDS): split it, "
                 "save it in a simpler format (.txt), or raise the limit")
READER_DIED = N_("{name} stopped the process reading it ({how}): it may be damaged, or too big for this machine's "
                 "memory; save it again, or split it")
START_SECONDS = 60
"""How long a worker may take to start (a few tenths of a second here)."""
CPU_MARGIN_SECONDS = 5
"""CPU seconds a worker allows itself past a document's budget (the command's clock stops it first)."""
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Read:
    """One document as the index takes it: its served text and metadata, and its passages
    (numbered from 0)."""

    document: Document
    passages: list[Passage]


def read_here(path: Path, limits: ExtractionLimits, chunking: tuple[int, int], *, overrides: dict | None = None,
              doc_id: str | None = None, data: bytes | None = None) -> Read:
    """`path` read, extracted, cleaned and cut into passages in this process (`chunking`: the
    target and maximum passage sizes)."""
    document = load_document(path, limits, overrides=overrides, doc_id=doc_id, data=data)
    return Read(document, chunk_document(document, *chunking))


class DocumentReader:
    """Reads documents one at a time, each within `limits.max_document_seconds` (see the module's
    docstring); a context manager, so the worker ends with the batch."""

    def __init__(self, limits: ExtractionLimits, chunking: tuple[int, int]):
        self.limits = limits
        self.chunking = chunking
        self._worker: subprocess.Popen | None = None
        self._connection: Connection | None = None

    def __enter__(self) -> DocumentReader:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._stop(kill=error is not None)  # Ctrl-C, or a refusal: the worker's current document is moot

    def read(self, path: Path, *, overrides: dict | None = None, doc_id: str | None = None,
             data: bytes | None = None) -> Read:
        """`path` read (from `data`, its bytes, when given) within the budget, or a CorpusError that
        names it."""
        budget = self.limits.max_document_seconds
        if budget <= 0:
            return read_here(path, self.limits, self.chunking, overrides=overrides, doc_id=doc_id, data=data)
        connection = self._started()
        try:
            connection.send((str(path), overrides, doc_id, data))
            answered = connection.poll(budget)
        except OSError:  # the worker died between documents
            answered = True
        if not answered:
            self._stop(kill=True)
            raise CorpusError(OVER_BUDGET, name=path.name, seconds=f"{budget:g}")
        try:
            reply, records = connection.recv()
        except (EOFError, OSError):
            raise CorpusError(READER_DIED, name=path.name, how=self._stop(kill=True)) from None
        for name, level, message in records:  # its warnings, as if it had been read here
            logging.getLogger(name).log(level, "%s", message)
        kind, value = reply
        if kind == "read":
            return value
        if kind == "refused":
            raise CorpusError(value.msgid, **value.params)
        raise CorpusError(N_("{name} could not be read ({reason}): save it again, or remove it"), name=path.name,
                          reason=value)

    def close(self) -> None:
        self._stop(kill=False)

    def _started(self) -> Connection:
        if self._worker is not None and self._worker.poll() is None and self._connection is not None:
            return self._connection
        self._stop(kill=True)
        ours, theirs = Pipe()
        environment = {**os.environ, "PYTHONPATH": os.pathsep.join(
            filter(None, [str(_PACKAGE_ROOT), os.environ.get("PYTHONPATH")]))}
        try:
            self._worker = subprocess.Popen(
                [sys.executable, "-m", __name__, str(theirs.fileno())], pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=environment, close_fds=True)
        finally:
            theirs.close()
        self._connection = ours
        # Its start-up (Python, this package) is not a document's: the clock starts once it is ready.
        try:
            ready = ours.poll(START_SECONDS) and ours.recv() == "ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            raise AssistantError(N_("the process that reads documents did not start ({how}; what it said, if anything, "
                                 "is above): check the installation with `make install`"), how=self._stop(kill=True))
        ours.send((self.limits, self.chunking))
        return ours

    def _stop(self, *, kill: bool) -> str:
        """End the worker (at once when `kill`, else once it has seen the end of its input) and say
        how it ended."""
        worker, connection = self._worker, self._connection
        self._worker = self._connection = None
        if connection is not None:
            connection.close()
        if worker is None:
            return ""
        if kill:
            worker.kill()
        try:
            code = worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
            code = worker.wait()
        if code < 0:
            try:
                return signal.Signals(-code).name
            except ValueError:
                return f"signal {-code}"
        return f"exit status {code}"


# --- the corpus -------------------------------------------------------------------------------------


@dataclass
class CorpusRead:
    """The corpus as an index build takes it: the documents that could be read, in id order, their
    passages (numbered across the corpus), and the files that could not, each with its refusal."""

    documents: list[Document] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    skipped: list[tuple[str, CorpusError]] = field(default_factory=list)


def read_corpus(corpus_dir: Path, limits: ExtractionLimits, chunking: tuple[int, int],
                overlay: Overlay | None = None) -> CorpusRead:
    """Every document of `corpus_dir` (as `overlay` changes it) read within the budget. A file that
    cannot be read is skipped, with a warning naming it, and listed in `skipped`, so one damaged file
    does not keep the collection from being served; but a file the change brings in (staged by
    `overlay`: an add or an edit) is refused, the change with it, and so is a corpus none of whose
    files can be read."""
    paths = corpus_files(corpus_dir, overlay)
    if not paths:
        raise no_documents(corpus_dir)
    found = CorpusRead()
    staged = overlay.staged if overlay is not None else None
    with DocumentReader(limits, chunking) as reader:
        for done, path in enumerate(paths):
            report("reading", done, len(paths))
            try:
                read = reader.read(path)
            except CorpusError as error:
                if staged is not None and path.parent == staged:
                    raise
                log.warning("skipped %s: %s", path.name, error)
                found.skipped.append((path.name, error))
                continue
            first = len(found.passages)
            found.documents.append(read.document)
            found.passages.extend(replace(passage, passage_id=first + passage.passage_id) for passage in read.passages)
    if not found.documents:
        if len(found.skipped) == 1:
            raise found.skipped[0][1]
        raise CorpusError(N_("none of the {count} documents in {folder} could be read (each is named above): fix or "
                             "remove them"), count=len(found.skipped), folder=str(corpus_dir))
    return found


# --- the worker -------------------------------------------------------------------------------------


class _Kept(logging.Handler):
    """The warnings of the document being read, to be logged again by the command."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):  # a message that cannot be formatted is not worth a document
            self.records.append((record.name, record.levelno, record.getMessage()))


def _hold_cpu(seconds: float) -> None:
    """Let this process use at most `seconds` more CPU time (plus the margin): past it the kernel
    ends it, whoever is waiting for it."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(usage.ru_utime + usage.ru_stime + seconds) + CPU_MARGIN_SECONDS
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _requests(connection: Connection) -> Iterator[tuple]:
    while True:
        try:
            yield connection.recv()
        except (EOFError, OSError):  # the command closed its end (the batch is done) or has gone
            return


def work(fd: int) -> None:
    """The worker: read each document the command sends and send back what was read (or its refusal),
    with the warnings logged on the way."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the command's to handle; it ends this
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # past its CPU time (SIGXCPU), no core file
    connection = Connection(fd)
    try:
        connection.send("ready")
        limits, chunking = connection.recv()
    except (EOFError, OSError):
        return
    kept = _Kept()
    root = logging.getLogger()
    root.addHandler(kept)
    root.setLevel(logging.WARNING)
    for path, overrides, doc_id, data in _requests(connection):
        _hold_cpu(limits.max_document_seconds)
        kept.records.clear()
        try:
            reply: tuple = ("read", read_here(Path(path), limits, chunking, overrides=overrides, doc_id=doc_id,
                                             data=data))
        except CorpusError as error:
            reply = ("refused", Message(error.message.msgid, dict(error.message.params)))
        except Exception as error:  # a fault of this program's own: said in one line all the same
            reply = ("failed", f"{type(error).__name__}: {first_line(error)}")
        try:
            connection.send((reply, kept.records))
        except (OSError, ValueError):  # the command has gone (or closed its end): nothing to say it to
            return
        except Exception as error:  # what was read could not be sent back (pickled)
            connection.send((("failed", f"{type(error).__name__}: {first_line(error)}"), []))


if __name__ == "__main__":
    # Through the module's own name, so what it sends back is `assistant.ingest.reader.Read`, not `__main__.Read`.
    from assistant.ingest.reader import work as _work

    _work(int(sys.argv[1]))
