import pytest
from conftest import CORPUS

from assistant.answer.coverage import CorpusCoverage

COMMON = frozenset({"capital", "central", "north"})


def coverage() -> CorpusCoverage:
    return CorpusCoverage.of_texts(["Sex workers in Almaty, Astana and Kyrgyzstan; in 2012 and 2024."], COMMON)


def test_places_and_years_no_document_mentions_are_found():
    assert coverage().unknown_terms("Is prostitution legal in Germany?") == ["Germany"]
    assert coverage().unknown_terms("HIV testing sites in Shymkent") == ["Shymkent"]
    assert coverage().unknown_terms("what changed in 2019?") == ["2019"]


def test_places_and_years_the_corpus_mentions_or_common_words_are_not():
    assert coverage().unknown_terms("sex workers from Kyrgyzstan in Almaty in 2012") == []
    assert coverage().unknown_terms("what about the capital, up north?") == []


@pytest.fixture(scope="module")
def seed_coverage():
    from assistant.embedding import vocabulary_words

    texts = [path.read_text(encoding="utf-8") for path in CORPUS.glob("*.txt")]
    return CorpusCoverage.of_texts(texts, vocabulary_words())


@pytest.mark.parametrize(
    ("question", "place"),
    [
        ("В Швеции наказывают клиентов?", "Швеция"),
        ("Легальна ли проституция в Германии?", "Германия"),
        ("что говорят в России о законе", "Россия"),
        ("Ресейде жезөкшелік үшін айыппұл канша", "Ресей"),
        ("Түркияға жұмысқа бару үшін виза керек пе?", "Түркия"),
        ("Шымкенттегі ЖИТС орталығы", "Шымкент"),
        ("how many people are living with hiv in russia?", "russia"),
    ],
)
def test_places_the_corpus_never_mentions_are_found_in_any_language_and_inflection(seed_coverage, question, place):
    assert place in seed_coverage.unknown_terms(question)


@pytest.mark.parametrize(
    "question",
    [
        "Жаһандық қор ақша беруді тоқтатты",  # ақша (money) is not АҚШ (the USA)
        "По новому закону всех считают жертвами?",  # жертвами is not the French département Gers (Жер)
        "Что поменялось после того, как закон приняли?",  # того is a word, not Togo
        "а сколько на самом деле?",  # самом is not Samoa
        "Как мигранту из Узбекистана оформить документы в Алматы?",  # both are in the corpus
    ],
)
def test_words_that_look_like_places_are_not_places(seed_coverage, question):
    assert seed_coverage.unknown_terms(question) == []


def test_the_indexed_lookup_finds_what_scanning_every_name_finds_on_every_gold_question(seed_coverage):
    """The reference: every unknown place's every name tried at every position of the question."""
    import re

    from conftest import REPO

    from assistant.answer.coverage import _matches, _words
    from assistant.evaluate.gold import load_gold

    latin = sorted({(tuple(_words(name)), name) for names in seed_coverage._unknown for name in names
                    if _words(name) and not re.search(r"[\u0400-\u04FF]", name)}, key=lambda item: -len(item[0]))

    def normal(term: str) -> str:
        return " ".join(_words(term))

    def reference(question: str) -> set[str]:
        words = _words(question)
        found = {name for keys, name in seed_coverage._cyrillic_names
                 for start in range(len(words) - len(keys) + 1)
                 if all(_matches(words[start + i], key) for i, key in enumerate(keys))}
        found |= {" ".join(parts) for parts, _ in latin
                  for start in range(len(words)) if tuple(words[start : start + len(parts)]) == parts}
        return {normal(name) for name in found}

    for question in load_gold(REPO / "eval" / "gold.jsonl"):
        found = {normal(term) for term in seed_coverage.unknown_terms(question.question) if not term.isdigit()}
        assert found == reference(question.question), question.question
