"""`Assistant`: the one object that owns a loaded index and answers `ask(question, k)`.

The CLI, the HTTP API and the evaluation all call `ask`, so a behaviour is written once, and
every input is validated once, here. Answering runs in stages:

1. the question's language decides which vector spaces (models) encode it (`spaces_by_language`);
2. `retrieve`: dense hits per space (a passage scores its own cosine or its best sentence's), on
   one calibrated scale, and BM25 hits over the question's tokens and glossary expansions, fused
   into one ranking, and the evidence the abstention rule judges;
3. the answer: highlights, citations, "also in" folding, the abstain flag and its reason.
"""

from __future__ import annotations

import logging
import os
import threading
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .answer import (
    Answer,
    Highlight,
    Result,
    abstain_reason,
    abstain_reason_no_documents,
    choose_highlight,
    citation_for,
    sentence_scores,
    sources_span,
    timeline,
)
from .backends import Hit
from .batching import QuestionEncoder
from .calibration import Calibration
from .chunking import Passage
from .coverage import CorpusCoverage
from .embedding import ENGLISH, MULTILINGUAL, Embedder, create_embedders, uses_torch_for_questions, vocabulary_words
from .errors import IndexCorruptError, IndexMissingError, IndexStaleError, QuestionError, UnknownDocumentError
from .i18n import N_
from .fusion import reciprocal_rank_fusion, score_fusion
from .glossary import Glossary
from .index import CURRENT_FILE, Index, build_index, expected_manifest, load_index, load_manifest, stale_reasons
from .language import LANGUAGES, Language, detect_language
from .ranking import CandidateFeatures, LinearRanker, load_ranker
from .ranking import compute as compute_features
from .settings import Settings
from .temporal import TimeView, reorder, time_focus, view_time
from .tokens import tokenize

log = logging.getLogger(__name__)


def use_query_threads(settings: Settings, embedders: dict[str, Embedder] | None = None) -> None:
    """Limit torch to `query_torch_threads` for answering questions (see Settings). When
    `embedders` are given and none encodes questions with torch (ONNX Runtime has its own
    `onnx_query_threads`), torch is left alone and not imported."""
    if embedders is not None and not uses_torch_for_questions(embedders):
        return
    if settings.query_torch_threads:
        import torch

        torch.set_num_threads(settings.query_torch_threads)


_CONTROL = "\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f"
"""Control characters (Unicode category Cc) but tab and line feed, as a regex class body."""
_SPACES = "\\x20\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
"""The white space `str.strip` removes that is not a control character, as a regex class body
(written out: ECMAScript's `\\s` and Python's differ)."""
QUESTION_PATTERN = f"^[^{_CONTROL}]*[^{_CONTROL}\\t\\n{_SPACES}][^{_CONTROL}]*$"
"""What `validate_question` accepts besides the length, as a regex that means the same in Python
and ECMAScript: no control characters but tabs and line breaks, and not only white space. The
OpenAPI schema publishes it (api/models.py); tests check that both agree character by character."""


def validate_question(question: object, max_chars: int) -> str:
    """The trimmed question, or a QuestionError that says what is wrong with it. The length counts
    every character sent (the schema's `maxLength`)."""
    if not isinstance(question, str):
        raise QuestionError(N_("the question must be text"))
    if len(question) > max_chars:
        raise QuestionError(N_("the question is {length} characters long; the limit is {limit}"), length=len(question),
                            limit=max_chars)
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in question):
        raise QuestionError(N_("the question contains control characters: remove them"))
    if any(unicodedata.category(c) == "Cs" for c in question):
        raise QuestionError(N_("the question is not valid Unicode text: it contains a lone surrogate"))
    question = question.strip()
    if not question:
        raise QuestionError(N_("the question is empty: type a question, e.g. \"Is sex work legal in Kazakhstan?\""))
    return question


def validate_k(k: object, max_k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= max_k:
        raise QuestionError(N_("k must be a whole number from 1 to {max_k}"), max_k=max_k)
    return k


WARM_UP_QUESTIONS = ("Is sex work legal?", "Где сдать тест на ВИЧ?", "Заң не дейді?")
"""One question per language, asked at start-up by `Assistant.warm_up`."""


@dataclass(frozen=True)
class Filters:
    """What a question may be answered from: some documents, a range of source years, documents
    in one language. Empty filters allow everything."""

    doc_ids: frozenset[str] | None = None
    year_from: int | None = None
    year_to: int | None = None
    language: str | None = None

    @property
    def active(self) -> bool:
        return any(value is not None for value in (self.doc_ids, self.year_from, self.year_to, self.language))


def validate_filters(index: Index, doc_ids: object = None, year_from: object = None, year_to: object = None,
                     language: object = None) -> Filters:
    """The filters of a request, or a QuestionError that says what is wrong with them."""
    if doc_ids is not None:
        if isinstance(doc_ids, str) or not isinstance(doc_ids, Collection) or not all(isinstance(d, str) for d in doc_ids):
            raise QuestionError(N_("doc_ids must be a list of document ids"))
        unknown = sorted(set(doc_ids) - set(index.documents))
        if unknown:
            raise UnknownDocumentError(N_("no document with id {doc_id}; GET /api/documents lists them"),
                                       doc_id=repr(unknown[0]))
        doc_ids = frozenset(doc_ids)
    for name, year in (("year_from", year_from), ("year_to", year_to)):
        if year is not None and (isinstance(year, bool) or not isinstance(year, int) or not 1000 <= year <= 9999):
            raise QuestionError(N_("{name} must be a year such as 2015"), name=name)
    # year_from after year_to is an empty range, not an error (a schema cannot compare two fields):
    # no document matches, and the answer says so.
    if language is not None and language not in LANGUAGES:
        raise QuestionError(N_("language must be one of {languages}"), languages=", ".join(LANGUAGES))
    return Filters(doc_ids, year_from, year_to, language)  # type: ignore[arg-type]


@dataclass
class Retrieval:
    """Everything `retrieve` found for a question, before the answer is composed."""

    question: str
    language: Language
    spaces: list[str]
    """The vector spaces (models) the question was encoded in, first the one highlights use."""
    vectors: dict[str, np.ndarray]
    tokens: list[str]
    """The question's lexical tokens with its glossary expansions."""
    dense: list[Hit]
    lexical: list[Hit]
    ranking: list[Hit]
    evidence: float
    """The fused score of the best passage on the question as asked (no expansions)."""
    allowed: frozenset[str] | None = None
    """The documents the filters allow (None: all)."""
    dense_by_space: dict[str, list[Hit]] = field(default_factory=dict)
    time: TimeView = field(default_factory=lambda: TimeView("neutral"))
    relevance: dict[int, float] = field(default_factory=dict)
    """Each candidate's fused score (dense and lexical): the evidence scale."""
    asked_tokens: list[str] = field(default_factory=list)
    expansion_tokens: list[str] = field(default_factory=list)
    asked_lexical: list[Hit] = field(default_factory=list)
    """BM25 hits of the question as asked, without glossary expansions."""
    saturation: float = 5.0
    features: CandidateFeatures | None = None
    """The ranker's features of the candidates it ordered (None: ordered by fusion)."""
    shown: dict[int, float] = field(default_factory=dict)
    """The score each result shows: the ranker's chance that it answers, else its fused score."""


class Assistant:
    """Owns a loaded index and the models that encode questions; `ask` answers."""

    def __init__(self, index: Index, embedders: dict[str, Embedder], settings: Settings):
        self.index = index
        self.embedders = embedders
        self.settings = settings
        self._current_stamp = self._stamp()
        self._reload_lock = threading.Lock()
        self._encoders: dict[str, QuestionEncoder] = {}
        self._encoders_lock = threading.Lock()

    def question_encoder(self, space: str) -> QuestionEncoder:
        """The cached, micro-batching question encoder of one vector space, made on first use and
        remade when that space's embedder is replaced (its cache belongs to one model)."""
        embedder = self.embedders[space]
        encoder = self._encoders.get(space)
        if encoder is None or encoder.embedder is not embedder:
            with self._encoders_lock:
                encoder = self._encoders.get(space)
                if encoder is None or encoder.embedder is not embedder:
                    encoder = self._encoders[space] = QuestionEncoder.from_settings(embedder, self.settings)
        return encoder

    def _stamp(self) -> tuple | None:
        try:
            stat = os.stat(self.settings.index_dir / CURRENT_FILE)
        except OSError:
            return None
        return stat.st_ino, stat.st_mtime_ns, stat.st_size

    def refresh(self) -> bool:
        """Load the new index when `index/CURRENT` changed since the last look (`assistant add`,
        `remove` or `index` ran): one stat() a call, so the server picks up new documents without a
        restart. A new build that fails to load is logged and the loaded index kept."""
        stamp = self._stamp()
        if stamp is None or stamp == self._current_stamp:
            return False
        with self._reload_lock:
            if stamp == self._current_stamp:
                return False
            self._current_stamp = stamp
            try:
                index = load_index(self.settings.index_dir, self.settings)
            except Exception as error:  # keep answering from the index already loaded
                log.warning("the index changed on disk but cannot be loaded, keeping the loaded one: %s", error)
                return False
            if index.path == self.index.path:
                return False
            self.index = index
            for derived in ("coverage", "calibration", "ranker"):
                self.__dict__.pop(derived, None)  # recomputed for the new build on next use
            log.info("reloaded the index: %d documents, %d passages", len(index.documents), len(index.passages))
            return True

    @classmethod
    def open(cls, settings: Settings, *, rebuild: str = "never", embedders: dict[str, Embedder] | None = None) -> "Assistant":
        """Load the index. `rebuild`: "never" refuses a stale index, "stale" rebuilds a missing or
        stale one (make serve), "ignore" loads whatever is there."""
        embedders = embedders or create_embedders(settings, cached=True)
        if rebuild == "stale":
            reasons = cls.stale(settings, embedders)
            if reasons:
                log.warning("rebuilding the index: %s", "; ".join(reasons))
                return cls(build_index(settings, embedders), embedders, settings)
        index = load_index(settings.index_dir, settings)
        if rebuild == "never":
            reasons = stale_reasons(index.manifest, expected_manifest(settings, embedders))
            if reasons:
                raise IndexStaleError(N_("the index is out of date ({reasons}): run `assistant index` to rebuild it"),
                                      reasons="; ".join(reasons))
        return cls(index, embedders, settings)

    @staticmethod
    def stale(settings: Settings, embedders: dict[str, Embedder]) -> list[str]:
        """Why the index on disk cannot be used as it is; empty when it is up to date."""
        try:
            manifest = load_manifest(settings.index_dir)
        except IndexMissingError:
            return ["there is no index yet"]
        except IndexCorruptError as error:
            return [str(error)]
        return stale_reasons(manifest, expected_manifest(settings, embedders))

    @cached_property
    def glossary(self) -> Glossary:
        return Glossary.load(self.settings.glossary_path)

    @cached_property
    def coverage(self) -> CorpusCoverage:
        vocabulary = vocabulary_words(self.settings.model_path)
        return CorpusCoverage.of_texts((d.text for d in self.index.documents.values()), vocabulary)

    @cached_property
    def ranker(self) -> LinearRanker | None:
        """The learned ranker (None: order by score fusion), when `ranker` is "learned"."""
        if self.settings.ranker != "learned":
            return None
        return load_ranker(self.settings.ranker_file, self.index.manifest["models"])

    @cached_property
    def calibration(self) -> Calibration:
        """The calibration of the loaded index's models (a warning for a model it does not know)."""
        calibration, warnings = Calibration.load(self.settings.calibration_file).for_models(self.index.manifest["models"])
        for warning in warnings:
            log.warning(warning)
        return calibration

    def warm_up(self) -> None:
        """Load now what the first question would load (the model of every vector space, the
        glossary, the places and years of the coverage check, the calibration, the ranker) by
        answering one question per language, so the first person to ask waits no longer than the
        rest. The warm-up questions leave nothing in the question caches."""
        for question in WARM_UP_QUESTIONS:
            self.ask(question, 1)
        for encoder in self._encoders.values():
            encoder.clear()

    def spaces_for(self, language: Language, index: Index | None = None) -> list[str]:
        """The vector spaces a question in `language` is encoded in (`spaces_by_language`), among
        those the index holds, and the multilingual one too when the collection has documents in
        another language (an English question must find a Russian report); the English space when
        none of them is there."""
        index = index or self.index
        wanted = list(self.settings.spaces_by_language.get(language) or [ENGLISH])
        if self.settings.multilingual_for_foreign_documents and index.languages - {language} and MULTILINGUAL not in wanted:
            wanted.append(MULTILINGUAL)
        available = [space for space in wanted if space in index.spaces and space in self.embedders]
        return available or [ENGLISH]

    def allowed_documents(self, index: Index, filters: Filters) -> frozenset[str] | None:
        """The documents `filters` allow; None when they allow all."""
        if not filters.active:
            return None
        allowed = set(filters.doc_ids) if filters.doc_ids is not None else set(index.documents)
        for doc_id in list(allowed):
            document = index.documents[doc_id]
            year = document.metadata.year
            if (filters.year_from is not None or filters.year_to is not None) and year is None:
                allowed.discard(doc_id)
            elif (filters.year_from is not None and year < filters.year_from) or (
                    filters.year_to is not None and year > filters.year_to):
                allowed.discard(doc_id)
            elif filters.language is not None and document.language != filters.language:
                allowed.discard(doc_id)
        return frozenset(allowed)

    def _dense_hits(self, index: Index, space: str, question_vector: np.ndarray, candidates: int,
                    doc_ids: Collection[str] | None = None) -> list[Hit]:
        """A passage scores its own similarity or that of its best sentence, whichever is higher:
        one precise sentence inside a long passage should not be drowned by the rest (dense
        Hit@1 on dev rose from 0.51 to 0.64 with this)."""
        backend = index.backend
        best = {hit.passage: hit.score for hit in backend.search_dense(space, "passage", question_vector, candidates, doc_ids)}
        for hit in backend.search_dense(space, "sentence", question_vector, candidates, doc_ids):
            passage = int(index.sentence_passage[hit.passage])
            best[passage] = max(best.get(passage, -1.0), hit.score)
        return sorted((Hit(p, s) for p, s in best.items()), key=lambda h: (-h.score, h.passage))

    def _dense(self, index: Index, vectors: dict[str, np.ndarray], candidates: int,
               doc_ids: Collection[str] | None) -> tuple[list[Hit], dict[str, list[Hit]]]:
        """Dense hits of every space the question was encoded in, each on the calibrated scale; a
        passage found in several spaces keeps its best score."""
        by_space = {space: self._dense_hits(index, space, vector, candidates, doc_ids) for space, vector in vectors.items()}
        best: dict[int, float] = {}
        for space, hits in by_space.items():
            for hit in hits:
                score = float(self.calibration.cosine(space, hit.score))
                best[hit.passage] = max(best.get(hit.passage, -np.inf), score)
        return sorted((Hit(p, s) for p, s in best.items()), key=lambda h: (-h.score, h.passage)), by_space

    @staticmethod
    def _foreign(index: Index, language: Language, hits: list[Hit]) -> frozenset[int]:
        """The passages among `hits` written in another language than the question, when they
        compete with passages in the question's language; when every document is foreign to the
        question (a Russian question, English documents) they are compared among equals, and the
        glossary's matches keep their weight (on dev, Kazakh Hit@5 0.571 imputing, 0.714 not)."""
        if language not in index.languages:
            return frozenset()
        return frozenset(hit.passage for hit in hits
                         if index.documents[index.passages[hit.passage].doc_id].language != language)

    def retrieve(self, question: str, k: int, *, filters: Filters = Filters(), index: Index | None = None) -> Retrieval:
        """Dense and lexical hits for a validated question, fused into one ranking, reordered by the
        learned ranker when one is loaded, then by time (see the module docstring); no answer is
        composed."""
        settings = self.settings
        index = index or self.index
        language = detect_language(question)
        spaces = self.spaces_for(language, index)
        vectors = {space: self.question_encoder(space).encode(question) for space in spaces}  # LRU cache + batching
        allowed = self.allowed_documents(index, filters)
        expansions = self.glossary.expansions(question) if settings.use_glossary else []
        asked_tokens = tokenize(question, language)
        expansion_tokens = tokenize(" ".join(expansions), language) if expansions else []
        tokens = asked_tokens + expansion_tokens
        candidates = max(settings.candidates, k)
        dense, by_space = self._dense(index, vectors, candidates, allowed)
        lexical = index.backend.search_lexical(tokens, candidates, allowed)
        asked_lexical = index.backend.search_lexical(asked_tokens, candidates, allowed) if expansions else lexical
        foreign = self._foreign(index, language, dense) if settings.cross_language_lexical == "impute" else frozenset()
        hybrid = score_fusion(dense, lexical, settings.fusion_dense_weight, settings.lexical_saturation, foreign)
        ranking = {
            "dense": dense,
            "lexical": lexical,
            "hybrid": hybrid if settings.fusion == "score" else reciprocal_rank_fusion([dense, lexical], settings.rrf_k),
        }[settings.retrieval]
        if expansions and language not in settings.glossary_is_evidence:
            # Evidence is judged on the question as asked: an expansion helps find a passage, it
            # must not make an unanswerable question look answered. For a Russian or Kazakh question
            # over English documents the glossary translates, so there its words count.
            evidence = score_fusion(dense, asked_lexical, settings.fusion_dense_weight, settings.lexical_saturation, foreign)
        else:
            evidence = hybrid
        relevance = {hit.passage: hit.score for hit in ranking}
        doc_of = {hit.passage: index.passages[hit.passage].doc_id for hit in ranking}
        floor = self.calibration.threshold(language)
        focus = time_focus(question, language, index.newest_year)
        time = view_time(ranking, doc_of, index.years, focus=focus, floor=floor, margin=settings.answering_margin)
        found = Retrieval(question, language, spaces, vectors, tokens, dense, lexical, ranking,
                          evidence[0].score if evidence else 0.0, allowed, by_space, time, relevance,
                          asked_tokens=asked_tokens, expansion_tokens=expansion_tokens, asked_lexical=asked_lexical,
                          saturation=settings.lexical_saturation)
        present_weight = settings.recency_present_weight
        ranker = self.ranker if settings.retrieval == "hybrid" else None
        if ranker is not None and ranking:
            head = ranking[: settings.rerank_depth]
            found.features = features = compute_features(index, self.calibration, found, [hit.passage for hit in head])
            chances = 1.0 / (1.0 + np.exp(-ranker.score(features.matrix)))
            reranked = sorted((Hit(int(row), float(chance)) for row, chance in zip(features.rows, chances)),
                              key=lambda h: (-h.score, h.passage))
            found.ranking = reranked + ranking[settings.rerank_depth :]
            present_weight = settings.recency_ranker_weight
        found.shown = {hit.passage: hit.score for hit in found.ranking}
        eligible = {passage for passage, score in relevance.items() if score >= floor}
        found.ranking = reorder(found.ranking, time, doc_of, present_weight=present_weight,
                                newest_in_top=settings.newest_in_top, eligible=eligible,
                                newest_in_top_present=settings.newest_in_top_present)
        return found

    def ask(self, question: str, k: int | None = None, *, doc_ids: Sequence[str] | None = None,
            year_from: int | None = None, year_to: int | None = None, language: str | None = None) -> Answer:
        """The ranked, cited passages that answer `question` (at most `k`), from the documents the
        filters allow; `abstained` when the collection does not seem to answer it."""
        settings = self.settings
        question = validate_question(question, settings.max_question_chars)
        k = validate_k(settings.default_k if k is None else k, settings.max_k)
        index = self.index  # one build for the whole answer, even if `refresh` swaps it meanwhile
        filters = validate_filters(index, doc_ids, year_from, year_to, language)
        if settings.log_questions:
            log.info("question: %r (k=%d)", question, k)
        found = self.retrieve(question, k, filters=filters, index=index)
        if found.allowed is not None and not found.allowed:
            reason: str | None = abstain_reason_no_documents()
        else:
            reason = abstain_reason(
                evidence=found.evidence,
                unknown_terms=self.coverage.unknown_terms(question),
                min_evidence=self.calibration.threshold(found.language),
            )
        results = self._results(index, found, k)
        if reason:  # a refusal answers nothing, so it says nothing of newer or older answers
            for result in results:
                result.recency = None
        return Answer(
            question=question,
            language=found.language,
            abstained=reason is not None,
            abstain_reason=reason,
            # A refusal never says the sources disagree in time: there is no answer to date.
            sources_span=None if reason else sources_span(results, settings.span_min_years),
            time_focus=found.time.focus,
            timeline=None if reason else timeline(results, settings.span_min_years),
            results=results,
        )

    def _results(self, index: Index, found: Retrieval, k: int) -> list[Result]:
        """The top `k` passages, each highlighted in the question's first space, or in the
        multilingual one for a passage in another language. A passage from another document whose
        answer sentence says what a better-ranked result's says (cosine of the highlighted
        sentences in the English space at least `duplicate_similarity`) is folded into it as "also
        in", so the list covers more ground."""
        question_tokens = set(found.tokens)
        kept: list[tuple[Result, np.ndarray]] = []
        for hit in found.ranking:
            if len(kept) == k:
                break
            passage = index.passages[hit.passage]
            language = index.documents[passage.doc_id].language
            space = found.spaces[0]
            if language != found.language and MULTILINGUAL in found.vectors:
                space = MULTILINGUAL
            rows = index.sentence_rows[hit.passage]
            english = index.backend.vectors(ENGLISH, "sentence", rows)
            preferences = self._ranker_sentence_scores(found, hit.passage)
            if preferences is None:
                in_space = english if space == ENGLISH else index.backend.vectors(space, "sentence", rows)
                preferences = sentence_scores(in_space, found.vectors[space], index.sentence_tokens(hit.passage),
                                              question_tokens)
            highlight = choose_highlight(passage, preferences)
            meaning = _highlight_vector(passage, highlight, english)
            citation = index.derived("citation", hit.passage,
                                     lambda: citation_for(index.documents[passage.doc_id], passage)).model_copy()
            twin = next((result for result, vector in kept
                         if result.citation.doc_id != passage.doc_id
                         and float(vector @ meaning) >= self.settings.duplicate_similarity), None)
            if twin is not None:
                twin.also_in.append(citation)
                continue
            result = Result(rank=len(kept) + 1, score=round(found.shown.get(hit.passage, hit.score), 4),
                            text=passage.text, highlight=highlight, citation=citation,
                            recency=found.time.mark(passage.doc_id))
            kept.append((result, meaning))
        return [result for result, _ in kept]

    def _ranker_sentence_scores(self, found: Retrieval, row: int) -> np.ndarray | None:
        """How the ranker values each sentence of a passage it ranked (its sentence-level features,
        weighed as it weighs them), so the highlight is the sentence it liked best."""
        if found.features is None or self.ranker is None:
            return None
        where = np.flatnonzero(found.features.rows == row)
        if not len(where):
            return None
        return found.features.sentence_matrices[int(where[0])] @ self.ranker.sentence_weights()


def _highlight_vector(passage: Passage, highlight: Highlight, sentence_vectors: np.ndarray) -> np.ndarray:
    """The normalized mean embedding of the highlighted sentences: what the result says."""
    rows = [i for i, (start, end) in enumerate(passage.sentences) if start >= highlight.start and end <= highlight.end]
    if not rows:
        return np.zeros(sentence_vectors.shape[1] if sentence_vectors.ndim == 2 else 1, dtype=np.float32)
    mean = sentence_vectors[rows].mean(axis=0)
    return mean / (np.linalg.norm(mean) or 1.0)
