"""The operator area in real headless Chromium (Debian's) against a live uvicorn on a copy of the real
corpus: sign in, upload a Russian PDF and a Word file, confirm and correct what was found, watch the
change's progress, correct a year and see "current law first" follow it on the asking page, remove a
document, sign out; without a session nothing changes; a change without its CSRF token, a 50 MB
upload, a zip bomb and a renamed file are refused with the collection unchanged."""

from __future__ import annotations

import http.client
import io
import re
import zipfile
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

PASSWORD = "a long operator passphrase"
NOW = "законно ли сейчас продавать секс в Казахстане?"
"""A question about the present that the Russian report answers ("the law does not punish selling
sex itself") as do the 2024 law and a 2025 article."""


@pytest.fixture(scope="module")
def site(tmp_path_factory, web_assistant):
    """A live server on a copy of the real corpus, with an operator file: (address, corpus folder)."""
    from conftest_web import _serve, operator_copy

    assistant = operator_copy(web_assistant, tmp_path_factory.mktemp("operator-site"), PASSWORD)
    for address in _serve(assistant):
        yield address, assistant.settings.corpus_dir


@pytest.fixture
def operator_page(browser, site):
    context = browser.new_context(base_url=site[0], viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(120_000)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    yield page
    context.close()
    assert not problems, problems


def corpus_state(corpus) -> list[tuple[str, bytes]]:
    return sorted((path.name, path.read_bytes()) for path in corpus.iterdir())


def sign_in(page, password: str = PASSWORD) -> None:
    page.goto("/operator")
    expect(page).to_have_url(re.compile(r"/operator/sign-in$"))
    page.fill("#password", password)
    page.get_by_role("button", name="Sign in").click()


def wait_for_the_change(page) -> None:
    """On a change's progress page: until it says it is done."""
    expect(page).to_have_url(re.compile(r"/operator/jobs/"))
    expect(page.locator("#job-message")).to_contain_text("Done", timeout=300_000)


def best_match(browser, address: str) -> tuple[str, str]:
    """Ask NOW on the asking page (another browser, as anyone would): the best match's source link
    and its badges."""
    context = browser.new_context(base_url=address)
    page = context.new_page()
    try:
        page.goto("/")
        page.fill("#question", NOW)
        page.press("#question", "Enter")
        best = page.locator("#thread section.best").last
        expect(best).to_be_visible(timeout=60_000)
        return best.locator("a.best-link").get_attribute("href") or "", best.locator(".cite").inner_text()
    finally:
        context.close()


def test_an_operator_uploads_corrects_a_year_removes_and_signs_out(operator_page, browser, site, tmp_path):
    from doc_fixtures import DOCX_TITLE, RUSSIAN_TITLE, make_docx, make_russian

    page, (address, corpus) = operator_page, site
    sign_in(page, "not the password")
    expect(page.get_by_role("alert")).to_have_text("wrong password")
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="The collection")).to_be_visible()

    # Upload: nothing is added until the details found are confirmed (here: corrected).
    page.get_by_role("link", name="Add documents").click()
    pdf = make_russian(tmp_path / "алматы-отчёт.pdf")  # a Russian report, named in Russian
    docx = make_docx(tmp_path / "outreach-guide.docx")
    page.set_input_files("#files", [str(pdf), str(docx)])
    before = corpus_state(corpus)
    page.get_by_role("button", name="Check the files").click()
    expect(page.get_by_role("heading", name="Confirm the details")).to_be_visible()
    expect(page.locator("#title-0")).to_have_value(RUSSIAN_TITLE)
    expect(page.locator("#language-0")).to_have_value("ru")
    assert corpus_state(corpus) == before
    page.fill("#publisher-0", "Степной альянс здоровья")
    page.fill("#date-0", "2010")
    page.fill("#publisher-1", "Outreach NGO")
    page.fill("#date-1", "2023-03")
    page.get_by_role("button", name="Add 2 documents").click()
    wait_for_the_change(page)
    links = page.locator(".job-documents a")
    expect(links).to_have_count(2)
    russian_id = (links.first.inner_text()).strip()
    assert russian_id == "almaty-otchet" and links.nth(1).inner_text().strip() == "outreach-guide"
    page.get_by_role("link", name="Back to the collection").click()
    row = page.locator("table.collection tr", has_text=RUSSIAN_TITLE)
    expect(row).to_contain_text("2010")
    expect(row).to_contain_text("Степной альянс здоровья")

    # An older source for a question about now: the newest law's source comes first.
    href, badges = best_match(browser, address)
    assert russian_id not in href, (href, badges)
    assert "newest source" in badges

    # A correction of its year to 2026 makes it the current source: first, marked newest.
    row.get_by_role("link", name=re.compile("^Correct")).click()
    expect(page.locator("#date")).to_have_value("2010")
    page.fill("#date", "2026")
    page.get_by_role("button", name="Save the corrections").click()
    wait_for_the_change(page)
    href, badges = best_match(browser, address)
    assert f"/documents/{russian_id}?" in href, (href, badges)
    assert "2026" in badges and "newest source" in badges

    # Removal, after a confirmation step.
    page.get_by_role("link", name="Back to the collection").click()
    page.locator('a[href="/operator/documents/outreach-guide/remove"]').click()
    expect(page.get_by_role("heading", name="Remove a document")).to_be_visible()
    page.get_by_role("button", name="Remove it").click()
    wait_for_the_change(page)
    assert not any(path.stem == "outreach-guide" for path in corpus.iterdir())
    page.get_by_role("link", name="Back to the collection").click()
    expect(page.locator("table.collection")).not_to_contain_text(DOCX_TITLE)
    expect(page.locator("table.collection")).to_contain_text(RUSSIAN_TITLE)
    expect(page.locator(".trail")).to_contain_text("removed")

    # Signing out ends the session: the operator pages send to sign-in again.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/operator/sign-in$"))
    page.goto("/operator")
    expect(page).to_have_url(re.compile(r"/operator/sign-in$"))


def test_without_a_session_nothing_changes(operator_page, site):
    page, (_, corpus) = operator_page, site
    before = corpus_state(corpus)
    doc_id = sorted(path.stem for path in corpus.iterdir())[0]
    request = page.request
    assert request.get("/api/operator/documents").status == 401
    assert request.delete(f"/api/operator/documents/{doc_id}").status == 401
    assert request.patch(f"/api/operator/documents/{doc_id}", data={"date": "2001"}).status == 401
    assert request.post("/api/operator/documents", multipart={
        "files": {"name": "x.txt", "mimeType": "text/plain", "buffer": b"X report\n\nText.\n"}}).status == 401
    for path in ("/operator", "/operator/upload", f"/operator/documents/{doc_id}/edit",
                 f"/operator/documents/{doc_id}/remove"):
        page.goto(path)
        expect(page).to_have_url(re.compile(r"/operator/sign-in$"))
    removal = request.post(f"/operator/documents/{doc_id}/remove", form={"csrf": "x"}, max_redirects=0)
    assert removal.status == 303 and removal.headers["location"].endswith("/operator/sign-in")
    assert corpus_state(corpus) == before


def test_a_change_without_its_csrf_token_is_refused(operator_page, site):
    page, (_, corpus) = operator_page, site
    sign_in(page)
    before = corpus_state(corpus)
    doc_id = sorted(path.stem for path in corpus.iterdir())[0]
    # The signed-in browser's own cookie, but no token: what a forged request from another page has.
    statuses = page.evaluate("""async (doc) => {
        const remove = await fetch(`/api/operator/documents/${doc}`, {method: "DELETE"});
        const edit = await fetch(`/api/operator/documents/${doc}`, {method: "PATCH",
            headers: {"content-type": "application/json"}, body: JSON.stringify({date: "2001"})});
        const form = await fetch(`/operator/documents/${doc}/remove`, {method: "POST",
            headers: {"content-type": "application/x-www-form-urlencoded"}, body: "csrf=forged"});
        return [remove.status, edit.status, form.status];
    }""", doc_id)
    assert statuses == [403, 403, 403]
    assert corpus_state(corpus) == before


def _zip_bomb(path):
    """A .docx whose document.xml inflates to 200 MB (from a few hundred KB)."""
    from doc_fixtures import make_docx

    make_docx(path)
    source = io.BytesIO()
    with zipfile.ZipFile(path) as original, zipfile.ZipFile(source, "w", zipfile.ZIP_DEFLATED) as copy:
        for item in original.infolist():
            if item.filename != "word/document.xml":
                copy.writestr(item.filename, original.read(item))
        with copy.open("word/document.xml", "w", force_zip64=True) as handle:
            handle.write(b'<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/'
                         b'wordprocessingml/2006/main"><w:body>')
            paragraph = b"<w:p><w:r><w:t>" + b"a" * 990 + b"</w:t></w:r></w:p>"
            for _ in range(200_000):
                handle.write(paragraph)
            handle.write(b"</w:body></w:document>")
    path.write_bytes(source.getvalue())
    return path


def test_a_huge_upload_a_zip_bomb_and_a_renamed_file_are_refused(operator_page, site, tmp_path):
    page, (_, corpus) = operator_page, site
    sign_in(page)
    before = corpus_state(corpus)
    renamed = tmp_path / "report.docx"
    renamed.write_bytes(b"%PDF-1.4\n" + b"0" * 2000)
    bomb = _zip_bomb(tmp_path / "bomb.docx")
    assert bomb.stat().st_size < 2_000_000
    huge = tmp_path / "huge.txt"
    huge.write_bytes(b"a" * 50_000_000)
    for path, says in [(renamed, "report.docx is a PDF, not .docx"), (bomb, "unpacks to")]:
        page.goto("/operator/upload")
        page.set_input_files("#files", str(path))
        page.get_by_role("button", name="Check the files").click()
        expect(page.get_by_role("alert")).to_contain_text(says)
        assert corpus_state(corpus) == before
    # 50 MB: the page says so before sending it; sent anyway, the server refuses it unread.
    page.goto("/operator/upload")
    page.set_input_files("#files", str(huge))
    page.get_by_role("button", name="Check the files").click()
    expect(page.locator("#too-big")).to_contain_text("over the limit of 20 MB")
    expect(page).to_have_url(re.compile(r"/operator/upload$"))
    # Sent anyway (its headers only: the server answers before the body, and closes the connection).
    cookie = next(c["value"] for c in page.context.cookies() if c["name"] == "operator_session")
    connection = http.client.HTTPConnection(urlsplit(site[0]).netloc, timeout=30)
    connection.putrequest("POST", "/operator/upload")
    for name, value in [("content-type", "multipart/form-data; boundary=x"), ("content-length", str(50_000_317)),
                        ("accept", "text/html"), ("cookie", f"operator_session={cookie}")]:
        connection.putheader(name, value)
    connection.endheaders()
    refused = connection.getresponse()
    assert refused.status == 413 and "the upload is over 20,000,000 bytes" in refused.read().decode()
    connection.close()
    assert corpus_state(corpus) == before


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_operator_pages_pass_axe_on_a_phone(browser, site, tmp_path, scheme):
    from axe_playwright_python.sync_playwright import Axe

    context = browser.new_context(base_url=site[0], viewport={"width": 360, "height": 740}, is_mobile=True,
                                  color_scheme=scheme)
    page = context.new_page()
    page.set_default_timeout(120_000)
    axe, problems = Axe(), {}

    def check(name: str) -> None:
        results = axe.run(page)
        if results.violations_count:
            problems[name] = results.generate_report()

    try:
        page.goto("/operator/sign-in?lang=ru")
        check("sign-in")
        page.fill("#password", PASSWORD)
        page.locator("form.sign-in button").click()
        page.locator("table.collection").wait_for()
        check("collection")
        doc_id = page.locator("a[href*='/edit']").first.get_attribute("href").split("/")[3]
        for name, path in [("upload", "/operator/upload?lang=ru"), ("edit", f"/operator/documents/{doc_id}/edit?lang=ru"),
                           ("remove", f"/operator/documents/{doc_id}/remove?lang=ru")]:
            page.goto(path)
            check(name)
        page.goto("/operator/upload?lang=ru")
        (tmp_path / "kappa.txt").write_text("Kappa report\n\nA night bus hands out condoms.\n", encoding="utf-8")
        page.set_input_files("#files", str(tmp_path / "kappa.txt"))
        page.locator("form#upload button[type=submit]").click()
        page.locator("fieldset.upload-file").wait_for()
        check("preview")
        page.goto(f"/operator/documents/{doc_id}/edit?lang=ru")
        page.fill("#title", page.locator("#title").input_value() + " ")  # stripped: no change at all
        page.fill("#publisher", f"Axe check ({scheme})")  # a change, whichever test ran first
        page.locator("form.operator-form button[type=submit]").click()
        page.locator("#job").wait_for()
        check("progress")
        expect(page.locator("#job-message")).to_contain_text("Готово", timeout=300_000)
        check("done")
        assert not problems, "\n".join(f"{name}: {report}" for name, report in problems.items())
    finally:
        context.close()
