"""The answer sentence(s) of a passage: the one that matches the question best, and what it says as a vector."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from assistant.answer.model import Highlight
from assistant.ingest.chunking import Passage

HIGHLIGHT_TERM_WEIGHT = 0.3
"""Weight of question-word overlap next to cosine similarity when picking the answer sentence."""
HIGHLIGHT_EXTEND_MARGIN = 0.05
"""An adjacent sentence scoring within this of the best one joins the highlight."""


def choose_highlight(passage: Passage, sentence_scores: np.ndarray) -> Highlight:
    """The sentence of the passage that scores best (`sentence_scores`, one per sentence), joined
    by an adjacent one that scores within `HIGHLIGHT_EXTEND_MARGIN` of it."""
    if not passage.sentences:
        return Highlight(start=0, end=len(passage.text))
    scores = np.asarray(sentence_scores, dtype=np.float32)
    best = int(np.argmax(scores))
    first = last = best
    neighbours = [i for i in (best - 1, best + 1) if 0 <= i < len(scores)]
    if neighbours:
        runner_up = max(neighbours, key=lambda i: scores[i])
        if scores[runner_up] >= scores[best] - HIGHLIGHT_EXTEND_MARGIN:
            first, last = min(best, runner_up), max(best, runner_up)
    return Highlight(start=passage.sentences[first][0], end=passage.sentences[last][1])


def sentence_scores(sentence_vectors: np.ndarray, question_vector: np.ndarray, sentence_tokens: Sequence[frozenset[str]],
                    question_tokens: set[str]) -> np.ndarray:
    """How well each sentence matches the question: cosine plus `HIGHLIGHT_TERM_WEIGHT` times the
    share of the question's words it contains (the fallback when no ranker is loaded)."""
    scores = sentence_vectors @ question_vector
    if question_tokens and len(sentence_tokens):
        overlap = np.array([len(question_tokens & tokens) / len(question_tokens) for tokens in sentence_tokens],
                           dtype=np.float32)
        scores = scores + HIGHLIGHT_TERM_WEIGHT * overlap
    return scores


def highlight_vector(passage: Passage, highlight: Highlight, sentence_vectors: np.ndarray) -> np.ndarray:
    """The normalized mean embedding of the highlighted sentences: what the result says."""
    rows = [i for i, (start, end) in enumerate(passage.sentences) if start >= highlight.start and end <= highlight.end]
    if not rows:
        return np.zeros(sentence_vectors.shape[1] if sentence_vectors.ndim == 2 else 1, dtype=np.float32)
    mean = sentence_vectors[rows].mean(axis=0)
    return mean / (np.linalg.norm(mean) or 1.0)
