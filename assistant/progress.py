"""Progress of a long change for a watcher other than the terminal's bar: the operator page shows
how far an upload, a correction or a removal has got, and a guess at the time left.

The work reports named steps (`report`); whoever started it may watch them with `watching`, which
holds for the current thread (a context variable), so two changes never mix their reports and the
command line, which watches nothing, pays one lookup per batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Literal

Step = Literal["reading", "passages", "sentences", "writing", "switching"]
"""Reading (and cleaning) the documents, encoding passages, encoding sentences, writing the index,
switching to it."""
Watcher = Callable[[Step, int, int], None]
"""Called with the step, how many of its items are done, and how many there are (0: not counted)."""

_watcher: ContextVar[Watcher | None] = ContextVar("progress_watcher", default=None)


@contextmanager
def watching(watcher: Watcher) -> Iterator[None]:
    """Send this thread's progress reports to `watcher` while the block runs."""
    token = _watcher.set(watcher)
    try:
        yield
    finally:
        _watcher.reset(token)


def report(step: Step, done: int = 0, total: int = 0) -> None:
    """Tell the watcher, if any, that `done` of the `total` items of `step` are done."""
    watcher = _watcher.get()
    if watcher is not None:
        watcher(step, done, total)


def encoding_step(description: str) -> Step:
    """The step an encoder's bar description names ("passages", "e5 sentences", …)."""
    return "sentences" if description.endswith("sentences") else "passages"
