"""The learned ranker: a logistic regression over `features.FEATURES`, shipped as JSON.

Inference is a dot product (no scikit-learn at run time): standardise each feature with the
training mean and scale, weigh, add the intercept; the logistic of that is the chance the
passage answers. The file records what it was trained on and with which models; without the file
the pipeline falls back to score fusion.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from assistant.errors import AssistantError
from assistant.files import write_durably
from assistant.query.ranking.features import FEATURES, SENTENCE_FEATURES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LinearRanker:
    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    intercept: float
    trained: dict = field(default_factory=dict)
    """How it was trained: command, split, questions, candidates, regularisation, CV figures, models."""
    sentences: np.ndarray = field(default_factory=lambda: np.zeros(len(SENTENCE_FEATURES), dtype=np.float32))
    """Weights of `SENTENCE_FEATURES` (raw scale) that choose the highlighted sentence of a passage."""

    @classmethod
    def load(cls, path: Path) -> LinearRanker:
        """The ranker in `path`; a broken file is an error that says what to do."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            ranker = cls(tuple(data["features"]), np.asarray(data["mean"], dtype=np.float32),
                         np.asarray(data["scale"], dtype=np.float32), np.asarray(data["weights"], dtype=np.float32),
                         float(data["intercept"]), data.get("trained", {}),
                         np.asarray(data["sentences"], dtype=np.float32))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise AssistantError(f"the ranker file {path} is unreadable ({error}): restore it from the repository "
                                 "or run `python -m assistant.evaluate.train_ranker`") from None
        if ranker.features != FEATURES or not len(ranker.weights) == len(ranker.mean) == len(ranker.scale) == len(FEATURES) \
                or len(ranker.sentences) != len(SENTENCE_FEATURES):
            raise AssistantError(f"the ranker file {path} was trained on other features: retrain it with "
                                 "`python -m assistant.evaluate.train_ranker`")
        return ranker

    def save(self, path: Path) -> None:
        data = {"features": list(self.features), "mean": [round(float(v), 8) for v in self.mean],
                "scale": [round(float(v), 8) for v in self.scale],
                "weights": [round(float(v), 8) for v in self.weights], "intercept": round(self.intercept, 8),
                "sentences": [round(float(v), 8) for v in self.sentences], "trained": self.trained}
        write_durably(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")

    def score(self, matrix: np.ndarray) -> np.ndarray:
        """The log-odds that each row's passage answers."""
        return ((matrix - self.mean) / self.scale) @ self.weights + self.intercept

    def sentence_weights(self) -> np.ndarray:
        """Weights of `SENTENCE_FEATURES` on the raw scale: how the ranker's sentence-level features
        are weighed to choose the answer sentence inside a passage (fitted on dev sentences)."""
        return self.sentences


def load_ranker(path: Path | None, models: dict[str, dict]) -> LinearRanker | None:
    """The ranker at `path`, or None (score fusion) when there is no such file; a warning when it
    was trained with other models than the index's (`models`: space -> name, fingerprint)."""
    if path is None or not path.is_file():
        return None
    ranker = LinearRanker.load(path)
    trained_with = ranker.trained.get("models", {})
    for space, model in models.items():
        if space in trained_with and trained_with[space] != model.get("fingerprint", "")[:16]:
            log.warning("the ranker was trained with another %s model than %s: rankings may be off; retrain it with "
                        "`python -m assistant.evaluate.train_ranker`", space, model.get("name"))
    return ranker
