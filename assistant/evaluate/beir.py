"""A public benchmark (issue 4): run the product's own pipeline on a BEIR dataset (SciFact).

The dataset is written as an ordinary corpus folder (`<id>.txt` with the title as its first line,
`<id>.toml` with the title), indexed by `build_index` into a temporary folder, and every query
goes through `Assistant.ask` in each retrieval mode, so the figures measure the code users get.
Passages are ranked; a document's rank is the rank of its first passage.

Metrics follow BEIR (pytrec_eval): nDCG@10 with graded gains and Recall@100, averaged over the
queries that have a relevant document.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from assistant.embedding import Embedder, create_embedders
from assistant.errors import AssistantError
from assistant.query.assistant import Assistant
from assistant.settings import PROJECT_ROOT, Settings
from assistant.store.build import build_index

MODES = ("lexical", "dense", "hybrid")
NDCG_CUTOFF = 10
RECALL_CUTOFF = 100
DEFAULT_CACHE_DIR = PROJECT_ROOT / ".cache" / "embeddings"
WHOLE_DOCUMENT = 1_000_000
"""Chunk sizes no abstract reaches: title and abstract become one passage, as in BEIR and MTEB."""

CHUNKINGS = ("document", "product")
"""`document`: one passage per document (the published setup); `product`: the settings' chunk
sizes, i.e. what the assistant does with its own corpus."""

REPORTED_SETTINGS = (
    "fusion", "fusion_dense_weight", "lexical_saturation", "rrf_k", "candidates", "use_glossary", "duplicate_similarity"
)
"""The settings that shape a ranking, when this version of Settings has them."""

PUBLISHED_NDCG = {
    "scifact": {
        "lexical": "0.665 (BM25, BEIR paper) – 0.687 (bm25s, MTEB)",
        "dense": "0.645 (all-MiniLM-L6-v2, MTEB)",
    }
}


@dataclass
class BeirDataset:
    name: str
    documents: dict[str, tuple[str, str]]
    """BEIR id -> (title, text), in file order."""
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    """Query id -> {document id: graded relevance}, only queries with a relevant document."""


def ndcg_at_k(ranked: list[str], relevance: dict[str, int], k: int = NDCG_CUTOFF) -> float:
    """Sum of gain / log2(rank + 1) over the top k, divided by the same sum for the ideal order."""
    dcg = sum(relevance.get(doc, 0) / math.log2(rank + 1) for rank, doc in enumerate(ranked[:k], start=1))
    ideal = sorted((gain for gain in relevance.values() if gain > 0), reverse=True)[:k]
    best = sum(gain / math.log2(rank + 1) for rank, gain in enumerate(ideal, start=1))
    return dcg / best if best else 0.0


def recall_at_k(ranked: list[str], relevance: dict[str, int], k: int = RECALL_CUTOFF) -> float:
    relevant = {doc for doc, gain in relevance.items() if gain > 0}
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


def load_beir(folder: Path, split: str = "test") -> BeirDataset:
    """Read `corpus.jsonl`, `queries.jsonl` and `qrels/<split>.tsv`; any problem is an
    AssistantError naming the file and line."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AssistantError(f"BEIR folder {folder} does not exist: pass the folder holding corpus.jsonl")
    documents = {
        row["_id"]: (_one_line(row.get("title") or ""), row.get("text") or "")
        for row in _jsonl(folder / "corpus.jsonl", ("_id", "text"))
    }
    queries = {row["_id"]: row["text"] for row in _jsonl(folder / "queries.jsonl", ("_id", "text"))}
    qrels: dict[str, dict[str, int]] = {}
    path = folder / "qrels" / f"{split}.tsv"
    for number, fields in enumerate(_tsv(path), start=1):
        if number == 1 and fields[:2] == ["query-id", "corpus-id"]:
            continue
        if len(fields) != 3 or not re.fullmatch(r"-?\d+", fields[2]):
            raise AssistantError(f"{path}:{number}: expected `query-id<TAB>corpus-id<TAB>score`")
        query, doc, score = fields[0], fields[1], int(fields[2])
        if query not in queries:
            raise AssistantError(f"{path}:{number}: query {query!r} is not in queries.jsonl")
        if doc not in documents:
            raise AssistantError(f"{path}:{number}: document {doc!r} is not in corpus.jsonl")
        if score > 0:
            qrels.setdefault(query, {})[doc] = score
    if not qrels:
        raise AssistantError(f"{path} judges no document relevant: nothing to evaluate")
    return BeirDataset(folder.name.lower(), documents, {q: queries[q] for q in qrels}, qrels)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _jsonl(path: Path, required: tuple[str, ...]) -> list[dict]:
    rows = []
    for number, line in enumerate(_lines(path), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as error:
            raise AssistantError(f"{path}:{number} is not JSON ({error})") from None
        if not isinstance(row, dict) or any(not isinstance(row.get(name), str) for name in required):
            raise AssistantError(f"{path}:{number}: expected an object with string fields {', '.join(required)}")
        row["_id"] = row["_id"].strip()
        rows.append(row)
    if not rows:
        raise AssistantError(f"{path} is empty")
    return rows


def _tsv(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in _lines(path) if line.strip()]


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise AssistantError(f"{path} is missing: a BEIR folder holds corpus.jsonl, queries.jsonl and qrels/") from None
    except (OSError, UnicodeDecodeError) as error:
        raise AssistantError(f"cannot read {path}: {error}") from None


def write_corpus(dataset: BeirDataset, corpus_dir: Path) -> dict[str, str]:
    """Write one `<id>.txt` (title, blank line, text) and `<id>.toml` per document; returns
    corpus document id -> BEIR id. Documents with neither title nor text are left out."""
    corpus_dir.mkdir(parents=True, exist_ok=True)
    ids: dict[str, str] = {}
    for beir_id, (title, text) in dataset.documents.items():
        if not (title or text.strip()):
            continue
        doc_id = re.sub(r"[^a-z0-9._-]+", "-", beir_id.lower()).strip("-._") or "doc"
        if doc_id in ids:
            raise AssistantError(f"BEIR documents {ids[doc_id]!r} and {beir_id!r} map to the same file name {doc_id}")
        ids[doc_id] = beir_id
        (corpus_dir / f"{doc_id}.txt").write_text(f"{title}\n\n{text}\n" if title else f"{text}\n", encoding="utf-8")
        if title:
            (corpus_dir / f"{doc_id}.toml").write_text(f"title = {json.dumps(title, ensure_ascii=False)}\n", encoding="utf-8")
    return ids


def ranked_documents(assistant: Assistant, question: str, ids: dict[str, str],
                     depth: int = RECALL_CUTOFF) -> tuple[list[str], bool]:
    """The first `depth` distinct documents, in the order a reader sees them (a result, then the
    passages folded into it as "also in"), asking for more passages while several passages of one
    document fill the list; and whether the answer was a refusal (the passages are listed anyway)."""
    k = depth
    while True:
        answer = assistant.ask(question, k)
        cited = (citation for result in answer.results for citation in (result.citation, *result.also_in))
        ranked = list(dict.fromkeys(ids[citation.doc_id] for citation in cited))
        if len(ranked) >= depth or len(answer.results) < k or k >= assistant.settings.max_k:
            return ranked[:depth], answer.abstained
        k = min(2 * k, assistant.settings.max_k)


def benchmark_settings(settings: Settings, chunking: str, workdir: Path) -> Settings:
    update = {
        "corpus_dir": workdir / "corpus",
        "index_dir": workdir / f"index-{chunking}",
        "candidates": max(settings.candidates, RECALL_CUTOFF),
        "max_k": 1_000_000,
    }
    if chunking == "document":
        update |= {"chunk_target_chars": WHOLE_DOCUMENT, "chunk_max_chars": WHOLE_DOCUMENT}
    return settings.model_copy(update=update)


def evaluate_beir(
    beir_dir: Path,
    settings: Settings,
    *,
    chunkings: tuple[str, ...] = CHUNKINGS,
    cache_dir: Path | None = None,
    embedders: dict[str, Embedder] | None = None,
    progress: bool = True,
) -> dict:
    """Build a temporary index per chunking and measure every mode; returns the report dict.
    Embeddings are cached in `cache_dir`, else `settings.embedding_cache_dir`, else `.cache/embeddings`."""
    dataset = load_beir(beir_dir)
    cache_dir = cache_dir or settings.embedding_cache_dir or DEFAULT_CACHE_DIR
    embedders = embedders or create_embedders(settings.model_copy(update={"embedding_cache_dir": cache_dir}), cached=True)
    runs = []
    with tempfile.TemporaryDirectory(prefix="beir-") as workdir:
        ids = write_corpus(dataset, Path(workdir) / "corpus")
        for chunking in chunkings:
            run_settings = benchmark_settings(settings, chunking, Path(workdir))
            started = time.perf_counter()
            index = build_index(run_settings, embedders, progress=progress)
            modes: dict[str, dict] = {}
            run = {
                "chunking": chunking,
                "chunk_target_chars": run_settings.chunk_target_chars,
                "chunk_max_chars": run_settings.chunk_max_chars,
                "passages": len(index.passages),
                "build_seconds": round(time.perf_counter() - started, 1),
                "modes": modes,
            }
            for mode in MODES:
                assistant = Assistant(index, embedders, run_settings.model_copy(update={"retrieval": mode}))
                modes[mode] = _measure(assistant, dataset, ids)
            runs.append(run)
    return {
        "dataset": dataset.name,
        "documents": len(ids),
        "queries": len(dataset.qrels),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "model": ", ".join(embedder.name for embedder in embedders.values()),
        "settings": {name: getattr(settings, name) for name in REPORTED_SETTINGS if name in Settings.model_fields}
        | {"candidates": max(settings.candidates, RECALL_CUTOFF)},
        "runs": runs,
        "published_ndcg@10": PUBLISHED_NDCG.get(dataset.name, {}),
    }


def _measure(assistant: Assistant, dataset: BeirDataset, ids: dict[str, str]) -> dict:
    ndcg, recall, refused = [], [], 0
    started = time.perf_counter()
    for query_id, relevance in dataset.qrels.items():
        ranked, abstained = ranked_documents(assistant, dataset.queries[query_id], ids)
        ndcg.append(ndcg_at_k(ranked, relevance))
        recall.append(recall_at_k(ranked, relevance))
        refused += abstained
    seconds = time.perf_counter() - started
    return {
        f"ndcg@{NDCG_CUTOFF}": round(sum(ndcg) / len(ndcg), 4),
        f"recall@{RECALL_CUTOFF}": round(sum(recall) / len(recall), 4),
        # Every benchmark query has a relevant document: a refusal is a false one.
        "false_abstention": round(refused / len(ndcg), 4),
        "ms_per_query": round(1000 * seconds / len(ndcg), 1),
    }


def format_beir(report: dict) -> str:
    published = report["published_ndcg@10"]
    lines = [
        f"BEIR {report['dataset']}: {report['documents']} documents, {report['queries']} test queries; "
        f"{report['date']}, {report['machine']}, model {report['model']}",
        "",
        "| chunking | passages | mode | nDCG@10 | Recall@100 | refused | ms/query | published nDCG@10 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in report["runs"]:
        sizes = (
            "one passage per document"
            if run["chunking"] == "document"
            else f"{run['chunking']} ({run['chunk_target_chars']}/{run['chunk_max_chars']} chars)"
        )
        for mode, figures in run["modes"].items():
            lines.append(
                f"| {sizes} | {run['passages']} | {mode} | {figures['ndcg@10']:.3f} | {figures['recall@100']:.3f} "
                f"| {figures.get('false_abstention', '–')} | {figures['ms_per_query']} | {published.get(mode, '–')} |"
            )
    lines.append("")
    lines.append(
        "Settings: " + ", ".join(f"{key} {value}" for key, value in report["settings"].items())
        + "; index build seconds: " + ", ".join(f"{run['chunking']} {run['build_seconds']}" for run in report["runs"])
    )
    return "\n".join(lines) + "\n"


def run_beir(beir_dir: Path, settings: Settings, as_json: bool = False) -> str | dict:
    """Entry point for `assistant eval --beir DIR [--json]`."""
    report = evaluate_beir(beir_dir, settings)
    return report if as_json else format_beir(report)
