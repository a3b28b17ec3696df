"""Median time of `Assistant.ask` per question, in one process, with the question cache and
micro-batching off, over the gold file's test questions (20 asked first as a warm-up).

For an A/B between two checkouts (a refactoring that must not cost time), run it alternately with
each checkout's venv on the same index folder, several times, and compare the medians:

    old/.venv/bin/python eval/ask_latency.py --index-dir index   # and new/.venv/bin/python ...

It prints one JSON line: median and mean milliseconds, and the number of questions.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

try:
    from assistant.query.assistant import Assistant
except ImportError:  # a checkout from before the package layout (for an A/B against it)
    from assistant.pipeline import Assistant  # type: ignore[no-redef]
from assistant.settings import Settings

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", type=Path, default=REPO / "index")
    parser.add_argument("--gold", type=Path, default=REPO / "eval" / "gold.jsonl")
    parser.add_argument("--split", default="test")
    args = parser.parse_args()
    settings = Settings(index_dir=args.index_dir, question_cache_size=0, question_batch_window_ms=0)
    assistant = Assistant.open(settings)
    gold = [json.loads(line) for line in args.gold.read_text(encoding="utf-8").splitlines() if line.strip()]
    questions = [q["question"] for q in gold if q.get("split") == args.split]
    for question in questions[:20]:
        assistant.ask(question, 10)
    times = []
    for question in questions:
        started = time.perf_counter()
        assistant.ask(question, 10)
        times.append((time.perf_counter() - started) * 1000)
    print(json.dumps({"median_ms": round(statistics.median(times), 3), "mean_ms": round(statistics.mean(times), 3),
                      "questions": len(times)}))


if __name__ == "__main__":
    main()
