"""How citations, years and labels read in the reader's language: one `Ui` per request (page) or run
(CLI), so the chat page, the source page, `app.js` (through `Ui.script_messages`) and the command
line say the same things the same way.

Only the interface is translated: titles, publishers, sections and quotations stay as the source
wrote them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from assistant.answer.timeline import AS_OF, DATA_AGE
from assistant.i18n import DEFAULT_LANGUAGE, N_, UI_LANGUAGES, Message, gettext, ngettext
from assistant.languages import LANGUAGE_NAMES

_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""Characters a terminal obeys rather than shows: C0 and C1 controls (escape sequences, line
breaks, carriage returns) and the bidirectional overrides that reorder what is shown."""


def terminal_line(text: str) -> str:
    """`text` as one line a terminal shows as it is: every control or reordering character written
    as its escape (`\\x1b`, `\\n`, `\\u202e`). For what the command line prints from file names,
    paths and messages that carry them: a name like "report\\x1b]0;...\\x07.pdf" cannot retitle the
    window, hide text or forge a line."""
    return _UNPRINTABLE.sub(lambda found: found.group().encode("unicode_escape").decode("ascii"), text)


class TerminalFormatter(logging.Formatter):
    """Log lines for a terminal: each record's message made one printable line (`terminal_line`)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return terminal_line(super().formatMessage(record))


YEAR_UNKNOWN = N_("year unknown")
YEAR_UNKNOWN_CITES = N_("year unknown, cites {year} data")
NO_DATE = N_("n.d.")
PAGE = N_("p. {page}")

SCRIPT_MESSAGES: dict[str, str] = {
    "question": N_("Question: "),
    "searching": N_("Searching the documents…"),
    "not_covered": N_("These documents do not seem to cover this."),
    "no_passages": N_("No passages found."),
    "span_note": N_("These sources are from different years ({oldest}–{newest}), and the law may have changed. "
                    "The newest is marked."),
    "nearest": N_("Nearest passages, not answers"),
    "best_first": N_("Passages, best match first"),
    "source_year": N_("Source year: "),
    "year_unknown": YEAR_UNKNOWN,
    "year_unknown_cites": YEAR_UNKNOWN_CITES,
    "no_date": NO_DATE,
    "page": PAGE,
    "newest": N_("newest source"),
    "older": N_("older source ({year})"),
    "older_unknown": N_("older source"),
    "date_note": N_("Date: {note}"),
    "also_in": N_("Also in: "),
    "timeline": N_("How this changed over time"),
    "timeline_hint": N_("Each source in its own words, newest first."),
    "as_of": AS_OF,
    "data_age": DATA_AGE,
    "state_as_of": N_("older source: the state as of {year}"),
    "best_match": N_("Best match"),
    "copy": N_("Copy"),
    "copied": N_("Copied"),
    "copy_failed": N_("Could not copy: select the text and copy it yourself."),
    "copy_as": N_("Copy as…"),
    "plain_text": N_("Plain text"),
    "share": N_("Share"),
    "link_copied": N_("Link copied"),
    "link_copied_private": N_("Link copied. It contains your question: anyone who sees the link can read it."),
    "could_not_answer": N_("Could not answer: {error}"),
    "server_answered": N_("the server answered {status}"),
    "answers": N_("Answers my question"),
    "wrong": N_("Wrong passage"),
    "feedback_label": N_("Was this the right passage?"),
    "feedback_saved": N_("Thank you. Saved on the server of this service."),
    "feedback_failed": N_("Could not save: {error}"),
    "hint_js": N_("Enter sends; Shift+Enter starts a new line."),
    "actions": N_("Actions for passage {rank}"),
}
"""What app.js writes on the page, by key; the page hands them over translated (`script_messages`)."""


@dataclass(frozen=True)
class Ui:
    """The interface language of one page or command, and the wording that depends on it.

    `carry` is true when the language was chosen on the page (`?lang=`): links and forms then keep
    `lang=` so the choice lasts without a cookie."""

    lang: str = DEFAULT_LANGUAGE
    carry: bool = False

    def _(self, message: str) -> str:
        """`message` in this language."""
        return gettext(self.lang, message)

    def n_(self, singular: str, plural: str, n: int) -> str:
        """The plural form for `n` in this language (`{n}` is filled in)."""
        return ngettext(self.lang, singular, plural, n).format(n=n)

    def say(self, message: Message | str, **params: object) -> str:
        """A message (id and parameters) in this language."""
        if isinstance(message, Message):
            return message.render(self.lang)
        return Message(message, params).render(self.lang)

    def m(self, key: str, **params: object) -> str:
        """One of `SCRIPT_MESSAGES` by key, in this language, its fields filled in."""
        return self.say(SCRIPT_MESSAGES[key], **params)

    # Years and citations ------------------------------------------------------------------------

    def year_label(self, year: int | None, estimate: int | None = None) -> str:
        """"2015", "year unknown, cites 2004 data" or "year unknown"."""
        if year:
            return str(year)
        if estimate:
            return self.say(YEAR_UNKNOWN_CITES, year=estimate)
        return self._(YEAR_UNKNOWN)

    def year_or_nd(self, year: int | None) -> str:
        """The year in a citation line: "2015", or "n.d." for an undated source."""
        return str(year) if year else self._(NO_DATE)

    def label(self, citation) -> str:
        """`Title — Publisher, year · section · p. 3`: the citation line without its rank."""
        return "".join(text for text, _ in self.label_parts(citation))

    def label_parts(self, citation) -> list[tuple[str, str | None]]:
        """`label` in pieces, each with the language it is in (None: the interface's): the title,
        publisher and section are the source's own words, so a page marks them with `lang`."""
        source_lang = getattr(citation, "language", None) or "en"
        name = f"{citation.title} — {citation.publisher}" if citation.publisher else citation.title
        parts: list[tuple[str, str | None]] = [(name, source_lang), (f", {self.year_or_nd(citation.year)}", None)]
        if citation.section:
            parts += [(" · ", None), (citation.section, source_lang)]
        if getattr(citation, "page", None):
            parts.append((" · " + self.say(PAGE, page=citation.page), None))
        return parts

    def citation_line(self, rank: int, citation) -> str:
        """`[1] Title — Publisher, year · section · p. 3`."""
        return f"[{rank}] {self.label(citation)}"

    def recency_badge(self, result) -> str | None:
        """"newest source" / "older source (2012)" for a result the answer marks, else None."""
        if result.recency == "newest":
            return self.m("newest")
        if result.recency == "older" and result.state_as_of:
            return self.m("state_as_of", year=result.state_as_of)
        if result.recency == "older":
            year = result.citation.year or result.citation.year_estimate
            return self.m("older", year=year) if year else self.m("older_unknown")
        return None

    def recency_notes(self, answer) -> list[str]:
        """How recent the sources behind an answer are: "These sources run to 2025.", and "This
        information is from 2012 and may have changed." when they are old. None for a refusal."""
        if answer.abstained or answer.as_of is None:
            return []
        notes = [self.m("as_of", year=answer.as_of)]
        if answer.data_age_note:
            notes.append(self.m("data_age", year=answer.as_of))
        return notes

    # Links --------------------------------------------------------------------------------------

    def url(self, path: str, params: Mapping[str, object] | list[tuple[str, object]] | None = None,
            fragment: str = "") -> str:
        """`path` with `params` (None and "" left out), plus `lang=` when the language is carried."""
        pairs = list(params.items()) if isinstance(params, Mapping) else list(params or [])
        pairs = [(key, value) for key, value in pairs if value is not None and value != ""]
        if self.carry:
            pairs.append(("lang", self.lang))
        query = urlencode([(key, str(value)) for key, value in pairs])
        return path + (f"?{query}" if query else "") + (f"#{fragment}" if fragment else "")

    def source_link(self, doc_id: str, start: int, end: int) -> str:
        """The source page with the passage `start:end` marked and scrolled to."""
        return self.url(f"/documents/{quote(doc_id, safe='')}", {"start": start, "end": end}, "passage")

    def script_messages(self) -> dict[str, str]:
        """Every message app.js may write, in this language."""
        return {key: self._(message) for key, message in SCRIPT_MESSAGES.items()}

    @staticmethod
    def languages() -> list[tuple[str, str]]:
        """The interface languages, each named in itself."""
        return [(code, LANGUAGE_NAMES[code]) for code in UI_LANGUAGES]
