"""Issue 24's levers, one at a time and together: writes eval/signals.md.

Each lever is a settings override (a different list of stages, never a branch in code). Dev: the
ranker is refitted on the dev split for every row (its features are computed the same way, a lever
that is off leaves its columns at 0) and cross-validated, 5 folds grouped by question
(`assistant.evaluate.train_ranker`), per language. Test: the row's ranker, fitted on all of dev,
answers every test question through `Assistant.ask` (`assistant eval`'s scoring), per language,
per question set and for "what if" questions. Nothing here is tuned on test.

Usage: HF_HUB_OFFLINE=1 .venv/bin/python eval/signals.py [--out eval/signals.md]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.evaluate.gold import evaluate, load_gold, select  # noqa: E402
from assistant.evaluate.train_answerability import train as train_answerability  # noqa: E402
from assistant.evaluate.train_ranker import Dataset, collect, cross_validate, ranking_figures, train  # noqa: E402
from assistant.query.assistant import Assistant  # noqa: E402
from assistant.settings import Settings  # noqa: E402

LANGUAGES = ("en", "ru", "kk")
MINILM_FOR_ENGLISH = {"en": ["english"], "ru": ["multilingual"], "kk": ["multilingual"]}
BOTH_FOR_ENGLISH = {"en": ["english", "multilingual"], "ru": ["multilingual"], "kk": ["multilingual"]}
BEFORE = {"latent_terms": False, "spaces_by_language": MINILM_FOR_ENGLISH, "read_latin_typing": False,
          "fusion_latent_weight": 0.0}
LEVERS: list[tuple[str, dict]] = [
    ("before (issue 23's signals: MiniLM for English, e5 for ru/kk, BM25, glossary)", BEFORE),
    ("+ Latin-typed Russian/Kazakh read in Cyrillic", {**BEFORE, "read_latin_typing": True}),
    ("+ latent terms for the ranker (where e5 runs: ru/kk)", {**BEFORE, "latent_terms": True}),
    ("+ e5 for English questions too (with MiniLM)", {**BEFORE, "spaces_by_language": BOTH_FOR_ENGLISH}),
    ("+ e5 for English, latent terms for the ranker", {**BEFORE, "spaces_by_language": BOTH_FOR_ENGLISH,
                                                        "latent_terms": True}),
    ("all levers but the latent terms in the fused score (e5 and MiniLM for English)",
     {"spaces_by_language": BOTH_FOR_ENGLISH, "fusion_latent_weight": 0.0}),
    ("all levers, e5 and MiniLM for English, latent terms also in the fused score",
     {"spaces_by_language": BOTH_FOR_ENGLISH}),
    ("all levers, e5 alone for English (the product)", {}),
    ("the product, latent terms in the fused score at weight 0.5 (not 0.25)", {"fusion_latent_weight": 0.5}),
    ("the product, no glossary", {"use_glossary": False}),
]
"""The rows, first the state before this issue, then each lever added alone, then together ({}: the
settings as they are, the product)."""
SETS = ("original", "colloquial", "everyday", "latin")


def language_figures(scores: np.ndarray, data: Dataset, lang: str) -> dict[str, float]:
    """`ranking_figures` over one language's questions."""
    keep = [i for i, question in enumerate(data.questions) if question.lang == lang]
    mask = np.isin(data.groups, keep)
    renumber = {old: new for new, old in enumerate(keep)}
    sub = Dataset(data.matrix[mask], data.labels[mask], np.array([renumber[g] for g in data.groups[mask]]),
                  [data.questions[i] for i in keep], [], [])
    return ranking_figures(scores[mask], sub)


def measure(settings: Settings, base: Assistant, gold: list, overrides: dict, ranker_dir: Path) -> dict:
    configured = Assistant(base.index, base.embedders, settings.model_copy(update=overrides))
    dev = select(gold, split="dev")
    data = collect(configured, dev)
    ranker, _ = train(configured, dev)
    scores = cross_validate(data, ranker.trained["C"], ranker.trained["class_weight"])
    dev_figures = {"all": ranking_figures(scores, data), **{lang: language_figures(scores, data, lang) for lang in LANGUAGES}}
    path = ranker_dir / f"ranker-{abs(hash(str(overrides)))}.json"
    ranker.save(path)
    ranked = Assistant(base.index, base.embedders, settings.model_copy(update={**overrides, "ranker_file": path}))
    answerability, _ = train_answerability(ranked, dev)
    answerability_path = path.with_suffix(".answerability.json")
    answerability.save(answerability_path)
    report = evaluate(settings, gold, split="test", modes={"row": {**overrides, "ranker_file": path,
                                                                   "answerability_file": answerability_path}})
    return {"dev": dev_figures, "test": report["modes"]["row"],
            "abstention": answerability.trained["cross_validation"]["at_threshold"]}


def _cell(figures: dict | None, metric: str) -> str:
    return f"{figures[metric]:.3f}" if figures and figures.get(metric) is not None else "–"


def format_rows(rows: list[tuple[str, dict]], gold_counts: dict) -> str:
    lines = ["# Signals and typing, one lever at a time (issue 24)", "",
             f"Generated by `python eval/signals.py` on {date.today().isoformat()}. Dev: the ranker refitted on "
             "the dev split for each row and cross-validated (5 folds grouped by question; Hit@1 / Hit@3 of "
             "each question's 50 best fused candidates). Test: that ranker, fitted on all of dev, through "
             "`Assistant.ask` (k=10), `assistant eval`'s scoring. " + gold_counts["text"], ""]
    head = ["lever", "dev CV all", *[f"dev CV {lang}" for lang in LANGUAGES], "test all", *[f"test {lang}" for lang in LANGUAGES]]
    lines += ["Hit@1 / Hit@3:", "", "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    abstention_rows = []
    for name, found in rows:
        dev, test, refusing = found["dev"], found["test"], found["abstention"]
        abstention_rows.append(f"| {name} | {refusing['abstention_recall']:.3f} / {refusing['false_abstention']:.3f} | "
                               f"{test['abstention_recall']:.3f} / {test['false_abstention_rate']:.3f} |")
        cells = [name, *[f"{dev[key]['hit@1']:.3f} / {dev[key]['hit@3']:.3f}" for key in ("all", *LANGUAGES)],
                 f"{test['hit@1']:.3f} / {test['hit@3']:.3f}",
                 *[f"{_cell(test['by_language'].get(lang), 'hit@1')} / {_cell(test['by_language'].get(lang), 'hit@3')}"
                   for lang in LANGUAGES]]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Out-of-scope questions refused (recall) / answerable questions refused (false abstention), the "
              "answerability model refitted on dev for each row's ranker (threshold: at most 2% of each language's "
              "answerable dev questions refused):", "", "| lever | dev CV | test |", "|---|---|---|", *abstention_rows]
    head = ["lever", *[f"{lang} {name}" for lang in LANGUAGES for name in SETS if f"{lang} {name}" in gold_counts["sets"]],
            "what if (all)"]
    lines += ["", "Test by language and question set, Hit@1 / Hit@3 (n in the header):", "",
              "| " + " | ".join(h if h in ("lever", "what if (all)") else f"{h} (n={gold_counts['sets'][h]})"
                                for h in head) + " |", "|---" * len(head) + "|"]
    for name, found in rows:
        test = found["test"]
        cells = [name]
        for key in head[1:-1]:
            figures = test["by_language_and_set"].get(key)
            cells.append(f"{_cell(figures, 'hit@1')} / {_cell(figures, 'hit@3')}")
        what_if = test["by_kind"].get("what_if")
        cells.append(f"{_cell(what_if, 'hit@1')} / {_cell(what_if, 'hit@3')}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "eval" / "signals.md")
    args = parser.parse_args()
    settings = Settings()
    gold = load_gold(settings.gold_file)
    base = Assistant.open(settings)
    test = [q for q in select(gold, split="test") if not q.out_of_scope]
    sets: dict[str, int] = {}
    for question in test:
        key = f"{question.lang} {question.question_set}"
        sets[key] = sets.get(key, 0) + 1
    counts = {"text": f"{len(select(gold, split='dev'))} dev and {len(select(gold, split='test'))} test questions "
                      f"({len(test)} answerable on test).", "sets": sets}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, overrides in LEVERS:
            print(f"measuring: {name}", file=sys.stderr)
            rows.append((name, measure(settings, base, gold, overrides, Path(tmp))))
            args.out.write_text(format_rows(rows, counts), encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
