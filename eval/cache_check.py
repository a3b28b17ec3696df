"""What reading the embedding cache costs: `EmbeddingCache.get` and `get_sparse` over N rows written
by hand (384-dimension vectors, 256 latent terms each, as the two models give), best of 5 reads,
in rows per second. For an A/B between two checkouts (the row checksums of issue 28 must not slow
`assistant index`), run it with each one's code on the path:

    PYTHONPATH=old .venv/bin/python eval/cache_check.py --rows 100000   # and PYTHONPATH=new ...

It prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from assistant.embedding.cache import EmbeddingCache
from assistant.embedding.sparse import SparseVector


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        cache = EmbeddingCache(Path(folder), "benchmark")
        keys = [cache.key(str(number)) for number in range(args.rows)]
        vectors = rng.standard_normal((args.rows, 384), dtype=np.float32)
        cache.put(dict(zip(keys, vectors, strict=True)))
        terms = SparseVector(np.arange(256, dtype=np.int32), rng.random(256, dtype=np.float32))
        cache.put_sparse(dict.fromkeys(keys, terms))
        timings = {}
        for name, read in (("get", cache.get), ("get_sparse", cache.get_sparse)):
            best = float("inf")
            for _ in range(5):
                started = time.perf_counter()
                found = read(keys)
                best = min(best, time.perf_counter() - started)
            assert len(found) == args.rows
            timings[name] = {"seconds": round(best, 3), "rows_per_second": round(args.rows / best)}
    print(json.dumps({"rows": args.rows, **timings}))


if __name__ == "__main__":
    main()
