"""Extraction of PDF, web page and Word files (fixtures made here), and exact, paged citations
from a real index (real model, real FAISS) of a small corpus holding one of each."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import REPO
from doc_fixtures import (
    DOCX_TITLE,
    HTML_BOILERPLATE,
    PDF_HEADER,
    PDF_PAGE_OF,
    PDF_TITLE,
    make_docx,
    make_html,
    make_pdf,
)

from assistant.answer.citation import citation_for
from assistant.ingest.corpus import load_document, page_at
from assistant.ingest.formats import page_offsets, strip_running_lines
from assistant.query.assistant import Assistant
from assistant.settings import Settings
from assistant.store.build import build_index

LIMITS = Settings().extraction_limits

SEED = REPO / "corpus" / "eatg-2025-new-legislation-criminalizing-sex-work"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("formats")
    return {
        "pdf": make_pdf(folder / "field-report.pdf"),
        "html": make_html(folder / "night-bus.html"),
        "docx": make_docx(folder / "shelter-guidelines.docx"),
    }


def test_pdf_text_is_clean(files):
    document = load_document(files["pdf"], LIMITS)
    text = document.text
    assert PDF_HEADER not in text and not re.search(r"Page \d of", text)  # running header, footer
    assert "HIV prevention materials" in text and "preven-" not in text  # hyphenation undone
    # A sentence that runs over a page break is one paragraph, wraps joined.
    assert "and they kept a record of every visit in a paper logbook." in text
    assert "\n" not in text[text.index("The team found") : text.index("paper logbook")]
    # The footnote marker stays with its sentence; the footnote is a paragraph of its own.
    assert "treatment services.12 Undocumented women" in text
    assert "\n\n12 Mobile clinic statistics" in text
    assert document.metadata.title == PDF_TITLE


def test_pdf_page_starts(files):
    document = load_document(files["pdf"], LIMITS)
    assert len(document.pages) == 3 and document.pages[0] == 0
    assert document.text[document.pages[1] :].startswith("record of every visit")
    assert document.text[document.pages[2] :].startswith("LEGAL AID")
    for sentence, page in PDF_PAGE_OF.items():
        assert page_at(document.pages, document.text.index(sentence)) == page


def test_page_offsets_follow_cleaning():
    raw = "First page text ends with preven-\ntion\n\nSecond page starts here."
    served = "First page text ends with prevention\n\nSecond page starts here."
    assert page_offsets(raw, (0, raw.index("Second")), served) == (0, served.index("Second"))
    assert page_offsets(raw, (0, len(raw)), served) == (0, len(served))  # an empty last page


def test_running_lines_and_page_numbers_are_left_out():
    bodies = [["Outreach began in March.", "Tests were free."], ["Clinics opened late.", "Few came."],
              ["Lawyers helped.", "Courts were slow."], ["The law changed.", "Police raids grew."]]
    pages = [["Annual report 2023", *body, f"- {n} -"] for n, body in enumerate(bodies, start=1)]
    pages[0] = ["iii", *pages[0]]
    assert strip_running_lines(pages) == bodies


def test_html_main_content_only(files):
    document = load_document(files["html"], LIMITS)
    assert document.text.startswith("Night bus outreach")
    for boilerplate in HTML_BOILERPLATE + ["Home", "Donate"]:
        assert boilerplate not in document.text
    meta = document.metadata
    assert (meta.title, meta.publisher, meta.date, meta.year) == ("Night bus outreach", "Harm Reduction Network", "2022-09-14", 2022)
    assert meta.url == "https://example.org/news/night-bus-outreach"
    assert [b.kind for b in document.clean.blocks][:3] == ["heading", "paragraph", "heading"]
    assert document.pages == ()


def test_docx_structure(files):
    document = load_document(files["docx"], LIMITS)
    assert document.metadata.title == DOCX_TITLE
    kinds = [(b.kind, document.text[b.start : b.end]) for b in document.clean.blocks]
    assert ("heading", "Admission") in kinds and ("heading", "Legal support") in kinds
    assert ("bullet", "- No referral letter is needed.") in kinds


@pytest.fixture(scope="module")
def mixed_assistant(files, embedders, tmp_path_factory) -> Assistant:
    corpus = tmp_path_factory.mktemp("mixed-corpus")
    for path in files.values():
        (corpus / path.name).write_bytes(path.read_bytes())
    for suffix in (".txt", ".toml"):
        (corpus / f"{SEED.name}{suffix}").write_bytes(SEED.with_suffix(suffix).read_bytes())
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path_factory.mktemp("mixed-index"))
    return Assistant(build_index(settings, embedders, progress=False), embedders, settings)


@pytest.mark.parametrize("question, doc_id, page", [
    ("Were migrants without propiska tested free of charge?", "field-report", 2),
    ("Which lawyer answers questions about the trafficking law by telephone?", "field-report", 3),
    ("Where does the night bus stop in Shymkent?", "night-bus", None),
    ("How long can a trafficking survivor stay at the shelter in Karaganda?", "shelter-guidelines", None),
])
def test_citations_are_exact_for_every_format(mixed_assistant, question, doc_id, page):
    answer = mixed_assistant.ask(question, 3)
    top = answer.results[0]
    assert top.citation.doc_id == doc_id
    served = mixed_assistant.index.documents[doc_id].text
    assert served[top.citation.start : top.citation.end] == top.text
    assert top.citation.page == page


def test_every_pdf_passage_cites_its_page(mixed_assistant):
    index = mixed_assistant.index
    document = index.documents["field-report"]
    passages = [p for p in index.passages if p.doc_id == "field-report"]
    assert passages
    for passage in passages:
        citation = citation_for(document, passage)
        assert document.text[citation.start : citation.end] == passage.text
        expected = next((pg for s, pg in PDF_PAGE_OF.items() if passage.text.startswith(s)), None)
        if expected is not None:
            assert citation.page == expected
        assert citation.page == 1 + sum(1 for start in document.pages[1:] if start <= passage.start)
    seed = next(p for p in index.passages if p.doc_id == SEED.name)
    assert citation_for(index.documents[SEED.name], seed).page is None
