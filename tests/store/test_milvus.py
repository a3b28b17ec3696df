"""The Milvus backend against the FAISS + bm25s one, on a real milvus-lite folder with the real model.

Like bm25s's tests against reference implementations: both backends index the seed corpus, and for
every gold question the dense (passage and sentence) and lexical top 10 are the same with scores
equal to 1e-4, and so are the answers of `Assistant.ask` (the fused ranking, highlights, folding,
abstention). Then: filters inside the search, add and remove in place (equal to a fresh build, up
to the bounded avgdl drift that `bm25.py` describes), rollback of a failure injected at each named
point of a write, reopening from another process, and one-line errors.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pymilvus")
pytestmark = pytest.mark.milvus  # milvus-lite; the tests on its index are also `models` (conftest)

from conftest import CORPUS, REPO  # noqa: E402

from assistant.embedding import ENGLISH, CachedEmbedder  # noqa: E402
from assistant.errors import AssistantError, IndexCorruptError  # noqa: E402
from assistant.evaluate.gold import load_gold  # noqa: E402
from assistant.query.assistant import Assistant  # noqa: E402
from assistant.settings import Settings  # noqa: E402
from assistant.store.backends import Hit  # noqa: E402
from assistant.store.backends.faiss import LexicalIndex  # noqa: E402
from assistant.store.backends.milvus import (  # noqa: E402
    TABLE_FILE,
    MilvusStore,
    disconnect,
    passage_keys,
)
from assistant.store.backends.milvus_bm25 import LexicalTable, document_digests  # noqa: E402
from assistant.store.index import load_index  # noqa: E402
from assistant.store.layout import current_build  # noqa: E402
from assistant.store.library import add_documents, remove_document  # noqa: E402
from assistant.text.tokens import tokenize  # noqa: E402

TOLERANCE = 1e-4
SHOWN_SCORE_STEP = 1e-4
"""A result's score is shown rounded to four decimals: two scores within `TOLERANCE` may be shown a
step further apart (0.05935 and 0.05934 as 0.0594 and 0.0593)."""
GOLD = load_gold(REPO / "eval" / "gold.jsonl")
HELD_OUT = "neglobal-2024-trafficking-law"
"""The document the add/remove tests take out of the seed corpus and add back."""


def milvus_settings(folder: Path, corpus: Path = CORPUS, **overrides) -> Settings:
    return Settings(corpus_dir=corpus, index_dir=folder / "index", backend="milvus",
                    milvus_uri=str(folder / "milvus.db"), **overrides)


def reference_bm25(corpus: list[list[str]], query: list[str], avgdl: float | None = None,
                   k1: float = 1.5, b: float = 0.75) -> np.ndarray:
    """Lucene's BM25 written out (as in test_backends), with avgdl as a parameter."""
    n = len(corpus)
    avgdl = avgdl or sum(map(len, corpus)) / n
    df = Counter(term for doc in corpus for term in set(doc))
    scores = np.zeros(n)
    for term in query:
        if term in df:
            idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
            for row, doc in enumerate(corpus):
                tf = doc.count(term)
                scores[row] += idf * tf / (tf + k1 * (1 - b + b * len(doc) / avgdl))
    return scores


def same_ranking(expected: list[Hit], found: list[Hit], tolerance: float = TOLERANCE) -> str | None:
    """None when the rankings agree: the same length, scores equal position by position, and the
    same rows apart from order among scores within `tolerance` of each other and rows tied at the cut."""
    if len(expected) != len(found):
        return f"{len(found)} hits for {len(expected)}"
    for rank, (a, b) in enumerate(zip(expected, found), start=1):
        if abs(a.score - b.score) > tolerance:
            return f"rank {rank}: score {b.score} for {a.score}"
    if not expected:
        return None
    cut = expected[-1].score
    clear = lambda hits: {h.passage: h.score for h in hits if h.score > cut + tolerance}  # noqa: E731
    a, b = clear(expected), clear(found)
    if a.keys() != b.keys():
        return f"rows {sorted(a.keys() ^ b.keys())} differ"
    return None


def max_difference(expected: list[Hit], found: list[Hit]) -> float:
    return max((abs(a.score - b.score) for a, b in zip(expected, found)), default=0.0)


def answer_rows(answer) -> list[Hit]:
    """An answer's results as hits keyed by passage start, to compare like rankings."""
    return [Hit(hash((r.citation.doc_id, r.citation.start)), r.score) for r in answer.results]


def same_answer(expected, found) -> str | None:
    if (expected.abstained, expected.abstain_reason, expected.sources_span) != \
            (found.abstained, found.abstain_reason, found.sources_span):
        return "abstention or span differs"
    problem = same_ranking(answer_rows(expected), answer_rows(found), TOLERANCE + SHOWN_SCORE_STEP + 1e-9)
    if problem:
        return problem
    for a, b in zip(expected.results, found.results):
        if a.citation == b.citation and (a.highlight, a.also_in) != (b.highlight, b.also_in):
            return f"result {a.rank}: highlight or also-in differs"
    return None


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def milvus(tmp_path_factory, embedders):
    """The seed corpus in Milvus (milvus-lite), built by the real `build_index`."""
    from assistant.store.build import build_index

    folder = tmp_path_factory.mktemp("milvus")
    settings = milvus_settings(folder)
    index = build_index(settings, embedders, progress=False)
    yield settings, index
    disconnect(settings.milvus_address)


@pytest.fixture(scope="module")
def gold_vectors(embedder) -> np.ndarray:
    return embedder.encode_queries([q.question for q in GOLD])


# ----------------------------------------------------------------------------- BM25 as sparse vectors


@pytest.mark.parametrize("question", ["friendly cabinets", "sex workers police police", "law 2024 condoms", "zebra", ""])
def test_sparse_weights_give_bm25s_scores(question):
    texts = ["friendly cabinets for sex workers", "police raids and fines", "sex workers and police", "",
             "trafficking law signed in 2024", "friendly cabinets offer condoms condoms"]
    tokens = [tokenize(t) for t in texts]
    table = LexicalTable.build(tokens, {})
    query = table.query_weights(tokenize(question))
    scores = [sum(query.get(d, 0.0) * w for d, w in table.passage_weights(t).items()) for t in tokens]
    np.testing.assert_allclose(scores, reference_bm25(tokens, tokenize(question)), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(scores, LexicalIndex.build(tokens).scores(tokenize(question)), rtol=1e-5, atol=1e-6)


def test_an_extended_table_keeps_dimensions_and_avgdl_and_measures_drift():
    old = LexicalTable.build([["a", "b"], ["b", "c", "c"]], {"x": "1"})
    new = LexicalTable.build([["a", "b"], ["b", "c", "c"], ["d", "d", "d", "d", "e"]], {"x": "1", "y": "2"}, previous=old)
    assert all(new.terms[t][0] == old.terms[t][0] for t in old.terms)
    assert new.terms["d"][0] >= old.next_dimension and new.terms["d"][1] == 1
    assert new.avgdl == old.avgdl == 2.5 and new.actual_avgdl == 10 / 3
    assert new.drift() == pytest.approx((10 / 3 - 2.5) / 2.5)
    gone = LexicalTable.build([["a", "b"]], {"x": "1"}, previous=new)
    assert gone.terms["d"] == (new.terms["d"][0], 0) and gone.query_weights(["d"]) == {}


# ----------------------------------------------------------------------------- equality with FAISS


def test_dense_and_lexical_top_10_equal_faiss_for_every_gold_question(index, milvus, gold_vectors):
    _, built = milvus
    assert [p.text for p in built.passages] == [p.text for p in index.passages]
    worst = {"passage": 0.0, "sentence": 0.0, "lexical": 0.0}
    problems = []
    for question, vector in zip(GOLD, gold_vectors):
        for unit in ("passage", "sentence"):
            expected = index.backend.search_dense(ENGLISH, unit, vector, 10)
            found = built.backend.search_dense(ENGLISH, unit, vector, 10)
            worst[unit] = max(worst[unit], max_difference(expected, found))
            if problem := same_ranking(expected, found):
                problems.append((question.id, unit, problem))
        tokens = tokenize(question.question)
        expected, found = index.backend.search_lexical(tokens, 10), built.backend.search_lexical(tokens, 10)
        worst["lexical"] = max(worst["lexical"], max_difference(expected, found))
        if problem := same_ranking(expected, found):
            problems.append((question.id, "lexical", problem))
    print(f"\n{len(GOLD)} gold questions, largest score differences: {worst}")
    assert not problems, problems[:5]
    assert max(worst.values()) <= TOLERANCE


def test_answers_of_ask_equal_faiss_for_every_gold_question(assistant, milvus, embedders):
    settings, built = milvus
    on_milvus = Assistant(built, embedders, settings)
    problems = []
    worst = 0.0
    for question in GOLD:
        expected, found = assistant.ask(question.question, 10), on_milvus.ask(question.question, 10)
        worst = max(worst, max_difference(answer_rows(expected), answer_rows(found)))
        if problem := same_answer(expected, found):
            problems.append((question.id, problem))
    print(f"\n{len(GOLD)} gold questions through Assistant.ask, largest fused score difference: {worst}")
    assert not problems, problems[:5]


def test_filters_apply_inside_the_search(index, milvus, gold_vectors):
    _, built = milvus
    vector = gold_vectors[0]
    docs = sorted({p.doc_id for p in index.passages})
    for doc in docs[:2]:
        for unit in ("passage", "sentence"):
            expected = index.backend.search_dense(ENGLISH, unit, vector, 7, doc_ids={doc})
            found = built.backend.search_dense(ENGLISH, unit, vector, 7, doc_ids={doc})
            assert found and same_ranking(expected, found) is None
            rows = [built.sentence_passage[h.passage] for h in found] if unit == "sentence" else [h.passage for h in found]
            assert {built.passages[row].doc_id for row in rows} == {doc}
        tokens = tokenize("sex work police law HIV")
        expected = index.backend.search_lexical(tokens, 10, doc_ids={doc})
        found = built.backend.search_lexical(tokens, 10, doc_ids={doc})
        assert found and same_ranking(expected, found) is None
        assert {built.passages[h.passage].doc_id for h in found} == {doc}
    assert built.backend.search_dense(ENGLISH, "passage", vector, 3, doc_ids=set()) == []
    assert built.backend.search_lexical(["sex"], 3, doc_ids={"nope"}) == []
    assert built.backend.search_lexical(["zzzunknownzzz"], 3) == []


def test_vectors_are_fetched_by_key_in_row_order(index, milvus):
    _, built = milvus
    rows = [5, 0, 17, 5]
    for unit in ("passage", "sentence"):
        np.testing.assert_allclose(built.backend.vectors(ENGLISH, unit, rows),
                                   index.backend.vectors(ENGLISH, unit, rows), atol=1e-6)
    assert built.backend.vectors(ENGLISH, "sentence", []).shape == (0, 384)


def test_the_manifest_describes_the_generation_and_the_aliases_point_at_it(milvus):
    settings, built = milvus
    description = built.manifest["backend"]
    assert description["name"] == "milvus" and description["spaces"] == sorted(built.spaces) == ["english", "multilingual"]
    assert description["dense_index"] == {f"{space}/{unit}": "FLAT" for space in built.spaces for unit in ("passage", "sentence")}
    client = built.backend.client
    for unit in ("passage", "sentence"):
        alias = client.describe_alias(f"{settings.milvus_collection}_{unit}s")
        assert alias["collection_name"] == f"{description['generation']}_{unit}s"
    assert built.backend.verify(len(built.passages), len(built.sentence_passage)) == []
    assert built.backend.verify(len(built.passages) + 1, len(built.sentence_passage))


def test_reopening_in_another_process_gives_the_same_answer(milvus, assistant, index):
    settings, built = milvus
    disconnect(settings.milvus_address)  # free the milvus-lite folder for the other process
    env = {**os.environ, "ASSISTANT_CORPUS_DIR": str(settings.corpus_dir), "ASSISTANT_INDEX_DIR": str(settings.index_dir),
           "ASSISTANT_MILVUS_URI": settings.milvus_address}
    question = "How many friendly cabinets are there nationwide?"
    run = subprocess.run([sys.executable, "-m", "assistant.cli", "ask", question, "--k", "3", "--json"],
                         capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr
    import json

    reopened = json.loads(run.stdout)
    expected = assistant.ask(question, 3)
    assert [r["citation"]["start"] for r in reopened["results"]] == [r.citation.start for r in expected.results]
    assert [r["score"] for r in reopened["results"]] == pytest.approx([r.score for r in expected.results], abs=TOLERANCE)
    again = load_index(settings.index_dir, settings)  # and in this process, after the other one closed it
    vector = again.backend.vectors(ENGLISH, "passage", [3])[0]
    assert same_ranking(index.backend.search_dense(ENGLISH, "passage", vector, 5),
                        again.backend.search_dense(ENGLISH, "passage", vector, 5)) is None


# ----------------------------------------------------------------------------- add and remove in place


def _corpus_without(folder: Path, doc_id: str) -> Path:
    corpus = folder / "corpus"
    shutil.copytree(CORPUS, corpus)
    for path in corpus.glob(f"{doc_id}.*"):
        path.unlink()
    return corpus


def _collection_state(index) -> tuple[dict, list]:
    """Every row key per unit and the rows' count, read from the generation."""
    backend = index.backend
    client, generation = backend.client, backend.generation
    state = {}
    for unit in ("passage", "sentence"):
        rows = client.query(generation.collection(unit), filter="", output_fields=["key"], limit=16384)
        state[unit] = sorted(r["key"] for r in rows)
    return state, client.list_collections()


def _fresh(folder: Path, corpus: Path, embedders):
    from assistant.store.build import build_index

    return build_index(milvus_settings(folder, corpus), embedders, progress=False)


@pytest.fixture(scope="module")
def cached(tmp_path_factory, embedders):
    """The real model behind one on-disk cache for the module's many small builds, so each text is
    embedded once (the vectors are the model's own, as `assistant add` gets them)."""
    folder = tmp_path_factory.mktemp("embedding-cache")
    return {space: CachedEmbedder(embedder, folder) for space, embedder in embedders.items()}


@pytest.fixture
def library(tmp_path, cached):
    """The seed corpus less one document, in Milvus, and the held-out document's files."""
    from assistant.store.build import build_index

    corpus = _corpus_without(tmp_path, HELD_OUT)
    settings = milvus_settings(tmp_path, corpus, milvus_avgdl_tolerance=1.0)
    build_index(settings, cached, progress=False)
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    shutil.copyfile(CORPUS / f"{HELD_OUT}.txt", incoming / f"{HELD_OUT}.txt")
    yield settings, incoming / f"{HELD_OUT}.txt"
    disconnect(settings.milvus_address)


def test_add_upserts_in_place_and_equals_a_fresh_build_up_to_the_avgdl_drift(library, tmp_path, cached, gold_vectors):
    settings, path = library
    before = load_index(settings.index_dir, settings)
    generation = before.manifest["backend"]["generation"]
    _, after = add_documents(settings, [path], embedders=cached)
    description = after.manifest["backend"]
    assert description["generation"] == generation  # updated in place, not rewritten
    fresh = _fresh(tmp_path / "fresh", settings.corpus_dir, cached)
    assert [p.text for p in after.passages] == [p.text for p in fresh.passages]
    assert [p.doc_id for p in after.passages].count(HELD_OUT) > 0

    # A server still on the previous build maps only the keys it knows.
    for vector in gold_vectors[:50]:
        hits = before.backend.search_dense(ENGLISH, "passage", vector, 10)
        assert all(0 <= h.passage < len(before.passages) for h in hits)
        assert all(before.passages[h.passage].doc_id != HELD_OUT for h in hits)

    # Dense search, vectors, N and df: exactly a fresh build's.
    for vector in gold_vectors[:100]:
        for unit in ("passage", "sentence"):
            assert same_ranking(fresh.backend.search_dense(ENGLISH, unit, vector, 10),
                                after.backend.search_dense(ENGLISH, unit, vector, 10)) is None
    table, fresh_table = after.backend.table, fresh.backend.table
    assert (table.documents, table.total_length) == (fresh_table.documents, fresh_table.total_length)
    assert {t: df for t, (_, df) in table.terms.items() if df} == {t: df for t, (_, df) in fresh_table.terms.items()}

    # BM25: exactly the reference formula with the frozen avgdl, and within the drift of a fresh build.
    tokens = [tokenize(" ".join(filter(None, [after.documents[p.doc_id].metadata.title, p.section, p.text])))
              for p in after.passages]
    drift = abs(1 - table.avgdl / table.actual_avgdl)
    assert description["avgdl"] == before.manifest["backend"]["avgdl"] and 0 < drift < 0.2
    for question in GOLD[:100]:
        query = tokenize(question.question)
        found = after.backend.search_lexical(query, 10)
        reference = reference_bm25(tokens, query, avgdl=table.avgdl)
        assert [h.score for h in found] == pytest.approx([reference[h.passage] for h in found], abs=TOLERANCE)
        exact = {h.passage: h.score for h in fresh.backend.search_lexical(query, len(after.passages))}
        assert all(abs(h.score - exact[h.passage]) <= drift * exact[h.passage] + TOLERANCE for h in found)


def test_remove_deletes_on_commit_and_equals_the_build_before_the_add(library, cached):
    settings, path = library
    original = load_index(settings.index_dir, settings)
    state = _collection_state(original)
    add_documents(settings, [path], embedders=cached)
    removed = remove_document(settings, HELD_OUT, embedders=cached)
    assert removed.manifest["backend"]["generation"] == original.manifest["backend"]["generation"]
    assert removed.manifest["backend"]["pending_removal"] == [HELD_OUT]
    assert _collection_state(removed) == state  # the added rows are gone again, nothing else changed
    assert removed.backend.table.drift() == 0
    first, second = Assistant(original, cached, settings), Assistant(removed, cached, settings)
    for question in GOLD[:150]:
        assert same_answer(first.ask(question.question, 10), second.ask(question.question, 10)) is None, question.id


def test_past_the_avgdl_tolerance_an_update_writes_a_new_exact_generation(library, tmp_path, cached, gold_vectors):
    settings, path = library
    strict = settings.model_copy(update={"milvus_avgdl_tolerance": 0.0})
    before = load_index(strict.index_dir, strict)
    old_generation = before.manifest["backend"]["generation"]
    _, after = add_documents(strict, [path], embedders=cached)
    assert after.manifest["backend"]["generation"] != old_generation
    names = after.backend.client.list_collections()
    assert not any(name.startswith(old_generation) for name in names)  # the old generation was dropped
    fresh = _fresh(tmp_path / "fresh", strict.corpus_dir, cached)
    for question, vector in zip(GOLD[:150], gold_vectors):
        tokens = tokenize(question.question)
        assert same_ranking(fresh.backend.search_lexical(tokens, 10), after.backend.search_lexical(tokens, 10)) is None
        assert same_ranking(fresh.backend.search_dense(ENGLISH, "sentence", vector, 10),
                            after.backend.search_dense(ENGLISH, "sentence", vector, 10)) is None


@pytest.mark.parametrize("point", ["created", "passages", "sentences", "flushed", "switch"])
def test_a_failure_at_any_point_of_an_add_leaves_the_collection_as_it_was(library, cached, monkeypatch, point):
    settings, path = library
    before = load_index(settings.index_dir, settings)
    state, build = _collection_state(before), current_build(settings.index_dir)
    corpus = sorted(p.name for p in settings.corpus_dir.iterdir())

    def fail(*args):
        raise RuntimeError(f"injected at {point}")

    if point == "switch":  # after the write, when index/CURRENT is switched
        monkeypatch.setattr("assistant.store.build._switch_current", fail)
    else:
        monkeypatch.setattr(MilvusStore, "reached", lambda self, at: fail() if at == point else None)
    with pytest.raises(RuntimeError, match="injected"):
        add_documents(settings, [path], embedders=cached)
    assert _collection_state(before) == state
    assert current_build(settings.index_dir) == build
    assert sorted(p.name for p in settings.corpus_dir.iterdir()) == corpus
    monkeypatch.undo()
    _, after = add_documents(settings, [path], embedders=cached)  # and the next try succeeds
    assert HELD_OUT in after.documents


@pytest.mark.parametrize("point", ["created", "passages", "flushed"])
def test_a_failure_while_writing_a_generation_drops_it(library, cached, monkeypatch, point):
    from assistant.store.build import build_index

    settings, _ = library
    before = load_index(settings.index_dir, settings)
    state = _collection_state(before)
    monkeypatch.setattr(MilvusStore, "reached", lambda self, at: (_ for _ in ()).throw(RuntimeError(at)) if at == point else None)
    with pytest.raises(RuntimeError, match=point):
        build_index(settings, cached, progress=False)
    assert _collection_state(before) == state
    assert load_index(settings.index_dir, settings).manifest == before.manifest


def test_a_full_index_switches_the_aliases_and_drops_the_old_generation(library, cached):
    from assistant.store.build import build_index

    settings, _ = library
    before = load_index(settings.index_dir, settings)
    rebuilt = build_index(settings, cached, progress=False)
    old, new = before.manifest["backend"]["generation"], rebuilt.manifest["backend"]["generation"]
    assert old != new
    names = rebuilt.backend.client.list_collections()
    assert sorted(n for n in names if n.startswith(settings.milvus_collection)) == [f"{new}_passages", f"{new}_sentences"]
    # A server still on the old build searches the new generation through the aliases, by key.
    vector = before.backend.vectors(ENGLISH, "passage", [0])[0]
    assert before.backend.search_dense(ENGLISH, "passage", vector, 5) == rebuilt.backend.search_dense(ENGLISH, "passage", vector, 5)
    assert (current_build(settings.index_dir) / TABLE_FILE).is_file()


# ----------------------------------------------------------------------------- errors


def _cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "assistant.cli", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})


def test_milvus_errors_are_one_line_with_exit_code_2(milvus, tmp_path):
    settings, built = milvus
    env = {"ASSISTANT_CORPUS_DIR": str(settings.corpus_dir), "ASSISTANT_INDEX_DIR": str(settings.index_dir),
           "ASSISTANT_MILVUS_TIMEOUT": "2"}
    cases = [
        ({"ASSISTANT_MILVUS_URI": "http://127.0.0.1:9"}, "cannot connect to Milvus at http://127.0.0.1:9"),
        ({"ASSISTANT_MILVUS_URI": "milvus-somewhere"}, "neither a milvus-lite folder"),
        ({"ASSISTANT_MILVUS_URI": str(tmp_path / "empty.db")}, "has no collection"),
    ]
    for extra, message in cases:
        run = _cli("ask", "HIV testing", env={**env, **extra})
        assert run.returncode == 2, run.stderr
        assert message in run.stderr and "Traceback" not in run.stderr
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr


def test_a_milvus_lite_folder_open_in_another_process_is_named(milvus):
    settings, built = milvus
    load_index(settings.index_dir, settings)  # this process holds the folder now
    env = {"ASSISTANT_CORPUS_DIR": str(settings.corpus_dir), "ASSISTANT_INDEX_DIR": str(settings.index_dir),
           "ASSISTANT_MILVUS_URI": settings.milvus_address}
    run = _cli("ask", "HIV testing", env=env)
    assert run.returncode == 2 and "open in another process" in run.stderr, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr


def test_a_missing_generation_and_a_bad_name_are_named(milvus, tmp_path):
    settings, built = milvus
    with pytest.raises(AssistantError, match="not a usable name"):
        MilvusStore.from_settings(settings.model_copy(update={"milvus_collection": "no-dashes"}))
    other = settings.model_copy(update={"milvus_collection": "other"})
    assert load_index(other.index_dir, other).backend.generation.name == built.backend.generation.name
    with pytest.raises(IndexCorruptError, match="has no collection"):
        load_index(settings.index_dir, settings.model_copy(update={"milvus_uri": str(tmp_path / "elsewhere.db")}))
    disconnect(str(tmp_path / "elsewhere.db"))


def test_the_default_path_does_not_import_pymilvus():
    run = subprocess.run([sys.executable, "-c", "import sys; from assistant.query.assistant import Assistant; "
                          "from assistant.store.backends import create_store; from assistant.settings import Settings; "
                          "create_store(Settings()); print('pymilvus' in sys.modules)"],
                         capture_output=True, text=True, timeout=120)
    assert run.stdout.strip() == "False", run.stderr


def test_keys_are_stable_when_rows_shift():
    from assistant.ingest.chunking import Passage

    a = [Passage(0, "x", None, 0, 3, "one", ()), Passage(1, "y", None, 0, 3, "two", ())]
    b = [Passage(0, "w", None, 0, 5, "three", ()), *a]
    assert passage_keys(b)[1:] == passage_keys(a)
    assert document_digests(["x"], ["k"], [["t"]]) != document_digests(["x"], ["k"], [["u"]])
