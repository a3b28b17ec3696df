"""Errors a user can act on. Each carries a one-line message that says what to do."""


class AssistantError(Exception):
    """A problem with input, corpus or index that the user can fix; shown without a traceback."""


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
