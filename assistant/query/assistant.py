"""`Assistant`: the one object that owns a loaded index and answers `ask(question, k)`.

The CLI, the HTTP API and the evaluation all call `ask`, so a behaviour is written once, and
every input is validated once, here (`validation.py`). The Assistant keeps what is loaded once per
index (the models' question encoders, the glossary, the coverage check, the calibration, the
ranker) and hands it to the query pipeline: the list of stages `factory.build_stages` makes of
the settings (`state.py` says what a stage is).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Literal

from assistant.answer.coverage import CorpusCoverage
from assistant.answer.model import Answer
from assistant.embedding import Embedder, create_embedders, uses_torch_for_questions, vocabulary_words
from assistant.embedding.batching import QuestionEncoder
from assistant.embedding.calibration import Calibration
from assistant.errors import IndexCorruptError, IndexMissingError, IndexStaleError
from assistant.i18n import N_
from assistant.languages import Language
from assistant.query.answerability import AnswerabilityModel, load_answerability
from assistant.query.factory import build_stages, retrieval_stages
from assistant.query.ranking import LinearRanker, load_ranker
from assistant.query.state import Query, Stage
from assistant.query.understand import spaces_for
from assistant.query.validation import Filters, validate_filters, validate_k, validate_question
from assistant.settings import Settings
from assistant.store.build import build_index
from assistant.store.index import Index, expected_manifest, load_index, stale_reasons
from assistant.store.layout import CURRENT_FILE, current_build, damage, load_manifest
from assistant.text.glossary import Glossary

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


Rebuild = Literal["never", "missing", "stale", "ignore"]
"""What `Assistant.open` does about a missing or stale index (see there)."""
NO_INDEX_YET = N_("there is no index yet")
"""The reason `Assistant.open` gives for building a missing index (a message id: shown translated)."""


def index_exists(index_dir: Path) -> bool:
    """Whether `index_dir` has an index in use (a damaged one counts: it is not simply missing)."""
    try:
        current_build(index_dir)
    except IndexMissingError:
        return False
    except IndexCorruptError:
        pass
    return True


def _log_rebuild(reasons: list[str]) -> None:
    log.warning("rebuilding the index: %s", "; ".join(reasons))


WARM_UP_QUESTIONS = ("Is sex work legal?", "Где сдать тест на ВИЧ?", "Заң не дейді?")
"""One question per language, asked at start-up by `Assistant.warm_up`."""


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
    def open(cls, settings: Settings, *, rebuild: Rebuild = "never", embedders: dict[str, Embedder] | None = None,
             building: Callable[[list[str]], None] | None = None) -> Assistant:
        """Load the index. `rebuild`: "never" refuses a missing, damaged or stale index, "missing"
        builds a missing one and refuses the others (`assistant ask`), "stale" rebuilds any of them
        (`assistant serve`, make serve), "ignore" loads whatever is there. Before a build,
        `building` is given the reasons, one line each (NO_INDEX_YET for a missing index, which
        comes first, before the models load: a first start may spend a while exporting one); by
        default they are logged as a warning.

        With "stale" the rule is: anything derived from corpus/ (CURRENT, a build's files, the
        embedding cache) that is missing, damaged or out of date is rebuilt from corpus/, with what
        was wrong said once (a corpus file that cannot be read is left out and named, as `index`
        does); only what a rebuild cannot fix is refused, in one line that says what to do (corpus/
        missing or none of its files readable, a damaged model package, a backend that cannot be
        reached). The build runs as every change does (`build_index`: under the collection's
        lock, switched to only when whole), so the collection is never lost or desynchronised."""
        announce = building or _log_rebuild
        if rebuild in ("missing", "stale") and not index_exists(settings.index_dir):
            announce([NO_INDEX_YET])
            embedders = embedders or create_embedders(settings, cached=True)
            return cls(build_index(settings, embedders), embedders, settings)
        embedders = embedders or create_embedders(settings, cached=True)
        if rebuild == "stale":
            reasons = cls.stale(settings, embedders)
            if not reasons:
                try:
                    return cls(load_index(settings.index_dir, settings), embedders, settings)
                except IndexCorruptError as error:  # a build's file damaged: what only loading checks
                    reasons = [damage(error)]
            announce(reasons)
            return cls(build_index(settings, embedders), embedders, settings)
        index = load_index(settings.index_dir, settings)
        if rebuild in ("never", "missing"):
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
            return [NO_INDEX_YET]
        except IndexCorruptError as error:
            return [damage(error)]
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
    def answerability(self) -> AnswerabilityModel | None:
        """The answerability model (None: the evidence floor decides), when `abstention` is "model"."""
        if self.settings.abstention != "model":
            return None
        return load_answerability(self.settings.answerability_file)

    @cached_property
    def calibration(self) -> Calibration:
        """The calibration of the loaded index's models (a warning for a model it does not know)."""
        calibration, warnings = Calibration.load(self.settings.calibration_file).for_models(self.index.manifest["models"])
        for warning in warnings:
            log.warning(warning)
        return calibration

    def warm_up(self) -> None:
        """Load now what the first question would load (the model of every vector space, the
        glossary, the places and years of the coverage check, the calibration, the ranker, the
        answerability model and the collection's vocabulary) by
        answering one question per language, so the first person to ask waits no longer than the
        rest. The warm-up questions leave nothing in the question caches."""
        for question in WARM_UP_QUESTIONS:
            self.ask(question, 1)
        for encoder in self._encoders.values():
            encoder.clear()

    @cached_property
    def stages(self) -> list[Stage]:
        """The query pipeline these settings make (`factory.build_stages`)."""
        return build_stages(self.settings)

    @cached_property
    def retrieval_stages(self) -> list[Stage]:
        return retrieval_stages(self.settings)

    def spaces_for(self, language: Language, index: Index | None = None) -> list[str]:
        """The vector spaces a question in `language` is encoded in (`understand.spaces_for`)."""
        return spaces_for(self.settings, self.embedders, language, index or self.index)

    def run(self, stages: list[Stage], question: str, k: int, filters: Filters = Filters(),
            index: Index | None = None) -> Query:
        """`question` (validated) through `stages`."""
        query = Query(question, k, index or self.index, filters)
        for stage in stages:
            query = stage(query, self)
        return query

    def retrieve(self, question: str, k: int, *, filters: Filters = Filters(), index: Index | None = None) -> Query:
        """The passages found and ordered for a validated question, no answer composed (the
        ranker's training and the evaluation scripts read what retrieval found)."""
        return self.run(self.retrieval_stages, question, k, filters, index)

    def ask(self, question: object, k: object = None, *, doc_ids: object = None, year_from: object = None,
            year_to: object = None, language: object = None) -> Answer:
        """The ranked, cited passages that answer `question` (at most `k`), from the documents the
        filters allow; `abstained` when the collection does not seem to answer it. Every argument
        is checked here, whatever its type (`validation.py`), so callers pass what they were sent."""
        settings = self.settings
        question = validate_question(question, settings.max_question_chars)
        k = validate_k(settings.default_k if k is None else k, settings.max_k)
        index = self.index  # one build for the whole answer, even if `refresh` swaps it meanwhile
        filters = validate_filters(index, doc_ids, year_from, year_to, language)
        if settings.log_questions:
            log.info("question: %r (k=%d)", question, k)
        answer = self.run(self.stages, question, k, filters, index).answer
        assert answer is not None, "the pipeline has no Compose stage"
        return answer
