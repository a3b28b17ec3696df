"""Real `assistant serve` processes for the tests that start one: a free port, waiting for its
first /healthz answer, and stopping it."""

from __future__ import annotations

import http.client
import socket
import subprocess
import time
from collections.abc import Callable


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthz(port: int, timeout: float = 5) -> int | None:
    """The status of GET /healthz on 127.0.0.1:`port`, None when nothing answers."""
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        connection.request("GET", "/healthz")
        return connection.getresponse().status
    except OSError:
        return None


def wait_for_health(process: subprocess.Popen, port: int, seconds: float,
                    said: Callable[[], str] | None = None) -> None:
    """Wait until the server `process` answers /healthz with 200; a RuntimeError (with the end of
    what it `said` on stderr: its pipe by default) when it exits first, or (killed) when it has not
    answered within `seconds`."""
    deadline = time.monotonic() + seconds
    while healthz(port) != 200:
        if process.poll() is not None:
            stderr = said() if said is not None else process.stderr.read().decode()
            raise RuntimeError(f"`assistant serve` exited: {stderr[-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"`assistant serve` did not answer /healthz within {seconds:.0f} s")
        time.sleep(0.2)


def stop(process: subprocess.Popen) -> None:
    """Stop the server as a service manager would (SIGTERM), killing it if it does not end in 30 s."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
