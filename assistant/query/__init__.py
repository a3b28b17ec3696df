"""Answering a question: the `Assistant` facade, and the query pipeline it runs (a list of stages
made from the settings by `factory.build_stages`; `state.py` holds the question's state and the
stage protocol)."""

from assistant.query.assistant import Assistant, use_query_threads
from assistant.query.factory import build_stages
from assistant.query.state import Query, Resources, Stage
from assistant.query.validation import QUESTION_PATTERN, Filters, validate_question

__all__ = ["QUESTION_PATTERN", "Assistant", "Filters", "Query", "Resources", "Stage", "build_stages", "use_query_threads",
           "validate_question"]
