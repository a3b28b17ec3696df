"""The answerability model's levers, each measured on the dev split by the training's own
cross-validation (5 folds grouped by question), against the shipped recipe in the same run.

A lever is a variant of the recipe: a feature group left out, the weights free of their signs,
the figure looked for in more passages' closest sentences, or another threshold rule. "sanity refused"
counts the answerable questions outside the gold file (`SANITY`) that the variant, fitted on all of
dev, refuses. Each row gives
the out-of-fold figures at the threshold the rule picks (abstention recall and false abstention,
overall and per language), with the regularisation chosen as the training chooses it.

Usage: python eval/answerability_levers.py [--out eval/answerability_levers.md]
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from assistant.evaluate import train_answerability as training
from assistant.evaluate.gold import load_gold, select
from assistant.i18n import Message
from assistant.query.answerability import compute
from assistant.query.answerability import features as answerability_features
from assistant.query.answerability.features import FEATURES, SIGNS
from assistant.query.assistant import Assistant
from assistant.settings import Settings

GROUPS: dict[str, tuple[str, ...]] = {
    "what is asked and missing (asked.py)": ("asks_part", "part_missing", "figure_or_date_missing",
                                             "figure_not_in_best_sentence"),
    "places and figures the first passages lack": ("place_missing", "figure_missing"),
    "the question's words against the collection's": ("unknown_words", "unknown_words_english", "idf_coverage_best",
                                                       "rarest_missing", "glossary_words", "nothing_translated"),
    "evidence and the floor": ("evidence_margin", "below_floor"),
    "the best passage's cosine, BM25 and coverage": ("dense_best", "bm25_asked_best", "coverage_sentence_best",
                                                     "coverage_passage_best", "glossary_best"),
    "the question's language": ("russian", "kazakh"),
}


SANITY = [
    *[Message(question).render(lang) for question in Settings().example_questions for lang in ("en", "ru", "kk")],
    "How many friendly cabinets are there nationwide?", "what changed in 2024", "Полиция мені ұстай ала ма?",
    "Легальна ли проституция в Казахстане?", "Кто подписал закон о противодействии торговле людьми в 2024 году?",
    "Сколько дружественных кабинетов работает в стране?", "Где мигранту без прописки сдать тест на ВИЧ?",
    "Адам саудасына қарсы заңға кім қол қойды?", "Қазақстанда жезөкшелік қашан қылмыс болудан қалды?",
    "is selling sex a crime in kazakhstan now?", "what does the new law say about online ads for sex?",
    "can police fine sex workers?", "where can sex workers get free condoms?",
]
"""Answerable questions outside the gold file (the page's examples in three languages, the tests'
questions, a few plain ones): a variant that refuses any of them fails where users start."""


def measure(data: training.Dataset, rule: Callable[[np.ndarray, np.ndarray, np.ndarray], float],
            fitter: Callable = training.fit, sanity: np.ndarray | None = None) -> dict:
    """The best setting of the grid by the training's key, its out-of-fold figures at `rule`'s
    threshold, and how many `SANITY` questions (their feature rows) the model fitted on all of dev refuses."""
    languages = np.array([question.lang for question in data.questions])
    saved_fit = training.fit
    training.fit = fitter
    try:
        best = None
        for c in training.GRID_C:
            for weight in training.GRID_WEIGHT:
                chances = training.cross_validate(data, c, weight)
                threshold = rule(chances, data.answerable, languages)
                point = training.operating_point(chances, data.answerable, threshold)
                key = (point["abstention_recall"], point["abstention_precision"], -c)
                if best is None or key > best[0]:
                    best = (key, c, weight, chances, threshold, point)
    finally:
        training.fit = saved_fit
    assert best is not None
    _, c, weight, chances, threshold, point = best
    row = {"C": c, "class_weight": weight, **point}
    if sanity is not None:
        fitted = fitter(data.matrix, data.answerable, c, weight)
        row["sanity refused"] = f"{int((fitted.chances(sanity) < threshold).sum())}/{len(sanity)}"
    for lang in sorted(set(languages)):
        mask = languages == lang
        at = training.operating_point(chances[mask], data.answerable[mask], threshold)
        row[f"{lang} recall"], row[f"{lang} false abstention"] = at["abstention_recall"], at["false_abstention"]
    return row


def features_of(assistant: Assistant, question: str) -> np.ndarray:
    """One question's answerability features, as the pipeline computes them."""
    found = assistant.retrieve(question, assistant.settings.default_k)
    values, _ = compute(found, assistant.calibration, assistant.settings.part_search_depth,
                        assistant.coverage.places_named(found.question, found.language))
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("answerability_levers.md"))
    args = parser.parse_args()
    settings = Settings()
    assistant = Assistant.open(settings)
    data = training.collect(assistant, select(load_gold(settings.gold_file), split="dev"))
    sanity = np.vstack([features_of(assistant, question) for question in SANITY])
    target = settings.answerability_false_abstention
    shipped_rule = lambda chances, answerable, languages: training.threshold_for(chances, answerable, target, languages)  # noqa: E731
    rows: dict[str, dict] = {"shipped": measure(data, shipped_rule, sanity=sanity)}
    rows["weights free of their signs"] = measure(data, shipped_rule, partial(training.fit, signs=(0,) * len(FEATURES)),
                                                  sanity)
    rows["threshold: 2% of all answerable questions, any language"] = measure(
        data, lambda chances, answerable, languages: training.threshold_for(chances, answerable, target))
    rows["threshold: 2% of each language, none where 2% is less than one"] = measure(
        data, lambda chances, answerable, languages: min(
            training._highest_threshold(chances[(languages == lang) & (answerable == 1)],
                                        int(target * ((languages == lang) & (answerable == 1)).sum()))
            for lang in np.unique(languages)))
    shipped_depth = answerability_features.BEST_SENTENCES_OF
    answerability_features.BEST_SENTENCES_OF = 3
    try:
        wider = training.collect(assistant, select(load_gold(settings.gold_file), split="dev"))
        wider_sanity = np.vstack([features_of(assistant, question) for question in SANITY])
    finally:
        answerability_features.BEST_SENTENCES_OF = shipped_depth
    rows["a figure looked for in the closest sentences of the best three passages"] = measure(
        wider, shipped_rule, sanity=wider_sanity)
    for name, group in GROUPS.items():
        keep = [i for i, feature in enumerate(FEATURES) if feature not in group]
        reduced = replace(data, matrix=data.matrix[:, keep])
        rows[f"without {name}"] = measure(reduced, shipped_rule, partial(training.fit, signs=[SIGNS[i] for i in keep]),
                                          sanity[:, keep])
    columns = ["C", "class_weight", "threshold", "sanity refused", "false_abstention", "abstention_recall",
               "abstention_precision",
               *[f"{lang} {metric}" for lang in ("en", "ru", "kk") for metric in ("recall", "false abstention")]]
    lines = ["# Answerability levers (dev split, cross-validated)", "",
             f"Generated by `python eval/answerability_levers.py`: {len(data.questions)} dev questions "
             f"({int(data.answerable.sum())} answerable; {data.left_out} left out, refused by the place and year "
             "check first). Each row is the recipe of `python -m assistant.evaluate.train_answerability` with one "
             "lever changed; figures are out of fold, at the threshold the row's rule picks.", "",
             "| variant | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, row in rows.items():
        lines.append(f"| {name} | " + " | ".join(str(row.get(column, "–")) for column in columns) + " |")
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
