"""Errors a user can act on. Each carries a one-line message that says what to do.

A message is a gettext id with parameters (`raise QuestionError(N_("k must be ... {max_k}"),
max_k=50)`), so the API and the CLI can show it in their reader's language (`error.render("ru")`);
`str(error)` is the English. A message given as a finished string (an f-string) is shown as it is,
in English.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from assistant.i18n import DEFAULT_LANGUAGE, Message


class AssistantError(Exception):
    """A problem with input, corpus or index that the user can fix; shown without a traceback."""

    def __init__(self, message: str = "", **params: Any):
        self.message = Message(message, params)
        super().__init__(str(self.message))

    def render(self, lang: str = DEFAULT_LANGUAGE) -> str:
        """The message in `lang` (the interface language of whoever sees it)."""
        return self.message.render(lang)


class CorpusError(AssistantError):
    pass


class IndexMissingError(AssistantError):
    pass


class IndexCorruptError(AssistantError):
    pass


class IndexStaleError(AssistantError):
    pass


class QuestionError(AssistantError):
    pass


class UnknownDocumentError(QuestionError):
    """A request names a document the collection does not have (HTTP 404)."""


class StorageError(AssistantError):
    """The file system refused a write (a full disk, a read-only or unwritable folder, an I/O
    error): the change was undone, or, when it says so, made but not yet finished."""


class OperatorError(AssistantError):
    """The operator file (sign-in credentials) is unreadable or damaged, or a credential is refused."""


@contextmanager
def quieted(logger: str | None, level: int) -> Iterator[None]:
    """A library's logger (None: the root logger) raised to `level` for a while: it would print a
    traceback for an error raised again as one line, or a hint meant for the library's developers."""
    found = logging.getLogger(logger)
    before = found.level
    found.setLevel(level)
    try:
        yield
    finally:
        found.setLevel(before)
