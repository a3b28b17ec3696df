"""Hostile and crowded clients against a real `assistant serve` (issue 28, item 4): what the server
does with them, in figures. Results: eval/server_limits.md.

    idle:  CONNECTIONS connections that send half a request line and wait, against a server whose
           open-file limit is OPEN_FILES; /healthz is asked once a second for SECONDS. Prints the
           statuses, how many idle connections the server closed, and the bytes it wrote to stderr.
    flood: CLIENTS clients asking questions without pause for SECONDS (each waits at most 10 s for
           an answer). Prints the statuses, the timeouts, and whether 503s carried Retry-After.

    .venv/bin/python eval/server_limits.py idle --index /tmp/index --connections 1100 --open-files 1024
    .venv/bin/python eval/server_limits.py flood --index /tmp/index --clients 256

The code served is the `assistant` package Python imports (PYTHONPATH), so the same script measures
another checkout.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(port: int, path: str, timeout: float) -> int | str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    except (OSError, http.client.HTTPException) as error:
        return type(error).__name__
    finally:
        connection.close()


def start(index: Path | None, open_files: int | None, stderr: Path) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    command = [sys.executable, "-m", "assistant.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    if index is not None:
        command += ["--index", str(index)]

    def limit() -> None:
        if open_files:
            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

    with stderr.open("wb") as err:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, preexec_fn=limit,
                                   env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline = time.monotonic() + 300
    while _get(port, "/healthz", 5) != 200:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"the server did not start: {stderr.read_text()[-2000:]}")
        time.sleep(0.5)
    return process, port


def idle(port: int, stderr: Path, connections: int, seconds: float) -> dict:
    before = stderr.stat().st_size
    crowd = []
    for _ in range(connections):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: loc")
        crowd.append(sock)
    started, statuses = time.monotonic(), []
    while time.monotonic() - started < seconds:
        asked = time.monotonic()
        status = _get(port, "/healthz", 10)
        statuses.append(f"{status} in {time.monotonic() - asked:.1f} s")
        time.sleep(max(0.0, 1 - (time.monotonic() - asked)))
    closed = 0
    for sock in crowd:
        sock.setblocking(False)
        try:
            closed += not sock.recv(65536)
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        sock.close()
    return {"idle connections": connections, "closed by the server": closed, "healthz": statuses,
            "stderr bytes": stderr.stat().st_size - before, "seconds": round(time.monotonic() - started, 1)}


def flood(port: int, clients: int, seconds: float, questions: list[str]) -> dict:
    statuses: Counter = Counter()
    retry_after: Counter = Counter()
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(number: int) -> None:
        i = number
        while time.monotonic() < stop:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                connection.request("POST", "/api/ask", body=json.dumps({"question": questions[i % len(questions)]}),
                                   headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                outcome: int | str = response.status
                if response.status == 503:
                    with lock:
                        retry_after[response.getheader("retry-after")] += 1
            except (OSError, http.client.HTTPException) as error:
                outcome = type(error).__name__
            finally:
                connection.close()
            with lock:
                statuses[outcome] += 1
            if outcome == 503:
                time.sleep(0.5)  # a client that waits a little before asking again
            i += clients

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"clients": clients, "seconds": seconds, "outcomes": dict(statuses), "503 Retry-After": dict(retry_after)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["idle", "flood"])
    parser.add_argument("--index", type=Path, help="index folder to serve (default: the settings')")
    parser.add_argument("--connections", type=int, default=1100)
    parser.add_argument("--open-files", type=int, default=1024)
    parser.add_argument("--clients", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=13)
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # this process holds every idle connection
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(4096, args.connections + 256)), hard))
    gold = Path(__file__).resolve().parent / "gold.jsonl"
    questions = [json.loads(line)["question"] for line in gold.read_text(encoding="utf-8").splitlines() if line.strip()]
    with tempfile.TemporaryDirectory() as folder:
        stderr = Path(folder) / "stderr.txt"
        process, port = start(args.index, args.open_files if args.mode == "idle" else None, stderr)
        try:
            if args.mode == "idle":
                result = idle(port, stderr, args.connections, args.seconds)
            else:
                result = flood(port, args.clients, args.seconds, questions)
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
