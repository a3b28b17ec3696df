"""Dates of sources: the one pattern a date must have ("2015", "2015-11" or "2015-11-05")."""

from __future__ import annotations

import re

ISO_DATE = re.compile(r"\d{4}(-\d{2}(-\d{2})?)?")
"""A date as precise as known: YYYY, YYYY-MM or YYYY-MM-DD."""


def is_iso_date(value: str) -> bool:
    """Whether `value` is a date in the form `ISO_DATE` allows."""
    return ISO_DATE.fullmatch(value) is not None
