"""The place and year check: it refuses questions about places the corpus never mentions, and never
fires on a common word.

Before issue 21 it matched Russian and Kazakh names of any language by word beginnings, and took
181 of the 20,000 common Russian words and 118 of the 27,840 common Kazakh words of
tests/answer/data/ for places: "ала" (take) for Алье (Allier), "таза" (clean) for Таза (Taza),
"тарихи" (historical) for Тариха (Tarija), "находится" for Наход (Náchod), "материалы" for Матера
(Matera); eval/coverage_collisions.md lists them all, and `eval/coverage_collisions.py` makes the list.
"""

import json
import re

import pytest
from conftest import CORPUS, REPO

from assistant.answer import coverage as coverage_module
from assistant.answer.coverage import COMMON_WORD_NAMES, CorpusCoverage
from assistant.languages import typed_plainly

COMMON = frozenset({"capital", "central", "north"})
DATA = REPO / "tests" / "answer" / "data"
SENTENCES = {"kk": "Заңда {} туралы не айтылған?", "ru": "Что в законе сказано про {}?"}
"""A question of each language around a common word (its own words name no place)."""


def coverage() -> CorpusCoverage:
    return CorpusCoverage.of_texts(["Sex workers in Almaty, Astana and Kyrgyzstan; in 2012 and 2024."], COMMON)


def common_words(language: str) -> list[str]:
    lines = (DATA / f"common_words_{language}.txt").read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line and not line.startswith("#")]


def places_named(check: CorpusCoverage, question: str, language=None) -> list[str]:
    return [term for term in check.unknown_terms(question, language) if not term.isdigit()]


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
        ("Is sex work legal in Germany?", "Germany"),
        ("how many people are living with hiv in russia?", "russia"),
        ("В Швеции наказывают клиентов?", "Швеция"),
        ("Законна ли проституция в Швеции?", "Швеция"),
        ("Легальна ли проституция в Германии?", "Германия"),
        ("легальна ли проституция в германии", "Германия"),
        ("что говорят в России о законе", "Россия"),
        ("Сколько стоит тест на ВИЧ в Южной Корее?", "Южная Корея"),
        ("Во сколько открывается СПИД-центр в Шымкенте?", "Шымкент"),
        ("Германияда секс-жұмыс заңды ма?", "Германия"),
        ("Ресейде жезөкшелік үшін айыппұл канша", "Ресей"),
        ("Түркияға жұмысқа бару үшін виза керек пе?", "Түркия"),
        ("Шымкенттегі ЖИТС орталығы", "Шымкент"),
        ("Оңтүстік Кореяда секс-жұмыс заңды ма?", "Оңтүстік Корея"),
        ("АҚШ-та жезөкшелік заңды ма?", "АҚШ"),
        ("Ал Қытайда ше?", "Қытай"),
        ("Что говорит закон о Кампании?", "Кампания"),
    ],
)
def test_places_the_corpus_never_mentions_are_found_in_any_language_and_inflection(seed_coverage, question, place):
    assert place in seed_coverage.unknown_terms(question)


@pytest.mark.parametrize(
    "question",
    [
        "АИТВ-ның алдын алу қызметін қанша достық кабинет көрсетеді?",  # алдын, алу are not Алье (Allier)
        "Полиция мені ұстай ала ма?",
        "Тегін кеңес ала аламын ба?",
        "Мигранттар медициналық көмек ала ма?",
        "Таза шприцтерді қайдан алуға болады?",  # таза (clean) is not Taza, Morocco
        "Полиция пара сұраса не істеу керек?",  # пара (a bribe) is not Pará, Brazil
        "Қылмыстық жауапкершілікке тарту үшін не керек?",  # тарту (to bring) is not Tartu, Estonia
        "Жаһандық қор ақша беруді тоқтатты",  # ақша (money) is not АҚШ (the USA)
        "Қытай тілінде ақпарат бар ма?",  # қытай (Chinese), first in the sentence
        "По новому закону всех считают жертвами?",  # жертвами is not the French département Gers (Жер)
        "Что поменялось после того, как закон приняли?",  # того is a word, not Togo
        "а сколько на самом деле?",  # самом is not Samoa
        "Где находится ближайший центр?",  # находится is not Náchod
        "Какие материалы есть про закон?",  # материалы is not Matera
        "Пара вопросов о новом законе",  # пара (a pair), first in the sentence
        "Информационная кампания по ВИЧ ещё идёт?",  # кампания (a campaign) is not Campania
        "Как мигранту из Узбекистана оформить документы в Алматы?",  # both are in the corpus
    ],
)
def test_words_that_look_like_places_are_not_places(seed_coverage, question):
    assert seed_coverage.unknown_terms(question) == []


@pytest.mark.parametrize("language", ["kk", "ru"])
def test_no_common_word_is_ever_a_place(seed_coverage, language):
    """Each word alone, capitalised as a question's first word, and inside a question of its language."""
    wrong = {}
    for word in common_words(language):
        for question, asked in ((word, language), (word.capitalize(), language), (SENTENCES[language].format(word), None)):
            if found := places_named(seed_coverage, question, asked):
                wrong[question] = found
    assert wrong == {}


def test_the_names_that_need_a_capital_are_exactly_those_common_words_would_match(seed_coverage, monkeypatch):
    """COMMON_WORD_NAMES is no hand-kept stoplist: it is what the common words of each language
    match when every name counts in any case, as written or as typed without the language's own
    letters ("ғана" as "гана" is Ghana)."""
    monkeypatch.setattr(coverage_module, "COMMON_WORD_NAMES", {})
    check = CorpusCoverage(seed_coverage.corpus_words, seed_coverage.common_words, seed_coverage.corpus_text)
    for language in ("kk", "ru"):
        typed = {form for word in common_words(language) for form in (word, typed_plainly(word, language))}
        matched = {place for word in typed for question in (word, word.capitalize())
                   for place in places_named(check, question, language)}
        assert matched == COMMON_WORD_NAMES[language], language


def test_the_corpus_never_names_a_place_it_does_not_mention(seed_coverage):
    wrong = {}
    for path in CORPUS.glob("*.txt"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and (found := places_named(seed_coverage, line)):
                wrong[line] = found
    assert wrong == {}


def test_no_gold_question_the_documents_answer_is_refused_for_a_place(seed_coverage):
    gold = [json.loads(line) for line in (REPO / "eval" / "gold.jsonl").read_text(encoding="utf-8").splitlines() if line]
    answerable = [question for question in gold if not question["out_of_scope"]]
    assert {question["lang"] for question in answerable} == {"en", "ru", "kk"}
    wrong = {q["question"]: found for q in answerable if (found := places_named(seed_coverage, q["question"]))}
    assert wrong == {}


def test_the_indexed_lookup_finds_what_scanning_every_name_finds_on_every_gold_question(seed_coverage):
    """The reference: every name of the question's language tried at every position of the question
    as read (Latin-typed Russian and Kazakh in Cyrillic); an unknown name inside a known one of more
    words ("Зеландия" in "Новой Зеландии") does not count."""
    from assistant.answer.coverage import _fold, _name_index, _written_as_proper_noun
    from assistant.languages import detect_language, in_own_letters, script_language, script_of

    def every(found_places):
        return {language: {id(entry): entry for found in by_form.values() for entry in found}.values()
                for language, by_form in _name_index(found_places).items()}

    unknown, known = every(seed_coverage._unknown), every(seed_coverage._known)

    def matches(entries, question: str) -> list[tuple[int, int, str]]:
        spans = list(re.finditer(r"[^\W_]+", question))
        words = [_fold(match.group(0).lower()) for match in spans]
        language = detect_language(question)
        found = []
        for start, word in enumerate(words):
            for entry in entries[script_language(script_of(word), language).code]:
                if word not in entry.forms[0]:
                    continue
                end = start + len(entry.forms)
                if end <= len(words) and all(w in forms for w, forms in zip(words[start:end], entry.forms, strict=True)) \
                        and (not entry.proper_only or _written_as_proper_noun(question, spans[start])):
                    found.append((start, end, " ".join(_fold(w) for w in re.findall(r"[^\W_]+", entry.name.lower()))))
        return found

    def reference(question: str) -> set[str]:
        question = in_own_letters(question, detect_language(question))
        inside_known = [(start, end) for start, end, _ in matches(known, question) if end - start > 1]
        return {name for start, end, name in matches(unknown, question)
                if not any(first <= start and end <= last for first, last in inside_known)}

    for line in (REPO / "eval" / "gold.jsonl").read_text(encoding="utf-8").splitlines():
        question = json.loads(line)["question"]
        found = {" ".join(_fold(w) for w in re.findall(r"[^\W_]+", term.lower()))
                 for term in places_named(seed_coverage, question)}
        assert found <= reference(question), question
        assert bool(found) == bool(reference(question)), question


def test_places_the_corpus_mentions_are_named_in_every_language_except_the_collections_own():
    check = CorpusCoverage.of_texts(["Sex work in Kazakhstan and Tajikistan.", "Kazakhstan's law of 2024.",
                                     "HIV in Kazakhstan."], COMMON)
    tajikistan = ("Republic of Tajikistan", "Tajikistan")
    assert check.places_named("does tajikistan jail sex workers?") == [tajikistan]
    assert check.places_named("в Таджикистане сажают за проституцию?", "ru") == [tajikistan]
    assert check.places_named("Тәжікстанда жезөкшелік үшін жаза бар ма?", "kk") == [tajikistan]
    # Kazakhstan is what most documents are about: a passage need not name it to be about it.
    assert check.places_named("is sex work legal in kazakhstan?") == []
    # Places no document mentions are the refusal's, not these.
    assert check.places_named("is sex work legal in Germany?") == []
