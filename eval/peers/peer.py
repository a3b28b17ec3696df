"""One system of `make bench`'s side-by-side table, timed in its own process on one thread.

Every system gets the same passages (the product index's), the same all-MiniLM-L6-v2 folder and
the same questions, each asked once (no cache can have seen it); the time is per question, from
the question text to the ranked passage ids, after a warm-up question. Prints one JSON line.

Systems: "txtai-hybrid" and "txtai-dense" (txtai's Embeddings, hybrid = dense + its BM25),
"st-faiss-bm25s-rrf" (sentence-transformers encodes, FAISS searches, bm25s scores, reciprocal rank
fusion), and "assistant" (this project's `Assistant.ask`, the whole answer: citations, highlights,
ranker, time; run with the product's own interpreter, the others with eval/peers/.venv's).

Usage: python eval/peers/peer.py SYSTEM --passages FILE --questions FILE --model DIR [--k 5]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[variable] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def load(path: str) -> list:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def txtai_search(passages: list[dict], model: str, hybrid: bool):
    from txtai import Embeddings

    embeddings = Embeddings(path=model, hybrid=hybrid, content=False)
    embeddings.index([(p["id"], p["text"], None) for p in passages])
    return lambda question, k: [hit[0] for hit in embeddings.search(question, k)]


def rrf_search(passages: list[dict], model: str):
    import bm25s
    import faiss
    import Stemmer
    from sentence_transformers import SentenceTransformer

    encoder = SentenceTransformer(model, device="cpu")
    vectors = encoder.encode([p["text"] for p in passages], normalize_embeddings=True, convert_to_numpy=True)
    dense = faiss.IndexFlatIP(vectors.shape[1])
    dense.add(vectors)
    stemmer = Stemmer.Stemmer("english")
    lexical = bm25s.BM25()
    lexical.index(bm25s.tokenize([p["text"] for p in passages], stopwords="en", stemmer=stemmer, show_progress=False),
                  show_progress=False)
    ids = [p["id"] for p in passages]

    def search(question: str, k: int) -> list:
        vector = encoder.encode([question], normalize_embeddings=True, convert_to_numpy=True)
        _, dense_rows = dense.search(vector, 50)
        tokens = bm25s.tokenize([question], stopwords="en", stemmer=stemmer, show_progress=False)
        lexical_rows, _ = lexical.retrieve(tokens, k=min(50, len(ids)), show_progress=False)
        scores: dict[int, float] = {}
        for ranking in (dense_rows[0], lexical_rows[0]):
            for rank, row in enumerate(ranking, start=1):
                if row >= 0:
                    scores[int(row)] = scores.get(int(row), 0.0) + 1 / (60 + rank)
        return [ids[row] for row in sorted(scores, key=lambda row: -scores[row])[:k]]

    return search


def assistant_search(passages: list[dict], model: str):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    from assistant.query.assistant import Assistant
    from assistant.settings import Settings

    # No question cache and no batching window: every question is encoded, as a new one would be.
    settings = Settings(question_cache_size=0, question_batch_window_ms=0.0)
    assistant = Assistant.open(settings)
    return lambda question, k: [r.citation.doc_id for r in assistant.ask(question, k).results]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("system", choices=["txtai-hybrid", "txtai-dense", "st-faiss-bm25s-rrf", "assistant"])
    parser.add_argument("--passages", required=True)
    parser.add_argument("--questions", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--k", type=int, default=5)
    args = parser.parse_args()
    if args.system != "assistant":
        import torch

        torch.set_num_threads(1)
    passages, questions = load(args.passages), load(args.questions)
    started = time.perf_counter()
    search = {
        "txtai-hybrid": lambda: txtai_search(passages, args.model, True),
        "txtai-dense": lambda: txtai_search(passages, args.model, False),
        "st-faiss-bm25s-rrf": lambda: rrf_search(passages, args.model),
        "assistant": lambda: assistant_search(passages, args.model),
    }[args.system]()
    ready = time.perf_counter() - started
    search("a warm-up question about the law", args.k)
    times = []
    for question in questions:
        began = time.perf_counter()
        search(question["question"], args.k)
        times.append((time.perf_counter() - began) * 1000)
    print(json.dumps({"system": args.system, "ready_s": ready, "ms": times,
                      "languages": [question.get("lang", "en") for question in questions]}))


if __name__ == "__main__":
    main()
