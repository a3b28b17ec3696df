"""Features of a whole question (not of a passage): does the collection answer it at all?

All come from what retrieval and the ranker already computed, plus two set lookups: the
question's words against the collection's vocabulary, and what it asks for against the passages
shown (`answer/asked.py`). No model runs here.
"""

from __future__ import annotations

import math
import re
from typing import Protocol

import numpy as np

from assistant.answer.asked import Part, asked_parts, missing_part
from assistant.embedding.calibration import Calibration
from assistant.languages import Language
from assistant.query.ranking.features import FEATURES as RANKER_FEATURES
from assistant.query.ranking.features import CandidateFeatures, profile
from assistant.store.backends.base import Hit
from assistant.store.index import Index

FEATURES: tuple[str, ...] = (
    "evidence_margin",  # the fused evidence of the best passage minus the language's calibrated floor
    "below_floor",  # how far below that floor it is (0 above it): far below, nothing is close
    "dense_best",  # the best candidate's calibrated cosine (max of passage and best sentence)
    "latent_best",  # the best latent-terms cosine among the candidates (0 without latent terms)
    "bm25_asked_best",  # its saturated BM25 for the question as asked
    "coverage_sentence_best",  # share of the question's words (with glossary) in its best sentence
    "coverage_passage_best",  # the same in the whole passage
    "glossary_best",  # share of the glossary's words in it
    "unknown_words",  # share of the question's words the collection never uses and no glossary entry translates
    "unknown_words_english",  # the same for a question in English, the collection's language (a word it lacks says more)
    "idf_coverage_best",  # of the question's words the collection uses (with glossary), the IDF-weighted share in the best passage
    "rarest_missing",  # the IDF (over its maximum) of the rarest of those words that the first three passages lack
    "place_missing",  # the question names a place (the corpus knows) that none of the first three passages names
    "figure_missing",  # the question names a year or number (an article's) that none of the first three passages holds
    "glossary_words",  # glossary expansion words the collection uses, per question word (capped at 1)
    "nothing_translated",  # no word of the question is one the collection uses, and the glossary translates none
    "asks_part",  # the question asks for a penalty, price, phone, address, hours, site, figure or date
    "part_missing",  # ... a penalty, price, phone, address, hours or site, and none of the first `part_search_depth` passages gives it
    "figure_or_date_missing",  # ... a figure or a date, and none of them gives it
    "figure_not_in_best_sentence",  # ... a figure or a date, and the closest sentence of the ranker's best passage gives none
    "russian",
    "kazakh",
)
BEST_SENTENCES_OF = 1
"""How many of the ranker's best passages lend their closest sentence to `figure_not_in_best_sentence`
(three lost 0.08 of dev recall: eval/answerability_levers.md)."""
SIGNS: tuple[int, ...] = tuple({
    "evidence_margin": 1, "below_floor": -1, "dense_best": 1, "latent_best": 1, "bm25_asked_best": 1,
    "coverage_sentence_best": 1, "coverage_passage_best": 1, "glossary_best": 1, "unknown_words": -1,
    "unknown_words_english": -1, "idf_coverage_best": 1, "rarest_missing": -1, "place_missing": -1,
    "figure_missing": -1, "glossary_words": 1, "nothing_translated": -1, "part_missing": -1,
    "figure_or_date_missing": -1, "figure_not_in_best_sentence": -1,
}.get(name, 0) for name in FEATURES)
"""The sign each feature's weight must keep (+1: more of it, more likely answered; -1: less; 0:
either), which the training holds the model to (`evaluate.train_answerability.fit`)."""
_WORDS = re.compile(r"[^\W_]+")
_FIGURE = re.compile(r"(?<![\d.,])\d{2,4}(?![\d.,]?\d)")
_COLUMN = {name: i for i, name in enumerate(FEATURES)}
_RANKER_COLUMN = {name: RANKER_FEATURES.index(name) for name in
                  ("dense_passage", "dense_sentence", "bm25_asked", "coverage_sentence", "coverage_passage", "glossary",
                   "latent")}


class Ranked(Protocol):
    """What the features read of a question's way through retrieval and the ranker (a
    `query.state.Query` has it all)."""

    text: str
    language: Language
    index: Index
    evidence: float
    ranking: list[Hit]
    features: CandidateFeatures | None
    ranker_scores: np.ndarray | None
    asked_tokens: list[str]
    untranslated_tokens: list[str]
    expansion_tokens: list[str]


def searched_texts(query: Ranked, depth: int) -> list[str]:
    """The texts of the first `depth` passages of the ranking: where an asked-for part is looked for."""
    return [query.index.passages[hit.passage].text for hit in query.ranking[:depth]]


def part_missing(query: Ranked, depth: int) -> Part | None:
    """What the question asks for that none of the first `depth` passages gives (`asked.missing_part`)."""
    if not asked_parts(query.text):
        return None
    return missing_part(query.text, searched_texts(query, depth))


def compute(query: Ranked, calibration: Calibration, depth: int,
            places: list[tuple[str, ...]]) -> tuple[np.ndarray, Part | None]:
    """The question's feature vector, and the part it asks for that the first `depth` passages
    lack (`places`: the English names of each place the question names, `CorpusCoverage.places_named`)."""
    values = np.zeros(len(FEATURES), dtype=np.float32)
    column = _COLUMN
    index = query.index
    floor = calibration.threshold(query.language)
    english = query.language == "en"
    values[column["evidence_margin"]] = query.evidence - floor
    values[column["below_floor"]] = max(0.0, floor - query.evidence)
    best_row, best_sentences = None, []
    if query.features is not None and query.ranker_scores is not None and len(query.ranker_scores):
        order = np.argsort(-query.ranker_scores, kind="stable")
        best = query.features.matrix[order[0]]
        best_row = int(query.features.rows[order[0]])
        for position in order[:BEST_SENTENCES_OF]:
            # Each passage's sentence closest in meaning (calibrated cosine, the first sentence feature).
            sentences, row = query.features.sentence_matrices[position], int(query.features.rows[position])
            if len(sentences):
                start, end = index.passages[row].sentences[int(np.argmax(sentences[:, 0]))]
                best_sentences.append(index.passages[row].text[start:end])
        values[column["dense_best"]] = max(best[_RANKER_COLUMN["dense_passage"]], best[_RANKER_COLUMN["dense_sentence"]])
        values[column["latent_best"]] = float(query.features.matrix[:, _RANKER_COLUMN["latent"]].max())
        for name in ("bm25_asked", "coverage_sentence", "coverage_passage", "glossary"):
            values[column[f"{name}_best"]] = best[_RANKER_COLUMN[name]]
    if best_row is None and query.ranking:
        best_row = query.ranking[0].passage
    asked = query.asked_tokens
    if asked:
        frequency = index.token_passages
        # A word the glossary translated counts as known: its expansion's words stand for it.
        unknown = [token for token in query.untranslated_tokens if token not in frequency]
        values[column["unknown_words"]] = len(unknown) / len(asked)
        values[column["unknown_words_english"]] = english * len(unknown) / len(asked)
        known_expansion = {token for token in query.expansion_tokens if token in frequency}
        values[column["glossary_words"]] = min(1.0, len(known_expansion) / len(asked))
        values[column["nothing_translated"]] = not known_expansion and not any(token in frequency for token in asked)
        terms = {token for token in query.untranslated_tokens if token in frequency} | known_expansion
        if terms:
            most = math.log(1 + len(index.passages))
            idf = {term: math.log(1 + len(index.passages) / frequency[term]) for term in terms}
            if best_row is not None:
                in_best = profile(index, best_row).tokens
                values[column["idf_coverage_best"]] = sum(idf[t] for t in terms if t in in_best) / sum(idf.values())
            shown: frozenset[str] = frozenset().union(*(profile(index, hit.passage).tokens for hit in query.ranking[:3]))
            lacking = [idf[t] for t in terms if t not in shown]
            values[column["rarest_missing"]] = max(lacking, default=0.0) / most
    first = " " + " | ".join(" ".join(_WORDS.findall(text.lower())) for text in searched_texts(query, 3)) + " "
    values[column["place_missing"]] = any(
        not any(f" {' '.join(_WORDS.findall(name.lower()))} " in first for name in names) for names in places)
    values[column["figure_missing"]] = any(f" {figure} " not in first for figure in _FIGURE.findall(query.text))
    missing = part_missing(query, depth)
    parts = asked_parts(query.text)
    if parts:
        values[column["asks_part"]] = 1.0
        if missing is not None:
            values[column["part_missing" if missing.specific else "figure_or_date_missing"]] = 1.0
        figures = [part for part in parts if not part.specific]
        if figures and best_sentences:
            values[column["figure_not_in_best_sentence"]] = not any(part.gives.search(sentence) for part in figures
                                                                    for sentence in best_sentences)
    values[column["russian"]] = query.language == "ru"
    values[column["kazakh"]] = query.language == "kk"
    return values, missing
