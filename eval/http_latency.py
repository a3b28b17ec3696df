"""End-to-end latency of `POST /api/ask` over loopback: median and p95 of sequential requests.

Starts a real `assistant serve` on 127.0.0.1 (a free port) unless `--url` points at one already
running, warms it up, then sends the gold questions in turn over one keep-alive connection, as a
browser would. Usage:

    HF_HUB_OFFLINE=1 .venv/bin/python eval/http_latency.py [--requests 200] [--k 5] [--url URL] [--json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--url", help="a running server, e.g. http://127.0.0.1:8000 (default: start one)")
    parser.add_argument("--gold", type=Path, default=ROOT / "eval" / "gold.jsonl")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    questions = [json.loads(line)["question"] for line in args.gold.read_text().splitlines() if line.strip()]
    server = None
    url = args.url
    if url is None:
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        server = subprocess.Popen([str(Path(sys.executable).parent / "assistant"), "serve", "--port", str(port)],
                                  env=env, cwd=ROOT, stderr=subprocess.DEVNULL)
    try:
        parts = urlsplit(url)
        _wait_ready(parts.hostname, parts.port, server)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        for question in questions[: args.warmup]:
            _ask(connection, question, args.k)
        timings = []
        for i in range(args.requests):
            started = time.perf_counter()
            _ask(connection, questions[i % len(questions)], args.k)
            timings.append((time.perf_counter() - started) * 1000)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)

    timings.sort()
    report = {
        "requests": len(timings),
        "k": args.k,
        "median_ms": round(statistics.median(timings), 1),
        "p95_ms": round(timings[max(0, int(round(0.95 * len(timings))) - 1)], 1),
        "min_ms": round(timings[0], 1),
        "max_ms": round(timings[-1], 1),
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(f"POST /api/ask, {report['requests']} sequential requests, k={args.k}, loopback: "
              f"median {report['median_ms']} ms, p95 {report['p95_ms']} ms "
              f"(min {report['min_ms']}, max {report['max_ms']})")
    return 0


def _ask(connection: http.client.HTTPConnection, question: str, k: int) -> None:
    connection.request("POST", "/api/ask", body=json.dumps({"question": question, "k": k}),
                       headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise SystemExit(f"POST /api/ask answered {response.status}: {body[:200]!r}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(host: str, port: int, server: subprocess.Popen | None, timeout: float = 300) -> None:
    """The server may be (re)building the index first; wait for /healthz."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server is not None and server.poll() is not None:
            raise SystemExit(f"`assistant serve` exited with code {server.returncode}")
        try:
            connection = http.client.HTTPConnection(host, port, timeout=5)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.25)
    raise SystemExit(f"no answer from http://{host}:{port}/healthz after {timeout:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
