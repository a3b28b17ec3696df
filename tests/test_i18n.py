"""The interface in English, Russian and Kazakh: the catalogues themselves, how a language is chosen
(Accept-Language, ?lang=, the terminal's environment), and what the pages and the API say in it."""

from __future__ import annotations

import gettext
import io
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from assistant.i18n import LOCALE_DIR, Message, from_accept_language, from_environment, supported
from assistant.ui import SCRIPT_MESSAGES, Ui

REPO = Path(__file__).resolve().parent.parent
LANGS = ("ru", "kk")
RU_QUESTION = "Кто подписал закон о противодействии торговле людьми?"
KK_QUESTION = "Қазақстанда секс-жұмыс заңды ма?"
FIELDS = re.compile(r"\{\w+\}|%\(\w+\)s")


def catalogue(lang: str):
    with open(LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po", "rb") as file:
        return read_po(file, locale=lang)


@pytest.mark.parametrize("lang", LANGS)
def test_catalogue_has_no_empty_or_fuzzy_entry_and_keeps_every_field(lang):
    entries = [message for message in catalogue(lang) if message.id]
    assert len(entries) > 150
    assert not catalogue(lang).fuzzy
    for message in entries:
        assert "fuzzy" not in message.flags, message.id
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(s.strip() for s in strings), f"{lang}: no translation for {message.id!r}"
        for string in strings:
            assert sorted(FIELDS.findall(string)) == sorted(FIELDS.findall(ids[0])), (lang, message.id, string)


def test_catalogues_hold_every_message_of_the_code_and_templates(tmp_path):
    """`make messages` would add nothing: every marked message is in both catalogues."""
    pybabel = Path(sys.executable).with_name("pybabel")
    template = tmp_path / "messages.pot"
    subprocess.run([str(pybabel), "extract", "-F", "babel.cfg", "-k", "N_", "-k", "n_:1,2", "--no-location", "-o",
                    str(template), "."], cwd=REPO, check=True, capture_output=True)
    with open(template, "rb") as file:
        wanted = {message.id for message in read_po(file) if message.id}
    for lang in LANGS:
        have = {message.id for message in catalogue(lang) if message.id}
        assert wanted <= have, f"{lang} lacks {sorted(map(str, wanted - have))[:5]}: run `make messages` and translate"
    assert set(SCRIPT_MESSAGES.values()) <= wanted


def messages_of(mo: bytes) -> tuple[dict, str]:
    """A compiled catalogue's translations and its plural rule: what the program reads of it. The
    header's other lines (the compiler's name and version, dates) are a tool's stamp, not product."""
    translations = gettext.GNUTranslations(io.BytesIO(mo))
    catalog = dict(translations._catalog)  # type: ignore[attr-defined]
    header = catalog.pop("", "")
    plural_forms = next((line for line in header.splitlines() if line.lower().startswith("plural-forms:")), "")
    return catalog, plural_forms


@pytest.mark.parametrize("lang", LANGS)
def test_compiled_catalogue_is_the_po_file(lang):
    """The committed .mo holds what compiling the .po gives: the same ids, plural forms and strings
    (recompile with `make messages`), whichever Babel release did the compiling."""
    buffer = io.BytesIO()
    write_mo(buffer, catalogue(lang))
    compiled_messages, compiled_plural = messages_of(buffer.getvalue())
    committed_messages, committed_plural = messages_of((LOCALE_DIR / lang / "LC_MESSAGES" / "messages.mo").read_bytes())
    assert committed_plural and committed_plural == compiled_plural
    assert committed_messages == compiled_messages


def test_catalogue_comparison_ignores_the_compilers_stamp_but_not_a_changed_message():
    """The comparison above fails on what a reader would see, and only on that."""
    base = catalogue("ru")
    buffer = io.BytesIO()
    write_mo(buffer, base)
    original = messages_of(buffer.getvalue())
    base.version, base.creation_date = "9.9", base.creation_date.replace(year=1999)
    restamped = io.BytesIO()
    write_mo(restamped, base)
    assert restamped.getvalue() != buffer.getvalue()
    assert messages_of(restamped.getvalue()) == original
    first = next(message for message in base if message.id and isinstance(message.id, str))
    first.string = first.string + "!"
    changed = io.BytesIO()
    write_mo(changed, base)
    assert messages_of(changed.getvalue()) != original


@pytest.mark.parametrize(("header", "expected"), [
    (None, "en"), ("", "en"), ("ru", "ru"), ("ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7", "ru"), ("kk-KZ", "kk"),
    ("en-US,en;q=0.9,ru;q=0.8", "en"), ("de-DE,de;q=0.9,kk;q=0.5", "kk"), ("fr, de", "en"),
    ("ru;q=0.2, kk;q=0.8", "kk"), ("ru;q=0, en", "en"), ("*", "en"), ("ru;q=abc", "ru"), ("KK", "kk"),
])
def test_accept_language_picks_the_preferred_language_we_have(header, expected):
    assert from_accept_language(header) == expected


@pytest.mark.parametrize(("environ", "expected"), [
    ({}, "en"), ({"LANG": "ru_RU.UTF-8"}, "ru"), ({"LANG": "kk_KZ.UTF-8"}, "kk"), ({"LANG": "C.UTF-8"}, "en"),
    ({"LC_ALL": "kk_KZ.UTF-8", "LANG": "ru_RU.UTF-8"}, "kk"), ({"LC_MESSAGES": "ru_RU", "LANG": "en_US.UTF-8"}, "ru"),
    ({"LANGUAGE": "de:kk:ru", "LANG": "en_US.UTF-8"}, "kk"), ({"LANGUAGE": "fr", "LANG": "ru_RU.UTF-8"}, "ru"),
    ({"LC_ALL": "", "LANG": "ru_RU.UTF-8"}, "ru"),
])
def test_terminal_language_follows_gettext_convention(environ, expected):
    assert from_environment(environ) == expected


def test_messages_render_in_each_language():
    message = Message("k must be a whole number from 1 to {max_k}", {"max_k": 50})
    assert message.render("en") == str(message) == "k must be a whole number from 1 to 50"
    assert message.render("ru") == "k должно быть целым числом от 1 до 50"
    assert "50" in message.render("kk") and "бүтін сан" in message.render("kk")
    assert Ui("ru").n_("{n} passage", "{n} passages", 1) == "1 отрывок"
    assert Ui("ru").n_("{n} passage", "{n} passages", 3) == "3 отрывка"
    assert Ui("ru").n_("{n} passage", "{n} passages", 11) == "11 отрывков"
    assert Ui("kk").n_("{n} passage", "{n} passages", 5) == "5 үзінді"
    assert supported("xx") is None and supported("ru_RU.UTF-8") == "ru"
    # A message inside a message is said in the same language.
    nested = Message("Partly answered: {missing}.", {"missing": Message("the documents discuss this but give no price")})
    assert nested.render("en") == "Partly answered: the documents discuss this but give no price."
    assert nested.render("ru") == "Ответ неполный: в документах говорится об этом, но цены нет."


# The pages -------------------------------------------------------------------------------------


class InterfaceText(HTMLParser):
    """The text a page shows in its own language: outside scripts and outside every element whose
    `lang` differs from the page's (quotations, titles, language names). The `<title>` is left out:
    HTML cannot mark the language of a source's title inside it."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self):
        super().__init__()
        self.page_lang, self.stack, self.text = None, [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "html":
            self.page_lang = attrs.get("lang")
        if tag in self.VOID:
            if tag == "input" and attrs.get("placeholder"):
                self.text.append(attrs["placeholder"])
            return
        foreign = tag in ("script", "style", "title") or ("lang" in attrs and attrs["lang"] != self.page_lang)
        self.stack.append((tag, foreign))
        for name in ("aria-label", "placeholder", "title"):
            if attrs.get(name) and not self.foreign:
                self.text.append(attrs[name])

    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    @property
    def foreign(self) -> bool:
        return any(foreign for _, foreign in self.stack)

    def handle_data(self, data):
        data = re.sub(r"https?://\S+", "", data)  # an address is in no language
        if not self.foreign and data.strip():
            self.text.append(data.strip())


def interface_text(page: str) -> str:
    parser = InterfaceText()
    parser.feed(page)
    return " ".join(parser.text)


ALLOWED_LATIN = {"Markdown", "BibTeX", "CSL-JSON", "Enter", "Shift", "Escape"}  # formats and key names


@pytest.mark.parametrize(("lang", "question"), [("ru", RU_QUESTION), ("kk", KK_QUESTION)])
def test_the_answer_page_has_no_english_interface_words(client, lang, question):
    """Every word the interface itself says on the answer page is Russian (Kazakh); only quotations,
    titles and the like (marked with their own `lang`) are English."""
    page = client.get("/", params={"q": question, "lang": lang}).text
    assert f'<html lang="{lang}">' in page
    text = interface_text(page)
    english = sorted({word for word in re.findall(r"[A-Za-z][A-Za-z'-]+", text) if word not in ALLOWED_LATIN})
    assert english == [], f"English words in the {lang} interface: {english}"
    for message in [m for m in catalogue(lang) if m.id and isinstance(m.id, str) and len(m.id) > 3]:
        if message.string != message.id and " " in message.id:
            assert message.id not in text


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_start_source_and_missing_pages_speak_the_chosen_language(client, web_assistant, lang):
    doc_id = next(iter(web_assistant.index.documents))
    for path, status in [("/", 200), (f"/documents/{doc_id}?start=0&end=40", 200), ("/documents/nope", 404)]:
        response = client.get(path, params={"lang": lang})
        assert response.status_code == status
        text = interface_text(response.text)
        english = sorted({w for w in re.findall(r"[A-Za-z][A-Za-z'-]+", text) if w not in ALLOWED_LATIN | {"nope", "id", "Id-"}})
        assert english == [], (path, english)


def test_accept_language_chooses_the_page_language_and_lang_overrides_it(client):
    page = client.get("/", headers={"accept-language": "ru-RU,ru;q=0.9"}).text
    assert '<html lang="ru">' in page and "Спросите у документов" in page
    assert 'name="lang"' not in page  # chosen by the browser: nothing to carry
    page = client.get("/", headers={"accept-language": "kk"}).text
    assert '<html lang="kk">' in page and "Құжаттардан сұраңыз" in page
    page = client.get("/", params={"lang": "kk"}, headers={"accept-language": "ru"}).text
    assert '<html lang="kk">' in page
    assert '<input type="hidden" name="lang" value="kk">' in page  # the form keeps the choice
    assert 'href="/documents/' in page and "lang=kk" in re.search(r'<ul class="sources">.*?</ul>', page, re.S).group(0)
    assert '<html lang="en">' in client.get("/", params={"lang": "xx"}).text
    assert '<html lang="ru">' in client.get("/", params={"lang": "xx"}, headers={"accept-language": "ru"}).text
    assert "set-cookie" not in client.get("/", params={"lang": "ru"}).headers


def test_language_switch_keeps_the_question_and_filters(client, web_assistant):
    doc_id = sorted(web_assistant.index.documents)[0]
    page = client.get("/", params={"q": "HIV testing", "doc_ids": doc_id, "lang": "ru"}).text
    switch = re.search(r'<nav class="languages".*?</nav>', page, re.S).group(0)
    links = dict(re.findall(r'href="([^"]+)" lang="(\w\w)"', switch))
    assert set(links.values()) == {"en", "ru", "kk"}
    for href, code in links.items():
        assert "q=HIV+testing" in href and f"doc_ids={doc_id}" in href and href.endswith(f"lang={code}")
    assert 'aria-current="true">Русский' in switch


def test_quotations_keep_their_documents_language(client, web_assistant):
    page = client.get("/", params={"q": RU_QUESTION, "lang": "ru"}).text
    quotes = re.findall(r'<blockquote class="passage" cite="[^"]*" lang="(\w+)">', page)
    answer = web_assistant.ask(RU_QUESTION)
    assert quotes == [r.citation.language for r in answer.results] and set(quotes) == {"en"}


def test_russian_example_questions_are_answered(client):
    page = client.get("/", params={"lang": "ru"}).text
    examples = re.findall(r'<a class="example" lang="ru" href="([^"]+)">', page)
    assert len(examples) == 4
    answer = client.get(examples[0].replace("&amp;", "&")).text
    assert '<li class="card"' in answer


# The API ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "lang", "says"), [
    ({"question": ""}, "ru", "вопрос пустой"),
    ({"question": ""}, "kk", "сұрақ бос"),
    ({"question": ""}, None, "the question is empty"),
    ({"question": "x" * 1001}, "ru", "длина вопроса — 1001 симв."),
    ({"question": "HIV", "k": 99}, "kk", "ең көбі 50"),
    ({"question": "HIV", "year_from": 99999}, "ru", "year_from должен быть годом"),
    ({"k": 3}, "ru", "question: обязательное поле"),
    ({"question": "HIV", "k": "5"}, "kk", "k: бүтін сан болуы керек"),
])
def test_api_errors_speak_the_requested_language(client, body, lang, says):
    headers = {"accept-language": lang} if lang else {}
    response = client.post("/api/ask", json=body, headers=headers)
    assert response.status_code == 422
    assert set(response.json()) == {"error"}
    assert says in response.json()["error"]


def test_other_api_errors_are_translated_too(client):
    unknown = client.post("/api/ask", json={"question": "HIV", "doc_ids": ["nope"]}, headers={"accept-language": "ru"})
    assert unknown.status_code == 404 and unknown.json()["error"].startswith("нет документа с id 'nope'")
    too_big = client.post("/api/ask", content=b" " * 70_000, headers={"accept-language": "kk", "content-type": "application/json"})
    assert too_big.status_code == 413 and too_big.json()["error"].startswith("сұраныс денесі 65,536 байттан асады")
    assert client.get("/api/documents/nope", headers={"accept-language": "kk"}).json()["error"].startswith("id-і 'nope'")
    assert client.get("/api/nothing", headers={"accept-language": "ru"}).json() == {"error": "Не найдено"}
    assert client.get("/api/nothing").json() == {"error": "Not Found"}
    response = client.post("/api/ask", content=b"{bad", headers={"content-type": "application/json",
                                                                  "accept-language": "ru"})
    assert response.status_code == 400 and response.json()["error"] == "тело запроса — не корректный JSON"


def test_abstain_reason_follows_accept_language_and_stays_english_by_default(client):
    body = {"question": "Is prostitution legal in Germany?"}
    english = client.post("/api/ask", json=body).json()
    russian = client.post("/api/ask", json=body, headers={"accept-language": "ru"}).json()
    assert english["abstained"] and english["abstain_reason"].startswith("the documents do not mention")
    assert russian["abstain_reason"].startswith("в документах не упоминается")
    assert russian["results"] == english["results"]
