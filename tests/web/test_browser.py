"""The chat page and the source page in real headless Chromium (Debian's), against a live uvicorn.

Skipped only when /usr/bin/chromium is absent; the `page` fixture fails a test on any console
error, which is how a Content-Security-Policy violation shows up.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlencode, urlsplit

from playwright.sync_api import expect

from assistant.ui import Ui

QUESTION = "Where can a migrant without propiska get an HIV test?"


def in_view(page, selector: str) -> bool:
    return page.eval_on_selector(
        selector, "e => { const r = e.getBoundingClientRect(); return r.bottom > 0 && r.top < innerHeight; }"
    )


def test_enter_sends_and_shows_ranked_cited_cards(page):
    page.goto("/")
    box = page.get_by_label("Your question")
    expect(box).to_be_focused()
    box.type("Where can a migrant")
    box.press("Shift+Enter")
    box.type("without propiska get an HIV test?")
    expect(box).to_have_value("Where can a migrant\nwithout propiska get an HIV test?")
    box.press("Enter")

    exchange = page.locator("#thread .exchange").last
    expect(exchange.locator(".question")).to_contain_text("without propiska")
    cards = exchange.locator("li.card")
    expect(cards.first).to_be_visible()
    assert cards.count() == 5
    for i in range(5):
        card = cards.nth(i)
        expect(card.locator("mark")).to_have_count(1)
        expect(card.locator(".cite a")).to_have_text(re.compile(rf"^\[{i + 1}\] .+ — .+, (\d{{4}}|n\.d\.)"))
        expect(card.locator(".cite a")).to_have_attribute("href", re.compile(r"^/documents/[^?]+\?start=\d+&end=\d+#passage$"))
    # The box is emptied (the question is in the thread); focus moves to the newest answer's heading.
    expect(box).to_have_value("")
    expect(exchange.locator("h2.question")).to_be_focused()
    expect(page.get_by_role("button", name="Ask")).to_be_enabled()


def test_cards_match_the_api(page, web_assistant):
    answer = web_assistant.ask(QUESTION)
    page.goto("/")
    page.get_by_label("Your question").fill(QUESTION)
    page.get_by_role("button", name="Ask").click()
    cards = page.locator("li.card")
    expect(cards).to_have_count(len(answer.results))
    for card, result in zip(cards.all(), answer.results):
        h = result.highlight
        expect(card.locator("mark")).to_have_text(result.text[h.start : h.end])
        c = result.citation
        expect(card.locator(".cite a")).to_have_attribute("href", f"/documents/{c.doc_id}?start={c.start}&end={c.end}#passage")


def test_thread_keeps_every_exchange(page):
    page.goto("/")
    box = page.get_by_label("Your question")
    for n, question in enumerate([QUESTION, "Is sex work legal in Kazakhstan?"], start=1):
        box.fill(question)
        box.press("Enter")
        expect(page.locator("#thread .exchange li.card").first).to_be_visible()
        expect(page.locator("#thread .exchange")).to_have_count(n)
        expect(page.locator(".exchange").nth(n - 1).locator("li.card").first).to_be_visible()
    expect(page.locator(".exchange .question").first).to_contain_text("propiska")


def test_example_question_asks_it(page):
    page.goto("/")
    example = page.locator("a.example").first
    text = example.text_content()
    example.click()
    expect(page.locator(".exchange .question")).to_contain_text(text)
    expect(page.locator(".exchange li.card").first).to_be_visible()
    assert urlsplit(page.url).path == "/" and not urlsplit(page.url).query  # private mode: not in the address


def test_citation_opens_the_source_with_the_passage_highlighted_in_view(page, web_assistant):
    page.goto("/")
    page.get_by_label("Your question").fill(QUESTION)
    page.get_by_label("Your question").press("Enter")
    link = page.locator("li.card .cite a").first
    href = link.get_attribute("href")
    start, end = map(int, re.search(r"start=(\d+)&end=(\d+)", href).groups())
    link.click()
    page.wait_for_url(re.compile(r"/documents/.+#passage$"))
    doc_id = re.search(r"/documents/([^?]+)", href).group(1)
    document = web_assistant.index.documents[doc_id]
    expect(page.locator("h1")).to_have_text(document.metadata.title)
    marked = page.locator("mark")
    expect(marked.first).to_be_visible()
    expect(page.locator("mark#passage")).to_have_count(1)
    text = "".join(marked.all_text_contents())
    assert re.sub(r"\s+", "", text) == re.sub(r"\s+", "", document.text[start:end])
    page.wait_for_function("() => { const r = document.getElementById('passage').getBoundingClientRect();"
                           " return r.top >= 0 && r.top < innerHeight; }")
    assert in_view(page, "#passage")


def test_any_passage_can_be_linked(page, web_assistant):
    passage = web_assistant.index.passages[-1]
    page.goto(f"/documents/{quote(passage.doc_id)}?start={passage.start}&end={passage.end}#passage")
    expect(page.locator("mark#passage")).to_be_visible()
    page.wait_for_function("() => { const r = document.getElementById('passage').getBoundingClientRect();"
                           " return r.top >= 0 && r.top < innerHeight; }")


def test_copy_citation(page, web_assistant, live_server):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto("/")
    page.get_by_label("Your question").fill(QUESTION)
    page.get_by_label("Your question").press("Enter")
    card = page.locator("li.card").first
    button = card.locator("button.copy")
    button.click()
    expect(button).to_have_text("Copied")
    result = web_assistant.ask(QUESTION).results[0]
    c, h = result.citation, result.highlight
    quote = " ".join(result.text[h.start : h.end].split())
    link = f"{live_server}/documents/{c.doc_id}?start={c.start}&end={c.end}#passage"
    label = card.locator(".cite a").text_content().split("] ", 1)[1]
    assert page.evaluate("navigator.clipboard.readText()") == f"“{quote}”\n{label}.\n{link}"
    assert re.search(r", (\d{4}|n\.d\.)", label)


def test_abstaining_is_shown_above_the_nearest_passages(page, web_assistant):
    question = "Is prostitution legal in Germany?"
    reason = web_assistant.ask(question).abstain_reason
    assert reason
    page.goto("/")
    page.get_by_label("Your question").fill(question)
    page.get_by_label("Your question").press("Enter")
    exchange = page.locator(".exchange").last
    expect(exchange.locator(".abstained")).to_have_text(f"These documents do not seem to cover this. ({reason})")
    expect(exchange.locator(".results-label")).to_have_text("Nearest passages, not answers")
    notice, label = exchange.locator(".abstained").bounding_box(), exchange.locator("li.card").first.bounding_box()
    assert notice["y"] < label["y"]


def test_sources_from_different_years_show_a_note_and_the_newest(page, web_assistant):
    question = "Is sex work criminalised in Kazakhstan?"
    answer = web_assistant.ask(question)
    assert answer.sources_span, "pick a question whose results span more than five years"
    oldest, newest = answer.sources_span
    page.goto("/")
    page.get_by_label("Your question").fill(question)
    page.get_by_label("Your question").press("Enter")
    exchange = page.locator("#thread .exchange").last
    note = exchange.locator(".span-note")
    expect(note).to_have_text(f"These sources are from different years ({oldest}–{newest}), "
                              "and the law may have changed. The newest is marked.")
    expect(note).to_be_visible()
    cards = exchange.locator("li.card")
    expect(cards).to_have_count(len(answer.results))
    # The note sits below the ranked passages; how recent the sources are sits above them.
    assert cards.last.bounding_box()["y"] < note.bounding_box()["y"]
    expect(exchange.locator(".as-of")).to_have_text(f"These sources run to {answer.as_of}.")
    assert exchange.locator(".as-of").bounding_box()["y"] < cards.first.bounding_box()["y"]
    for card, result in zip(cards.all(), answer.results):
        # The script draws the card as the server does: the citation line above the quotation.
        assert card.locator(".cite").bounding_box()["y"] < card.locator("blockquote.passage").bounding_box()["y"]
        c = result.citation
        expect(card.locator(".badge.year")).to_have_text(f"Source year: {Ui().year_label(c.year, c.year_estimate)}")
        expect(card.locator(".badge.newest")).to_have_count(1 if result.recency == "newest" else 0)
        expect(card.locator(".badge.older")).to_have_count(1 if result.recency == "older" else 0)
        also = card.locator(".also-in a")
        expect(also).to_have_count(len(result.also_in))
        for link, other in zip(also.all(), result.also_in):
            expect(link).to_have_attribute("href", f"/documents/{other.doc_id}?start={other.start}&end={other.end}#passage")
    badge = exchange.locator("li.card .badge.newest").first
    expect(badge).to_be_visible()
    expect(badge).to_have_text("newest source")


def test_script_in_a_question_renders_as_text(page):
    page.goto("/")
    fired = []
    page.on("dialog", lambda dialog: (fired.append(dialog.message), dialog.dismiss()))
    question = "<script>alert('x')</script><img src=x onerror=alert(1)> sex work law"
    page.get_by_label("Your question").fill(question)
    page.get_by_label("Your question").press("Enter")
    heading = page.locator(".exchange .question")
    expect(heading).to_contain_text("<script>alert('x')</script><img src=x onerror=alert(1)>")
    expect(page.locator(".exchange li.card").first).to_be_visible()
    assert page.locator(".exchange img, .exchange script").count() == 0
    page.goto("/?q=" + quote(question))
    expect(page.locator(".exchange .question")).to_contain_text("<script>alert('x')</script>")
    assert page.locator("main script, main img").count() == 0
    assert fired == []


def test_works_without_javascript(browser, live_server):
    context = browser.new_context(base_url=live_server, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto("/")
        page.get_by_label("Your question").fill(QUESTION)
        page.get_by_role("button", name="Ask").click()
        expect(page.locator(".exchange .question")).to_contain_text("propiska")
        # The private mode posts the form: the question is in neither the address nor the title.
        assert "propiska" not in page.url and "propiska" not in page.title()
        cards = page.locator("li.card")
        expect(cards).to_have_count(5)
        expect(cards.first.locator("mark")).to_have_count(1)
        expect(cards.first.get_by_role("button", name="Copy")).to_be_hidden()
        cards.first.locator(".cite a").click()
        page.wait_for_url(re.compile(r"/documents/.+#passage$"))
        expect(page.locator("mark#passage")).to_be_visible()
        assert in_view(page, "#passage")
    finally:
        context.close()


def test_phone_width_has_no_horizontal_scroll(browser, live_server):
    context = browser.new_context(base_url=live_server, viewport={"width": 360, "height": 740}, is_mobile=True)
    page = context.new_page()
    try:
        page.goto("/?q=" + quote(QUESTION))
        expect(page.locator("li.card").first).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
        expect(page.get_by_role("button", name="Ask")).to_be_visible()
    finally:
        context.close()


def test_keyboard_only(page):
    page.goto("/")
    page.keyboard.type("Is sex work legal in Kazakhstan?")
    page.keyboard.press("Enter")
    expect(page.locator("li.card").first).to_be_visible()
    expect(page.locator("#thread")).to_have_attribute("aria-live", "polite")
    page.keyboard.press("Shift+Tab")
    focused = page.evaluate("document.activeElement.outerHTML")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert focused and outline != "none"


def test_loading_state_while_a_question_is_in_flight(page):
    held = []
    page.route("**/api/ask", lambda route: held.append(route))
    page.goto("/")
    page.get_by_label("Your question").fill(QUESTION)
    page.get_by_label("Your question").press("Enter")
    expect(page.locator(".exchange .loading")).to_have_text("Searching the documents…")
    expect(page.get_by_role("button", name="Ask")).to_be_disabled()
    expect(page.locator("#thread")).to_have_attribute("aria-busy", "true")
    held[0].continue_()
    expect(page.locator("li.card").first).to_be_visible()
    expect(page.locator(".exchange .loading")).to_have_count(0)
    expect(page.locator("#thread")).not_to_have_attribute("aria-busy", "true")
