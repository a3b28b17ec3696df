"""The answerability model: a logistic regression over `features.FEATURES`, and the threshold
below which the question is refused, shipped as JSON with how both were chosen.

Inference is a dot product (no scikit-learn at run time), as for the ranker. The threshold is one
for every language: the one that on dev refuses at most the stated share of answerable questions.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from assistant.errors import AssistantError
from assistant.files import write_durably
from assistant.query.answerability.features import FEATURES

TRAIN_COMMAND = "python -m assistant.evaluate.train_answerability --write"


@dataclass(frozen=True)
class AnswerabilityModel:
    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    intercept: float
    threshold: float
    """The least chance of answering a question needs not to be refused."""
    trained: dict = field(default_factory=dict)
    """How it was trained: command, split, questions, regularisation, cross-validated figures and curve."""

    @classmethod
    def load(cls, path: Path) -> AnswerabilityModel:
        """The model in `path`; a broken file is an error that says what to do."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            model = cls(tuple(data["features"]), np.asarray(data["mean"], dtype=np.float32),
                        np.asarray(data["scale"], dtype=np.float32), np.asarray(data["weights"], dtype=np.float32),
                        float(data["intercept"]), float(data["threshold"]), data.get("trained", {}))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise AssistantError(f"the answerability model {path} is unreadable ({error}): restore it from the "
                                 f"repository or run `{TRAIN_COMMAND}`") from None
        if model.features != FEATURES or not len(model.weights) == len(model.mean) == len(model.scale) == len(FEATURES) \
                or not 0.0 <= model.threshold <= 1.0:
            raise AssistantError(f"the answerability model {path} was trained on other features: retrain it with "
                                 f"`{TRAIN_COMMAND}`")
        return model

    def save(self, path: Path) -> None:
        data = {"features": list(self.features), "mean": [round(float(v), 8) for v in self.mean],
                "scale": [round(float(v), 8) for v in self.scale],
                "weights": [round(float(v), 8) for v in self.weights], "intercept": round(self.intercept, 8),
                "threshold": self.threshold, "trained": self.trained}
        write_durably(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")

    def chance(self, values: np.ndarray) -> float:
        """The chance that the collection answers a question with these feature values."""
        z = float(((values - self.mean) / self.scale) @ self.weights + self.intercept)
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def load_answerability(path: Path | None) -> AnswerabilityModel | None:
    """The model at `path`, or None (the calibrated evidence floor decides) when there is no such file."""
    if path is None or not path.is_file():
        return None
    return AnswerabilityModel.load(path)
