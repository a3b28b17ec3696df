"""The server's bounds (assistant/api/server.py, api/limits.py) against a real `assistant serve`
process, spoken to over raw sockets: a request head or body that never ends is closed within its
bound; requests beyond the concurrency cap get 503 with Retry-After; a crowd of idle connections
larger than the open-file limit neither silences /healthz nor floods stderr; a forged Host header
gets 400 and a redirect never names a host. The server runs with small bounds (environment
`ASSISTANT_*`) and an open-file limit of 256, so each test takes seconds. (The server fixture
builds on the session's index, so conftest marks these tests `models`.)"""

from __future__ import annotations

import http.client
import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import REPO
from servers import free_port, stop, wait_for_health

HEADER_TIMEOUT = 1.5
BODY_TIMEOUT = 1.5
CAP = 4
RETRY_AFTER = 3
OPEN_FILES = 256
"""The server's open-file limit: fewer than the idle connections of the crowd test."""
CROWD = 300
SLACK = 2.5
"""Seconds a bound may be overrun on a busy 2-core machine: timers fire late, processes wait."""


def _limit_open_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES))


@pytest.fixture(scope="module")
def server(settings, index, tmp_path_factory):
    """`assistant serve` on the session's index with small bounds; its port and its stderr's file."""
    port = free_port()
    stderr = tmp_path_factory.mktemp("server") / "stderr.txt"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ASSISTANT_INDEX_DIR": str(settings.index_dir),
           "ASSISTANT_CORPUS_DIR": str(settings.corpus_dir),
           "ASSISTANT_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT), "ASSISTANT_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
           "ASSISTANT_MAX_CONCURRENT_REQUESTS": str(CAP), "ASSISTANT_BUSY_RETRY_AFTER_SECONDS": str(RETRY_AFTER)}
    with stderr.open("wb") as err:
        process = subprocess.Popen([str(Path(sys.executable).parent / "assistant"), "serve", "--host", "127.0.0.1",
                                    "--port", str(port)], env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=err,
                                   preexec_fn=_limit_open_files)
    wait_for_health(process, port, 180, said=stderr.read_text)
    yield port, stderr
    stop(process)


def _status(port: int, path: str, timeout: float = 5, host: str | None = None) -> int | str:
    """The status of GET `path`, or what went wrong."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Host": host} if host else {})
        return connection.getresponse().status
    except (OSError, http.client.HTTPException) as error:
        return repr(error)
    finally:
        connection.close()


def _connect(port: int, data: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    if data:
        sock.sendall(data)
    return sock


def _closed(sock: socket.socket) -> bool:
    """Whether the server closed `sock` (anything it sent first, such as a response, is read)."""
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        while sock.recv(65536):
            pass
        return True
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.settimeout(timeout)


def _seconds_open(sock: socket.socket, drip: bytes, give_up: float) -> float | None:
    """Seconds until the server closes `sock` while the client sends `drip` every 0.2 s (as a
    slowloris client does, so that only a deadline, not an idle timeout, ends it); None if it was
    still open after `give_up` seconds."""
    started = time.monotonic()
    while time.monotonic() - started < give_up:
        if _closed(sock):
            return time.monotonic() - started
        try:
            sock.sendall(drip)
        except OSError:
            return time.monotonic() - started
        time.sleep(0.2)
    return None


@pytest.mark.parametrize("after_a_response", [False, True], ids=["new connection", "after a keep-alive response"])
def test_a_request_head_that_never_ends_is_closed_within_the_bound(server, after_a_response):
    port, _ = server
    sock = _connect(port)
    if after_a_response:  # uvicorn's keep-alive timer stops at the next byte: the head's deadline takes over
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert b" 200 " in sock.recv(65536).split(b"\r\n", 1)[0]
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    seconds = _seconds_open(sock, b"a", give_up=HEADER_TIMEOUT + 3 * SLACK)
    sock.close()
    print(f"\na head never finished ({'after a response' if after_a_response else 'new connection'}): "
          f"closed after {seconds} s (bound {HEADER_TIMEOUT} s)")
    assert seconds is not None, f"still open after {HEADER_TIMEOUT + 3 * SLACK} s"
    assert HEADER_TIMEOUT * 0.9 <= seconds <= HEADER_TIMEOUT + SLACK


def test_a_body_that_never_ends_is_closed_within_the_bound(server):
    port, _ = server
    sock = _connect(port, b"POST /api/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          b"Content-Length: 1000\r\n\r\n{\"question\": \"")
    seconds = _seconds_open(sock, b"a", give_up=BODY_TIMEOUT + 3 * SLACK)  # 5 bytes a second: below the least rate
    sock.close()
    print(f"\na body never finished: closed after {seconds} s (bound {BODY_TIMEOUT} s + 1 s per 1000 bytes)")
    assert seconds is not None, f"still open after {BODY_TIMEOUT + 3 * SLACK} s"
    assert BODY_TIMEOUT * 0.9 <= seconds <= BODY_TIMEOUT + SLACK


def test_requests_beyond_the_cap_get_503_with_retry_after_at_once(server):
    """CAP questions whose bodies arrive slowly (2,500 bytes a second, above the least rate, so they
    are not cut) fill the app; 8 requests sent meanwhile are turned away at once, and once the slow
    ones end, requests are answered again."""
    port, _ = server
    head = (b"POST /api/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 60000\r\n\r\n{\"question\": \"")
    slow = [_connect(port, head) for _ in range(CAP)]
    stop = threading.Event()

    def dribble() -> None:
        while not stop.wait(0.2):
            for sock in slow:
                sock.sendall(b" " * 500)

    dribbler = threading.Thread(target=dribble)
    dribbler.start()
    try:
        deadline = time.monotonic() + 2 * SLACK
        while time.monotonic() < deadline and _status(port, "/api/documents") != 503:
            time.sleep(0.1)  # until the slow requests are in the app (on main's code: never)

        def ask(_: int) -> tuple[int, str | None, bytes, float]:
            started = time.monotonic()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", "/api/documents")
            response = connection.getresponse()
            body = response.read()
            connection.close()
            return response.status, response.getheader("retry-after"), body, time.monotonic() - started

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(ask, range(8)))
    finally:
        stop.set()
        dribbler.join()
        for sock in slow:
            sock.close()
    busy = [answer for answer in answers if answer[0] == 503]
    print(f"\n{len(busy)} of {len(answers)} requests beyond {CAP} slow ones got 503, in at most "
          f"{max(answer[3] for answer in answers):.2f} s")
    assert len(busy) == len(answers), [answer[:2] for answer in answers]
    for _, retry_after, body, seconds in busy:
        assert retry_after == str(RETRY_AFTER)
        assert "try again in 3 seconds" in json.loads(body)["error"]
        assert seconds < SLACK  # at once, not after a queue
    deadline = time.monotonic() + SLACK
    while _status(port, "/api/documents") != 200:  # the slow ones gone, their places are free again
        assert time.monotonic() < deadline, "the cap was not given back"
        time.sleep(0.1)


def test_healthz_answers_while_idle_connections_outnumber_the_open_files(server):
    """CROWD connections that never send a request, more than the server's 256 open files: /healthz
    still answers, every idle one is closed within the head's bound, and stderr gets a line or two,
    not a traceback per failed accept."""
    port, stderr = server
    before = stderr.stat().st_size
    crowd = [_connect(port) for _ in range(CROWD)]
    try:
        started = time.monotonic()
        status = _status(port, "/healthz", timeout=HEADER_TIMEOUT + SLACK)
        answered = time.monotonic() - started
        deadline = started + HEADER_TIMEOUT + 2 * SLACK
        while time.monotonic() < deadline and not all(_closed(sock) for sock in crowd):
            time.sleep(0.2)
        closed = sum(_closed(sock) for sock in crowd)
    finally:
        for sock in crowd:
            sock.close()
    time.sleep(0.5)
    written = stderr.stat().st_size - before
    print(f"\n{CROWD} idle connections, open-file limit {OPEN_FILES}: /healthz {status} in {answered:.2f} s; "
          f"{closed} closed by the server within {HEADER_TIMEOUT + 2 * SLACK} s; {written} bytes of stderr")
    assert status == 200
    assert closed == CROWD
    assert written < 1000, stderr.read_text()[-1000:]
    assert _status(port, "/healthz") == 200


def test_requests_any_client_can_send_do_not_write_a_line_each(server):
    """uvicorn warns once per request it cannot parse, twice per Upgrade: websocket request: 100
    such requests write a line or two, not 150."""
    port, stderr = server
    before = stderr.stat().st_size
    for i in range(100):
        sock = _connect(port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
                        if i % 2 else b"NOT HTTP AT ALL\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200" if i % 2 else b"HTTP/1.1 400")
        sock.close()
    time.sleep(0.5)
    written = stderr.stat().st_size - before
    print(f"\n100 unparseable or Upgrade requests: {written} bytes of stderr")
    assert written < 500, stderr.read_text()[-1000:]


def test_a_forged_host_gets_400_and_redirects_are_paths(server):
    port, _ = server
    forged = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    forged.request("GET", "/healthz", headers={"Host": "evil.example"})
    response = forged.getresponse()
    said = json.loads(response.read())["error"]
    forged.close()
    assert response.status == 400
    assert "allowed_hosts" in said and "evil.example" in said
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "[::1]"):
        assert _status(port, "/healthz", host=host) == 200, host
    # Starlette's trailing-slash redirects: /static -> /static/, /healthz/ -> /healthz.
    for path, target in (("/static", "/static/"), ("/healthz/", "/healthz")):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", path, headers={"Host": f"localhost:{port}"})
        response = connection.getresponse()
        response.read()
        connection.close()
        assert response.status in (301, 302, 303, 307, 308), (path, response.status)
        assert response.getheader("location") == target, (path, response.getheader("location"))


def test_a_repeated_complaint_is_one_line_a_minute(caplog):
    """What a client can make happen at will (running out of descriptors) is logged once a minute."""
    from assistant.api.server import Complaints

    complaints = Complaints(every=60)
    with caplog.at_level("WARNING", logger="assistant.server"):
        for _ in range(5000):
            complaints.say("files", "cannot accept connections: Too many open files")
    assert [record.getMessage() for record in caplog.records] == ["cannot accept connections: Too many open files"]
