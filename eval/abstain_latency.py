"""What the answerability model adds to answering a question: the time of the abstain stage with the
model (`AbstainByModel`: the place check, the question's features, the dot product) against the
stage without it (`Abstain`: the place check and the evidence floor), on the same questions.

Each question of the split is retrieved once (so the passages' token sets the ranker already
needed are made, as in `ask`), then both stages are timed on it alternately, `--repeats` times,
each with its own fresh copy of the question's state; the place check and the features keep no
cache between questions. Prints one JSON line: per-question median microseconds of each stage,
the median added time and the ratio.

Usage: python eval/abstain_latency.py [--split test] [--repeats 5]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from assistant.evaluate.gold import load_gold, select
from assistant.query.assistant import Assistant
from assistant.query.compose import Abstain, AbstainByModel
from assistant.settings import Settings

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="test")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    settings = Settings(question_cache_size=0, question_batch_window_ms=0)
    assistant = Assistant.open(settings)
    assistant.warm_up()
    _ = assistant.index.token_passages  # built once per index, at warm-up in the server
    stages = {"floor": Abstain(), "model": AbstainByModel()}
    times: dict[str, list[float]] = {name: [] for name in stages}
    added: list[float] = []
    for question in select(load_gold(settings.gold_file), split=args.split):
        found = assistant.retrieve(question.question, settings.default_k)
        per_question: dict[str, list[float]] = {name: [] for name in stages}
        for _ in range(args.repeats):
            for name, stage in stages.items():
                query = copy.copy(found)
                started = time.perf_counter()
                stage(query, assistant)
                per_question[name].append((time.perf_counter() - started) * 1e6)
        medians = {name: statistics.median(values) for name, values in per_question.items()}
        for name, value in medians.items():
            times[name].append(value)
        added.append(medians["model"] - medians["floor"])
    floor, model = statistics.median(times["floor"]), statistics.median(times["model"])
    print(json.dumps({"split": args.split, "questions": len(added), "repeats": args.repeats,
                      "floor_us_median": round(floor, 1), "model_us_median": round(model, 1),
                      "added_us_median": round(statistics.median(added), 1),
                      "added_us_p95": round(sorted(added)[int(0.95 * (len(added) - 1))], 1),
                      "ratio": round(model / floor, 2)}))


if __name__ == "__main__":
    main()
