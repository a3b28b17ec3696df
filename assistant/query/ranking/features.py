"""Features of a question and each candidate passage, from what retrieval already computed.

All are cheap: cosines of vectors the backend holds (the question is encoded once), BM25 scores
of searches already run, token sets cached on the index, and a few cue words per language. The
ranker (`model.py`) weighs them; the highlight reuses the sentence-level ones.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from assistant.embedding.calibration import Calibration
from assistant.embedding.sparse import SparseVector
from assistant.embedding.sparse import scores as sparse_scores
from assistant.languages import REGISTRY, Language
from assistant.query.scores import best_sentence, passage_or_best_sentence, saturate
from assistant.query.temporal import TimeView
from assistant.store.backends.base import Hit
from assistant.store.index import Index

FEATURES: tuple[str, ...] = (
    "fused",  # the fallback fusion score: calibrated dense + saturated BM25 (question as asked + glossary)
    "fused_gap",  # fused minus the best candidate's
    "dense_passage",  # the passage's calibrated cosine (best over the question's vector spaces)
    "dense_sentence",  # its best sentence's calibrated cosine
    "dense_gap",  # max(passage, sentence) minus the best candidate's
    "english_dense",  # max(passage, best sentence) cosine in the English model's space (0 if not encoded)
    "multilingual_dense",  # the same in the multilingual model's space (0 if not encoded)
    "both_models",  # the question was encoded in both spaces
    "bm25_expanded",  # saturated BM25 of the question with its glossary expansions
    "bm25_asked",  # saturated BM25 of the question as asked
    "glossary",  # share of the glossary expansions' words found in the passage
    "coverage_sentence",  # share of the question's words (with glossary expansions) in the best sentence
    "coverage_passage",  # share of the question's words (with glossary expansions) in the passage
    "type_number",  # a "how many / what share" question, and a number in the best sentence
    "type_when",  # a "when / what year" question, and a date in the best sentence
    "type_who",  # a "who / which organisation" question, and a name in the best sentence
    "key_point",  # the passage is a key point of its section
    "quote",  # the passage quotes someone
    "recommendation",  # the passage is a recommendation
    "recent",  # for a question about now: the source's recency among the answering sources (0..1)
    "length",  # log of the passage's length
    "cyrillic",  # the question is in Russian or Kazakh
    "cyrillic_dense",  # cyrillic x max(dense_passage, dense_sentence)
    "cyrillic_bm25",  # cyrillic x bm25_expanded
    "foreign",  # the passage is in another language than the question
    "latent",  # the latent-terms cosine of the passage or its best sentence (best over spaces; 0 if none)
    "latent_gap",  # latent minus the best candidate's
    "cyrillic_latent",  # cyrillic x latent
)
SENTENCE_FEATURES = ("dense_sentence", "coverage_sentence", "type_number", "type_when", "type_who", "cyrillic_coverage")
"""The features that differ between the sentences of one passage: the highlight weighs them (the
last, coverage for a Russian or Kazakh question, only there: for such a question the glossary's
translated words locate the answer sentence better than the multilingual model's cosine)."""

_QUESTION_TYPES = {
    "number": re.compile(r"\b(how many|how much|what share|what percent\w*|what proportion|number of|how often|rate of)\b"
                         r"|сколько|скока|какой процент|какая доля|количеств\w*|число\b|қанша|канша|неше|пайыз", re.I),
    "when": re.compile(r"\b(when|what year|which year|since when|what date)\b|когда|в каком году|с какого|қашан|кашан"
                       r"|қай жылы|кай жылы", re.I),
    "who": re.compile(r"\b(who|whom|whose|which (organi[sz]ation|ngo|group|agency))\b|\bкто\b|\bкого\b|\bкем\b"
                      r"|какая организация|кім|ким\b|қандай ұйым", re.I),
}
_NUMBER = re.compile(r"\d")
_FOOTNOTES = re.compile(r"(?<=[^\s\d])\d{1,3}(?: \d{1,3})*\s*$")
"""Footnote markers glued after a sentence's last word or full stop ("registration.44 45")."""
_DATE = re.compile(r"\b(1[89]\d\d|20\d\d)\b|\b(january|february|march|april|may|june|july|august|september|october"
                   r"|november|december)\b", re.I)
_NAME = re.compile(r"(?<=[a-z,;:] )[A-Z][a-z]+|\b[A-Z]{2,}\b|[«“\"][A-Z]")


def latent_scores(index: Index, space: str, terms: SparseVector, rows: np.ndarray | None = None) -> np.ndarray:
    """Each passage's (of `rows`, or every one's) latent-terms cosine with the question: its own or
    its best sentence's, whichever is higher (`scores.passage_or_best_sentence`, as for dense)."""
    matrices = index.latent_terms[space]
    if rows is None:  # every passage: every sentence, owned as the index says
        own = sparse_scores(matrices["passage"], terms)
        in_sentences, owner = sparse_scores(matrices["sentence"], terms), index.sentence_passage
    else:
        rows = np.asarray(rows, dtype=np.int64)
        own = sparse_scores(matrices["passage"], terms, rows)
        sentence_rows = np.fromiter((i for row in rows for i in index.sentence_rows[row]), dtype=np.int64)
        owner = np.repeat(np.arange(len(rows)), [len(index.sentence_rows[row]) for row in rows])
        in_sentences = sparse_scores(matrices["sentence"], terms, sentence_rows) if len(sentence_rows) \
            else np.zeros(0, dtype=np.float32)
    return passage_or_best_sentence(own, best_sentence(in_sentences, owner, own))


class Retrieved(Protocol):
    """What the features read of a question's retrieval (a `query.state.Query` has it all)."""

    text: str
    language: Language
    vectors: dict[str, np.ndarray]
    terms: dict[str, SparseVector]
    lexical: list[Hit]
    asked_lexical: list[Hit]
    expansion_tokens: list[str]
    relevance: dict[int, float]
    time: TimeView

    @property
    def tokens(self) -> list[str]: ...


@dataclass
class CandidateFeatures:
    """The feature matrix of a question's candidates, and per candidate what the highlight needs."""

    rows: np.ndarray
    """The candidate passages (rows), in the order of `matrix`."""
    matrix: np.ndarray
    """One row per candidate, one column per name in `FEATURES`."""
    sentence_matrices: list[np.ndarray]
    """Per candidate, one row per sentence, one column per name in `SENTENCE_FEATURES`."""


@dataclass(frozen=True)
class PassageProfile:
    """What the features need of a passage whatever the question: worked out once per build."""

    sentence_tokens: tuple[frozenset[str], ...]
    tokens: frozenset[str]
    cues: np.ndarray
    """Per sentence: whether it holds a number, a date, a name (footnote markers left out)."""
    static: np.ndarray
    """key_point, quote, recommendation, length (see `FEATURES`)."""
    language: str


def question_types(question: str) -> dict[str, bool]:
    """Which kinds of answer the question wants: a number, a date, a name."""
    return {kind: bool(pattern.search(question)) for kind, pattern in _QUESTION_TYPES.items()}


def profile(index: Index, row: int) -> PassageProfile:
    """The passage's `PassageProfile`, from the index's memo."""
    def make() -> PassageProfile:
        passage = index.passages[row]
        sentence_tokens = index.sentence_tokens(row)
        cues = np.zeros((len(passage.sentences), 3), dtype=np.float32)
        for j, (start, end) in enumerate(passage.sentences):
            text = _FOOTNOTES.sub("", passage.text[start:end])
            cues[j] = (bool(_NUMBER.search(text)), bool(_DATE.search(text)), bool(_NAME.search(text)))
        section = (passage.section or "").upper()
        static = np.array([
            "KEY POINTS" in section,
            "QUOTE" in section or passage.text.lstrip("• ").startswith(("“", "\"", "«")),
            "RECOMMENDATION" in section,
            math.log(1 + len(passage.text)),
        ], dtype=np.float32)
        tokens = frozenset().union(*sentence_tokens) if sentence_tokens else frozenset()
        return PassageProfile(sentence_tokens, tokens, cues, static, index.documents[passage.doc_id].language)

    return index.derived("ranking profile", row, make)


_COLUMN = {name: i for i, name in enumerate(FEATURES)}
_STATIC = [_COLUMN[name] for name in ("key_point", "quote", "recommendation", "length")]


def compute(index: Index, calibration: Calibration, retrieval: Retrieved, rows: list[int], saturation: float) -> CandidateFeatures:
    """The features of `rows` for a question, from what retrieval found (`saturation`: BM25's, as
    fusion saturates it)."""
    backend = index.backend
    n = len(rows)
    row_array = np.asarray(rows, dtype=np.int64)
    sentence_rows = [index.sentence_rows[row] for row in rows]
    counts = [len(found) for found in sentence_rows]
    flat = np.fromiter((i for found in sentence_rows for i in found), dtype=np.int64)
    owner = np.repeat(np.arange(n), counts)
    passage_cos = np.full(n, -np.inf, dtype=np.float32)
    sentence_cos = np.full(len(flat), -np.inf, dtype=np.float32)
    by_space: dict[str, np.ndarray] = {}
    for space, vector in retrieval.vectors.items():
        in_passages = np.asarray(calibration.cosine(space, backend.vectors(space, "passage", row_array) @ vector))
        in_sentences = np.asarray(calibration.cosine(space, backend.vectors(space, "sentence", flat) @ vector)) \
            if len(flat) else np.zeros(0, dtype=np.float32)
        passage_cos = np.maximum(passage_cos, in_passages)
        sentence_cos = np.maximum(sentence_cos, in_sentences)
        by_space[space] = passage_or_best_sentence(in_passages, best_sentence(in_sentences, owner, in_passages))
    best_sentences = best_sentence(sentence_cos, owner, passage_cos)
    dense = passage_or_best_sentence(passage_cos, best_sentences)

    expanded = {hit.passage: saturate(hit.score, saturation) for hit in retrieval.lexical}
    asked = {hit.passage: saturate(hit.score, saturation) for hit in retrieval.asked_lexical}
    question_tokens = set(retrieval.tokens)
    expansion_tokens = set(retrieval.expansion_tokens)
    wants = question_types(retrieval.text)
    wanted = np.array([wants["number"], wants["when"], wants["who"]], dtype=np.float32)
    cyrillic = float(REGISTRY[retrieval.language].script == "cyrillic")
    present = retrieval.time.focus == "present"
    profiles = [profile(index, row) for row in rows]

    matrix = np.zeros((n, len(FEATURES)), dtype=np.float32)
    sentence_matrices = []
    offset = 0
    for i, (row, found) in enumerate(zip(rows, profiles, strict=True)):
        count = counts[i]
        per_sentence = np.zeros((count, len(SENTENCE_FEATURES)), dtype=np.float32)
        if count:
            per_sentence[:, 0] = sentence_cos[offset : offset + count]
            if question_tokens:
                per_sentence[:, 1] = [len(question_tokens & tokens) / len(question_tokens) for tokens in found.sentence_tokens]
            per_sentence[:, 2:5] = found.cues * wanted
            per_sentence[:, 5] = cyrillic * per_sentence[:, 1]
        offset += count
        sentence_matrices.append(per_sentence)
        best = per_sentence[int(np.argmax(per_sentence[:, 0]))] if count else np.zeros(len(SENTENCE_FEATURES), dtype=np.float32)
        values = matrix[i]
        values[_COLUMN["coverage_sentence"]], values[_COLUMN["type_number"]] = best[1], best[2]
        values[_COLUMN["type_when"]], values[_COLUMN["type_who"]] = best[3], best[4]
        values[_COLUMN["bm25_expanded"]] = expanded.get(row, 0.0)
        values[_COLUMN["bm25_asked"]] = asked.get(row, 0.0)
        if expansion_tokens:
            values[_COLUMN["glossary"]] = len(expansion_tokens & found.tokens) / len(expansion_tokens)
        if question_tokens:
            values[_COLUMN["coverage_passage"]] = len(question_tokens & found.tokens) / len(question_tokens)
        if present:
            values[_COLUMN["recent"]] = retrieval.time.recency(index.passages[row].doc_id)
        values[_STATIC] = found.static
        values[_COLUMN["foreign"]] = found.language != retrieval.language
    fused = np.array([retrieval.relevance.get(row, 0.0) for row in rows], dtype=np.float32)
    matrix[:, _COLUMN["fused"]] = fused
    matrix[:, _COLUMN["fused_gap"]] = fused - (fused.max() if n else 0.0)
    matrix[:, _COLUMN["dense_passage"]] = passage_cos
    matrix[:, _COLUMN["dense_sentence"]] = best_sentences
    matrix[:, _COLUMN["dense_gap"]] = dense - (dense.max() if n else 0.0)
    matrix[:, _COLUMN["english_dense"]] = by_space.get("english", 0.0)
    matrix[:, _COLUMN["multilingual_dense"]] = by_space.get("multilingual", 0.0)
    matrix[:, _COLUMN["both_models"]] = float(len(by_space) > 1)
    matrix[:, _COLUMN["cyrillic"]] = cyrillic
    matrix[:, _COLUMN["cyrillic_dense"]] = cyrillic * dense
    matrix[:, _COLUMN["cyrillic_bm25"]] = cyrillic * matrix[:, _COLUMN["bm25_expanded"]]
    if retrieval.terms and n:
        latent = np.max([latent_scores(index, space, terms, row_array) for space, terms in retrieval.terms.items()], axis=0)
        matrix[:, _COLUMN["latent"]] = latent
        matrix[:, _COLUMN["latent_gap"]] = latent - latent.max()
        matrix[:, _COLUMN["cyrillic_latent"]] = cyrillic * latent
    return CandidateFeatures(row_array, matrix, sentence_matrices)

