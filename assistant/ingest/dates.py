"""Dates of sources: the one pattern a date must have, and what the text tells of an undated one.

A source's time decides which passage states the law as it is now, so every document carries the
year it speaks for (`year`, or `date`) when that is known, and otherwise an estimate with its
basis. The rule for the estimate: the newest year the text mentions as past is a lower bound on
when it was written (a text cannot report 2004 statistics before 2004), and no upper bound (the
text may be years younger). Years after the current one (targets such as "by 2030") are left
out. Placed at that lower bound, an undated source is never taken for the current state of
things; it is shown as "year unknown, cites 2004 data".
"""

from __future__ import annotations

import re
from datetime import date

from assistant.i18n import N_, Message

ISO_DATE = re.compile(r"[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?")
"""A date as precise as known: YYYY, YYYY-MM or YYYY-MM-DD (ASCII digits only)."""
_YEAR = re.compile(r"(?<![\d.,/-])(1[89]\d\d|20\d\d)(?![\d.,]\d)")
_FUTURE_TARGET = re.compile(r"(?:\bby|\buntil|\btill|\bк|\bдо|\bдейін)\s+$", re.IGNORECASE)


def is_iso_date(value: str) -> bool:
    """Whether `value` is a date in the form `ISO_DATE` allows, and one that exists (not
    2024-13-45, not year 0)."""
    if ISO_DATE.fullmatch(value) is None:
        return False
    year, month, day = ([int(part) for part in value.split("-")] + [1, 1])[:3]
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


EARLIEST_YEAR = 1900
"""The earliest year a source may be dated by its details: the collection is about today's law and
services, and a year before this is far likelier a slip (1015 for 2015) than a source."""


def a_year_from(today: date) -> date:
    """The latest date a source may have: a report or a law is dated up to a year before it comes
    out or takes effect (a December issue dated next January), never further."""
    try:
        return today.replace(year=today.year + 1)
    except ValueError:  # 29 February
        return today.replace(year=today.year + 1, day=28)


def date_problem(value: str, *, today: date | None = None) -> Message | None:
    """Why `value` cannot be a source's date (None when it can): it must have the form `ISO_DATE`,
    exist, and lie from `EARLIEST_YEAR` to `a_year_from` today (its first day, for a year or a
    month). The one check of a date, wherever it is given (a sidecar, `add --date`, the operator's
    form)."""
    if not is_iso_date(value):
        return Message(N_("date {value} is not YYYY, YYYY-MM or YYYY-MM-DD; leave it out when unknown"),
                       {"value": repr(value[:40])})
    year, month, day = ([int(part) for part in value.split("-")] + [1, 1])[:3]
    latest = a_year_from(today or date.today())
    if year < EARLIEST_YEAR or date(year, month, day) > latest:
        return Message(N_("date {value} is out of range: a source's date lies between {earliest} and a year from "
                          "today ({latest}); correct it, or leave it out when unknown"),
                       {"value": value, "earliest": EARLIEST_YEAR, "latest": latest.isoformat()})
    return None


def year_problem(year: int, *, today: date | None = None) -> Message | None:
    """Why `year` cannot be a source's year (None when it can): from `EARLIEST_YEAR` to next year."""
    latest = a_year_from(today or date.today()).year
    if EARLIEST_YEAR <= year <= latest:
        return None
    return Message(N_("year {value} is out of range: a source's year lies between {earliest} and {latest}; "
                      "correct it, or leave it out when unknown"),
                   {"value": year, "earliest": EARLIEST_YEAR, "latest": latest})


def newest_cited_year(text: str, *, today: date | None = None) -> int | None:
    """The newest year the text mentions that is not after `today`'s year and not a target
    ("by 2030"): a lower bound on when the text was written."""
    this_year = (today or date.today()).year
    years = []
    for match in _YEAR.finditer(text):
        year = int(match.group(1))
        if year <= this_year and not _FUTURE_TARGET.search(text[max(0, match.start() - 8) : match.start()]):
            years.append(year)
    return max(years) if years else None


def year_label(year: int | None, estimate: int | None = None) -> str:
    """How a source's year is shown: "2015", "year unknown, cites 2004 data", or "year unknown"."""
    if year:
        return str(year)
    return f"year unknown, cites {estimate} data" if estimate else "year unknown"
