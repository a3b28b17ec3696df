"""Fixtures shared by the API, web and browser tests: a real index, the app, a live server, Chromium.

conftest.py loads this module as a plugin, so each fixture has one definition for the session.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from fastapi.testclient import TestClient  # noqa: E402

from assistant.api import create_app  # noqa: E402
from assistant.query.assistant import Assistant  # noqa: E402
from assistant.settings import PROJECT_ROOT, Settings  # noqa: E402
from assistant.store.build import build_index  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
_built: dict[str, Assistant] = {}


@pytest.fixture(scope="session")
def web_assistant(tmp_path_factory, embedders) -> Assistant:
    if "assistant" not in _built:
        settings = Settings(corpus_dir=PROJECT_ROOT / "corpus", index_dir=tmp_path_factory.mktemp("web-index"))
        _built["assistant"] = Assistant(build_index(settings, embedders, progress=False), embedders, settings)
    return _built["assistant"]


@pytest.fixture(scope="module")
def client(web_assistant) -> TestClient:
    with TestClient(create_app(web_assistant), raise_server_exceptions=False) as test_client:
        yield test_client


def _serve(assistant: Assistant):
    """The server `assistant serve` runs (uvicorn with the bounds of assistant/api/server.py) serving
    `assistant` on 127.0.0.1, on a port the OS picked, in a background thread; yields its address
    and stops it afterwards."""
    from assistant.api.server import Config, Server

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = Server(Config(create_app(assistant), assistant.settings))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=10)


def operator_copy(web_assistant: Assistant, folder: Path, password: str) -> Assistant:
    """The app's assistant on a copy of the real corpus in `folder`, with an operator file (the
    password `password`): for tests that change the collection. Nothing is embedded twice."""
    import shutil

    from assistant.operator.credentials import set_password

    corpus = folder / "corpus"
    shutil.copytree(PROJECT_ROOT / "corpus", corpus)
    set_password(folder / "operator.toml", password)
    settings = web_assistant.settings.model_copy(update={
        "corpus_dir": corpus, "index_dir": folder / "index", "operator_file": folder / "operator.toml",
        "operator_audit_file": folder / "audit.jsonl",
        "embedding_cache_dir": web_assistant.settings.embedding_cache_path})
    return Assistant(build_index(settings, web_assistant.embedders, progress=False), web_assistant.embedders, settings)


@pytest.fixture(scope="session")
def live_server(web_assistant) -> str:
    """The app as an operator runs it by default (feedback off)."""
    yield from _serve(web_assistant)


@pytest.fixture(scope="session")
def public_server(web_assistant) -> str:
    """The app with the private mode turned off: each answer has its own address."""
    settings = web_assistant.settings.model_copy(update={"private_mode": False})
    yield from _serve(Assistant(web_assistant.index, web_assistant.embedders, settings))


@pytest.fixture(scope="session")
def feedback_server(web_assistant, tmp_path_factory) -> tuple[str, Path]:
    """The same index served with ASSISTANT_FEEDBACK on, judgements going to a fresh SQLite file."""
    path = tmp_path_factory.mktemp("feedback") / "feedback.db"
    settings = web_assistant.settings.model_copy(update={"feedback": True, "feedback_file": path})
    for address in _serve(Assistant(web_assistant.index, web_assistant.embedders, settings)):
        yield address, path


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: install Debian's chromium (apt-get install chromium) to run browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server):
    yield from _page(browser, live_server)


@pytest.fixture
def public_page(browser, public_server):
    """A page of the app with the private mode off."""
    yield from _page(browser, public_server)


def _page(browser, address: str):
    context = browser.new_context(base_url=address, viewport={"width": 1100, "height": 800})
    page = context.new_page()
    page.set_default_timeout(30_000)
    problems = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    yield page
    context.close()
    assert not problems, f"the browser reported errors (a CSP violation?): {problems}"
