"""Shared fixtures: one real index of the real corpus, built once per test session with the real
model and real FAISS."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Starlette's TestClient sends `Host: testserver`, a name the app does not answer to by default
# (assistant/api/limits.py); the tests' settings, and the servers they start, allow it.
os.environ.setdefault("ASSISTANT_ALLOWED_HOSTS", '["testserver"]')
# One ONNX export for the whole session, shared by the processes the tests start (they inherit the
# environment): every fresh index folder would otherwise export its own. Set ASSISTANT_ONNX_DIR to
# keep one across runs.
if "ASSISTANT_ONNX_DIR" not in os.environ:
    os.environ["ASSISTANT_ONNX_DIR"] = tempfile.mkdtemp(prefix="assistant-test-onnx-")
    atexit.register(shutil.rmtree, os.environ["ASSISTANT_ONNX_DIR"], True)

from assistant.embedding import ENGLISH, Embedder, EmbedderWrapper, create_embedders  # noqa: E402
from assistant.query.assistant import Assistant  # noqa: E402
from assistant.settings import Settings  # noqa: E402
from assistant.store.build import build_index  # noqa: E402

# The API, web and browser fixtures: one definition each for the whole session (a module importing
# them would make its own, and a second Playwright would start inside the first one's loop).
pytest_plugins = ["conftest_web"]

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus"


class RecordingEmbedder(EmbedderWrapper):
    """A real embedder that records every text it is asked to encode (a spy, not a mock)."""

    def __init__(self, inner: Embedder):
        super().__init__(inner)
        self.queries: list[str] = []
        self.passages: list[str] = []

    def encode_queries(self, texts):
        self.queries.extend(texts)
        return self.inner.encode_queries(texts)

    def encode_passages(self, texts, **options):
        self.passages.extend(texts)
        return self.inner.encode_passages(texts, **options)

    def encode_queries_with_sparse(self, texts):
        self.queries.extend(texts)
        return self.inner.encode_queries_with_sparse(texts)

    def encode_passages_with_sparse(self, texts, **options):
        self.passages.extend(texts)
        return self.inner.encode_passages_with_sparse(texts, **options)


# The fixtures that load the real embedding models (directly or through an index built with them),
# and the ones that start Chromium. Any test whose fixture closure reaches one is marked `models`
# (or `browser`, which is also `models`), so `-m "not models and not browser and not milvus"`
# (make test-fast) leaves it out without each test having to say so. A test that needs a model
# without these fixtures (a subprocess running the CLI on a real corpus, a direct
# create_embedders call) carries an explicit mark instead, usually as a module's `pytestmark`.
MODEL_FIXTURES = frozenset({
    "embedders", "embedder", "index", "assistant", "web_assistant", "client", "live_server", "feedback_server", "page",
})
BROWSER_FIXTURES = frozenset({"browser", "page"})


def _direct_parameters(item) -> set[str]:
    """The argument names `item` gets from @pytest.mark.parametrize rather than from a fixture
    (a test parametrized over a PDF `page` number does not use the browser `page`)."""
    names = set()
    for mark in item.iter_markers("parametrize"):
        argnames = mark.args[0] if mark.args else mark.kwargs["argnames"]
        if isinstance(argnames, str):
            argnames = [name.strip() for name in argnames.split(",") if name.strip()]
        indirect = mark.kwargs.get("indirect", False)
        if indirect is not True:
            names |= set(argnames) - set(indirect or ())
    return names


@pytest.hookimpl(tryfirst=True)  # before -m deselects by these marks
def pytest_collection_modifyitems(items):
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ())) - _direct_parameters(item)
        if fixtures & BROWSER_FIXTURES:
            item.add_marker(pytest.mark.browser)
        if fixtures & MODEL_FIXTURES or item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.models)


@pytest.fixture(scope="session")
def embedders(tmp_path_factory) -> dict[str, Embedder]:
    """The real models of every vector space, as the product makes them, loaded once; their
    passage vectors go through one session-wide cache, so each text is embedded once per run."""
    return create_embedders(Settings(embedding_cache_dir=tmp_path_factory.mktemp("embedding-cache")), cached=True)


@pytest.fixture(scope="session")
def embedder(embedders) -> Embedder:
    """The English model (all-MiniLM-L6-v2 through sentence-transformers)."""
    return embedders[ENGLISH].inner


@pytest.fixture(scope="session")
def settings(tmp_path_factory) -> Settings:
    return Settings(corpus_dir=CORPUS, index_dir=tmp_path_factory.mktemp("index"))


@pytest.fixture(scope="session")
def index(settings, embedders):
    return build_index(settings, embedders, progress=False)


@pytest.fixture(scope="session")
def assistant(index, embedders, settings) -> Assistant:
    return Assistant(index, embedders, settings)
