"""The chat page on a shared phone, in real headless Chromium (Debian's) against a live uvicorn: the
answer first, a conversation that survives reading a source and switching language, and nothing of
it left behind (address, title, history, storage, server log) in the private mode, which is the
default; "Leave quickly" and Escape twice."""

from __future__ import annotations

import logging
import re

import pytest
from playwright.sync_api import expect

FIRST = "Where can a migrant without propiska get an HIV test?"
SECOND = "Is sex work legal in Kazakhstan?"
WORDS = ("propiska", "migrant", "legal in Kazakhstan")


def ask(page, question: str) -> None:
    box = page.locator("#question")
    box.fill(question)
    box.press("Enter")
    expect(page.locator("#thread .exchange").last.locator("li.card").first).to_be_visible()


def navigation_history(page) -> list[dict]:
    """The tab's session history as the browser keeps it (every entry's address and title)."""
    session = page.context.new_cdp_session(page)
    try:
        return session.send("Page.getNavigationHistory")["entries"]
    finally:
        session.detach()


def uncovered(page) -> bool:
    """Whether the focused element is clear of the sticky ask form and the "Leave quickly" corner."""
    return page.evaluate("""() => {
        const e = document.activeElement, form = document.getElementById('ask-form');
        if (!e || e === document.body || form.contains(e) || e.id === 'leave') return true;
        const r = e.getBoundingClientRect(), f = form.getBoundingClientRect(),
              l = document.getElementById('leave').getBoundingClientRect();
        const overlaps = (a, b) => a.left < b.right && a.right > b.left && a.top < b.bottom && a.bottom > b.top;
        const inView = r.bottom > 0 && r.top < innerHeight;
        return inView && !overlaps(r, f) && !overlaps(r, l);
    }""")


@pytest.mark.parametrize("viewport", [{"width": 360, "height": 640}, {"width": 1280, "height": 800}],
                         ids=["phone", "desktop"])
def test_focus_never_lands_under_the_ask_form_or_the_corner(browser, live_server, viewport):
    context = browser.new_context(base_url=live_server, viewport=viewport)
    page = context.new_page()
    try:
        page.goto("/")
        ask(page, SECOND)
        page.locator("#thread h2.question").first.focus()
        covered, stops = [], 0
        for _ in range(60):
            page.keyboard.press("Tab")
            page.wait_for_timeout(100)  # the scroll that follows focus
            stops += 1
            if not uncovered(page):
                covered.append(page.evaluate("document.activeElement.outerHTML.slice(0, 80)"))
        assert stops == 60 and not covered, covered
    finally:
        context.close()


@pytest.mark.parametrize("lang", ["en", "ru", "kk"])
def test_a_cards_actions_stay_on_one_row_on_a_360_pixel_screen(browser, live_server, lang):
    context = browser.new_context(base_url=live_server, viewport={"width": 360, "height": 640}, is_mobile=True)
    page = context.new_page()
    try:
        page.goto(f"/?lang={lang}")
        page.locator("a.example").first.click()
        expect(page.locator("li.card")).to_have_count(5)
        for card in page.locator("li.card").all():
            tops = card.locator(".actions > button, .actions > details").evaluate_all(
                "nodes => nodes.map(n => Math.round(n.getBoundingClientRect().top))")
            assert len(tops) == 3 and len(set(tops)) == 1, tops
    finally:
        context.close()


def test_the_box_is_emptied_and_the_conversation_can_be_cleared(page):
    page.goto("/")
    ask(page, FIRST)
    ask(page, SECOND)
    expect(page.locator("#question")).to_have_value("")
    expect(page.locator("#thread .exchange")).to_have_count(2)
    page.get_by_role("link", name="Clear conversation").click()
    expect(page.locator("#thread .exchange")).to_have_count(0)
    expect(page.locator("#intro")).to_be_visible()
    expect(page.locator("#question")).to_be_focused()
    expect(page.get_by_role("link", name="Clear conversation")).to_be_hidden()
    # Beside a source opened in the page too: back to an empty conversation.
    ask(page, FIRST)
    page.locator("li.card a.cite-link").first.click()
    expect(page.locator("#source-view mark#passage")).to_be_visible()
    page.get_by_role("link", name="Clear conversation").click()
    expect(page.locator("#source-view")).to_have_count(0)
    expect(page.locator("#thread .exchange")).to_have_count(0)
    assert urlpath(page.url) == "/"


def test_back_from_a_source_returns_to_the_card_it_was_opened_from(page, web_assistant):
    page.goto("/")
    ask(page, FIRST)
    ask(page, SECOND)
    page.evaluate("window.sameDocument = true")  # gone if the page were loaded again
    link = page.locator("#thread .exchange").nth(1).locator("li.card").nth(2).locator("a.cite-link")
    link.scroll_into_view_if_needed()
    href = link.get_attribute("href")
    link.click()
    page.wait_for_url(re.compile(r"/documents/.+#passage$"))
    doc_id = re.search(r"/documents/([^?]+)", href).group(1)
    expect(page.locator("h1")).to_have_text(web_assistant.index.documents[doc_id].metadata.title)
    expect(page.locator("mark#passage")).to_be_in_viewport()

    page.go_back()
    expect(page.locator("#thread .exchange")).to_have_count(2)
    back = page.locator("#thread .exchange").nth(1).locator("li.card").nth(2).locator("a.cite-link")
    expect(back).to_be_focused()
    expect(back).to_be_in_viewport()
    assert page.evaluate("window.sameDocument") is True
    assert urlpath(page.url) == "/"

    # The source page's own "Ask another question" goes back to the conversation too.
    page.go_forward()
    expect(page.locator("mark#passage")).to_be_in_viewport()
    page.get_by_role("link", name="Ask another question").click()
    expect(page.locator("#thread .exchange")).to_have_count(2)
    expect(back).to_be_focused()


def urlpath(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def test_the_language_switch_keeps_the_conversation(page):
    page.goto("/")
    ask(page, FIRST)
    ask(page, SECOND)
    before = page.locator("#thread li.card .cite a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    page.get_by_role("link", name="Қазақша").click()
    expect(page.locator("html")).to_have_attribute("lang", "kk")
    expect(page.get_by_role("button", name="Сұрау")).to_be_visible()
    expect(page.locator("#thread .exchange")).to_have_count(2)
    expect(page.locator("#thread .best-label").first).to_have_text("Ең жақсы сәйкестік")
    after = page.locator("#thread li.card .cite a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert before and [re.sub(r"&lang=kk", "", h) for h in after] == before
    assert urlpath(page.url) == "/?lang=kk"
    # Asking goes on in Kazakh, the earlier exchanges kept.
    ask(page, "Қазақстанда секс-жұмыс заңды ма?")
    expect(page.locator("#thread .exchange")).to_have_count(3)
    # Beside a source opened in the page, the switch shows that source in the new language, and
    # Back still returns to the conversation.
    page.locator("li.card a.cite-link").first.click()
    expect(page.locator("#source-view mark#passage")).to_be_visible()
    page.get_by_role("link", name="Русский").click()
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.get_by_role("link", name="Перейти к цитируемому отрывку")).to_be_visible()
    assert "lang=ru" in page.url and "/documents/" in page.url
    page.go_back()
    expect(page.locator("#thread .exchange")).to_have_count(3)
    expect(page.locator("#thread .best-label").first).to_have_text("Лучшее совпадение")


def test_private_mode_leaves_no_trace_of_the_questions(page, live_server):
    """Address, title, the tab's history (addresses, titles and states), storage and cookies, and the
    server's log at its most talkative: none holds a word of the questions."""
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    handler, loggers = Keep(level=logging.DEBUG), [logging.getLogger(name) for name in
                                                   ("", "assistant", "uvicorn", "uvicorn.error", "uvicorn.access")]
    levels = [logger.level for logger in loggers]
    logging.getLogger().addHandler(handler)
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    try:
        page.goto("/")
        ask(page, FIRST)
        ask(page, SECOND)
        link = page.locator("li.card a.cite-link").first
        link.click()
        page.wait_for_url(re.compile(r"/documents/"))
        page.go_back()
        expect(page.locator("#thread .exchange")).to_have_count(2)
        traces = [page.url, page.title(), page.evaluate("JSON.stringify(history.state)"),
                  page.evaluate("JSON.stringify({...localStorage}) + JSON.stringify({...sessionStorage})"),
                  str(page.context.cookies())]
        traces += [entry["url"] + " " + entry["title"] for entry in navigation_history(page)]
        # Without JS the form posts the question: it stays out of the address there too.
        page.request.post("/", form={"q": FIRST})
    finally:
        logging.getLogger().removeHandler(handler)
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
    assert records, "the server logged nothing: the log was not captured"
    assert any("/api/ask" in record for record in records)
    for trace in traces + records:
        assert not any(word in trace for word in WORDS), trace
    assert page.title() == "Cited-passage assistant"


def test_share_makes_the_address_on_demand_and_says_it_holds_the_question(page, live_server):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto("/")
    ask(page, SECOND)
    assert "q=" not in page.url
    card = page.locator("li.card").first
    card.get_by_role("button", name="Share").click()
    expect(card.locator(".action-status")).to_have_text(
        "Link copied. It contains your question: anyone who sees the link can read it.")
    link = page.evaluate("navigator.clipboard.readText()")
    assert link.startswith(live_server) and "q=Is+sex+work+legal" in link
    assert "q=" not in page.url
    # Opened, the shared address answers, then leaves the address bar of the tab that opened it.
    page.goto(link)
    expect(page.locator("#thread li.card").first).to_be_visible()
    assert "q=" not in page.url and page.title() == "Cited-passage assistant"


@pytest.mark.parametrize("how", ["button", "escape twice"])
def test_leaving_quickly_leaves_no_entry_of_the_conversation_in_the_history(page, how):
    page.goto("/")
    ask(page, FIRST)
    page.locator("li.card a.cite-link").first.click()
    page.wait_for_url(re.compile(r"/documents/"))
    page.go_back()
    expect(page.locator("#thread .exchange")).to_have_count(1)
    if how == "button":
        page.get_by_role("link", name="Leave quickly").click()
    else:
        page.keyboard.press("Escape")
        page.keyboard.press("Escape")
    page.wait_for_url("about:blank")
    entries = navigation_history(page)
    assert entries[0]["url"] == "about:blank" or any(entry["url"] == "about:blank" for entry in entries)
    assert not any(word in entry["url"] + entry["title"] for entry in entries for word in WORDS)
    # The page that held the conversation is no longer in the tab's history.
    assert not any(urlpath(entry["url"]).startswith("/?") or urlpath(entry["url"]) == "/" for entry in entries), entries
    assert page.evaluate("history.length") == len(entries)


def test_one_escape_does_not_leave(page):
    page.goto("/")
    ask(page, FIRST)
    page.keyboard.press("Escape")
    page.wait_for_timeout(1200)
    page.keyboard.press("Escape")
    page.wait_for_timeout(300)
    assert urlpath(page.url) == "/"
    expect(page.locator("#thread .exchange")).to_have_count(1)
