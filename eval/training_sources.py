"""Issue 24, lever 3: does the ranker gain from training questions beyond our dev split? Writes
eval/training_sources.md.

The public benchmarks' queries (`../shared/benchmarks/`: xquad-en, xquad-ru-en, kazqad-kk) are cut
in two halves by a hash of the query id: the training half adds training groups (a passage is a
positive when its document is judged relevant), the other half is held out. Each row's ranker is
chosen by 5-fold cross-validation on dev (the benchmark rows join every fold's training part and
are never scored), fitted on dev plus its sources, then measured on our test split (`Assistant.ask`,
`assistant eval`'s scoring) and on every benchmark's held-out half (nDCG@10, product chunking,
hybrid, `Assistant.ask` as `assistant eval --beir` runs it).

Usage: HF_HUB_OFFLINE=1 .venv/bin/python eval/training_sources.py [--out eval/training_sources.md]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.embedding import create_embedders  # noqa: E402
from assistant.evaluate.beir import (  # noqa: E402
    DEFAULT_CACHE_DIR,
    BeirDataset,
    benchmark_settings,
    load_beir,
    ndcg_at_k,
    ranked_documents,
    write_corpus,
)
from assistant.evaluate.gold import GoldQuestion, evaluate, load_gold, select  # noqa: E402
from assistant.evaluate.train_ranker import Dataset, collect, joined, train  # noqa: E402
from assistant.languages import detect_language  # noqa: E402
from assistant.query.assistant import Assistant  # noqa: E402
from assistant.settings import Settings  # noqa: E402
from assistant.store.build import build_index  # noqa: E402

BENCHMARKS = ("xquad-en", "xquad-ru-en", "kazqad-kk")
LANGUAGES = ("en", "ru", "kk")


def training_half(query_id: str) -> bool:
    """Whether a benchmark query is in the training half (a fixed hash, so every run agrees)."""
    return hashlib.sha256(query_id.encode()).digest()[0] % 2 == 0


class Benchmark:
    """A benchmark indexed with the product's chunking, its two halves, and how to label a row."""

    def __init__(self, name: str, settings: Settings, embedders, workdir: Path):
        self.name = name
        self.dataset: BeirDataset = load_beir(ROOT.parent / "shared" / "benchmarks" / name)
        self.ids = write_corpus(self.dataset, workdir / name / "corpus")
        self.settings = benchmark_settings(settings.model_copy(update={"corpus_dir": workdir / name / "corpus"}),
                                           "product", workdir / name)
        self.index = build_index(self.settings, embedders, progress=False)
        self.embedders = embedders
        self.train_ids = [q for q in self.dataset.qrels if training_half(q)]
        self.held_out = [q for q in self.dataset.qrels if not training_half(q)]

    def training_data(self) -> Dataset:
        assistant = Assistant(self.index, self.embedders, self.settings)
        questions = [GoldQuestion(id=q, question=self.dataset.queries[q], answers=[],
                                  lang=detect_language(self.dataset.queries[q])) for q in self.train_ids]
        relevant = {q: set(self.dataset.qrels[q]) for q in self.train_ids}
        return collect(assistant, questions,
                       lambda question, row: self.ids[self.index.passage_doc_ids[row]] in relevant[question.id])

    def held_out_ndcg(self, ranker_file: Path) -> float:
        assistant = Assistant(self.index, self.embedders, self.settings.model_copy(update={"ranker_file": ranker_file}))
        scores = [ndcg_at_k(ranked_documents(assistant, self.dataset.queries[q], self.ids)[0], self.dataset.qrels[q])
                  for q in self.held_out]
        return sum(scores) / len(scores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "eval" / "training_sources.md")
    args = parser.parse_args()
    settings = Settings()
    gold = load_gold(settings.gold_file)
    dev = select(gold, split="dev")
    base = Assistant.open(settings)
    embedders = create_embedders(settings.model_copy(update={"embedding_cache_dir": DEFAULT_CACHE_DIR}), cached=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="sources-") as tmp:
        workdir = Path(tmp)
        benchmarks = {}
        for name in BENCHMARKS:
            print(f"indexing {name}", file=sys.stderr)
            benchmarks[name] = Benchmark(name, settings, embedders, workdir)
        extra = {name: benchmark.training_data() for name, benchmark in benchmarks.items()}
        choices: list[tuple[str, tuple[str, ...]]] = [("dev only (the product)", ()),
                                                      *[(f"dev + {name} training half", (name,)) for name in BENCHMARKS],
                                                      ("dev + all three training halves", BENCHMARKS)]
        for label, sources in choices:
            print(f"measuring: {label}", file=sys.stderr)
            added = None
            for name in sources:
                added = extra[name] if added is None else joined(added, extra[name])
            ranker, _ = train(base, dev, added)
            path = workdir / f"ranker-{len(rows)}.json"
            ranker.save(path)
            test = evaluate(settings, gold, split="test", modes={"row": {"ranker_file": path}})["modes"]["row"]
            held = {name: benchmark.held_out_ndcg(path) for name, benchmark in benchmarks.items()}
            rows.append((label, ranker.trained, test, held))
            write(args.out, rows, benchmarks, extra)
    print(f"wrote {args.out}", file=sys.stderr)


def write(out: Path, rows: list, benchmarks: dict, extra: dict) -> None:
    lines = ["# The ranker's training data: our dev split, and the benchmarks' training halves (issue 24)", "",
             f"Generated by `python eval/training_sources.py` on {date.today().isoformat()}. "
             + ", ".join(f"{name}: {len(b.train_ids)} training queries ({len(extra[name].labels)} candidate rows, "
                         f"{int(extra[name].labels.sum())} positive), {len(b.held_out)} held out"
                         for name, b in benchmarks.items()) + ". Dev CV: Hit@1 / Hit@3 / MRR@10 of dev candidates "
             "(5 folds by question, benchmark rows only ever in the training part). Test: our test split through "
             "`Assistant.ask`. Held out: nDCG@10 of each benchmark's other half (product chunking, hybrid).", ""]
    head = ["training data", "C", "dev CV", "test all", *[f"test {lang}" for lang in LANGUAGES],
            *[f"held-out {name} nDCG@10" for name in benchmarks]]
    lines += ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for label, trained, test, held in rows:
        cv = trained["cross_validation"]["ranker"]
        cells = [label, str(trained["C"]), f"{cv['hit@1']:.3f} / {cv['hit@3']:.3f} / {cv['mrr@10']:.3f}",
                 f"{test['hit@1']:.3f} / {test['hit@3']:.3f}",
                 *[f"{test['by_language'][lang]['hit@1']:.3f} / {test['by_language'][lang]['hit@3']:.3f}"
                   for lang in LANGUAGES],
                 *[f"{held[name]:.3f}" for name in benchmarks]]
        lines.append("| " + " | ".join(cells) + " |")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
