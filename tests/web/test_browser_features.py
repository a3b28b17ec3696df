"""The chat page as people use it, in real Chromium against a real server and the real models:
answers with addresses (History API, Back and Forward, shared links with JS off), filters, copying
in several formats, private feedback, Russian, change over time, offline /docs, and axe-core."""

from __future__ import annotations

import json
import os
import re
import sqlite3
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from assistant.evaluate.gold import GoldQuestion, is_hit
from assistant.feedback import export_gold

FIRST = "Where can a migrant without propiska get an HIV test?"
SECOND = "When did the 2024 anti-trafficking law take effect?"
LEGAL = "Is sex work legal in Kazakhstan?"
RUSSIAN = "Кто подписал закон о противодействии торговле людьми?"


def ask(page, question: str) -> None:
    box = page.locator("#question")
    box.fill(question)
    box.press("Enter")
    expect(page.locator("#thread .exchange").last.locator("li.card").first).to_be_visible()


def query(url: str) -> dict:
    return parse_qs(urlsplit(url).query)


def cited(page, exchange: int = -1) -> list[str]:
    article = page.locator("#thread .exchange").nth(exchange)
    return [link.get_attribute("href") for link in article.locator("li.card .cite a").all()]


def test_asking_changes_the_address_and_back_walks_the_conversation(public_page):
    """With the private mode off, each answer has its own address and history entry."""
    page = public_page
    page.goto("/")
    ask(page, FIRST)
    assert query(page.url) == {"q": [FIRST]}
    expect(page.locator("#question-1")).to_be_focused()
    ask(page, SECOND)
    assert query(page.url) == {"q": [SECOND]}
    expect(page.locator("#question-2")).to_be_focused()
    expect(page).to_have_title(f"{SECOND} — Cited-passage assistant")
    first, second = cited(page, 0), cited(page, 1)

    page.locator("#thread .exchange").last.locator(".cite a").first.click()
    page.wait_for_url(re.compile(r"/documents/.+#passage$"))
    expect(page.locator("mark#passage")).to_be_visible()

    page.go_back()
    expect(page.locator("#thread .exchange")).to_have_count(2)
    assert query(page.url) == {"q": [SECOND]}
    assert cited(page, 0) == first and cited(page, 1) == second
    expect(page.locator("#question")).to_have_value("")  # the question is in the thread, not the box

    page.go_back()
    expect(page.locator("#thread .exchange")).to_have_count(1)
    assert query(page.url) == {"q": [FIRST]} and cited(page, 0) == first
    page.go_back()
    expect(page.locator("#thread .exchange")).to_have_count(0)
    expect(page.locator("#intro")).to_be_visible()
    page.go_forward()
    page.go_forward()
    expect(page.locator("#thread .exchange")).to_have_count(2)
    assert cited(page, 1) == second

    page.reload()  # reloading shows the same conversation
    expect(page.locator("#thread .exchange")).to_have_count(2)
    assert cited(page, 0) == first and cited(page, 1) == second


def test_a_shared_link_shows_the_same_answer_with_javascript_off(public_page, browser, web_assistant):
    page = public_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    doc_id = web_assistant.ask(LEGAL).results[0].citation.doc_id
    page.goto("/")
    page.locator("#filters summary").click()
    page.locator(f'input[name="doc_ids"][value="{doc_id}"]').check()
    ask(page, LEGAL)
    card = page.locator("li.card").first
    card.get_by_role("button", name="Share").click()
    expect(card.locator(".action-status")).to_have_text("Link copied")
    link = page.evaluate("navigator.clipboard.readText()")
    assert link == page.url and query(link) == {"q": [LEGAL], "doc_ids": [doc_id]}
    marks = page.locator("li.card mark").all_text_contents()

    context = browser.new_context(java_script_enabled=False)
    try:
        plain = context.new_page()
        plain.goto(link)
        expect(plain.locator("li.card")).to_have_count(len(marks))
        assert plain.locator("li.card mark").all_text_contents() == marks
        assert [a.get_attribute("href") for a in plain.locator("li.card .cite a").all()] == cited(page)
        expect(plain.locator("#question")).to_have_value(LEGAL)
        expect(plain.locator(f'input[value="{doc_id}"]')).to_be_checked()
        expect(plain.locator("h1")).to_have_count(1)
    finally:
        context.close()


def test_filters_narrow_the_results_and_go_into_the_address(public_page, web_assistant):
    page = public_page
    documents = web_assistant.index.documents
    page.goto("/")
    filters = page.locator("#filters")
    expect(filters.locator("fieldset")).to_be_hidden()  # compact until opened
    filters.locator("summary").click()
    page.get_by_label("From year").fill("2020")
    ask(page, LEGAL)
    assert query(page.url) == {"q": [LEGAL], "year_from": ["2020"]}
    hrefs = cited(page)
    assert hrefs and all(documents[re.search(r"/documents/([^?]+)", h).group(1)].metadata.year >= 2020 for h in hrefs)

    page.get_by_label("From year").fill("")
    page.get_by_label("Document language").select_option("ru")
    page.locator("#question").fill(LEGAL)
    page.locator("#question").press("Enter")
    exchange = page.locator("#thread .exchange").nth(1)
    expect(exchange.locator(".abstained")).to_contain_text("no document matches the filters")
    assert query(page.url)["language"] == ["ru"]


def test_copy_as_markdown_bibtex_and_csl_json(page, web_assistant, live_server):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto("/")
    ask(page, FIRST)
    result = web_assistant.ask(FIRST).results[0]
    c = result.citation
    link = f"{live_server}/documents/{c.doc_id}?start={c.start}&end={c.end}#passage"
    quote = " ".join(result.text[result.highlight.start : result.highlight.end].split())
    card = page.locator("li.card").first

    def copy_as(name: str) -> str:
        card.locator("details.copy-as summary").click()
        card.get_by_role("button", name=name, exact=True).click()
        expect(card.locator("details.copy-as")).not_to_have_attribute("open", "")
        return page.evaluate("navigator.clipboard.readText()")

    markdown = copy_as("Markdown")
    assert markdown.startswith(f"> {quote}\n\n— [") and markdown.endswith(f"]({link})")
    bibtex = copy_as("BibTeX")
    assert bibtex.startswith("@misc{") and "title = {{" in bibtex and bibtex.rstrip().endswith("}")
    assert (f"year = {{{c.year}}}" in bibtex) == bool(c.year) and "n.d." not in bibtex
    item = json.loads(copy_as("CSL-JSON"))[0]
    assert item["title"] == c.title and item["URL"] == (c.url or link) and quote in item["note"]
    assert ("issued" in item) == bool(c.year)
    assert copy_as("Plain text") == f"“{quote}”\n{card.locator('.cite a').text_content().split('] ', 1)[1]}.\n{link}"


def test_feedback_buttons_are_absent_when_off(page):
    page.goto("/")
    ask(page, FIRST)
    expect(page.locator("li.card").first.get_by_role("button", name="Copy")).to_be_visible()
    expect(page.locator("[data-verdict]")).to_have_count(0)
    verdict = {"question": FIRST, "doc_id": "x", "start": 0, "end": 1, "highlight": "x", "verdict": "wrong"}
    refused = page.request.post("/api/feedback", data=verdict)
    assert refused.status == 404 and "turned off" in refused.json()["error"]


def test_feedback_when_on_lands_in_sqlite_and_exports_as_gold(browser, feedback_server, web_assistant):
    address, path = feedback_server
    context = browser.new_context(base_url=address)
    try:
        page = context.new_page()
        page.goto("/?lang=ru")
        ask(page, RUSSIAN)
        card = page.locator("li.card").first
        card.get_by_role("button", name="Отвечает на мой вопрос").click()
        expect(card.locator(".action-status")).to_have_text("Спасибо. Сохранено на сервере этой службы.")
        expect(card.get_by_role("button", name="Отвечает на мой вопрос")).to_have_attribute("aria-pressed", "true")
        second = page.locator("li.card").nth(1)
        second.get_by_role("button", name="Не тот отрывок").click()
        expect(second.locator(".action-status")).to_have_text("Спасибо. Сохранено на сервере этой службы.")
    finally:
        context.close()
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT question, question_language, verdict FROM judgements ORDER BY id").fetchall()
    assert rows == [(RUSSIAN, "ru", "answers"), (RUSSIAN, "ru", "wrong")]
    lines = export_gold(path)
    assert len(lines) == 1
    gold = GoldQuestion.model_validate(lines[0])
    top = web_assistant.ask(RUSSIAN).results[0]
    assert gold.question == RUSSIAN and gold.lang == "ru" and gold.doc == top.citation.doc_id
    assert is_hit(top.text, gold.answers)


def test_russian_question_in_the_russian_interface(page):
    page.goto("/")
    page.get_by_role("link", name="Русский").click()
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.get_by_role("button", name="Спросить")).to_be_visible()
    page.get_by_label("Ваш вопрос").fill(RUSSIAN)
    page.get_by_label("Ваш вопрос").press("Enter")
    cards = page.locator("li.card")
    expect(cards.first).to_be_visible()
    assert query(page.url) == {"lang": ["ru"]}  # private mode: the question is not in the address
    top = " ".join(cards.nth(i).locator("blockquote").text_content() for i in range(3))
    assert "Tokayev" in top
    expect(cards.first.locator("blockquote")).to_have_attribute("lang", "en")
    expect(page.locator(".results-label").first).to_have_text("Отрывки: самые подходящие — первыми")
    expect(cards.first.get_by_role("button", name="Копировать")).to_be_visible()
    link = cards.first.locator(".cite a")
    assert "lang=ru" in link.get_attribute("href")
    link.click()
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.get_by_role("link", name="Перейти к цитируемому отрывку")).to_be_visible()


def test_sex_work_legality_shows_the_newest_sources_and_how_it_changed(page, web_assistant):
    page.goto("/")
    ask(page, LEGAL)
    exchange = page.locator("#thread .exchange").last
    cards = exchange.locator("li.card")
    years = [int(m.group(1)) if (m := re.search(r", (\d{4})\b", cards.nth(i).locator(".cite a").text_content())) else None
             for i in range(3)]
    assert any(year and year >= 2024 for year in years), years
    strip = exchange.locator("section.timeline")
    expect(strip).to_be_visible()
    expect(strip.locator("h3")).to_have_text("How this changed over time")
    entries = strip.locator("li")
    answer = web_assistant.ask(LEGAL)
    expect(entries).to_have_count(len(answer.timeline))
    for entry, expected in zip(entries.all(), answer.timeline):
        expect(entry.locator("q")).to_have_text(expected.quote)
        expect(entry.locator("a")).to_have_attribute("href", re.compile(rf"^/documents/{expected.citation.doc_id}\?"))
    # The strip runs newest first and sits below the ranked passages.
    assert cards.last.bounding_box()["y"] < strip.bounding_box()["y"]
    assert answer.timeline[0].year == max(e.year for e in answer.timeline if e.year)
    not_illegal = next(r for r in answer.results if "not illegal in Kazakhstan" in r.text)
    card = cards.filter(has_text=not_illegal.text[:60]).first
    expect(card.locator(".badge.older")).to_be_visible()
    expect(card.locator(".badge.older")).to_have_text(f"older source: the state as of {not_illegal.state_as_of}")
    # Every shown passage of the newest answering sources' period is marked, and nothing else.
    newest = [r for r in answer.results if r.recency == "newest"]
    assert newest and answer.results[0].recency == "newest"
    expect(exchange.locator("li.card .badge.newest")).to_have_count(len(newest))


def test_an_abstained_answer_has_no_change_over_time(page):
    page.goto("/")
    page.locator("#question").fill("Is prostitution legal in Germany?")
    page.locator("#question").press("Enter")
    exchange = page.locator("#thread .exchange").last
    expect(exchange.locator(".abstained")).to_be_visible()
    expect(exchange.locator(".span-note, section.timeline, .badge.newest, .badge.older")).to_have_count(0)


PARTIAL = "сколько заявлений о насилии над секс работницами поступает в полицию"
PENALTY = "what is the penalty for pimping under the new law"


def test_the_script_says_a_partial_answer_and_a_refusals_missing_part_in_the_pages_language(page, web_assistant):
    # The documents discuss violence and the police, and give no count of complaints: answered, in part.
    answer = web_assistant.ask(PARTIAL)
    assert not answer.abstained and answer.missing == "number"
    page.goto("/?lang=ru")
    ask(page, PARTIAL)
    exchange = page.locator("#thread .exchange").last
    expect(exchange.locator("p.partial")).to_have_text("Ответ неполный: в документах говорится об этом, но такой цифры нет.")
    assert exchange.locator("p.partial").bounding_box()["y"] < exchange.locator("li.card").first.bounding_box()["y"]
    ask(page, PENALTY)
    exchange = page.locator("#thread .exchange").last
    expect(exchange.locator(".abstain-reason")).to_have_text("(в документах говорится об этом, но ни наказания, ни срока нет)")
    expect(exchange.locator("p.partial")).to_have_count(0)


def test_docs_render_with_the_network_blocked(page, live_server):
    outside = []

    def block(route):
        host = urlsplit(route.request.url).hostname or ""
        if host in ("127.0.0.1", "localhost", "::1"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.context.route("**/*", block)
    page.goto("/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Cited-passage assistant")
    expect(page.locator(".opblock-summary-path", has_text="/api/ask").first).to_be_visible()
    page.locator(".opblock-summary-path", has_text="/api/ask").first.click()
    expect(page.get_by_text("Try it out")).to_be_visible()
    assert outside == []


def test_print_leaves_out_the_controls_and_prints_link_targets(page):
    page.goto("/")
    ask(page, FIRST)
    page.emulate_media(media="print")
    expect(page.locator("form.ask")).to_be_hidden()
    expect(page.locator("li.card .actions").first).to_be_hidden()
    after = page.eval_on_selector("li.card .cite a", "e => getComputedStyle(e, '::after').content")
    assert "attr(href)" in after or "/documents/" in after


def test_dark_colour_scheme(browser, live_server):
    context = browser.new_context(base_url=live_server, color_scheme="dark")
    try:
        page = context.new_page()
        page.goto("/")
        background = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
        channels = [int(x) for x in re.findall(r"\d+", background)[:3]]
        assert max(channels) < 60, background
    finally:
        context.close()


AXE_PAGES = {
    "home": "/",
    "answer": f"/?q={LEGAL}",
    "answer-ru": f"/?q={RUSSIAN}&lang=ru",
    "answer-kk": "/?q=Қазақстанда секс-жұмыс заңды ма?&lang=kk",
    "source": "/documents/ippf-2012-hiv-prevention-report-card?start=8356&end=8686#passage",
    "not-found": "/documents/nope",
}
SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 360, "height": 740}}


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", SIZES)
def test_axe_finds_no_violations(browser, live_server, size, scheme):
    context = browser.new_context(base_url=live_server, viewport=SIZES[size], is_mobile=size == "phone",
                                  color_scheme=scheme)
    axe = Axe()
    try:
        page = context.new_page()
        problems = {}
        for name, path in AXE_PAGES.items():
            page.goto(path)
            page.wait_for_load_state("networkidle")
            if "q=" in path:
                page.locator("li.card .actions").first.wait_for()
                page.locator("li.card details.copy-as").first.evaluate("d => d.open = true")
            results = axe.run(page)
            if results.violations_count:
                problems[name] = results.generate_report()
        # What the script draws: a Kazakh conversation (the answer card, a card's menu open), and a
        # source opened inside the page.
        page.goto("/?lang=kk")
        ask(page, "Қазақстанда секс-жұмыс заңды ма?")
        page.locator("li.card details.copy-as").first.evaluate("d => d.open = true")
        for name in ["conversation-kk", "source-in-page"]:
            results = axe.run(page)
            if results.violations_count:
                problems[name] = results.generate_report()
            if name == "conversation-kk":
                page.locator("li.card a.cite-link").first.click()
                page.locator("#source-view mark#passage").wait_for()
        assert not problems, "\n".join(f"{name}: {report}" for name, report in problems.items())
    finally:
        context.close()



PHONES = [{"width": 360, "height": 640}, {"width": 390, "height": 844}]
CURRENT_LAW_EXAMPLES = (0, 2)
"""The page's examples about the law as it stands ("Is sex work legal in Kazakhstan?", "When did the
2024 anti-trafficking law take effect?"); the others ask about 2012 services."""


@pytest.mark.parametrize(("viewport", "scheme"), [(PHONES[0], "light"), (PHONES[0], "dark"), (PHONES[1], "light")],
                         ids=lambda v: f"{v['width']}x{v['height']}" if isinstance(v, dict) else v)
@pytest.mark.parametrize("lang", ["en", "ru", "kk"])
def test_on_a_phone_each_example_opens_on_its_first_quotation_and_how_recent_it_is(
        browser, live_server, tmp_path, viewport, scheme, lang):
    """Each of the page's examples, in each interface language, opened from its link on a phone:
    the first screen holds the question, the answer card (rank 1's highlighted sentence, its source
    and year, how recent the sources are) and the start of the ranked list; for a question about
    the law as it stands the sentence is from the 2024/2025 sources, for 2012 service information
    the first screen says that it may have changed. Screenshots go to $SCREENSHOT_DIR when set."""
    shots = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(base_url=live_server, viewport=viewport, locale=lang, is_mobile=True,
                                  color_scheme=scheme)
    page = context.new_page()
    try:
        page.goto(f"/?lang={lang}")
        count = page.locator("a.example").count()
        assert count >= 3
        for number in range(count):
            page.goto(f"/?lang={lang}")
            page.locator("a.example").nth(number).click()
            exchange = page.locator("#thread .exchange").last
            first = exchange.locator("li.card").first
            expect(first).to_be_attached()
            page.screenshot(path=str(shots / f"example{number + 1}-{lang}-{viewport['width']}x{viewport['height']}-{scheme}.png"))
            # The page scrolls the new exchange to the top (below the "Leave quickly" corner).
            assert 0 <= exchange.locator("h2.question").bounding_box()["y"] < 70
            # The first screen ends where the sticky question form begins (bounding boxes are
            # relative to the viewport).
            bottom = page.locator("#ask-form").bounding_box()["y"]

            def on_first_screen(locator) -> bool:
                box = locator.bounding_box()
                return 0 <= box["y"] and box["y"] + box["height"] <= bottom

            best = exchange.locator("section.best")
            sentence = best.locator("blockquote mark")
            expect(sentence).to_have_text(first.locator("mark").text_content())
            assert on_first_screen(sentence), f"example {number + 1}: the best sentence is not on the first screen"
            assert on_first_screen(best.locator(".cite .badge.year"))
            as_of = best.locator(".as-of")
            assert on_first_screen(as_of)
            assert exchange.locator(".results-label").bounding_box()["y"] < bottom, "the ranked list starts below"
            if number in CURRENT_LAW_EXAMPLES:
                expect(best.locator(".badge.year")).to_contain_text(re.compile(r"202[45]"))
                expect(as_of).to_contain_text("2025")
                expect(as_of).not_to_have_class(re.compile(r"\bold\b"))
            else:
                expect(as_of).to_have_class(re.compile(r"\bold\b"))
                expect(as_of).to_contain_text("2012")
    finally:
        context.close()
