"""The BEIR benchmark harness on a tiny BEIR folder written here, and the embedding cache; real model."""

import json
import math

import numpy as np
import pytest
from conftest import RecordingEmbedder

from assistant.embedding import CachedEmbedder
from assistant.errors import AssistantError
from assistant.evaluate.beir import evaluate_beir, format_beir, load_beir, ndcg_at_k, recall_at_k
from assistant.settings import Settings

DOCUMENTS = {
    "d1": (
        "Honey bee colony collapse",
        "Worker bees disappear from hives in winter. Pesticide exposure weakens colonies. " * 14
        + "Beekeepers in Europe and North America reported the heaviest losses.",
    ),
    "d2": ("Coral reef bleaching", "Warm ocean water makes corals expel their algae and turn white."),
    "d3": ("Vitamin D and bone density", "Older adults given vitamin D supplements kept stronger bones."),
    "d4": ("Antibiotic resistance in hospitals", "Bacteria such as MRSA survive common antibiotics in intensive care wards."),
    "d5": ("Sleep deprivation and memory", "Students who slept less than five hours recalled fewer words the next day."),
    "d6": ("Volcanic ash and aviation", "Ash clouds from eruptions damage jet engines, so flights are grounded."),
    "d7": ("Coffee consumption and heart rhythm", "Moderate coffee drinking did not raise the risk of atrial fibrillation."),
    "d8": ("Glacier retreat in the Alps", "Alpine glaciers lost a third of their ice volume since 1980."),
    "d9": ("Gut microbiome and obesity", "Mice receiving gut bacteria from obese donors gained more fat."),
    "d10": ("Solar panel efficiency", "Perovskite cells convert more sunlight to electricity than silicon ones."),
    "d11": ("Malaria vaccine trial", "A vaccine cut malaria cases in African children by a third."),
    "d12": ("Urban noise and blood pressure", "People living near busy roads had higher blood pressure."),
    "d13": ("Deep sea fish bioluminescence", "Fish in the dark ocean depths produce their own light to hunt."),
    "d14": ("Wheat yields under drought", "Dry summers reduced wheat harvests across Europe."),
    "d15": ("Exercise and depression", "Regular running eased symptoms of depression as well as medication."),
    "d16": ("Plastic in seabirds", "Most seabirds examined had swallowed plastic fragments."),
    "d17": ("Lithium battery fires", "Damaged lithium-ion batteries can overheat and catch fire."),
    "d18": ("Childhood vaccination rates", "Measles outbreaks followed a fall in childhood vaccination."),
    "d19": ("Earthquake early warning", "Sensors detect the first seismic waves and warn cities seconds ahead."),
    "d20": ("Salt intake and stroke", "Eating less salt lowered the number of strokes."),
}
QUERIES = {
    "q1": ("Why are bee hives dying off?", {"d1": 1}),
    "q2": ("Does higher sea temperature turn corals white?", {"d2": 1}),
    "q3": ("Do supplements of vitamin D protect the bones of the elderly?", {"d3": 1}),
    "q4": ("drug-resistant bacteria in intensive care", {"d4": 1}),
    "q5": ("Does lack of sleep hurt memory?", {"d5": 1}),
    "q6": ("Why do planes stay on the ground after a volcano erupts?", {"d6": 1}),
    "q7": ("Is drinking coffee bad for the heart?", {"d7": 1}),
    "q8": ("How much ice have the Alps lost?", {"d8": 1, "d14": 1}),
}


def write_beir(folder, documents=DOCUMENTS, queries=QUERIES):
    (folder / "qrels").mkdir(parents=True)
    with (folder / "corpus.jsonl").open("w") as out:
        for doc_id, (title, text) in documents.items():
            out.write(json.dumps({"_id": doc_id, "title": title, "text": text, "metadata": {}}) + "\n")
    with (folder / "queries.jsonl").open("w") as out:
        for query_id, (text, _) in queries.items():
            out.write(json.dumps({"_id": query_id, "text": text, "metadata": {}}) + "\n")
        out.write(json.dumps({"_id": "train-only", "text": "not judged in test", "metadata": {}}) + "\n")
    lines = ["query-id\tcorpus-id\tscore"]
    lines += [f"{q}\t{d}\t{g}" for q, (_, rel) in queries.items() for d, g in rel.items()]
    (folder / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n")
    return folder


def test_ndcg_matches_hand_computed_values():
    assert ndcg_at_k(["a", "b"], {"a": 1}) == 1.0
    assert ndcg_at_k(["x", "a"], {"a": 1}) == pytest.approx(1 / math.log2(3))
    # two relevant, one found at rank 2: (1/log2 3) / (1 + 1/log2 3)
    assert ndcg_at_k(["a", "b", "c"], {"b": 1, "d": 1}) == pytest.approx(0.386853, abs=1e-6)
    # graded gains, as pytrec_eval: (1 + 2/log2 3) / (2 + 1/log2 3)
    assert ndcg_at_k(["b", "a"], {"a": 2, "b": 1}) == pytest.approx(0.859719, abs=1e-6)
    assert ndcg_at_k([f"x{i}" for i in range(10)] + ["a"], {"a": 1}) == 0.0
    assert ndcg_at_k([], {"a": 1}) == 0.0


def test_recall_counts_relevant_documents_within_the_cutoff():
    ranked = [f"x{i}" for i in range(99)] + ["a", "b"]
    assert recall_at_k(ranked, {"a": 1, "b": 1}) == 0.5
    assert recall_at_k(ranked, {"a": 1, "b": 1}, k=101) == 1.0
    assert recall_at_k(["a"], {"a": 1, "z": 0}) == 1.0


def test_loader_reads_a_beir_folder(tmp_path):
    dataset = load_beir(write_beir(tmp_path / "Tiny"))
    assert dataset.name == "tiny"
    assert len(dataset.documents) == 20 and dataset.documents["d2"][0] == "Coral reef bleaching"
    assert set(dataset.queries) == set(QUERIES)  # the train-only query is not judged
    assert dataset.qrels["q8"] == {"d8": 1, "d14": 1}


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda f: (f / "queries.jsonl").unlink(), "queries.jsonl is missing"),
        (lambda f: (f / "corpus.jsonl").write_text('{"_id": "d1", "text": "ok"}\nnot json\n'), "corpus.jsonl:2 is not JSON"),
        (lambda f: (f / "corpus.jsonl").write_text('{"_id": 1, "text": "ok"}\n'), "string fields _id, text"),
        (lambda f: (f / "qrels" / "test.tsv").write_text("q1\tnope\t1\n"), "document 'nope' is not in corpus.jsonl"),
        (lambda f: (f / "qrels" / "test.tsv").write_text("q1 d1 1\n"), "expected `query-id<TAB>corpus-id<TAB>score`"),
        (lambda f: (f / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n"), "judges no document relevant"),
    ],
)
def test_loader_says_what_is_wrong(tmp_path, damage, message):
    folder = write_beir(tmp_path / "tiny")
    damage(folder)
    with pytest.raises(AssistantError, match=message.replace("(", r"\(").replace("`", ".")):
        load_beir(folder)


def test_loader_rejects_a_missing_folder(tmp_path):
    with pytest.raises(AssistantError, match="does not exist"):
        load_beir(tmp_path / "nowhere")


def test_benchmark_runs_the_product_pipeline_end_to_end(tmp_path, embedders):
    settings = Settings(corpus_dir=tmp_path / "unused", index_dir=tmp_path / "unused-index")
    report = evaluate_beir(write_beir(tmp_path / "tiny"), settings, embedders=embedders, progress=False)
    assert report["documents"] == 20 and report["queries"] == 8
    assert [run["chunking"] for run in report["runs"]] == ["document", "product"]
    document, product = report["runs"]
    assert document["passages"] == 20  # title and abstract in one passage
    assert product["passages"] == 21  # d1: its 1,200-character text is cut in two
    for run in report["runs"]:
        for mode, figures in run["modes"].items():
            assert figures["ndcg@10"] >= 0.75, (run["chunking"], mode, figures)
            assert figures["recall@100"] == 1.0 or mode == "lexical"
            assert 0.0 <= figures["false_abstention"] <= 1.0  # every query has an answer: any refusal is false
    assert not (tmp_path / "unused").exists() and not (tmp_path / "unused-index").exists()
    table = format_beir(report)
    assert "| chunking | passages | mode | nDCG@10 | Recall@100 | refused |" in table
    assert "| hybrid |" in table


def test_embedding_cache_serves_a_second_encode_without_the_model(tmp_path, embedder):
    texts = ["Ash clouds ground flights.", "Bees vanish in winter.", "Ash clouds ground flights.", "x" * 600]
    first = CachedEmbedder(embedder, tmp_path).encode_passages(texts, progress=True)
    spy = RecordingEmbedder(embedder)
    second = CachedEmbedder(spy, tmp_path).encode_passages(texts)
    assert spy.passages == []  # every vector came from the cache
    assert second.dtype == np.float32 and np.array_equal(first, second)
    assert np.allclose(second, embedder.encode_passages(texts), atol=1e-5)
    assert np.allclose(np.linalg.norm(second, axis=1), 1.0, atol=1e-5)


def test_questions_are_never_cached(tmp_path, embedder):
    spy = RecordingEmbedder(embedder)
    cached = CachedEmbedder(spy, tmp_path)
    cached.encode_queries(["where can I get tested"])
    cached.encode_queries(["where can I get tested"])
    assert spy.queries == ["where can I get tested"] * 2
    assert cached.cache.get([cached.cache.key("where can I get tested")]) == {}


def test_embedding_cache_is_keyed_by_model(tmp_path, embedder):
    cached = CachedEmbedder(embedder, tmp_path)
    assert cached.cache.key("same text") != cached.cache.key("same text ")
    other = type(cached.cache)(tmp_path, "another-model")
    assert other.key("same text") != cached.cache.key("same text")
