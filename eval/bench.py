"""Benchmarks of the seed corpus; writes eval/bench.md (`make bench`).

- index build time and passages per second (fresh embedding, no embedding cache);
- in-process per-stage times of `Assistant.ask` (embed question, dense search, lexical search,
  fusion, answer composition) and the total, median and p95 over the gold questions, with the
  question cache cold and warm;
- end-to-end HTTP on loopback with `wrk` (Debian package) and eval/bench.lua: 1, 8, 16 and 32
  concurrent connections, median, p95, requests/s, errors, against real `assistant serve`
  processes in three configurations (default; question cache off; cache and batching off), so the
  effect of each lever is a ratio measured in the same run;
- cold start (process start to first answer) and peak resident memory (VmHWM) of each server.

Everything is measured `--runs` times (default 2) in one invocation; each run's figures and their
median are reported with the core count and the date. Only 127.0.0.1 is contacted.

Usage: HF_HUB_OFFLINE=1 .venv/bin/python eval/bench.py [--runs 2] [--seconds 8] [--out eval/bench.md]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from assistant.answer import Answer, abstain_reason, sources_span  # noqa: E402
from assistant.batching import QuestionEncoder  # noqa: E402
from assistant.embedding import ENGLISH, Embedder, create_embedders  # noqa: E402
from assistant.index import build_index  # noqa: E402
from assistant.pipeline import Assistant, use_query_threads  # noqa: E402
from assistant.fusion import score_fusion  # noqa: E402
from assistant.tokens import tokenize  # noqa: E402
from assistant.settings import Settings  # noqa: E402

CONCURRENCY = [1, 8, 16, 32]
SERVERS = {  # name -> environment of `assistant serve`
    "default (cache + batching)": {},
    "cache off": {"ASSISTANT_QUESTION_CACHE_SIZE": "0"},
    "cache off, batching off": {"ASSISTANT_QUESTION_CACHE_SIZE": "0", "ASSISTANT_QUESTION_BATCH_WINDOW_MS": "0"},
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q / 100 * len(ordered))) - 1))]


def machine() -> str:
    cpu = platform.processor() or ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{os.cpu_count()} cores ({cpu}), load average at start {load}"


# --- in process ---------------------------------------------------------------------------------

def stage_times(assistant: Assistant, question: str, encoder: QuestionEncoder, k: int = 5) -> dict[str, float]:
    """`Assistant.ask` split at its stages (the same calls in the same order; keep in step with it)."""
    settings = assistant.settings
    t0 = time.perf_counter()
    vector = encoder.encode(question)
    t1 = time.perf_counter()
    candidates = max(settings.candidates, k)
    index = assistant.index
    dense = assistant._dense_hits(index, ENGLISH, vector, candidates)
    t2 = time.perf_counter()
    expansions = assistant.glossary.expansions(question) if settings.use_glossary else []
    tokens = tokenize(" ".join([question, *expansions]))
    lexical = index.backend.search_lexical(tokens, candidates)
    as_asked = index.backend.search_lexical(tokenize(question), candidates) if expansions else None
    t3 = time.perf_counter()
    hybrid = score_fusion(dense, lexical, settings.fusion_dense_weight, settings.lexical_saturation)
    evidence = score_fusion(dense, as_asked, settings.fusion_dense_weight, settings.lexical_saturation) \
        if as_asked is not None else hybrid
    t4 = time.perf_counter()
    reason = abstain_reason(evidence=evidence[0].score if evidence else 0.0,
                            unknown_terms=assistant.coverage.unknown_terms(question),
                            min_evidence=settings.abstain_min_evidence)
    results = assistant._results(index, hybrid, k, vector, set(tokens))
    Answer(question=question, abstained=reason is not None, abstain_reason=reason,
           sources_span=sources_span(results, settings.span_min_years), results=results)
    t5 = time.perf_counter()
    return {"embed question": t1 - t0, "dense search": t2 - t1, "lexical search": t3 - t2, "fusion": t4 - t3,
            "answer composition": t5 - t4, "sum of stages": t5 - t0}


def in_process(assistant: Assistant, questions: list[str]) -> dict:
    embedder = assistant.embedders[ENGLISH]
    out: dict = {}
    cold = QuestionEncoder.from_settings(embedder, Settings(), cache_size=0, window_ms=0)
    warm = QuestionEncoder.from_settings(embedder, Settings())
    for question in questions:
        warm.encode(question)
    for label, encoder in (("cache cold", cold), ("cache warm", warm)):
        stages: dict[str, list[float]] = {}
        for question in questions:
            for stage, seconds in stage_times(assistant, question, encoder).items():
                stages.setdefault(stage, []).append(seconds * 1000)
        out[label] = {stage: (statistics.median(v), percentile(v, 95)) for stage, v in stages.items()}
    # `ask` itself, end to end, as the API calls it.
    for label, encoder in (("ask, cache cold", QuestionEncoder.from_settings(embedder, Settings(), cache_size=0, window_ms=0)),
                           ("ask, cache warm", warm)):
        assistant._encoders[ENGLISH] = encoder
        times = []
        for question in questions:
            started = time.perf_counter()
            assistant.ask(question, 5)
            times.append((time.perf_counter() - started) * 1000)
        out[label] = (statistics.median(times), percentile(times, 95))
    assistant._encoders.pop(ENGLISH, None)
    return out


def encoder_batches(embedder: Embedder, questions: list[str]) -> dict[int, float]:
    """Median ms per question when encoding batches of n questions in one call."""
    out = {}
    for n in (1, 4, 8, 16):
        times = []
        for first in range(0, min(len(questions), 96) - n + 1, n):
            started = time.perf_counter()
            embedder.encode_queries(questions[first:first + n])
            times.append((time.perf_counter() - started) * 1000 / n)
        out[n] = statistics.median(times)
    return out


# --- HTTP ---------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ask_once(port: int, question: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("POST", "/api/ask", body=json.dumps({"question": question}),
                       headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    response.read()
    return response.status


def start_server(index_dir: Path, extra_env: dict, question: str) -> tuple[subprocess.Popen, int, float]:
    """A real `assistant serve`; returns it, its port and the seconds from process start to the
    first answer of `/api/ask`."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ASSISTANT_INDEX_DIR": str(index_dir), **extra_env}
    started = time.perf_counter()
    process = subprocess.Popen([str(Path(sys.executable).parent / "assistant"), "serve", "--host", "127.0.0.1",
                                "--port", str(port)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    while True:
        if process.poll() is not None:
            raise SystemExit(f"`assistant serve` exited with code {process.returncode}")
        try:
            if ask_once(port, question) == 200:
                return process, port, time.perf_counter() - started
        except OSError:
            pass
        if time.perf_counter() - started > 300:
            process.kill()
            raise SystemExit("the server gave no answer within 300 s")
        time.sleep(0.05)


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wrk(port: int, connections: int, seconds: int, bodies: Path) -> dict:
    threads = max(1, min(2, connections))
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--timeout", "10s",
               "-s", str(ROOT / "eval" / "bench.lua"), f"http://127.0.0.1:{port}"]
    output = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "BENCH_BODIES": str(bodies)},
                            check=True).stdout
    found = re.search(r"WRK-JSON (\{.*\})", output)
    if not found:
        raise SystemExit(f"no summary from wrk:\n{output}")
    raw = json.loads(found.group(1))
    errors = raw["connect"] + raw["read"] + raw["write"] + raw["status"] + raw["timeout"]
    return {"connections": connections, "requests": raw["requests"],
            "rps": raw["requests"] / (raw["duration_us"] / 1e6), "p50_ms": raw["p50_us"] / 1000,
            "p95_ms": raw["p95_us"] / 1000, "p99_ms": raw["p99_us"] / 1000, "errors": errors}


def http_runs(index_dir: Path, questions: list[str], seconds: int, workdir: Path) -> dict:
    bodies = workdir / "bodies.jsonl"
    bodies.write_text("".join(json.dumps({"question": q, "k": 5}) + "\n" for q in questions))
    out = {}
    for name, env in SERVERS.items():
        process, port, cold = start_server(index_dir, env, questions[0])
        try:
            wrk(port, 8, 2, bodies)  # warm-up (fills the cache where it is on)
            rows = [wrk(port, c, seconds, bodies) for c in CONCURRENCY]
            out[name] = {"cold_start_s": cold, "peak_rss_mib": peak_rss_mib(process.pid), "rows": rows}
        finally:
            process.terminate()
            process.wait(timeout=30)
    return out


# --- report -------------------------------------------------------------------------------------

def one_run(settings_dir: Path, embedders: dict[str, Embedder], questions: list[str], seconds: int) -> dict:
    settings = Settings(index_dir=settings_dir)
    shutil.rmtree(settings_dir, ignore_errors=True)
    settings_dir.mkdir(parents=True)
    torch_threads = None
    started = time.perf_counter()
    index = build_index(settings, embedders, progress=False)
    build = time.perf_counter() - started
    passages, sentences = index.manifest["passages"], index.manifest["sentences"]
    use_query_threads(settings)
    import torch

    torch_threads = torch.get_num_threads()
    assistant = Assistant(index, embedders, settings)
    assistant.ask("warm-up question", 5)
    result = {"build_s": build, "passages": passages, "sentences": sentences, "torch_threads": torch_threads,
              "in_process": in_process(assistant, questions), "batches": encoder_batches(embedders[ENGLISH], questions)}
    torch.set_num_threads(os.cpu_count() or 1)  # index builds use every core
    result["http"] = http_runs(settings_dir, questions, seconds, settings_dir.parent)
    return result


def med(values):
    return statistics.median(values)


def report(runs: list[dict], started: str, machine_line: str, seconds: int) -> str:
    tag = f"{os.cpu_count()} cores, {started[:10]}"
    lines = [
        "# Benchmarks (seed corpus)",
        "",
        f"Generated by `eval/bench.py` (`make bench`) on {started}; machine: {machine_line}. "
        f"{len(runs)} runs in one invocation: each cell is `median of runs (run 1 / run 2 ...)`. "
        "The machine is shared with other jobs, so compare the ratios measured in the same run rather than "
        "absolute figures across invocations.",
        "",
        f"Corpus: {runs[0]['passages']} passages, {runs[0]['sentences']} sentences. "
        f"Query-time torch threads: {runs[0]['torch_threads']}.",
        "",
        "## Index build",
        "",
        f"| figure [{tag}] | value |",
        "| --- | --- |",
        f"| build time, model loaded, no embedding cache (s) | {_cell([r['build_s'] for r in runs], 1)} |",
        f"| passages per second (passages + sentences are both embedded) | "
        f"{_cell([r['passages'] / r['build_s'] for r in runs], 0)} |",
        f"| texts embedded per second (passages + sentences) | "
        f"{_cell([(r['passages'] + r['sentences']) / r['build_s'] for r in runs], 0)} |",
        "",
        "## In process: `Assistant.ask` by stage (ms, over the gold questions, k=5)",
        "",
        f"| stage [{tag}] | cache cold: median | p95 | cache warm: median | p95 |",
        "| --- | --- | --- | --- | --- |",
    ]
    for stage in runs[0]["in_process"]["cache cold"]:
        cold = [r["in_process"]["cache cold"][stage] for r in runs]
        warm = [r["in_process"]["cache warm"][stage] for r in runs]
        lines.append(f"| {stage} | {_cell([c[0] for c in cold])} | {_cell([c[1] for c in cold])} | "
                     f"{_cell([w[0] for w in warm])} | {_cell([w[1] for w in warm])} |")
    for label in ("ask, cache cold", "ask, cache warm"):
        values = [r["in_process"][label] for r in runs]
        lines.append(f"| **`ask` total, {label.split(', ')[1]}** | {_cell([v[0] for v in values])} | "
                     f"{_cell([v[1] for v in values])} | | |")
    lines += ["", "Cache effect in process (same run): `ask` median cold / warm = "
              + _cell([r["in_process"]["ask, cache cold"][0] / r["in_process"]["ask, cache warm"][0] for r in runs])
              + "x.", "",
              f"Encoder cost per question by batch size (ms, one call for n questions) [{tag}]:", "",
              "| n | " + " | ".join(str(n) for n in runs[0]["batches"]) + " |",
              "| --- |" + " --- |" * len(runs[0]["batches"]),
              "| ms per question | " + " | ".join(_cell([r["batches"][n] for r in runs]) for n in runs[0]["batches"]) + " |",
              "", f"## HTTP on loopback (`wrk`, {seconds} s per row, POST /api/ask over the gold questions in turn)", ""]
    for name in SERVERS:
        lines += [f"### server: {name}", "",
                  f"Cold start (process start to first answer): {_cell([r['http'][name]['cold_start_s'] for r in runs], 1)} s; "
                  f"peak RSS (VmHWM): {_cell([r['http'][name]['peak_rss_mib'] for r in runs], 0)} MiB [{tag}].", "",
                  f"| clients [{tag}] | median ms | p95 ms | requests/s | errors |", "| --- | --- | --- | --- | --- |"]
        for i, c in enumerate(CONCURRENCY):
            rows = [r["http"][name]["rows"][i] for r in runs]
            lines.append(f"| {c} | {_cell([x['p50_ms'] for x in rows])} | {_cell([x['p95_ms'] for x in rows])} | "
                         f"{_cell([x['rps'] for x in rows], 0)} | {sum(x['errors'] for x in rows)} |")
        lines.append("")
    names = list(SERVERS)
    lines += [f"### Levers, as ratios of requests/s in the same run [{tag}]", "",
              "| clients | cache: default / cache off | batching: cache off / cache and batching off |",
              "| --- | --- | --- |"]
    for i, c in enumerate(CONCURRENCY):
        cache = [r["http"][names[0]]["rows"][i]["rps"] / r["http"][names[1]]["rows"][i]["rps"] for r in runs]
        batch = [r["http"][names[1]]["rows"][i]["rps"] / r["http"][names[2]]["rows"][i]["rps"] for r in runs]
        lines.append(f"| {c} | {_cell(cache, 2)}x | {_cell(batch, 2)}x |")
    lines.append("")
    lines += targets(runs, tag)
    return "\n".join(lines) + "\n"


def targets(runs: list[dict], tag: str) -> list[str]:
    default = list(SERVERS)[0]
    nocache = list(SERVERS)[1]

    def row(name, c, key):
        return med([r["http"][name]["rows"][CONCURRENCY.index(c)][key] for r in runs])

    checks = [
        ("in-process answer median <= 8 ms (cache cold / warm)", f"{med([r['in_process']['ask, cache cold'][0] for r in runs]):.1f} / "
         f"{med([r['in_process']['ask, cache warm'][0] for r in runs]):.1f} ms"),
        ("HTTP median <= 12 ms at 1 client (default / cache off)", f"{row(default, 1, 'p50_ms'):.1f} / {row(nocache, 1, 'p50_ms'):.1f} ms"),
        (">= 200 requests/s at 16 clients, zero errors (default / cache off)",
         f"{row(default, 16, 'rps'):.0f} / {row(nocache, 16, 'rps'):.0f} req/s, "
         f"{sum(r['http'][n]['rows'][CONCURRENCY.index(16)]['errors'] for r in runs for n in SERVERS)} errors"),
        ("cold start <= 8 s", f"{med([r['http'][default]['cold_start_s'] for r in runs]):.1f} s"),
    ]
    return ["## Against the targets", "", f"| target [{tag}] | measured (median of runs) |", "| --- | --- |"] + \
        [f"| {a} | {b} |" for a, b in checks]


def _cell(values: list[float], digits: int = 1) -> str:
    middle = f"{med(values):.{digits}f}"
    if len(values) == 1:
        return middle
    return f"{middle} ({' / '.join(f'{v:.{digits}f}' for v in values)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=8, help="wrk duration per row")
    parser.add_argument("--out", type=Path, default=ROOT / "eval" / "bench.md")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    started = datetime.now(timezone.utc).isoformat(timespec="minutes")
    machine_line = machine()
    gold = ROOT / "eval" / "gold.jsonl"
    questions = [json.loads(line)["question"] for line in gold.read_text().splitlines() if line.strip()]
    embedders = create_embedders(Settings())
    embedders[ENGLISH].encode_queries(["load the model before timing"])
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        for number in range(args.runs):
            print(f"run {number + 1} of {args.runs} ...", file=sys.stderr, flush=True)
            runs.append(one_run(Path(tmp) / "index", embedders, questions, args.seconds))
    text = report(runs, started, machine_line, args.seconds)
    args.out.write_text(text)
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1, default=str))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
