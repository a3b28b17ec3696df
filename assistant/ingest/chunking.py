"""Cut a cleaned document into passages that follow its structure, and passages into sentences.

A passage never crosses a section; it grows block by block (paragraph, list item, quote with its
attribution) up to a target size, and only a block longer than the maximum is cut, at sentence
boundaries. The maximum is a passage's upper size: a sentence longer than it (a text without
sentence punctuation, 29,443 characters in one passage before issue 28) is cut at the last word
boundary within it. Every passage's text is exactly `document.text[start:end]`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.ingest.cleaning import Block
from assistant.ingest.corpus import Document

SECTION_SEPARATOR = " / "
CHUNKING_VERSION = 2
"""Bump when chunking changes the passages of an unchanged text (an index built before is then
stale): 2 is the upper size of a passage."""

_ABBREVIATIONS = frozenset(
    "e.g i.e etc dr mr mrs ms prof st no nos art arts vs approx est fig figs vol ed eds inc ltd co corp "
    "jan feb mar apr jun jul aug sep sept oct nov dec u.s u.k p pp para cf al "
    # Russian and Kazakh: т.е., т.д., ст. (статья), гг., тыс., млн, обл., стр., рис., проф., им.
    "т.е т.д т.п т.к ст гг тыс млн млрд руб обл ул стр рис табл проф им см др бб".split()
)
_SENTENCE_BOUNDARY = re.compile(
    r"[.!?…]+[”’\"')\]»]*(?P<note>\d{1,3}(?: \d{1,3})*)?(?=\s+[A-ZА-ЯЁӘҒҚҢӨҰҮҺІ“‘\"\[•«—–])"
)
"""The end of a sentence: its punctuation, then a capital letter (Latin or Cyrillic), an opening
quote or a bullet."""
_WORD_BEFORE = re.compile(r"([\w.]+)$")


@dataclass(frozen=True)
class Passage:
    passage_id: int
    doc_id: str
    section: str | None
    start: int
    end: int
    text: str
    sentences: tuple[tuple[int, int], ...]
    """Sentence spans relative to the passage text."""


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans of `text`: line breaks always end a sentence; abbreviations
    ("e.g.", "Dr.", "Art.271") and decimals ("69.01") do not; a footnote number glued after the
    full stop ("services.28 Undocumented") stays with its sentence."""
    spans: list[tuple[int, int]] = []
    offset = 0
    for line in re.split(r"(\n+)", text):
        if line and not line.startswith("\n"):
            spans.extend((offset + s, offset + e) for s, e in _split_line(line))
        offset += len(line)
    return spans


def _split_line(line: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_BOUNDARY.finditer(line):
        punctuation_at = match.start()
        if match.group("note") and punctuation_at and line[punctuation_at - 1].isdigit():
            continue
        before = _WORD_BEFORE.search(line[start:punctuation_at])
        if before and _is_abbreviation(before.group(1)):
            continue
        spans.append((start, match.end()))
        start = match.end()
        while start < len(line) and line[start].isspace():
            start += 1
    spans.append((start, len(line)))
    return [(s, e) for s, e in _trim(line, spans) if e > s]


def _is_abbreviation(word: str) -> bool:
    word = word.lower().rstrip(".")
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def _trim(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    trimmed = []
    for start, end in spans:
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        trimmed.append((start, end))
    return trimmed


def chunk_document(document: Document, target_chars: int, max_chars: int, first_id: int = 0) -> list[Passage]:
    """Passages of one document, numbered from `first_id`."""
    spans: list[tuple[str | None, int, int]] = []
    for section, blocks in _sections(document):
        spans.extend((section, start, end) for start, end in _pack(document.text, blocks, target_chars, max_chars))
    passages = []
    for number, (section, start, end) in enumerate(spans):
        text = document.text[start:end]
        passages.append(
            Passage(
                passage_id=first_id + number,
                doc_id=document.doc_id,
                section=section,
                start=start,
                end=end,
                text=text,
                sentences=tuple(split_sentences(text)),
            )
        )
    return passages


def _sections(document: Document) -> list[tuple[str | None, list[Block]]]:
    """Group body blocks under their section path ("PREVENTION COMPONENT 2 / AVAILABILITY OF
    SERVICES / KEY POINTS"). Adjacent top-level headings form one title; headings that repeat the
    document title are not a section."""
    title = document.metadata.title.lower()
    groups: list[tuple[str | None, list[Block]]] = []
    top: list[str] = []
    sub: str | None = None
    previous_was_heading = False
    for block in document.clean.blocks:
        text = document.text[block.start : block.end].strip()
        if block.kind == "heading":
            if text.lower() in title:
                continue
            if block.level <= 1:
                joins_title = previous_was_heading and sub is None and not block.page_break_before
                top = [*top, text] if joins_title else [text]
                sub = None
            else:
                sub = text.rstrip(":").strip()
            previous_was_heading = True
            continue
        previous_was_heading = False
        path = SECTION_SEPARATOR.join(top + ([sub] if sub else [])) or None
        if groups and groups[-1][0] == path:
            groups[-1][1].append(block)
        else:
            groups.append((path, [block]))
    return groups


def _pack(text: str, blocks: list[Block], target_chars: int, max_chars: int) -> list[tuple[int, int]]:
    """Greedy packing of consecutive blocks into spans; a lead-in ending in ":" keeps its list."""
    pieces: list[tuple[int, int]] = []
    for block in blocks:
        if block.end - block.start > max_chars:
            pieces.extend(_cut(text, block.start, block.end, max_chars))
        else:
            pieces.append((block.start, block.end))
    spans: list[tuple[int, int]] = []
    for start, end in pieces:
        if spans:
            open_start, open_end = spans[-1]
            lead_in = text[open_start:open_end].rstrip().endswith(":")
            size = end - open_start
            if size <= target_chars or (lead_in and size <= max_chars):
                spans[-1] = (open_start, end)
                continue
        spans.append((start, end))
    return spans


def _cut(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """Cut an over-long block at sentence boundaries into pieces of at most `max_chars`; a sentence
    longer than that is cut at word boundaries."""
    pieces: list[tuple[int, int]] = []
    piece_start = piece_end = start
    for sentence_start, sentence_end in split_sentences(text[start:end]):
        sentence_start += start
        sentence_end += start
        if piece_end > piece_start and sentence_end - piece_start > max_chars:
            pieces.extend(_cut_words(text, piece_start, piece_end, max_chars))
            piece_start = sentence_start
        piece_end = sentence_end
    pieces.extend(_cut_words(text, piece_start, piece_end, max_chars))
    return pieces


_SPACE = re.compile(r"\s+")


def _cut_words(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """`text[start:end]` as pieces of at most `max_chars`, each ending at the last white space
    that lets it (a word longer than `max_chars` is cut where the limit falls)."""
    pieces: list[tuple[int, int]] = []
    while end - start > max_chars:
        window = text[start : start + max_chars + 1]  # a space just past the limit ends a full piece
        spaces = [match.span() for match in _SPACE.finditer(window, 1)]
        cut, resume = spaces[-1] if spaces else (max_chars, max_chars)
        pieces.append((start, start + cut))
        start += resume
        if spaces and resume == len(window):  # the space run goes on past the window
            while start < end and text[start].isspace():
                start += 1
    if end > start:
        pieces.append((start, end))
    return pieces
