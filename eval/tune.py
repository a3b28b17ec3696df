"""Choose chunk size and fusion on the dev split: build an index per chunking setting, then score
every retrieval variant on it. Usage: python eval/tune.py [--split dev] [--targets 300,600,900]"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from assistant.embedding import create_embedders
from assistant.evaluate.gold import evaluate, load_gold
from assistant.store.build import build_index
from assistant.settings import Settings

VARIANTS = {
    "lexical": {"retrieval": "lexical"},
    "dense": {"retrieval": "dense"},
    "hybrid-rrf": {"retrieval": "hybrid", "fusion": "rrf"},
    **{f"hybrid-score-{w}": {"retrieval": "hybrid", "fusion": "score", "fusion_dense_weight": w} for w in (0.4, 0.5, 0.6, 0.7, 0.8)},
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", default="dev")
    parser.add_argument("--targets", default="300,450,600,800,1000")
    parser.add_argument("--max-chars", type=int, default=1000)
    args = parser.parse_args()
    embedders = create_embedders(Settings())
    gold = load_gold(Settings().gold_file)
    print("| chunk target | passages | variant | hit@1 | hit@3 | hit@5 | mrr@10 |")
    print("|---|---|---|---|---|---|---|")
    for target in [int(t) for t in args.targets.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(index_dir=Path(tmp), chunk_target_chars=target, chunk_max_chars=max(args.max_chars, target))
            build_index(settings, embedders, progress=False)
            report = evaluate(settings, gold, split=args.split, modes=VARIANTS)
            for name, m in report["modes"].items():
                print(f"| {target} | {report['index']['passages']} | {name} | {m['hit@1']:.3f} | {m['hit@3']:.3f} | {m['hit@5']:.3f} | {m['mrr@10']:.3f} |")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
