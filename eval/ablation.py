"""The ranking levers one at a time and combined (issue 12); writes eval/ablation.md.

Tuning happens on dev only: every lever's figure there is cross-validated (5 folds grouped by
question, `assistant.evaluate.train_ranker`), the rankers fitted on dev. The test split is run only for
the configurations that could ship, through `assistant eval`'s own scoring, per language and per
question set. Levers that did not measure on dev are not run on test.

Levers:
- the learned ranker over score fusion (the product), and with its candidates cut at 30;
- the multilingual model as a second dense signal for English questions (the ranker retrained);
- gradient-boosted trees instead of the logistic regression;
- pseudo-relevance feedback on BM25 (RM3-style: the ten most frequent words of the three best
  fused passages added to the question) as a ranker feature;
- a window of neighbouring passages for short passages (under 200 characters, same section) as
  a second passage embedding, its cosine a ranker feature;
- the time ordering (recency for questions about now, the newest answering source in the top 3).

Usage: HF_HUB_OFFLINE=1 .venv/bin/python eval/ablation.py [--out eval/ablation.md]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.evaluate.gold import evaluate, load_gold, select  # noqa: E402
from assistant.query.assistant import Assistant  # noqa: E402
from assistant.evaluate.train_ranker import Dataset, collect, cross_validate, ranking_figures, train  # noqa: E402
from assistant.settings import Settings  # noqa: E402

LANGUAGES = ("en", "ru", "kk")
BOTH_FOR_ENGLISH = {"en": ["english", "multilingual"], "ru": ["multilingual"], "kk": ["multilingual"]}


def with_column(data: Dataset, column: np.ndarray) -> Dataset:
    return Dataset(np.hstack([data.matrix, column[:, None]]), data.labels, data.groups, data.questions,
                   data.sentences, data.sentence_labels)


def candidate_rows(fusion: Assistant, question: str, depth: int) -> tuple:
    found = fusion.retrieve(question, 10)
    return found, sorted(found.relevance, key=lambda row: (-found.relevance[row], row))[:depth]


def prf_column(base: Assistant, fusion: Assistant, data: Dataset) -> np.ndarray:
    """The saturated BM25 of the question (twice) with the ten most frequent new words of its
    three best fused passages, for every candidate row of `data`."""
    columns = []
    for question in data.questions:
        found, rows = candidate_rows(fusion, question.question, base.settings.rerank_depth)
        counts = Counter(token for row in rows[:3] for tokens in base.index.sentence_tokens(row) for token in tokens)
        extra = [token for token, _ in counts.most_common(20) if token not in set(found.tokens)][:10]
        hits = {hit.passage: hit.score for hit in base.index.backend.search_lexical(found.tokens * 2 + extra, 100)}
        columns.append(np.array([hits.get(row, 0.0) / (hits.get(row, 0.0) + 5.0) for row in rows], dtype=np.float32))
    return np.concatenate(columns)


def window_column(base: Assistant, fusion: Assistant, data: Dataset) -> np.ndarray:
    """The calibrated cosine of each candidate's window (its neighbours in the same section when
    it is shorter than 200 characters)."""
    passages = base.index.passages
    texts = []
    for row, passage in enumerate(passages):
        parts = [passage.text]
        if len(passage.text) < 200:
            for neighbour, at in ((row - 1, 0), (row + 1, len(parts) + 1)):
                if 0 <= neighbour < len(passages) and passages[neighbour].doc_id == passage.doc_id \
                        and passages[neighbour].section == passage.section:
                    parts.insert(at, passages[neighbour].text)
        texts.append(" ".join(parts))
    vectors = {space: base.embedders[space].encode_passages(texts) for space in base.index.spaces}
    columns = []
    for question in data.questions:
        found, rows = candidate_rows(fusion, question.question, base.settings.rerank_depth)
        space = found.spaces[0]
        columns.append(np.asarray(base.calibration.cosine(space, vectors[space][rows] @ found.vectors[space]),
                                  dtype=np.float32))
    return np.concatenate(columns)


def boosted_trees(data: Dataset) -> dict:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import GroupKFold

    scores = np.zeros(len(data.labels))
    for train_rows, test_rows in GroupKFold(5).split(data.matrix, data.labels, data.groups):
        model = HistGradientBoostingClassifier(max_leaf_nodes=7, max_iter=100, learning_rate=0.05, random_state=0)
        scores[test_rows] = model.fit(data.matrix[train_rows], data.labels[train_rows]).decision_function(data.matrix[test_rows])
    return ranking_figures(scores, data)


def test_figures(settings: Settings, gold, overrides: dict) -> dict:
    report = evaluate(settings, gold, split="test", modes={"mode": overrides})
    mode = report["modes"]["mode"]
    return {"languages": mode["by_language"], "sets": mode["by_set"], "overall": mode}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "eval" / "ablation.md")
    args = parser.parse_args()
    settings = Settings()
    gold = load_gold(settings.gold_file)
    dev = select(gold, split="dev")
    base = Assistant.open(settings)
    fusion = Assistant(base.index, base.embedders, settings.model_copy(update={"ranker": "fusion"}))
    data = collect(base, dev)
    chosen_c = base.ranker.trained["C"] if base.ranker else 1.0
    rows: list[tuple[str, dict, dict | None, str]] = []

    product_cv = ranking_figures(cross_validate(data, chosen_c, None), data)
    fusion_cv = ranking_figures(data.matrix[:, 0], data)
    rows.append(("score fusion (before: no ranker)", fusion_cv, test_figures(settings, gold, {"ranker": "fusion"}), ""))
    rows.append(("learned ranker (product)", product_cv, test_figures(settings, gold, {}), "kept"))
    rows.append(("learned ranker, no time ordering", product_cv,
                 test_figures(settings, gold, {"recency_ranker_weight": 0.0, "recency_present_weight": 0.0,
                                               "newest_in_top": 0, "newest_in_top_present": 0}),
                 "time kept: it is what puts the current law first"))
    shallow = Assistant(base.index, base.embedders, settings.model_copy(update={"rerank_depth": 30}))
    shallow_data = collect(shallow, dev)
    with tempfile.TemporaryDirectory() as tmp:
        ranker, _ = train(shallow, dev)
        ranker.save(Path(tmp) / "ranker.json")
        rows.append(("learned ranker over 30 candidates (not 50)",
                     ranking_figures(cross_validate(shallow_data, ranker.trained["C"], None), shallow_data),
                     test_figures(settings, gold, {"rerank_depth": 30, "ranker_file": Path(tmp) / "ranker.json"}),
                     "not kept: 50 measured as well or better on dev"))
        both = Assistant(base.index, base.embedders, settings.model_copy(update={"spaces_by_language": BOTH_FOR_ENGLISH}))
        both_data = collect(both, dev)
        ranker, _ = train(both, dev)
        ranker.save(Path(tmp) / "both.json")
        rows.append(("+ multilingual model for English questions too",
                     ranking_figures(cross_validate(both_data, ranker.trained["C"], None), both_data),
                     test_figures(settings, gold, {"spaces_by_language": BOTH_FOR_ENGLISH,
                                                   "ranker_file": Path(tmp) / "both.json"}),
                     "not kept: no better on dev, and e5 costs an English question ~20 ms more"))
    rows.append(("gradient-boosted trees instead of logistic regression", boosted_trees(data), None,
                 "not kept: worse on dev"))
    prf = with_column(data, prf_column(base, fusion, data))
    rows.append(("+ pseudo-relevance feedback on BM25 (feature)",
                 ranking_figures(cross_validate(prf, chosen_c, None), prf), None, "not kept: worse on dev"))
    windows = with_column(data, window_column(base, fusion, data))
    rows.append(("+ neighbouring-passage windows for short passages (feature)",
                 ranking_figures(cross_validate(windows, chosen_c, None), windows), None,
                 "not kept: no difference on dev, and a second embedding of every short passage"))
    args.out.write_text(render(rows, len(data.questions)), encoding="utf-8")
    print(f"wrote {args.out}")


def render(rows: list[tuple[str, dict, dict | None, str]], dev_questions: int) -> str:
    def cell(value) -> str:
        return "–" if value is None else f"{value:.3f}"

    lines = [
        "# Ranking levers, one at a time (issue 12)",
        "",
        f"Generated by `python eval/ablation.py` on {date.today().isoformat()}. Dev: 5-fold cross-validation grouped "
        f"by question over the {dev_questions} answerable dev questions' 50 best fused candidates (Hit@1, Hit@3, MRR@10 of "
        "the candidates' order: a question whose answer is not among its candidates is a miss). Test: `assistant eval "
        "--split test`'s scoring of the whole answer (k=10), per language; run only for what could ship.",
        "",
        "| lever | dev CV hit@1 | dev CV hit@3 | dev CV mrr@10 | test en hit@1 | en hit@3 | en mrr | ru hit@1 | ru hit@3 "
        "| kk hit@1 | kk hit@5 | temporal hit@3 | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, cv, test, verdict in rows:
        languages = test["languages"] if test else {}
        temporal = test["overall"]["by_kind"].get("temporal", {}) if test else {}
        lines.append(
            f"| {name} | {cell(cv['hit@1'])} | {cell(cv['hit@3'])} | {cell(cv['mrr@10'])} | "
            + " | ".join(cell(languages.get(lang, {}).get(metric)) for lang, metric in
                         (("en", "hit@1"), ("en", "hit@3"), ("en", "mrr@10"), ("ru", "hit@1"), ("ru", "hit@3"),
                          ("kk", "hit@1"), ("kk", "hit@5")))
            + f" | {cell(temporal.get('hit@3'))} | {verdict} |")
    lines += ["", "English by question set on test (the first hand-written set, and the questions in users' own words):", "",
              "| lever | original hit@1 | original hit@3 | original mrr | colloquial hit@1 | colloquial hit@3 | colloquial mrr |",
              "|---|---|---|---|---|---|---|"]
    for name, _, test, _ in rows:
        if test is None:
            continue
        sets = test["overall"]["by_language_and_set"]
        lines.append(f"| {name} | " + " | ".join(cell(sets.get(f"en {key}", {}).get(metric)) for key in ("original", "colloquial")
                                                  for metric in ("hit@1", "hit@3", "mrr@10")) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
