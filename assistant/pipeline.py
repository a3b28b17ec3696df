"""`Assistant`: the one object that owns a loaded index and answers `ask(question, k)`.

The CLI, the HTTP API and the evaluation all call `ask`, so a behaviour is written once.
"""

from __future__ import annotations

import logging
import os
import threading
import unicodedata
from functools import cached_property

import numpy as np

from .answer import Answer, Highlight, Result, abstain_reason, choose_highlight, citation_for, sources_span
from .backends import Hit
from .batching import QuestionEncoder
from .chunking import Passage
from .coverage import CorpusCoverage
from .embedding import ENGLISH, Embedder, create_embedders, uses_torch_for_questions, vocabulary_words
from .errors import IndexCorruptError, IndexMissingError, IndexStaleError, QuestionError
from .glossary import Glossary
from .index import CURRENT_FILE, Index, build_index, expected_manifest, load_index, load_manifest, stale_reasons
from .search import reciprocal_rank_fusion, score_fusion, tokenize
from .settings import Settings

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


def validate_question(question: object, max_chars: int) -> str:
    """The trimmed question, or a QuestionError that says what is wrong with it."""
    if not isinstance(question, str):
        raise QuestionError("the question must be text")
    question = question.strip()
    if not question:
        raise QuestionError("the question is empty: type a question, e.g. \"Is sex work legal in Kazakhstan?\"")
    if len(question) > max_chars:
        raise QuestionError(f"the question is {len(question)} characters long; the limit is {max_chars}")
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in question):
        raise QuestionError("the question contains control characters: remove them")
    if any(unicodedata.category(c) == "Cs" for c in question):
        raise QuestionError("the question is not valid Unicode text: it contains a lone surrogate")
    return question


def validate_k(k: object, max_k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= max_k:
        raise QuestionError(f"k must be a whole number from 1 to {max_k}")
    return k


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
            self.__dict__.pop("coverage", None)  # recomputed for the new documents on next use
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
                raise IndexStaleError(f"the index is out of date ({'; '.join(reasons)}): run `assistant index` to rebuild it")
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

    def _dense_hits(self, index: Index, space: str, question_vector, candidates: int) -> list[Hit]:
        """A passage scores its own similarity or that of its best sentence, whichever is higher:
        one precise sentence inside a long passage should not be drowned by the rest (dense
        Hit@1 on dev rose from 0.51 to 0.64 with this)."""
        backend = index.backend
        best = {hit.passage: hit.score for hit in backend.search_dense(space, "passage", question_vector, candidates)}
        for hit in backend.search_dense(space, "sentence", question_vector, candidates):
            passage = int(index.sentence_passage[hit.passage])
            best[passage] = max(best.get(passage, -1.0), hit.score)
        return sorted((Hit(p, s) for p, s in best.items()), key=lambda h: (-h.score, h.passage))

    @cached_property
    def glossary(self) -> Glossary:
        return Glossary.load(self.settings.glossary_path)

    @cached_property
    def coverage(self) -> CorpusCoverage:
        vocabulary = vocabulary_words(self.settings.model_path)
        return CorpusCoverage.of_texts((d.text for d in self.index.documents.values()), vocabulary)

    def ask(self, question: str, k: int | None = None) -> Answer:
        question = validate_question(question, self.settings.max_question_chars)
        k = validate_k(self.settings.default_k if k is None else k, self.settings.max_k)
        settings = self.settings
        if settings.log_questions:
            log.info("question: %r (k=%d)", question, k)
        index = self.index  # one build for the whole answer, even if `refresh` swaps it meanwhile
        question_vector = self.question_encoder(ENGLISH).encode(question)  # LRU cache + micro-batching
        expansions = self.glossary.expansions(question) if settings.use_glossary else []
        question_tokens = tokenize(" ".join([question, *expansions]))
        candidates = max(settings.candidates, k)
        dense = self._dense_hits(index, ENGLISH, question_vector, candidates)
        lexical = index.backend.search_lexical(question_tokens, candidates)
        hybrid = score_fusion(dense, lexical, settings.fusion_dense_weight, settings.lexical_saturation)
        ranking = {
            "dense": dense,
            "lexical": lexical,
            "hybrid": hybrid if settings.fusion == "score" else reciprocal_rank_fusion([dense, lexical], settings.rrf_k),
        }[settings.retrieval]

        if expansions:
            # Evidence is judged on the question as asked: an expansion helps find a passage, it
            # must not make an unanswerable question look answered.
            as_asked = index.backend.search_lexical(tokenize(question), candidates)
            evidence = score_fusion(dense, as_asked, settings.fusion_dense_weight, settings.lexical_saturation)
        else:
            evidence = hybrid
        reason = abstain_reason(
            evidence=evidence[0].score if evidence else 0.0,
            unknown_terms=self.coverage.unknown_terms(question),
            min_evidence=settings.abstain_min_evidence,
        )
        results = self._results(index, ranking, k, question_vector, set(question_tokens))
        return Answer(
            question=question,
            abstained=reason is not None,
            abstain_reason=reason,
            sources_span=sources_span(results, settings.span_min_years),
            results=results,
        )

    def _results(self, index: Index, ranking: list[Hit], k: int, question_vector, question_tokens: set[str]) -> list[Result]:
        """The top `k` passages. A passage from another document whose answer sentence says what a
        better-ranked result's says (cosine of the highlighted sentences at least
        `duplicate_similarity`) is folded into it as "also in", so the list covers more ground."""
        kept: list[tuple[Result, np.ndarray]] = []
        for hit in ranking:
            if len(kept) == k:
                break
            passage = index.passages[hit.passage]
            sentence_vectors = index.backend.vectors(ENGLISH, "sentence", index.sentence_rows[hit.passage])
            highlight = choose_highlight(passage, sentence_vectors, question_vector, question_tokens)
            meaning = _highlight_vector(passage, highlight, sentence_vectors)
            citation = citation_for(index.documents[passage.doc_id], passage)
            twin = next((result for result, vector in kept
                         if result.citation.doc_id != passage.doc_id
                         and float(vector @ meaning) >= self.settings.duplicate_similarity), None)
            if twin is not None:
                twin.also_in.append(citation)
                continue
            result = Result(rank=len(kept) + 1, score=round(hit.score, 4), text=passage.text, highlight=highlight,
                            citation=citation)
            kept.append((result, meaning))
        return [result for result, _ in kept]


def _highlight_vector(passage: Passage, highlight: Highlight, sentence_vectors: np.ndarray) -> np.ndarray:
    """The normalized mean embedding of the highlighted sentences: what the result says."""
    rows = [i for i, (start, end) in enumerate(passage.sentences) if start >= highlight.start and end <= highlight.end]
    if not rows:
        return np.zeros(sentence_vectors.shape[1] if sentence_vectors.ndim == 2 else 1, dtype=np.float32)
    mean = sentence_vectors[rows].mean(axis=0)
    return mean / (np.linalg.norm(mean) or 1.0)
