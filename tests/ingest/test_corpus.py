import logging
import re
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from conftest import CORPUS, REPO
from doc_fixtures import make_docx, make_pdf

from assistant.errors import CorpusError
from assistant.ingest.corpus import corpus_fingerprint, document_id, load_corpus, load_document
from assistant.ingest.dates import date_problem, year_problem
from assistant.settings import Settings

LIMITS = Settings().extraction_limits
TODAY = date(2026, 12, 7)

SEEDS = REPO.parent / "shared" / "seeds"
SEED_IDS = {
    "000_105b29bdec2be5ff.txt": "eatg-2025-new-legislation-criminalizing-sex-work",
    "001_2af52cc33ce4d5de.txt": "swan-sex-services-legislation-review",
    "002_d4284c32f075f3c9.txt": "nswp-2015-amelia-report-sex-work",
    "003_c88e9a977c72048e.txt": "ippf-2012-hiv-prevention-report-card",
    "004_b2325f03e2d070d6.txt": "neglobal-2024-trafficking-law",
}


def test_seed_documents_load_with_their_metadata():
    documents = {d.doc_id: d for d in load_corpus(CORPUS, LIMITS)}
    assert set(SEED_IDS.values()) <= set(documents)
    report_card = documents["ippf-2012-hiv-prevention-report-card"].metadata
    assert report_card.title == "HIV Prevention Report Card for Sex Workers: Kazakhstan"
    assert report_card.date is None and report_card.url is None  # unknown stays unknown
    assert report_card.year == 2012
    assert documents["nswp-2015-amelia-report-sex-work"].metadata.date == "2015"
    assert documents["swan-sex-services-legislation-review"].metadata.year is None


@pytest.mark.skipif(not SEEDS.is_dir(), reason="../shared/seeds is not beside the repo")
def test_seed_documents_are_copied_unchanged():
    for seed, doc_id in SEED_IDS.items():
        assert (CORPUS / f"{doc_id}.txt").read_bytes() == (SEEDS / seed).read_bytes()


def test_a_document_without_metadata_gets_in_with_its_first_line_as_title(tmp_path, caplog):
    (tmp_path / "Field Notes 2024.txt").write_text("Outreach in Almaty\n\nWe met twelve sex workers.\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        [document] = load_corpus(tmp_path, LIMITS)
    assert document.doc_id == "field-notes-2024"
    assert document.metadata.title == "Outreach in Almaty"
    assert "no metadata" in caplog.text


def test_metadata_sidecar_is_read_and_checked(tmp_path):
    (tmp_path / "note.md").write_text("# A note\n\nSome text.\n", encoding="utf-8")
    (tmp_path / "note.toml").write_text('title = "A note"\ndate = "2015-11-05"\n', encoding="utf-8")
    [document] = load_corpus(tmp_path, LIMITS)
    assert (document.metadata.date, document.metadata.year) == ("2015-11-05", 2015)
    (tmp_path / "note.toml").write_text('title = "A note"\ndate = "5 Nov 2015"\n', encoding="utf-8")
    with pytest.raises(CorpusError, match="YYYY"):
        load_corpus(tmp_path, LIMITS)
    (tmp_path / "note.toml").write_text('title = "A note"\nauthor = "x"\n', encoding="utf-8")
    with pytest.raises(CorpusError, match="unknown field"):
        load_corpus(tmp_path, LIMITS)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "no text"), (b"  \n\n \n", "no text"), (b"\xff\xfe\x00bad", "not UTF-8")],
)
def test_unusable_documents_are_refused_with_a_clear_message(tmp_path, content, message):
    (tmp_path / "bad.txt").write_bytes(content)
    with pytest.raises(CorpusError, match=message):
        load_corpus(tmp_path, LIMITS)


def test_missing_or_empty_corpus_folder_is_refused(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "nowhere", LIMITS)
    with pytest.raises(CorpusError, match="no documents"):
        load_corpus(tmp_path, LIMITS)


def test_fingerprint_changes_with_any_document_or_metadata_edit(tmp_path):
    (tmp_path / "a.txt").write_text("Alpha text.\n", encoding="utf-8")
    before = corpus_fingerprint(tmp_path)
    (tmp_path / "a.toml").write_text('title = "Alpha"\n', encoding="utf-8")
    with_metadata = corpus_fingerprint(tmp_path)
    (tmp_path / "a.txt").write_text("Alpha text, edited.\n", encoding="utf-8")
    assert len({before, with_metadata, corpus_fingerprint(tmp_path)}) == 3


# A file's own date (issue 11) ------------------------------------------------------------------


@pytest.mark.parametrize(("made", "created", "date", "note"), [
    ("pdf", datetime(2024, 6, 3, tzinfo=timezone.utc), "2024-06-03", "from the PDF's creation date"),
    ("docx", datetime(2025, 2, 1), "2025-02-01", "from the Word file's creation date"),
    # Before the newest year the text cites (2024): a template's or a reset clock's date.
    ("pdf", datetime(2010, 1, 1, tzinfo=timezone.utc), None,
     "the PDF's creation date (2010) is older than the newest year the text cites (2024): not used"),
    ("pdf", datetime(2099, 1, 1, tzinfo=timezone.utc), None, "the PDF's creation date (2099-01-01) is in the future: not used"),
    # python-docx's blank template carries its own 2013 creation time into every file made from it.
    ("docx", None, None, None),
])
def test_a_files_own_date_dates_it_when_its_text_allows(tmp_path, caplog, made, created, date, note):
    path = tmp_path / f"report.{made}"
    make_pdf(path, created=created) if made == "pdf" else make_docx(path, created=created)
    meta = load_document(path, LIMITS).metadata
    assert (meta.date, meta.date_note) == (date, note)
    assert meta.year == (int(date[:4]) if date else None)
    assert meta.year_estimate == (None if date else 2024)  # undated: placed at its newest cited year
    assert (note is not None and "not used" in note) == ("left out" in caplog.text)


def test_flags_and_sidecars_win_over_the_files_own_date(tmp_path):
    path = make_pdf(tmp_path / "report.pdf", created=datetime(2024, 6, 3, tzinfo=timezone.utc))
    assert load_document(path, LIMITS, overrides={"date": "2023-05"}).metadata.date == "2023-05"
    path.with_suffix(".toml").write_text('title = "Field report"\ndate_note = "undated; cites 2023 data"\n')
    meta = load_document(path, LIMITS).metadata
    assert (meta.date, meta.date_note, meta.year_estimate) == (None, "undated; cites 2023 data", 2024)


@pytest.mark.parametrize(("name", "doc_id"), [
    ("Закон о торговле людьми 2024.pdf", "zakon-o-torgovle-lyud-mi-2024"),
    ("Қазақстандағы ВИЧ.docx", "qazaqstandaghy-vich"),
    ("Résumé final.txt", "resume-final"),
    ("swan-2015_report.v2.txt", "swan-2015_report.v2"),  # an id already: kept as it is
])
def test_document_ids_of_names_in_any_script_are_transliterated(name, doc_id):
    """Before (issue 28): a Cyrillic name was refused ("cannot make a document id from its name")."""
    assert document_id(Path(name)) == doc_id


def test_a_name_without_letters_or_digits_is_still_refused_with_what_to_do():
    with pytest.raises(CorpusError, match="rename it with letters or digits"):
        document_id(Path("—.pdf"))


# A source's date and year are range-checked (issue 28, finding 7) -----------------------------------


@pytest.mark.parametrize(("value", "problem"), [
    ("2015-11-05", None), ("1900", None), ("2027", None), ("2027-12-07", None),  # up to a year from today
    ("1899-12-31", "is out of range: a source's date lies between 1900 and a year from today (2027-12-07)"),
    ("2027-12-08", "is out of range"), ("2028", "is out of range"), ("9999-01-01", "is out of range"),
    ("2024-02-30", "is not YYYY, YYYY-MM or YYYY-MM-DD"), ("0000", "is not YYYY"), ("5 Nov 2015", "is not YYYY"),
])
def test_a_date_is_one_that_exists_from_1900_to_a_year_ahead(value, problem):
    found = date_problem(value, today=TODAY)
    assert (found is None) if problem is None else (found is not None and problem in str(found)), found


@pytest.mark.parametrize(("year", "ok"), [(1900, True), (2027, True), (1899, False), (2028, False), (20155, False),
                                          (0, False)])
def test_a_year_lies_from_1900_to_next_year(year, ok):
    assert (year_problem(year, today=TODAY) is None) is ok


@pytest.mark.parametrize(("sidecar", "says"), [
    ('title = "A note"\nyear = 20155\n', "note.toml: year 20155 is out of range: a source's year lies between 1900 and "),
    ('title = "A note"\nyear = 1015\n', "note.toml: year 1015 is out of range"),
    ('title = "A note"\ndate = "2999-01-01"\n', "note.toml: date 2999-01-01 is out of range"),
    ('title = "A note"\ndate = 1850-05-01\n', "note.toml: date 1850-05-01 is out of range"),  # a TOML date
])
def test_a_sidecar_out_of_range_is_refused_naming_it(tmp_path, sidecar, says):
    (tmp_path / "note.md").write_text("# A note\n\nSome text.\n", encoding="utf-8")
    (tmp_path / "note.toml").write_text(sidecar, encoding="utf-8")
    with pytest.raises(CorpusError, match=re.escape(says)) as refused:
        load_corpus(tmp_path, LIMITS)
    assert "\n" not in str(refused.value) and str(refused.value).endswith("or leave it out when unknown")
