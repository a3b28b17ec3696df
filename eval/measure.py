"""Index build time, passage count and in-process query latency (issue 2's figures).

Usage: python eval/measure.py [--questions 100] [--builds 3]
Builds the index of ./corpus into a temporary folder `--builds` times (median reported), then
times `Assistant.ask` over the first N gold questions, after one warm-up question.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from assistant.embedding import ENGLISH, create_embedders
from assistant.evaluation import load_gold
from assistant.index import build_index
from assistant.pipeline import Assistant
from assistant.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--builds", type=int, default=3)
    args = parser.parse_args()
    embedders = create_embedders(Settings())
    embedders[ENGLISH].encode_queries(["load the model before timing"])
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(index_dir=Path(tmp))
        build_times = []
        for _ in range(args.builds):
            started = time.perf_counter()
            index = build_index(settings, embedders, progress=False)
            build_times.append(time.perf_counter() - started)
        assistant = Assistant(index, embedders, settings)
        questions = [q.question for q in load_gold(settings.gold_file)][: args.questions]
        assistant.ask("warm-up", 5)
        latencies = []
        for question in questions:
            started = time.perf_counter()
            assistant.ask(question, 5)
            latencies.append((time.perf_counter() - started) * 1000)
    latencies.sort()
    print(f"machine: {os.cpu_count()} cores; date: {date.today().isoformat()}")
    print(f"documents: {index.manifest['documents']}, passages: {index.manifest['passages']}, sentences: {index.manifest['sentences']}")
    print(f"index build (model already loaded), median of {args.builds}: {statistics.median(build_times):.2f} s "
          f"(runs: {', '.join(f'{t:.2f}' for t in build_times)})")
    print(f"query latency over {len(latencies)} questions, k=5: median {statistics.median(latencies):.1f} ms, "
          f"p95 {latencies[int(0.95 * len(latencies)) - 1]:.1f} ms")


if __name__ == "__main__":
    main()
