"""Train the ranker on the dev split (never the test split): `python -m assistant.evaluate.train_ranker`.

For every answerable dev question, the best `rerank_depth` candidates of score fusion become rows
of features (`features.py`), labelled by whether the passage holds a gold answer. A logistic
regression (scikit-learn, features standardised) is chosen by 5-fold cross-validation grouped by
question (the folds never split a question's candidates), on mean reciprocal rank; then it is fitted
on all of dev and written to `assistant/query/ranking/ranker.json` with what it was trained on.
Cross-validated figures of the fusion order on the same candidates are printed beside it.

Usage: python -m assistant.evaluate.train_ranker [--write] [--out FILE]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from assistant.evaluate.gold import GoldQuestion, is_hit, load_gold, select
from assistant.query.assistant import Assistant
from assistant.query.ranking.features import FEATURES, SENTENCE_FEATURES, compute
from assistant.query.ranking.model import LinearRanker
from assistant.settings import Settings
from assistant.store.index import Index

GRID_C = (0.03, 0.1, 0.3, 1.0, 3.0)
GRID_WEIGHT = (None, "balanced")
FOLDS = 5


@dataclass
class Dataset:
    matrix: np.ndarray
    labels: np.ndarray
    groups: np.ndarray
    """The question (index into `questions`) of each row."""
    questions: list[GoldQuestion]
    sentences: list[np.ndarray]
    """Per answering passage (of more than one sentence), its sentences' `SENTENCE_FEATURES`."""
    sentence_labels: list[np.ndarray]
    """Per answering passage, whether each of its sentences holds a gold answer."""


Labeller = Callable[[GoldQuestion, int], bool]
"""Whether a passage row answers a question (gold: it holds a gold answer; a benchmark: its
document is judged relevant)."""


def holds_answer(index: Index) -> Labeller:
    return lambda question, row: is_hit(index.passages[row].text, question.answers)


def collect(assistant: Assistant, gold: list[GoldQuestion], label: Labeller | None = None) -> Dataset:
    """Feature rows of the fusion candidates of every answerable question in `gold`, labelled by
    `label` (default: the passage holds a gold answer; then the answering sentences are kept too)."""
    fusion = Assistant(assistant.index, assistant.embedders, assistant.settings.model_copy(update={"ranker": "fusion"}))
    index, depth = assistant.index, assistant.settings.rerank_depth
    answers = label or holds_answer(index)
    matrices: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    groups: list[np.ndarray] = []
    questions: list[GoldQuestion] = []
    sentences: list[np.ndarray] = []
    sentence_labels: list[np.ndarray] = []
    for question in gold:
        if question.out_of_scope:
            continue
        found = fusion.retrieve(question.question, 10)
        rows = sorted(found.relevance, key=lambda row: (-found.relevance[row], row))[:depth]
        if not rows:
            continue
        features = compute(index, fusion.calibration, found, rows, fusion.settings.lexical_saturation)
        matrices.append(features.matrix)
        hits = np.array([answers(question, row) for row in rows], dtype=np.int8)
        labels.append(hits)
        # Sentence labels need gold answers: a benchmark judges whole documents.
        for row, per_sentence, hit in zip(rows, features.sentence_matrices, hits, strict=True) if label is None else ():
            passage = index.passages[row]
            labels_here = [is_hit(passage.text[s:e], question.answers) for s, e in passage.sentences]
            if hit and len(passage.sentences) > 1 and any(labels_here):
                sentences.append(per_sentence)
                sentence_labels.append(np.array(labels_here, dtype=np.int8))
        groups.append(np.full(len(rows), len(questions)))
        questions.append(question)
    return Dataset(np.vstack(matrices), np.concatenate(labels), np.concatenate(groups), questions, sentences,
                   sentence_labels)


def joined(first: Dataset, second: Dataset) -> Dataset:
    """Both datasets' rows as one, the second's questions numbered after the first's."""
    return Dataset(np.vstack([first.matrix, second.matrix]), np.concatenate([first.labels, second.labels]),
                   np.concatenate([first.groups, second.groups + len(first.questions)]),
                   first.questions + second.questions, first.sentences + second.sentences,
                   first.sentence_labels + second.sentence_labels)


SENTENCE_PENALTY = 0.01
"""L2 penalty of the sentence choice (on standardised features)."""


def fit_sentences(data: Dataset) -> np.ndarray:
    """Weights of `SENTENCE_FEATURES` (raw scale) for choosing the answer sentence inside a
    passage: a conditional logit (a softmax over each passage's sentences, as the highlight
    chooses among them) fitted to the dev passages that hold an answer, maximising the chance of
    the sentences that hold it (scipy's L-BFGS, a small L2 penalty)."""
    from scipy.optimize import minimize

    stacked = np.vstack(data.sentences)
    mean, scale = stacked.mean(axis=0), stacked.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    groups = [((x - mean) / scale, y.astype(bool)) for x, y in zip(data.sentences, data.sentence_labels, strict=True)]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, gradient = SENTENCE_PENALTY * float(w @ w), 2 * SENTENCE_PENALTY * w
        for x, positive in groups:
            z = x @ w
            z = z - z.max()
            p = np.exp(z) / np.exp(z).sum()
            q = p * positive / p[positive].sum()  # the chance mass within the answer sentences
            total -= float(np.log(p[positive].sum()))
            gradient = gradient - (q - p) @ x
        return total, gradient

    result = minimize(loss, np.zeros(stacked.shape[1]), jac=True, method="L-BFGS-B")
    return (result.x / scale).astype(np.float32)


def ranking_figures(scores: np.ndarray, data: Dataset) -> dict[str, float]:
    """Hit@1, Hit@3 and MRR@10 of ordering each question's candidates by `scores` (a question
    whose answer is not among its candidates counts as a miss)."""
    hits1 = hits3 = reciprocal = 0.0
    for group in range(len(data.questions)):
        mask = data.groups == group
        order = np.argsort(-scores[mask], kind="stable")
        relevant = np.flatnonzero(data.labels[mask][order])
        if len(relevant):
            rank = int(relevant[0]) + 1
            hits1 += rank == 1
            hits3 += rank <= 3
            reciprocal += 1 / rank if rank <= 10 else 0.0
    n = len(data.questions)
    return {"hit@1": round(hits1 / n, 4), "hit@3": round(hits3 / n, 4), "mrr@10": round(reciprocal / n, 4)}


def _model(c: float, weight: str | None):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=c, class_weight=weight, max_iter=5000))


def cross_validate(data: Dataset, c: float, weight: str | None, extra: Dataset | None = None) -> np.ndarray:
    """Out-of-fold scores of every row of `data`; `extra` rows (other questions: a benchmark's
    training half) join every fold's training rows and are never scored."""
    from sklearn.model_selection import GroupKFold

    scores = np.zeros(len(data.labels))
    for train, test in GroupKFold(n_splits=FOLDS).split(data.matrix, data.labels, data.groups):
        matrix, labels = data.matrix[train], data.labels[train]
        if extra is not None:
            matrix, labels = np.vstack([matrix, extra.matrix]), np.concatenate([labels, extra.labels])
        model = _model(c, weight).fit(matrix, labels)
        scores[test] = model.decision_function(data.matrix[test])
    return scores


def train(assistant: Assistant, gold: list[GoldQuestion], extra: Dataset | None = None) -> tuple[LinearRanker, dict]:
    """The ranker fitted on `gold` (the dev questions; with `extra`, other training questions too)
    with the regularisation cross-validated on `gold`, and the cross-validation report."""
    data = collect(assistant, gold)
    fused = data.matrix[:, FEATURES.index("fused")]
    grid: dict[str, dict[str, float]] = {}
    report = {"fusion order": ranking_figures(fused, data), "grid": grid}
    best: tuple[tuple[float, float], float, str | None, dict[str, float]] | None = None
    for c in GRID_C:
        for weight in GRID_WEIGHT:
            figures = ranking_figures(cross_validate(data, c, weight, extra), data)
            grid[f"C={c}, class_weight={weight}"] = figures
            key = (figures["mrr@10"], figures["hit@1"])
            if best is None or key > best[0]:
                best = (key, c, weight, figures)
    assert best is not None  # GRID_C and GRID_WEIGHT are not empty
    _, c, weight, figures = best
    everything = data if extra is None else joined(data, extra)
    model = _model(c, weight).fit(everything.matrix, everything.labels)
    scaler, regression = model.named_steps["standardscaler"], model.named_steps["logisticregression"]
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    trained = {
        "command": "python -m assistant.evaluate.train_ranker --write",
        "split": "dev",
        "date": date.today().isoformat(),
        "questions": len(everything.questions),
        "rows": len(everything.labels),
        "positives": int(everything.labels.sum()),
        "rerank_depth": assistant.settings.rerank_depth,
        "C": c,
        "class_weight": weight,
        "cross_validation": {"folds": FOLDS, "grouped_by": "question", "ranker": figures,
                             "fusion order": report["fusion order"]},
        "models": {space: model["fingerprint"][:16] for space, model in assistant.index.manifest["models"].items()},
    }
    trained["sentences"] = {"passages": len(data.sentences), "sentences": int(sum(len(y) for y in data.sentence_labels)),
                            "model": "conditional logit over each passage's sentences"}
    ranker = LinearRanker(FEATURES, scaler.mean_.astype(np.float32), scale.astype(np.float32),
                          regression.coef_[0].astype(np.float32), float(regression.intercept_[0]), trained,
                          fit_sentences(data))
    return ranker, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train the ranker on the dev split.")
    parser.add_argument("--write", action="store_true", help="write the ranker file (default: only report)")
    parser.add_argument("--out", type=Path, default=None, help="where to write it (default: the ranker_file setting)")
    args = parser.parse_args(argv)
    settings = Settings()
    assistant = Assistant.open(settings)
    ranker, report = train(assistant, select(load_gold(settings.gold_file), split="dev"))
    print(f"fusion order (dev, same candidates): {report['fusion order']}")
    for name, figures in report["grid"].items():
        print(f"{name}: cross-validated {figures}")
    chosen = ranker.trained
    print(f"chosen C={chosen['C']}, class_weight={chosen['class_weight']}: {chosen['cross_validation']['ranker']}")
    for name, weight in sorted(zip(FEATURES, ranker.weights, strict=True), key=lambda item: -abs(item[1])):
        print(f"  {name:20} {weight:+.3f}")
    print("sentence choice (raw scale): " + ", ".join(f"{name} {weight:+.3f}" for name, weight
                                                      in zip(SENTENCE_FEATURES, ranker.sentences, strict=True)))
    if args.write:
        out = args.out or settings.ranker_file
        if out is None:
            parser.error("no ranker file to write: give --out or set the ranker_file setting")
        ranker.save(out)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
