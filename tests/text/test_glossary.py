import pytest
from conftest import CORPUS

from assistant.errors import AssistantError
from assistant.text.glossary import Glossary
from assistant.text.tokens import tokenize


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


def test_the_words_the_glossary_leaves_untranslated_are_the_rest_of_the_question():
    glossary = Glossary({"секс-работ*": "sex workers", "вич": "HIV", "лечение вич": "antiretroviral therapy"})
    question = "Где секс-работницам сделать тест на ВИЧ и лечение ВИЧ?"
    assert [key for _, _, key in glossary.matches(question)] == ["секс-работ*", "вич", "лечение вич"]
    assert tokenize(glossary.unmatched(question), "ru") == tokenize("Где сделать тест на и ?", "ru")
    assert glossary.unmatched("nothing here") == "nothing here"


def test_missing_glossary_is_empty_and_broken_one_is_an_error(tmp_path):
    assert Glossary.load(tmp_path / "none.toml").expansions("SW") == []
    (tmp_path / "bad.toml").write_text("[terms\n", encoding="utf-8")
    with pytest.raises(AssistantError, match="glossary"):
        Glossary.load(tmp_path / "bad.toml")


def test_glossary_brings_the_answer_to_abbreviated_questions(assistant):
    with_glossary = assistant.ask("why don't SWs use the GF condoms?", 3)
    assert any("poor quality" in r.text for r in with_glossary.results)


def test_every_expansion_is_words_the_corpus_uses(index):
    """Curated, not machine-made: each word an expansion adds occurs in some document, or it
    could never match."""
    glossary = Glossary.load(CORPUS / "glossary.toml")
    corpus_tokens = {token for document in index.documents.values() for token in tokenize(document.text)}
    missing = {key: expansion for key, expansion in glossary.terms.items()
               if not set(tokenize(expansion)) <= corpus_tokens}
    assert not missing


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Где мигранту без прописки сдать тест на ВИЧ?", ["migrants migrant", "propiska registration", "test testing", "HIV"]),
        ("Легальна ли проституция в Казахстане?", ["legal", "prostitution sex work", "Kazakhstan"]),
        ("дружественных кабинетах", ["friendly cabinets"]),
        ("Қазақстанда жезөкшелік заңсыз ба?", ["Kazakhstan", "prostitution sex work", "illegal"]),
        ("АИТВ-ға тестті қайдан тапсыруға болады?", ["HIV", "test testing"]),
        ("торговля людьми", ["human trafficking trafficking"]),
        ("адам саудасына қарсы заң", ["human trafficking trafficking", "law legislation"]),
    ],
)
def test_russian_and_kazakh_words_map_to_the_documents_terms_in_any_inflection(question, expected):
    assert Glossary.load(CORPUS / "glossary.toml").expansions(question) == expected


def test_a_star_matches_word_beginnings_only_and_keys_are_given_once(tmp_path):
    glossary = Glossary({"прописк*": "propiska", "закон*": "law", "незаконн*": "illegal"})
    assert glossary.expansions("без прописки, незаконно по закону") == ["propiska", "illegal", "law"]
    assert glossary.expansions("выпискам") == []
    (tmp_path / "twice.toml").write_text('[ru]\n"вич" = "HIV"\n[kk]\n"вич" = "HIV"\n', encoding="utf-8")
    with pytest.raises(AssistantError, match="twice"):
        Glossary.load(tmp_path / "twice.toml")


def test_the_fast_matcher_finds_what_one_big_alternation_finds_on_every_gold_question():
    """The reference: every key in one regular expression, longest first, scanned left to right."""
    import re

    from conftest import REPO

    from assistant.evaluate.gold import load_gold
    from assistant.text.glossary import _key_pattern

    glossary = Glossary.load(CORPUS / "glossary.toml")
    keys = sorted(glossary.terms, key=lambda k: (-len(k.replace("*", "")), k))
    alternation = re.compile("|".join(f"(?:{_key_pattern(key)})" for key in keys), re.IGNORECASE)
    single = [(re.compile(_key_pattern(key), re.IGNORECASE), key) for key in keys]

    def reference(question: str) -> list[str]:
        found: list[str] = []
        for match in alternation.finditer(question):
            key = next(key for pattern, key in single if pattern.fullmatch(match.group(0)))
            if glossary.terms[key] not in found:
                found.append(glossary.terms[key])
        return found

    for question in load_gold(REPO / "eval" / "gold.jsonl"):
        assert glossary.expansions(question.question) == reference(question.question), question.question


def test_kazakh_keys_also_match_as_typed_with_russian_letters(tmp_path):
    glossary = Glossary.load(CORPUS / "glossary.toml")
    typed = glossary.expansions("казакстанда жезокшелик кылмыс па?")
    assert typed == glossary.expansions("Қазақстанда жезөкшелік қылмыс па?")
    assert "prostitution sex work" in typed and "crimes criminal" in typed
    # A short key typed plainly would be another language's word ("құқ*" as "кук*": кукла, a doll).
    (tmp_path / "g.toml").write_text('[kk]\n"құқ*" = "rights"\n"заңсыз*" = "illegal"\n', encoding="utf-8")
    small = Glossary.load(tmp_path / "g.toml")
    assert small.expansions("кукла") == [] and small.expansions("құқығы") == ["rights"]
    assert small.expansions("бул заңсыз ба") == small.expansions("бул зансыз ба") == ["illegal"]
