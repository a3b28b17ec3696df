"""The language registry: detection on every gold question, one default per script, and a fourth
language added as one `LanguageSpec` (a Latin-script one, which the old rules read as English)."""

from __future__ import annotations

import json
import re

import pytest
from conftest import REPO

from assistant import languages
from assistant.languages import LANGUAGE_NAMES, LANGUAGES, REGISTRY, SCRIPTS, LanguageSpec, detect_language, in_own_letters
from assistant.text.tokens import stem, tokenize


def test_every_gold_question_is_detected_in_its_language():
    """Russian and Kazakh typed in Latin letters ("skolko stoit test", "qylmystyq kodeks 270 bap")
    included: each is read in its language, and no English question is taken for another."""
    gold = [json.loads(line) for line in (REPO / "eval" / "gold.jsonl").read_text(encoding="utf-8").splitlines() if line]
    wrong = [(q["id"], q["lang"], detect_language(q["question"])) for q in gold if detect_language(q["question"]) != q["lang"]]
    latin = [q for q in gold if q["lang"] != "en" and not re.search("[\u0400-\u04ff]", q["question"])]
    assert len(gold) > 1000 and len(latin) >= 36 and not wrong


@pytest.mark.parametrize(("typed", "language", "read_as"), [
    ("legalna li prostitutsiya v kazakhstane", "ru", "легална ли проституция в казахстане"),
    ("4to delat esli policiya zabrala pasport", "ru", "что делат если полиция забрала паспорт"),
    ("mozhno li sdelat test na HIV besplatno", "ru", "можно ли сделат тест на HIV бесплатно"),
    ("kakoi shtraf? moi sutener zabiraet dengi", "ru", "какой штраф? мой сутенер забирает денги"),
    ("qazaqstanda zhezokshelik qylmys pa", "kk", "қазақстанда жезокшелик қылмыс па"),
    ("Qazaqstanda jezókshelik zańsyz ba", "kk", "қазақстанда жезөкшелик заңсыз ба"),
    ("kalai tegin test tapsyruga bolady", "kk", "калай тегин тест тапсыруга болады"),
    ("what if the cops take my condoms", "en", "what if the cops take my condoms"),
    ("Is sex work legal in Kazakhstan?", "en", "Is sex work legal in Kazakhstan?"),
    # English with names and symbols that have a "q" not before "u" (public benchmark questions).
    ("Is the law in Qatar or Iraq like Kazakhstan's?", "en", "Is the law in Qatar or Iraq like Kazakhstan's?"),
    ("Active Ly49Q induces neutrophil polarization.", "en", "Active Ly49Q induces neutrophil polarization."),
    ("qSOFA scores and chromosome 6q21", "en", "qSOFA scores and chromosome 6q21"),
    # Latin words in a question written in Cyrillic are names, kept as written.
    ("PrEP дәрісін тегін қайдан алуға болады?", "kk", "PrEP дәрісін тегін қайдан алуға болады?"),
    ("Кто выиграл Super Bowl 50?", "ru", "Кто выиграл Super Bowl 50?"),
])
def test_latin_typed_russian_and_kazakh_are_read_in_their_letters(typed, language, read_as):
    assert detect_language(typed) == language
    assert in_own_letters(typed, language) == read_as


def test_each_script_has_one_default_language_and_every_language_a_name():
    for script in SCRIPTS:
        assert sum(spec.script == script and spec.script_default for spec in REGISTRY.values()) == 1, script
    assert LANGUAGES == ("en", "ru", "kk") and set(LANGUAGE_NAMES) == set(LANGUAGES)


@pytest.mark.parametrize(("text", "language", "expected"), [
    ("Is sex work legal?", None, "en"), ("Легальна ли проституция?", None, "ru"), ("Жезөкшелік заңсыз ба?", None, "kk"),
    ("канша турады тест", None, "kk"), ("12345 ?!", None, "en"), ("12345", "ru", "ru"),
])
def test_detection_by_script_letters_and_words(text, language, expected):
    assert detect_language(text, **({"default": language} if language else {})) == expected


def test_a_fourth_language_in_latin_letters_is_one_registry_entry(monkeypatch):
    german = LanguageSpec("de", "Deutsch", "latin", "german", lambda: frozenset({"die", "der", "und", "ist"}),  # type: ignore[arg-type]
                          letters=frozenset("äöüß"), words=frozenset({"nicht", "ist", "wo"}))
    monkeypatch.setitem(languages.REGISTRY, "de", german)  # type: ignore[index]
    assert detect_language("Ist Sexarbeit in Kasachstan legal?") == "de"
    assert detect_language("Wo kann ich einen HIV-Test machen?") == "de"
    assert detect_language("Is sex work legal in Kazakhstan?") == "en"
    assert tokenize("Die Gesetze änderten sich", "de") == [stem("gesetze", "de"), stem("änderten", "de"), stem("sich", "de")]
    assert tokenize("Die Gesetze änderten sich", "de") != tokenize("Die Gesetze änderten sich", "en")
    # An English text keeps its English reading, and Cyrillic words in a German text are Russian.
    assert tokenize("The laws changed", "en") == tokenize("The laws changed")
    assert tokenize("Gesetze закон", "de")[1] == stem("закон", "ru")
