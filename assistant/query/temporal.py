"""Time in an answer: which sources speak for now, and how the state of things changed.

The law changed in 2024: a passage from 2012 saying sex work is not illegal answers "is it legal
now?" wrongly, and a reader acting on it could be arrested. So:

- A question has a time focus: "present" ("now", "still", "today", "is it legal", "сейчас",
  "законно ли", "қазір", "заңсыз ба"), "past" (a year well before the newest source, "before",
  "used to", "раньше", "бұрын") or "neutral". Cues are per language (`time_focus`).
- A document *answers* when its best passage reaches the evidence floor (the abstention
  threshold of the question's language). When several answer and they differ in time, the
  *current* ones are the newest and those at most `same_period` years older (a 2024 law and a 2025
  article about it speak for the same state of things). Unless the question is about the past, a
  current source's best passage is brought into the top 3 (`newest_in_top`), and for a question
  about the present to rank 1 (`newest_in_top_present`) when rank 1 is not already current; each
  answering passage of a present-tense question also gains up to `recency_present_weight` by its
  source's year. Only the order changes, never the passages.
- Each shown result from an answering document is marked "newest" (a current source) or "older",
  over every source that answers, not only those shown; an older result of a question about the
  present speaks for the state *as of its year*. When the shown sources are more than
  `span_min_years` apart the answer carries a timeline: one quotation per source, newest first.
- `as_of` is the newest year of the sources that answer (or of those shown, when none reaches the
  floor): what the answer's "as of" line and its data-age note read.

Years are the sources' own, or for an undated source the newest year it cites (a lower bound:
such a source is never taken for the newest).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from assistant.languages import typed_plainly
from assistant.store.backends.base import Hit

TimeFocus = Literal["present", "past", "neutral"]
DocOf = Mapping[int, str] | Sequence[str]
"""The document of each passage row (`Index.passage_doc_ids`, or a mapping of the rows at hand)."""

_PRESENT = {
    "en": r"\b(now|nowadays|today|currently|current|at present|presently|these days|at the moment|still|anymore|any more"
          r"|yet|already|as (it|they|things) stands?|right now|this year|latest|new law|under the new|in force|in effect)\b",
    "ru": r"(сейчас|\bщас\b|теперь|сегодня|ныне|нынешн\w*|на данный момент|в настоящее время|до сих пор|всё ещё|все еще|по-прежнему"
          r"|\bуже\b|актуальн\w*|действующ\w*|действует|вступил\w* в силу|нов\w* закон\w*|в этом году)",
    "kk": r"(қазір\w*|казир\w*|бүгін\w*|әлі|әлі де|осы кезде|осы уақытта|жаңа заң\w*|биыл|күшіне ен\w*)",
}
_STATUS = {
    # A yes/no question about legal status in the present tense: "is sex work legal?"
    "en": r"^\s*(is|are|does|do|can|will)\b[^?]*\b(legal|illegal|allowed|permitted|banned|prohibited|crime|criminal\w*"
          r"|decriminali[sz]ed|punish\w*|fined?|prosecuted|arrested|jail\w*|prison|lock\w* (\w+ )?up)\b",
    "ru": r"\b(легальн\w*|законн\w*|незаконн\w*|разрешен\w*|запрещен\w*|наказыва\w*|преступлени\w*|уголовн\w*|уголовк\w*|посад\w*)\b[^.]*"
          r"(\bли\b|\?)|\bли\b[^.]*\b(легальн\w*|законн\w*|разрешен\w*|запрещен\w*|наказыва\w*)",
    "kk": r"(заңды|заңсыз|рұқсат|тыйым|жаза|қылмыс|ұста|қама|айыппұл)\w*\s+(ма|ме|ба|бе|па|пе)\b",
}
_PAST = {
    "en": r"\b(before|used to|back then|back in|previously|in the past|formerly|originally|was it|were they|at that time"
          r"|until 20\d\d|prior to|old(er)? (law|code|criminal code|rules))\b",
    "ru": r"(раньше|прежде|в прошлом|тогда|до 20\d\d|до нового закона|до принятия|ранее|был[аои]? ли)",
    "kk": r"(бұрын\w*|дейін|кезінде|ертеде)",
}
_YEAR = re.compile(r"(?<!\d)(19\d\d|20\d\d)(?!\d)")
_COMPILED = {name: {lang: re.compile(typed_plainly(pattern, lang), re.IGNORECASE) for lang, pattern in table.items()}
             for name, table in (("present", _PRESENT), ("status", _STATUS), ("past", _PAST))}


def time_focus(question: str, language: str, newest_year: int | None = None) -> TimeFocus:
    """Whether the question asks about the present, about the past, or neither. A year at least
    two years before the newest source (`newest_year`) makes it a question about the past. Cues
    read the question as typed without the language's own letters ("кылмыс па" is "қылмыс па")."""
    cues = {name: table.get(language, table["en"]) for name, table in _COMPILED.items()}
    question = typed_plainly(question.lower(), language)
    years = [int(year) for year in _YEAR.findall(question)]
    if cues["past"].search(question) or (years and newest_year and max(years) < newest_year - 1):
        return "past"
    if cues["present"].search(question) or cues["status"].search(question):
        return "present"
    return "neutral"


@dataclass
class TimeView:
    """What the sources that answer a question say about time."""

    focus: TimeFocus
    answering: dict[str, int | None] = field(default_factory=dict)
    """The documents that answer (best passage at the evidence floor) and their years."""
    newest: str | None = None
    """The newest answering document, when the answering documents differ in time."""
    current: frozenset[str] = frozenset()
    """The answering documents of the newest one's period (at most `same_period` years older), when
    the answering documents differ in time."""

    @property
    def differ(self) -> bool:
        return self.newest is not None

    @property
    def as_of(self) -> int | None:
        """The newest year of the answering sources (None when none is dated)."""
        return max((year for year in self.answering.values() if year is not None), default=None)

    def mark(self, doc_id: str) -> Literal["newest", "older"] | None:
        """"newest" (current) or "older" for a result of an answering document, when they differ in time."""
        if not self.differ or doc_id not in self.answering:
            return None
        return "newest" if doc_id in self.current else "older"

    def recency(self, doc_id: str) -> float:
        """An answering document's year on 0 (the oldest answering) to 1 (the newest); 0 for the
        others, and for all when they do not differ in time."""
        dated = [year for year in self.answering.values() if year is not None]
        year = self.answering.get(doc_id)
        if not self.differ or year is None:
            return 0.0
        return (year - min(dated)) / (max(dated) - min(dated))


def view_time(ranking: list[Hit], doc_of: DocOf, years: dict[str, int | None], *, focus: TimeFocus,
              floor: float, margin: float, same_period: int = 0, present_slack: float = 0.0) -> TimeView:
    """Which documents answer (by the evidence scores of `ranking`, best first), which of them is
    newest and which speak for its period. For a question about the present the floor is lowered
    by `present_slack` (a colloquial question about the new law sits just under it); for any other,
    a document answers only when its best passage is also within `margin` of the best one."""
    best: dict[str, float] = {}
    for hit in ranking:
        best.setdefault(doc_of[hit.passage], hit.score)
    top = ranking[0].score if ranking else 0.0
    least = floor - present_slack if focus == "present" else max(floor, top - margin)
    answering = {doc: years.get(doc) for doc, score in best.items() if score >= least}
    view = TimeView(focus, answering)
    dated = {doc: year for doc, year in answering.items() if year is not None}
    if len(set(dated.values())) >= 2:
        view.newest = max(dated, key=lambda doc: (dated[doc], best[doc]))
        view.current = frozenset(doc for doc, year in dated.items() if year >= dated[view.newest] - same_period)
    return view


def reorder(ranking: list[Hit], view: TimeView, doc_of: DocOf, *, present_weight: float,
            newest_in_top: int, eligible: Collection[int] = (), newest_in_top_present: int | None = None) -> list[Hit]:
    """The ranking with time taken into account (see the module docstring): for a question about
    now, each `eligible` passage (one reaching the evidence floor) gains `present_weight` times its
    source's recency; then, unless the question is about the past, the best passage of a current
    source is brought up to rank `newest_in_top` (`newest_in_top_present` for a question about now;
    0: never)."""
    if not view.differ or view.focus == "past":
        return ranking
    if view.focus == "present" and present_weight:
        ranking = sorted((Hit(hit.passage, hit.score + (present_weight * view.recency(doc_of[hit.passage])
                                                         if hit.passage in eligible else 0.0)) for hit in ranking),
                         key=lambda h: (-h.score, h.passage))
    if view.focus == "present" and newest_in_top_present is not None:
        newest_in_top = newest_in_top_present
    position = next((i for i, hit in enumerate(ranking) if doc_of[hit.passage] in view.current), None)
    if position is not None and 0 < newest_in_top <= position:
        ranking = [*ranking[: newest_in_top - 1], ranking[position], *ranking[newest_in_top - 1 : position],
                   *ranking[position + 1 :]]
    return ranking
