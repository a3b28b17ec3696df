"""Shared fixtures: one real index of the real corpus, built once per test session with the real
model and real FAISS."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from assistant.embedding import Embedder  # noqa: E402
from assistant.index import build_index  # noqa: E402
from assistant.pipeline import Assistant  # noqa: E402
from assistant.settings import Settings  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus"


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder()


@pytest.fixture(scope="session")
def settings(tmp_path_factory) -> Settings:
    return Settings(corpus_dir=CORPUS, index_dir=tmp_path_factory.mktemp("index"))


@pytest.fixture(scope="session")
def index(settings, embedder):
    return build_index(settings, embedder, progress=False)


@pytest.fixture(scope="session")
def assistant(index, embedder, settings) -> Assistant:
    return Assistant(index, embedder, settings)
