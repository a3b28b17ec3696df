"""How the results' sources lie in time: their span, and one quotation per source when they span a change."""

from __future__ import annotations

from assistant.answer.model import Result, TimelineEntry
from assistant.i18n import N_, Message

DATA_AGE = N_("This information is from {year} and may have changed.")
AS_OF = N_("These sources run to {year}.")


def timeline(results: list[Result], min_years: int) -> list[TimelineEntry] | None:
    """One entry per source among the marked results (its best-ranked one), newest first (the
    first quotation a reader meets is the current one), when their years lie more than
    `min_years` apart; None otherwise. Undated sources come last."""
    entries: dict[str, TimelineEntry] = {}
    for result in results:
        citation = result.citation
        if result.recency is None or citation.doc_id in entries:
            continue
        entries[citation.doc_id] = TimelineEntry(
            year=citation.year or citation.year_estimate, year_label=citation.year_label, rank=result.rank,
            quote=result.text[result.highlight.start : result.highlight.end], citation=citation)
    years = [entry.year for entry in entries.values() if entry.year is not None]
    if len(years) < 2 or max(years) - min(years) <= min_years:
        return None
    return sorted(entries.values(), key=lambda entry: (entry.year is None, -(entry.year or 0), entry.rank))


def sources_span(results: list[Result], min_years: int) -> list[int] | None:
    """[oldest, newest] year of the results' sources when they are more than `min_years` apart:
    the law changed, and a reader must see that the sources disagree in time."""
    years = [r.citation.year for r in results if r.citation.year is not None]
    if years and max(years) - min(years) > min_years:
        return [min(years), max(years)]
    return None


def as_of(view_as_of: int | None, results: list[Result]) -> int | None:
    """The newest year behind an answer: of the sources that answer (`view_as_of`), else of those shown."""
    if view_as_of is not None:
        return view_as_of
    return max((r.citation.year for r in results if r.citation.year is not None), default=None)


def data_age_note(year: int | None, max_age: int, this_year: int) -> str | None:
    """"This information is from 2012 and may have changed." (English; the page and the CLI say it
    in their reader's language) when the newest source behind an answer is more than `max_age`
    years old."""
    if year is None or this_year - year <= max_age:
        return None
    return str(Message(DATA_AGE, {"year": year}))
