"""Changes to the collection started from the operator area, run in a thread of their own so the
page can show how far they have got (`GET /api/operator/jobs/{id}`, polled) while the service goes
on answering from the index it has.

One change runs at a time (the collection's lock says so across processes; `Jobs.start` says so
at once to a second operator here). A job's thread is not a daemon: a server asked to stop lets a
change it started finish, and a kill is what the collection's journal is for. Only the last
`KEEP` jobs are remembered, in memory.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from assistant.errors import AssistantError
from assistant.i18n import N_
from assistant.progress import Step, watching
from assistant.store.transaction import CollectionBusyError

log = logging.getLogger(__name__)

KEEP = 32
Action = Literal["upload", "edit", "remove"]
State = Literal["running", "done", "failed"]
FAILED = N_("the change failed and the collection is as it was: see the server's log, then try again")


@dataclass
class Job:
    """One change: what it does to which documents, and how far it has got."""

    id: str
    action: Action
    documents: list[str]
    state: State = "running"
    step: Step | None = None
    done: int = 0
    total: int = 0
    error: AssistantError | None = None
    started: float = field(default_factory=time.monotonic)
    step_started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    result: object = None
    """What the change returned (the documents an upload added), for whoever waits on it."""
    finished: threading.Event = field(default_factory=threading.Event, repr=False)

    def seen(self, step: Step, done: int, total: int) -> None:
        """A progress report (see `assistant.progress`)."""
        if step != self.step:
            self.step, self.step_started = step, time.monotonic()
        self.done, self.total = done, total

    def seconds_left(self) -> int | None:
        """A guess at the time the current step still needs, from its pace so far (None: too
        early to say, or a step that is not counted)."""
        if self.state != "running" or not self.total or not self.done or self.done >= self.total:
            return None
        spent = time.monotonic() - self.step_started
        return max(1, round(spent / self.done * (self.total - self.done)))

    def seconds(self) -> int:
        return round((self.ended or time.monotonic()) - self.started)


class Jobs:
    """The jobs of this server, newest last; at most one running."""

    def __init__(self) -> None:
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def start(self, action: Action, documents: list[str], work: Callable[[], object]) -> Job:
        """Run `work` in a new thread as a job, its progress reports going to the job; a
        CollectionBusyError at once when another job is running."""
        with self._lock:
            if any(job.state == "running" for job in self._jobs.values()):
                raise CollectionBusyError(N_("another change to the collection is running: wait for it to finish, "
                                             "then try again"))
            job = Job(secrets.token_urlsafe(16), action, list(documents))
            self._jobs[job.id] = job
            while len(self._jobs) > KEEP:
                self._jobs.popitem(last=False)
        threading.Thread(target=self._run, args=(job, work), name=f"operator-{action}").start()
        return job

    @staticmethod
    def _run(job: Job, work: Callable[[], object]) -> None:
        try:
            with watching(job.seen):
                job.result = work()
            job.state = "done"
        except AssistantError as error:
            job.error, job.state = error, "failed"
        except Exception:
            log.exception("an operator's %s failed", job.action)
            job.error, job.state = AssistantError(FAILED), "failed"
        finally:
            job.ended = time.monotonic()
            job.finished.set()
