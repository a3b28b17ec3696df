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
