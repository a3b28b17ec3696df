import pytest

from assistant.errors import AssistantError
from assistant.glossary import Glossary
from conftest import CORPUS


def test_the_corpus_glossary_expands_what_users_type():
    glossary = Glossary.load(CORPUS / "glossary.toml")
    assert glossary.expansions("why don't SWs use the GF condoms?") == ["sex workers", "Global Fund"]
    assert glossary.expansions("number of PLHIV in Kazakstan") == ["people living with HIV", "Kazakhstan"]
    assert "STI dispensary friendly cabinet" in glossary.expansions("STI clinic cost")
    assert glossary.expansions("Article 270 of the code") == ["Art"]


def test_terms_match_whole_words_only():
    glossary = Glossary({"sw": "sex worker", "art": "antiretroviral therapy"})
    assert glossary.expansions("swan and article and Art.270") == []
    assert glossary.expansions("SW and ART") == ["sex worker", "antiretroviral therapy"]


def test_missing_glossary_is_empty_and_broken_one_is_an_error(tmp_path):
    assert Glossary.load(tmp_path / "none.toml").expansions("SW") == []
    (tmp_path / "bad.toml").write_text("[terms\n", encoding="utf-8")
    with pytest.raises(AssistantError, match="glossary"):
        Glossary.load(tmp_path / "bad.toml")


def test_glossary_brings_the_answer_to_abbreviated_questions(assistant):
    with_glossary = assistant.ask("why don't SWs use the GF condoms?", 3)
    assert any("poor quality" in r.text for r in with_glossary.results)
