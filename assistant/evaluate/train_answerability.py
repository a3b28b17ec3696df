"""Train the answerability model on the dev split (never the test split):
`python -m assistant.evaluate.train_answerability`.

Every dev question becomes one row of `answerability.features.FEATURES`, labelled by whether it is
in scope. A question whose place or year no document mentions is left out: the coverage check
refuses it before the model is asked. A logistic regression (scikit-learn, features standardised)
is chosen by 5-fold cross-validation grouped by question (stratified, so every fold holds
out-of-scope questions): each setting's out-of-fold chances give the threshold that refuses at most
`answerability_false_abstention` of the answerable questions of each language, and the setting that then refuses the
most out-of-scope ones wins. It is refitted on all of dev, and the threshold is taken from the
out-of-fold chances (a model's chances on its own training questions are too confident). The file
records the cross-validated curve of abstention precision and recall that `eval/report.md` shows.

Usage: python -m assistant.evaluate.train_answerability [--write] [--out FILE]
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from assistant.evaluate.gold import GoldQuestion, load_gold, select
from assistant.query.answerability import FEATURES, AnswerabilityModel, compute
from assistant.query.answerability.features import SIGNS
from assistant.query.answerability.model import TRAIN_COMMAND
from assistant.query.assistant import Assistant
from assistant.settings import Settings

GRID_C = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
GRID_WEIGHT = (None, "balanced")
FOLDS = 5
CURVE_POINTS = (0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2)
"""The false-abstention rates at which the curve reports the threshold, recall and precision."""


@dataclass
class Dataset:
    matrix: np.ndarray
    answerable: np.ndarray
    questions: list[GoldQuestion]
    left_out: int
    """Questions the coverage check refuses (a place or year no document mentions)."""


def collect(assistant: Assistant, gold: list[GoldQuestion]) -> Dataset:
    """One feature row per question of `gold` that the coverage check lets through."""
    rows, labels, kept, left_out = [], [], [], 0
    depth = assistant.settings.part_search_depth
    for question in gold:
        found = assistant.retrieve(question.question, 10)
        if assistant.coverage.unknown_terms(found.question, found.language):
            left_out += 1
            continue
        values, _ = compute(found, assistant.calibration, depth,
                            assistant.coverage.places_named(found.question, found.language))
        rows.append(values)
        labels.append(not question.out_of_scope)
        kept.append(question)
    return Dataset(np.vstack(rows), np.array(labels, dtype=np.int8), kept, left_out)


def threshold_for(chances: np.ndarray, answerable: np.ndarray, false_abstention: float,
                  languages: np.ndarray | None = None) -> float:
    """The highest threshold (a question is refused below it) that refuses at most `false_abstention`
    of the answerable questions; when `languages` (one per question) are given, at most that share
    of each language's, or one question where the share is less than one (2% of 43 Kazakh questions
    would allow none, and the one hardest question would then set the threshold for every language)."""
    if languages is None:
        return _highest_threshold(chances[answerable == 1], math.floor(false_abstention * answerable.sum() + 1e-9))
    return min(_highest_threshold(chances[(languages == lang) & (answerable == 1)],
                                  max(1, math.floor(false_abstention * ((languages == lang) & (answerable == 1)).sum() + 1e-9)))
               for lang in np.unique(languages))


def _highest_threshold(answerable_chances: np.ndarray, allowed: int) -> float:
    """The threshold that refuses exactly the `allowed` least likely of these answerable questions."""
    ordered = np.sort(answerable_chances)
    return float(ordered[allowed]) if allowed < len(ordered) else 1.0


def operating_point(chances: np.ndarray, answerable: np.ndarray, threshold: float) -> dict[str, float | int]:
    """Abstention figures when questions below `threshold` are refused."""
    refused = chances < threshold
    inside, outside = answerable == 1, answerable == 0
    refused_out = int((refused & outside).sum())
    refused_all = int(refused.sum())
    return {"threshold": round(threshold, 4), "answerable": int(inside.sum()), "refused_answerable": int((refused & inside).sum()),
            "false_abstention": round(float((refused & inside).sum() / max(1, inside.sum())), 4),
            "abstention_recall": round(refused_out / max(1, int(outside.sum())), 4),
            "abstention_precision": round(refused_out / refused_all, 4) if refused_all else 1.0}


def curve(chances: np.ndarray, answerable: np.ndarray, languages: np.ndarray) -> list[dict[str, float | int]]:
    """The operating point at each of `CURVE_POINTS` false-abstention rates (in every language)."""
    return [{"target": target, **operating_point(chances, answerable,
                                                 threshold_for(chances, answerable, target, languages))}
            for target in CURVE_POINTS]


@dataclass
class Fitted:
    """A logistic regression on standardised features."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    intercept: float

    def chances(self, matrix: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(((matrix - self.mean) / self.scale) @ self.weights + self.intercept)))


def fit(matrix: np.ndarray, answerable: np.ndarray, c: float, weight: str | None,
        signs: Sequence[int] = SIGNS) -> Fitted:
    """A logistic regression (L2 penalty 1/2C on standardised features, as scikit-learn's) whose
    weights keep the sign `signs` gives each feature (`SIGNS`; 0 leaves one free): more evidence never lowers the chance, a
    missing part never raises it. Free, correlated features took signs that read as nonsense (the
    evidence above the floor weighed against answering) and refused "How many friendly cabinets
    are there nationwide?"; eval/answerability_levers.md has both on dev. scipy's L-BFGS-B."""
    from scipy.optimize import minimize

    mean, scale = matrix.mean(axis=0), matrix.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    x, y = (matrix - mean) / scale, np.where(answerable == 1, 1.0, -1.0)
    sample = np.ones(len(y))
    if weight == "balanced":
        for label in (1.0, -1.0):
            sample[y == label] = len(y) / (2 * max(1, int((y == label).sum())))

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = params[:-1], params[-1]
        margin = y * (x @ w + b)
        slope = -sample * y / (1.0 + np.exp(margin))
        total = float(sample @ np.logaddexp(0.0, -margin)) + float(w @ w) / (2 * c)
        return total, np.concatenate([x.T @ slope + w / c, [slope.sum()]])

    bounds = [(0.0, None) if sign > 0 else (None, 0.0) if sign < 0 else (None, None) for sign in signs]
    result = minimize(loss, np.zeros(x.shape[1] + 1), jac=True, method="L-BFGS-B", bounds=[*bounds, (None, None)])
    return Fitted(mean.astype(np.float32), scale.astype(np.float32), result.x[:-1].astype(np.float32),
                  float(result.x[-1]))


def cross_validate(data: Dataset, c: float, weight: str | None) -> np.ndarray:
    """Out-of-fold chances of every question (folds grouped by question, stratified by label)."""
    from sklearn.model_selection import StratifiedGroupKFold

    chances = np.zeros(len(data.answerable))
    groups = np.arange(len(data.questions))  # one row per question: a question is never in two folds
    folds = StratifiedGroupKFold(n_splits=FOLDS, shuffle=True, random_state=0)
    for train, test in folds.split(data.matrix, data.answerable, groups):
        chances[test] = fit(data.matrix[train], data.answerable[train], c, weight).chances(data.matrix[test])
    return chances


def train(assistant: Assistant, gold: list[GoldQuestion]) -> tuple[AnswerabilityModel, dict]:
    """The model fitted on `gold` (the dev questions), its threshold and the cross-validation report."""
    data = collect(assistant, gold)
    languages = np.array([question.lang for question in data.questions])
    target = assistant.settings.answerability_false_abstention
    grid: dict[str, dict] = {}
    best = None
    for c in GRID_C:
        for weight in GRID_WEIGHT:
            chances = cross_validate(data, c, weight)
            threshold = threshold_for(chances, data.answerable, target, languages)
            point = operating_point(chances, data.answerable, threshold)
            grid[f"C={c}, class_weight={weight}"] = point
            key = (point["abstention_recall"], point["abstention_precision"], -c)
            if best is None or key > best[0]:
                best = (key, c, weight, chances, threshold, point)
    assert best is not None  # the grid is not empty
    _, c, weight, chances, threshold, point = best
    fitted = fit(data.matrix, data.answerable, c, weight)
    by_language = {}
    for lang in sorted({q.lang for q in data.questions}):
        mask = np.array([q.lang == lang for q in data.questions])
        by_language[lang] = operating_point(chances[mask], data.answerable[mask], threshold)
    trained = {
        "command": TRAIN_COMMAND,
        "split": "dev",
        "date": date.today().isoformat(),
        "questions": len(data.questions),
        "answerable": int(data.answerable.sum()),
        "out_of_scope": int(len(data.answerable) - data.answerable.sum()),
        "left_out_by_coverage_check": data.left_out,
        "C": c,
        "class_weight": weight,
        "false_abstention_target": target,
        "cross_validation": {"folds": FOLDS, "grouped_by": "question", "stratified": True,
                             "at_threshold": point, "by_language": by_language, "curve": curve(chances, data.answerable, languages)},
        "models": {space: model["fingerprint"][:16] for space, model in assistant.index.manifest["models"].items()},
    }
    answerability = AnswerabilityModel(FEATURES, fitted.mean, fitted.scale, fitted.weights, fitted.intercept,
                                       threshold, trained)
    return answerability, {"grid": grid}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train the answerability model on the dev split.")
    parser.add_argument("--write", action="store_true", help="write the model file (default: only report)")
    parser.add_argument("--out", type=Path, default=None, help="where to write it (default: the answerability_file setting)")
    args = parser.parse_args(argv)
    settings = Settings()
    assistant = Assistant.open(settings)
    model, report = train(assistant, select(load_gold(settings.gold_file), split="dev"))
    for name, point in report["grid"].items():
        print(f"{name}: cross-validated {point}")
    chosen = model.trained
    print(f"chosen C={chosen['C']}, class_weight={chosen['class_weight']}: {chosen['cross_validation']['at_threshold']}")
    for lang, point in chosen["cross_validation"]["by_language"].items():
        print(f"  {lang}: {point}")
    for name, weight in sorted(zip(FEATURES, model.weights, strict=True), key=lambda item: -abs(item[1])):
        print(f"  {name:24} {weight:+.3f}")
    if args.write:
        out = args.out or settings.answerability_file
        if out is None:
            parser.error("no model file to write: give --out or set the answerability_file setting")
        model.save(out)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
