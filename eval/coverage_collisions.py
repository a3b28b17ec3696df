"""Which common words a version of the place check (assistant/answer/coverage.py) takes for a place
the corpus never mentions: each word of tests/answer/data/common_words_{kk,ru}.txt asked alone, in
its own language, as `word -> place`. The report of issue 21 (eval/coverage_collisions.md) ran it
on the check before and after the change:

    git show 328e57a:assistant/answer/coverage.py > /tmp/coverage_before.py
    .venv/bin/python eval/coverage_collisions.py /tmp/coverage_before.py
    .venv/bin/python eval/coverage_collisions.py            # the current check
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DATA = REPO / "tests" / "answer" / "data"


def load(path: Path | None):
    if path is None:
        from assistant.answer import coverage

        return coverage
    spec = importlib.util.spec_from_file_location("coverage_under_test", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def common_words(language: str) -> list[str]:
    lines = (DATA / f"common_words_{language}.txt").read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line and not line.startswith("#")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", nargs="?", type=Path, help="a coverage.py to load (default: the package's)")
    args = parser.parse_args()
    from assistant.embedding import vocabulary_words

    coverage = load(args.module)
    texts = [path.read_text(encoding="utf-8") for path in sorted((REPO / "corpus").glob("*.txt"))]
    check = coverage.CorpusCoverage.of_texts(texts, vocabulary_words())
    takes_language = "language" in inspect.signature(check.unknown_terms).parameters
    for language in ("kk", "ru"):
        words = common_words(language)
        found = {word: check.unknown_terms(word, language) if takes_language else check.unknown_terms(word)
                 for word in words}
        found = {word: places for word, places in found.items() if places}
        print(f"## {language}: {len(found)} of {len(words)} common words taken for a place\n")
        for word, places in found.items():
            print(f"- {word} -> {', '.join(places)}")
        print()


if __name__ == "__main__":
    main()
