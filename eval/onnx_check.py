"""ONNX Runtime against sentence-transformers (torch) for the english model, on this machine.

Usage: HF_HUB_OFFLINE=1 python eval/onnx_check.py [--rounds 3] [--skip-eval] [--json FILE]

Prints, as Markdown:
1. vectors: min / 1st percentile / median cosine to torch of ONNX fp32 and ONNX int8 over every
   gold question (and per language), and of ONNX fp32 over every corpus passage and sentence;
2. per-question encode time on one thread (torch, ONNX fp32, ONNX int8 interleaved question by
   question in the same run, after a warm-up): median, p90 and the ratios to torch;
3. passage throughput on every core (the corpus' passages and sentences, as an index build
   embeds them; runtimes alternate round by round);
4. a fresh process's start-up: seconds to import, load and encode one question, and its peak RSS;
5. retrieval quality: `assistant eval --split dev|test --json` on a temporary index of ./corpus
   built with torch passage vectors, with questions from torch, ONNX fp32 and ONNX int8, and on
   an index whose passages ONNX encoded too; every metric's difference to torch.

The machine is shared: compare the ratios measured in one run, not absolute figures across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from assistant.ingest.chunking import chunk_document  # noqa: E402
from assistant.ingest.corpus import load_corpus  # noqa: E402
from assistant.embedding import SentenceTransformerEmbedder  # noqa: E402
from assistant.embedding.onnx import OnnxEmbedder, ensure_export  # noqa: E402
from assistant.evaluate.gold import METRIC_COLUMNS, load_gold  # noqa: E402
from assistant.settings import Settings  # noqa: E402

RUNTIMES = ("torch", "onnx fp32", "onnx int8")
# Quality metrics where lower is better; the rest are better higher, except these descriptive ones.
LOWER_IS_BETTER = {"false_abstention_rate"}
DESCRIPTIVE = {"folded@5", "latency_ms_median", "latency_ms_p95"}
QUALITY_DROP_LIMIT = 0.005


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds (default 3)")
    parser.add_argument("--skip-eval", action="store_true", help="skip the retrieval evaluation (section 5)")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = parser.parse_args()

    settings = Settings()
    started = datetime.now(timezone.utc)
    print(f"# ONNX Runtime vs sentence-transformers (`eval/onnx_check.py --rounds {args.rounds}`)\n")
    print(f"Run {started:%Y-%m-%dT%H:%M}Z on {os.cpu_count()} cores, load average at start "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}.\n")
    folder = ensure_export(settings.model_path, settings.onnx_path, int8=True)
    torch_embedder = SentenceTransformerEmbedder(settings.model_path, settings.embed_batch_size)
    embedders = {
        "torch": torch_embedder,
        "onnx fp32": OnnxEmbedder(folder, query_threads=1, passage_threads=0, batch_size=settings.embed_batch_size),
        "onnx int8": OnnxEmbedder(folder, quantization="int8", query_threads=1, passage_threads=0,
                                  batch_size=settings.embed_batch_size),
    }
    gold = load_gold(settings.gold_file)
    questions = [q.question for q in gold]
    languages = [q.lang for q in gold]
    passages, sentences = corpus_texts(settings)
    report: dict = {"started": started.isoformat(timespec="seconds"), "export": str(folder)}

    report["vectors"] = vector_section(embedders, questions, languages, passages + sentences)
    report["question_ms"] = question_timing_section(embedders, questions, args.rounds)
    report["passages_per_s"] = passage_section(embedders, passages + sentences, args.rounds)
    report["start_up"] = start_up_section(folder, args.rounds)
    if not args.skip_eval:
        report["eval"] = eval_section(settings)
    print(f"Finished in {(datetime.now(timezone.utc) - started).total_seconds() / 60:.1f} min, load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}.")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def corpus_texts(settings: Settings) -> tuple[list[str], list[str]]:
    """The passages and sentences an index build of ./corpus embeds."""
    passages = []
    for document in load_corpus(settings.corpus_dir, settings.extraction_limits):
        passages.extend(chunk_document(document, settings.chunk_target_chars, settings.chunk_max_chars,
                                       first_id=len(passages)))
    return [p.text for p in passages], [p.text[s:e] for p in passages for s, e in p.sentences]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def vector_section(embedders: dict, questions: list[str], languages: list[str], texts: list[str]) -> dict:
    print(f"## 1. Vectors: cosine to torch\n\nGold questions: {len(questions)}; corpus passages and sentences: "
          f"{len(texts)}.\n")
    print("| vectors | n | min | 1st percentile | median | " + " | ".join(f"min ({lang})" for lang in sorted(set(languages)))
          + " |")
    print("|---|---|---|---|---|" + "---|" * len(set(languages)))
    reference = embedders["torch"].encode_queries(questions)
    figures = {}
    for runtime in RUNTIMES[1:]:
        similarity = cosines(embedders[runtime].encode_queries(questions), reference)
        by_language = {lang: float(similarity[[i for i, l in enumerate(languages) if l == lang]].min())
                       for lang in sorted(set(languages))}
        figures[f"questions, {runtime}"] = row = _summary(similarity) | {"by_language": by_language}
        print(f"| gold questions, {runtime} | {len(questions)} | {row['min']:.7f} | {row['p1']:.7f} | {row['median']:.7f} | "
              + " | ".join(f"{v:.7f}" for v in by_language.values()) + " |")
    similarity = cosines(embedders["onnx fp32"].encode_passages(texts), embedders["torch"].encode_passages(texts))
    figures["passages, onnx fp32"] = row = _summary(similarity)
    print(f"| corpus passages + sentences, onnx fp32 | {len(texts)} | {row['min']:.7f} | {row['p1']:.7f} | "
          f"{row['median']:.7f} |" + " |" * len(set(languages)))
    print()
    return figures


def _summary(similarity: np.ndarray) -> dict:
    return {"min": float(similarity.min()), "p1": float(np.percentile(similarity, 1)),
            "median": float(np.median(similarity))}


def question_timing_section(embedders: dict, questions: list[str], rounds: int) -> dict:
    """One question per call on one thread, as a lone user's question is encoded when serving;
    the runtimes take turns question by question (rotating who goes first) so load hits all."""
    import torch

    torch.set_num_threads(1)
    for embedder in embedders.values():  # warm-up: load, first-call allocations
        for question in questions[:20]:
            embedder.encode_queries([question])
    times: dict[str, list[float]] = {runtime: [] for runtime in RUNTIMES}
    order = list(range(len(questions)))
    for round_number in range(rounds):
        random.Random(round_number).shuffle(order)
        for turn, i in enumerate(order):
            for runtime in RUNTIMES[turn % 3:] + RUNTIMES[: turn % 3]:
                began = time.perf_counter()
                embedders[runtime].encode_queries([questions[i]])
                times[runtime].append((time.perf_counter() - began) * 1000)
    figures = {runtime: {"median": statistics.median(values), "p90": float(np.percentile(values, 90))}
               for runtime, values in times.items()}
    print(f"## 2. Encoding one question, one thread (ms; {len(questions)} gold questions x {rounds} rounds, "
          "interleaved)\n")
    print("| runtime | median | p90 | torch median / this median |")
    print("|---|---|---|---|")
    for runtime, row in figures.items():
        ratio = figures["torch"]["median"] / row["median"]
        row["speed-up"] = ratio
        print(f"| {runtime} | {row['median']:.2f} | {row['p90']:.2f} | {ratio:.2f}x |")
    print()
    return figures


def passage_section(embedders: dict, texts: list[str], rounds: int) -> dict:
    """Passages as an index build encodes them: every core, batches of `embed_batch_size`,
    longest first."""
    import torch

    cores = len(os.sched_getaffinity(0))
    torch.set_num_threads(cores)
    runtimes = ("torch", "onnx fp32")
    for runtime in runtimes:
        embedders[runtime].encode_passages(texts[:64])
    rates: dict[str, list[float]] = {runtime: [] for runtime in runtimes}
    for round_number in range(rounds):
        for runtime in runtimes if round_number % 2 == 0 else runtimes[::-1]:
            began = time.perf_counter()
            embedders[runtime].encode_passages(texts)
            rates[runtime].append(len(texts) / (time.perf_counter() - began))
    figures = {runtime: statistics.median(values) for runtime, values in rates.items()}
    print(f"## 3. Encoding passages, {cores} threads (texts per second; {len(texts)} corpus passages and sentences x "
          f"{rounds} rounds, alternating)\n")
    print("| runtime | median | rounds | this / torch |")
    print("|---|---|---|---|")
    for runtime in runtimes:
        print(f"| {runtime} | {figures[runtime]:.0f} | {' / '.join(f'{v:.0f}' for v in rates[runtime])} | "
              f"{figures[runtime] / figures['torch']:.2f}x |")
    print()
    return {"median": figures, "rounds": rates}


START_UP = {
    "torch": "from assistant.embedding import SentenceTransformerEmbedder as E; e = E()",
    "onnx fp32": "from assistant.embedding.onnx import OnnxEmbedder as E; e = E(Path(FOLDER))",
    "onnx int8": "from assistant.embedding.onnx import OnnxEmbedder as E; e = E(Path(FOLDER), quantization='int8')",
}


def start_up_section(folder: Path, rounds: int) -> dict:
    """A fresh process: import the runtime, load the model, encode one question (what
    `assistant ask` pays before it can search), and the process's peak resident memory."""
    figures: dict[str, dict[str, list[float]]] = {runtime: {"seconds": [], "peak_rss_mb": []} for runtime in START_UP}
    for round_number in range(rounds):
        for runtime in list(START_UP)[round_number % 3:] + list(START_UP)[: round_number % 3]:
            # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the forked parent.
            script = ("import time, re, sys; began = time.perf_counter(); from pathlib import Path; "
                      f"FOLDER = {str(folder)!r}; {START_UP[runtime]}; e.encode_queries(['Is sex work legal?']); "
                      "peak = int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)); "
                      "print(time.perf_counter() - began, peak / 1024, 'torch' in sys.modules)")
            output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                                    cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"}).stdout.split()
            figures[runtime]["seconds"].append(float(output[0]))
            figures[runtime]["peak_rss_mb"].append(float(output[1]))
            figures[runtime]["imports_torch"] = output[2] == "True"
    print(f"## 4. A fresh process: import, load, encode one question ({rounds} processes each, medians)\n")
    print("| runtime | seconds | peak RSS (MB) | imports torch |")
    print("|---|---|---|---|")
    for runtime, row in figures.items():
        print(f"| {runtime} | {statistics.median(row['seconds']):.2f} | {statistics.median(row['peak_rss_mb']):.0f} | "
              f"{'yes' if row['imports_torch'] else 'no'} |")
    print()
    return figures


EVAL_CONFIGS = {
    # name: (how the index's passages are encoded, environment for `assistant eval`)
    "torch": ("torch", {"ASSISTANT_QUERY_RUNTIME": "torch"}),
    "onnx fp32": ("torch", {"ASSISTANT_QUERY_RUNTIME": "onnx", "ASSISTANT_ONNX_QUANTIZATION": "none"}),
    "onnx int8": ("torch", {"ASSISTANT_QUERY_RUNTIME": "onnx", "ASSISTANT_ONNX_QUANTIZATION": "int8"}),
    "onnx fp32, onnx passages": ("onnx", {"ASSISTANT_QUERY_RUNTIME": "onnx", "ASSISTANT_ONNX_QUANTIZATION": "none"}),
}


def eval_section(settings: Settings) -> dict:
    """`assistant eval --json` per configuration and split, in fresh processes, on temporary
    indexes of ./corpus (one with torch passage vectors, one with ONNX ones)."""
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="onnx-check-") as workdir:
        base_env = {**os.environ, "ASSISTANT_ONNX_DIR": str(settings.onnx_path),
                    "ASSISTANT_EMBEDDING_CACHE_DIR": str(Path(workdir) / "cache"),
                    "ASSISTANT_CORPUS_DIR": str(settings.corpus_dir)}
        for passages in ("torch", "onnx"):
            index_env = {**base_env, "ASSISTANT_INDEX_DIR": str(Path(workdir) / f"index-{passages}"),
                         "ASSISTANT_PASSAGE_RUNTIME": passages, "ASSISTANT_QUERY_RUNTIME": passages,
                         # each index encodes its passages afresh, not from the other's cache
                         "ASSISTANT_EMBEDDING_CACHE_DIR": str(Path(workdir) / f"cache-{passages}")}
            _run(["index"], index_env)
            for name, (built_with, env) in EVAL_CONFIGS.items():
                if built_with != passages:
                    continue
                for split in ("dev", "test"):
                    output = _run(["eval", "--split", split, "--json"], {**index_env, **env})
                    results.setdefault(split, {})[name] = json.loads(output)["modes"]
    print("## 5. Retrieval quality: `assistant eval --split dev|test` (differences to the torch row)\n")
    print("Indexes of ./corpus built in this run: passages encoded with torch (rows torch, onnx fp32, onnx int8) or "
          "with ONNX fp32 (row \"onnx fp32, onnx passages\"). `ASSISTANT_QUERY_RUNTIME`, "
          "`ASSISTANT_ONNX_QUANTIZATION` and `ASSISTANT_PASSAGE_RUNTIME` select the runtime. A quality drop is a "
          f"change for the worse (lower, or higher for {', '.join(sorted(LOWER_IS_BETTER))}); "
          f"{', '.join(sorted(DESCRIPTIVE))} are shown but not judged.\n")
    summary: dict = {}
    for split, by_config in results.items():
        reference = by_config["torch"]
        print(f"### {split}\n")
        columns = [c for c in METRIC_COLUMNS]
        print("| questions | mode | " + " | ".join(columns) + " |")
        print("|---|---|" + "---|" * len(columns))
        for mode, metrics in reference.items():
            print(f"| torch (value) | {mode} | " + " | ".join(_cell(metrics.get(c)) for c in columns) + " |")
        for name in list(by_config)[1:]:
            worst = 0.0
            for mode, metrics in by_config[name].items():
                deltas = [_delta(metrics.get(c), reference[mode].get(c)) for c in columns]
                print(f"| {name} (difference) | {mode} | " + " | ".join(_signed(d) for d in deltas) + " |")
                for column, delta in zip(columns, deltas):
                    if delta is not None and column not in DESCRIPTIVE:
                        worse = delta if column in LOWER_IS_BETTER else -delta
                        worst = max(worst, worse)
            summary.setdefault(name, {})[split] = worst
        print()
    print("Largest quality drop against torch questions, any mode and metric:\n")
    print("| questions | " + " | ".join(results) + " | within 0.005 |")
    print("|---|" + "---|" * (len(results) + 1))
    for name, by_split in summary.items():
        print(f"| {name} | " + " | ".join(f"{by_split[s]:.4f}" for s in results) + " | "
              f"{'yes' if max(by_split.values()) <= QUALITY_DROP_LIMIT else 'no'} |")
    print()
    return {"metrics": results, "largest_drop": summary}


def _run(arguments: list[str], env: dict) -> str:
    result = subprocess.run([sys.executable, "-m", "assistant.cli", *arguments], capture_output=True, text=True,
                            env=env, cwd=REPO)
    if result.returncode != 0:
        raise SystemExit(f"`assistant {' '.join(arguments)}` failed: {result.stderr.strip()[-2000:]}")
    return result.stdout


def _delta(value, reference) -> float | None:
    if isinstance(value, (int, float)) and isinstance(reference, (int, float)):
        return float(value) - float(reference)
    return None


def _signed(delta: float | None) -> str:
    return "–" if delta is None else f"{delta:+.4f}"


def _cell(value) -> str:
    return "–" if value is None else (f"{value:.4f}" if isinstance(value, float) else str(value))


if __name__ == "__main__":
    main()
