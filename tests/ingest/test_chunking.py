import pytest
from conftest import CORPUS

from assistant.ingest.chunking import chunk_document, split_sentences
from assistant.ingest.corpus import load_corpus
from assistant.settings import Settings

LIMITS = Settings().extraction_limits


@pytest.fixture(scope="module")
def documents():
    return load_corpus(CORPUS, LIMITS)


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


def test_every_passage_is_an_exact_slice_of_its_served_document(index):
    for passage in index.passages:
        document = index.documents[passage.doc_id]
        assert passage.text == document.text[passage.start : passage.end]
        for start, end in passage.sentences:
            assert 0 <= start < end <= len(passage.text)


def test_passages_follow_the_report_card_sections(index):
    sections = {p.section for p in index.passages if p.doc_id == "ippf-2012-hiv-prevention-report-card"}
    assert "PREVENTION COMPONENT 2 / AVAILABILITY OF SERVICES / KEY POINTS" in sections
    assert "PREVENTION COMPONENT 5 / VIOLENCE / QUOTES AND ISSUES" in sections
    assert "KEY RECOMMENDATIONS" in sections
    cabinets = next(p for p in index.passages if "33 friendly cabinets" in p.text)
    assert cabinets.section == "PREVENTION COMPONENT 2 / AVAILABILITY OF SERVICES / KEY POINTS"


def test_a_quote_keeps_its_attribution(index):
    passage = next(p for p in index.passages if "We are interested in legalization of sex work" in p.text)
    assert "(Interview with the Director of “Kovcheg”)" in passage.text


def test_the_one_paragraph_per_line_article_is_split_into_paragraph_passages(index):
    article = [p for p in index.passages if p.doc_id == "neglobal-2024-trafficking-law"]
    assert len(article) >= 6
    assert any(p.text.startswith("On July 5, 2024, President Kassym-Jomart Tokayev") for p in article)


def test_passage_sizes_respect_the_settings(documents):
    for document in documents:
        for passage in chunk_document(document, target_chars=300, max_chars=500):
            assert len(passage.text) <= 500 or len(passage.sentences) == 1


def test_sentence_splitting_handles_abbreviations_footnotes_and_quotes():
    assert sentences("Police abuse (e.g. extortion, raids) is common. Dr. Smith agrees.") == [
        "Police abuse (e.g. extortion, raids) is common.",
        "Dr. Smith agrees.",
    ]
    assert sentences("Provisions apply (Art.270 Engagement, and Art.271 Organization). They matter.") == [
        "Provisions apply (Art.270 Engagement, and Art.271 Organization).",
        "They matter.",
    ]
    assert sentences("Sex workers have limited access to services.28 Undocumented migrants cannot.") == [
        "Sex workers have limited access to services.28",
        "Undocumented migrants cannot.",
    ]
    assert sentences("Life expectancy at birth (2011): 69.012 and rising. Next.") == [
        "Life expectancy at birth (2011): 69.012 and rising.",
        "Next.",
    ]
    assert sentences("• “We feel discrimination. But we know it.” (Focus group discussion, Kazakhstan)") == [
        "• “We feel discrimination.",
        "But we know it.” (Focus group discussion, Kazakhstan)",
    ]
    assert sentences("• First bullet.\n\n• Second bullet") == ["• First bullet.", "• Second bullet"]
