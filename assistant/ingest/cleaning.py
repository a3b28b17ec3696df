"""Turn a captured document (web page copy, PDF text extraction) into the served text.

The served text is what users read and what every citation offset points into, so it is built
once, here, together with its structure: headings, paragraphs and list items, each a `Block`
with exact offsets. Originals stay untouched on disk; only this cleaned form is searched.

What cleaning does:
- hard-wrapped lines are joined into paragraphs; a document with one paragraph per line keeps
  its lines apart (a line longer than `WRAP_MAX` is never a wrapped line);
- a word broken by line-end hyphenation is rejoined ("preven-/tion" -> "prevention"), while a
  compound that happens to break at its own hyphen keeps it ("law-/enforcement");
- list items (•, numbered items) stay separate blocks, even when a PDF break split them;
- page furniture (share buttons, social links, language switchers, newsletter boxes,
  "Back to the list", page markers) is left out;
- figures are left exactly as captured: "69.012" may be 69.01 plus footnote 2, and no rule
  can tell, so nothing is rewritten inside a line.

Every rule reads letters of any script, so Russian and Kazakh text is cleaned alike ("профилак-/
тика" is rejoined, a line starting in lower case continues the one before it, "и", "в", "және" at a
line end leave the sentence open).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

BlockKind = Literal["heading", "paragraph", "bullet"]

WRAP_MAX = 120
"""Hard-wrapped lines (PDF extractions, e-mail) are never longer than this."""

FULL_LINE_RATIO = 0.7
"""A line at least this share of its paragraph's widest line was wrapped by the layout."""

DESCRIPTION_MIN_WORDS = 10
"""An upper-case run with more words than this is a descriptive subtitle, not a heading."""

BLOCK_SEPARATOR = "\n\n"

_BULLET = re.compile(r"^\s*([•·▪◦●■□➢►])\s*")
_LIST_ITEM = re.compile(r"^\s*(?:[-*]|\d{1,2}[.)])\s+")
_MARKDOWN_HEADING = re.compile(r"^#{1,6}\s+")
_SOCIAL = re.compile(r"facebook|twitter|instagram|youtube|rss|linkedin|telegram|pinterest|whatsapp", re.I)
_FURNITURE_LINE = [
    re.compile(r"^back to (the )?.*\blist\b", re.I),
    re.compile(r"^share (to|by|on|via)\b", re.I),
    re.compile(r"^site available in\b", re.I),
    re.compile(r"^(english|russian|kazakh|français|deutsch|español|русский|қазақша|english version)$", re.I),
    re.compile(r"^(print|print this page|tweet|like|email this|версия для печати|поделиться|распечатать|басып шығару)$", re.I),
    re.compile(r"^(назад к списку|вернуться к списку|тізімге қайту)\b", re.I),
]
_PAGE_MARKER = re.compile(r"^[\s\d»«|/·•–—-]*$")
"""A line of page numbers and arrows ("1»", "» »"): a page break in an extracted PDF."""
_PAGE_BREAK = "\f"
_FURNITURE_BOX = re.compile(
    r"^(get involved|subscribe|newsletter|sign up( to our newsletter)?|follow us|related (articles|news|posts)|you may also like"
    r"|подписаться|подпишитесь на рассылку|похожие (статьи|новости|материалы)|жазылу)$",
    re.I,
)
_SENTENCE_END = re.compile(r"[.!?:;…][”’\"')\]»]*$")
_CONTINUATION_START = re.compile(r"^(?:[0-9(\[–—,;:%)]|[^\W\d_](?<=[^\W\d_A-ZА-ЯЁӘҒҚҢӨҰҮҺІ]))")
"""A line starting in lower case (any script), with a digit or with closing punctuation."""
_OPEN_END = re.compile(
    r"(?<!\w)(and|or|of|the|a|an|to|in|for|with|by|on|at|from|as|than|that"
    r"|и|или|а|но|в|во|на|с|со|по|для|от|к|ко|о|об|из|за|что|как|при|до|у|не|без|между|через"
    r"|және|мен|пен|бен|немесе|үшін|туралы)$",
    re.I,
)
"""A line ending in a conjunction or preposition (English, Russian, Kazakh) leaves its sentence open."""
_HYPHEN_END = re.compile(r"([^\W\d_]+(?:-[^\W\d_]+)*)-$")
_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
_SPACES = re.compile(r"[ \t\f\v]+")

# Prefixes written with a hyphen in English ("non-central", "sub-populations").
_HYPHEN_PREFIXES = frozenset(
    "non sub self co anti multi trans inter pre post ex pro semi well cross half counter ultra "
    "under over mid socio bio micro macro".split()
)


@dataclass(frozen=True)
class Block:
    kind: BlockKind
    start: int
    end: int
    level: int = 0
    """For headings: 1 for a section, 2 for a sub-section ("KEY POINTS:")."""
    page_break_before: bool = False
    """A page break came before this block: headings on either side are not one title."""


@dataclass(frozen=True)
class CleanText:
    text: str
    blocks: tuple[Block, ...]

    def block_text(self, block: Block) -> str:
        return self.text[block.start : block.end]


@dataclass
class _Item:
    kind: BlockKind
    lines: list[str]
    level: int = 0
    page_break_before: bool = False


def normalize(raw: str) -> str:
    """Unicode NFC, Unix newlines, no-break spaces as spaces, no zero-width characters."""
    text = unicodedata.normalize("NFC", raw).replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u00a0", " ").replace("\u200b", "").replace("\ufeff", "")
    return text


def clean(raw: str, *, markdown: bool = False) -> CleanText:
    """Clean captured text into served text with its blocks (see the module docstring)."""
    lines = [_SPACES.sub(" ", line).strip() for line in normalize(raw).split("\n")]
    paragraphs = _drop_furniture(_split_paragraphs(lines))
    vocabulary = _vocabulary(lines)
    items: list[_Item] = []
    page_break = False
    for index, paragraph in enumerate(paragraphs):
        if paragraph == [_PAGE_BREAK]:
            page_break = True
            continue
        for item in _items(paragraph, is_first=index == 0, markdown=markdown):
            if items and _continues(items[-1], item):
                items[-1].lines.extend(item.lines)
            else:
                item.page_break_before, page_break = page_break, False
                items.append(item)
    return _assemble(items, vocabulary)


def _split_paragraphs(lines: list[str]) -> list[list[str]]:
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        if line:
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    return [p for p in paragraphs if p]


def _is_furniture_line(line: str) -> bool:
    bare = _BULLET.sub("", line).strip()
    if any(pattern.search(bare) for pattern in _FURNITURE_LINE):
        return True
    return len(_SOCIAL.findall(line)) >= 2


def _drop_furniture(paragraphs: list[list[str]]) -> list[list[str]]:
    kept: list[list[str]] = []
    skip_next = False
    for paragraph in paragraphs:
        if skip_next:
            skip_next = False
            continue
        if len(paragraph) == 1 and _FURNITURE_BOX.match(paragraph[0]):
            skip_next = True
            continue
        run: list[str] = []
        for line in paragraph:
            if _PAGE_MARKER.match(line):
                kept.extend([run, [_PAGE_BREAK]] if run else [[_PAGE_BREAK]])
                run = []
            elif not _is_furniture_line(line):
                run.append(line)
        if run:
            kept.append(run)
    return kept


def _is_caps(line: str) -> bool:
    """An upper-case heading line; "(UNFPA)." is the end of a sentence, not a heading."""
    letters = [c for c in line if c.isalpha()]
    return (
        line[:1].isalnum()
        and not line.endswith(".")
        and len(letters) >= 3 and sum(c.isupper() for c in letters) >= 0.85 * len(letters)
    )


def _is_title_line(line: str) -> bool:
    return len(line) <= 150 and line[:1].isupper() and not _SENTENCE_END.search(line) and len(line.split()) >= 3


def _items(paragraph: list[str], *, is_first: bool, markdown: bool) -> list[_Item]:
    """Split one blank-line-delimited paragraph into headings, list items and text runs."""
    caps = [_is_caps(line) and not _BULLET.match(line) for line in paragraph]
    if all(caps) and sum(len(line.split()) for line in paragraph) > DESCRIPTION_MIN_WORDS:
        return [_Item("paragraph", list(paragraph))]

    width = max(len(line) for line in paragraph)
    items: list[_Item] = []
    for position, line in enumerate(paragraph):
        previous = items[-1] if items else None
        if markdown and _MARKDOWN_HEADING.match(line):
            items.append(_Item("heading", [_MARKDOWN_HEADING.sub("", line)], level=line.count("#", 0, 7)))
        elif caps[position]:
            items.append(_Item("heading", [line], level=2 if line.rstrip().endswith(":") else 1))
        elif is_first and position == 0 and len(paragraph) == 1 and _is_title_line(line):
            items.append(_Item("heading", [line], level=1))
        elif _BULLET.match(line) or (
            _LIST_ITEM.match(line) and (position == 0 or (previous is not None and previous.kind == "bullet"))
        ):
            items.append(_Item("bullet", [line]))
        elif previous is not None and previous.kind != "heading" and _wraps(previous.lines[-1], line, width):
            previous.lines.append(line)
        else:
            items.append(_Item("paragraph", [line]))
    return items


def _wraps(line: str, following: str, width: int) -> bool:
    """Whether `following` continues `line` (a layout wrap), rather than starting a paragraph."""
    if len(line) > WRAP_MAX:
        return False
    if _CONTINUATION_START.match(following) or _HYPHEN_END.search(line) or _OPEN_END.search(line):
        return True
    return len(line) >= FULL_LINE_RATIO * width


def _continues(previous: _Item, item: _Item) -> bool:
    """A PDF page or column break can put a blank line inside a sentence: rejoin it."""
    return (
        previous.kind in ("paragraph", "bullet")
        and item.kind == "paragraph"
        and not _SENTENCE_END.search(previous.lines[-1])
        and (item.lines[0][:1].islower() or bool(_OPEN_END.search(previous.lines[-1])))
    )


def _vocabulary(lines: list[str]) -> frozenset[str]:
    """Words of the document as printed, to tell a broken word from a broken compound.

    The two halves of a word broken at a line end are left out: they are what is in question.
    """
    words: set[str] = set()
    broken_before = False
    for line in lines:
        found = [word.lower() for word in _WORD.findall(line)]
        broken_after = line.endswith("-")
        if broken_before and found:
            found = found[1:]
        if broken_after and found:
            found = found[:-1]
        for word in found:
            words.add(word)
            words.update(word.split("-"))
        broken_before = broken_after
    return frozenset(words)


HYPHEN_LOOKBACK = 200
"""How far back from a line's end a broken word is looked for: longer than any real word, and the
reason joining lines costs time in proportion to the text, however long a paragraph is."""


def _keeps_hyphen(first: str, tail: str, vocabulary: frozenset[str]) -> bool:
    """Whether "first-" at a line end and the next line's start `tail` are a compound ("well-known",
    "Alma-Ata") rather than one word broken in two ("profilak-" + "tic")."""
    right = re.match(r"[^\W\d_]+", tail)
    first, second = first.lower(), right.group(0).lower() if right else ""
    return (
        not right
        or "-" in first
        or tail[0].isupper()
        or f"{first}-{second}" in vocabulary
        or (f"{first}{second}" not in vocabulary and first in _HYPHEN_PREFIXES)
        or (f"{first}{second}" not in vocabulary and first in vocabulary and second in vocabulary)
    )


def _join_lines(lines: list[str], vocabulary: frozenset[str]) -> str:
    """One paragraph's lines as one line: a space between them, or none where a word was broken at
    a line end (its hyphen kept for a compound). Only the last HYPHEN_LOOKBACK characters so far are
    searched for a broken word, so a paragraph of any length costs time in proportion to it."""
    pieces = [lines[0]]
    end = lines[0][-HYPHEN_LOOKBACK:]
    for line in lines[1:]:
        broken = _HYPHEN_END.search(end) if end.endswith("-") else None
        if broken is None:
            joined = f" {line}"
        else:
            joined = line
            if not _keeps_hyphen(broken.group(1), line, vocabulary):
                last = len(pieces) - 1
                while not pieces[last]:  # the piece holding the hyphen (an empty line holds none)
                    last -= 1
                pieces[last] = pieces[last][:-1]
                end = end[:-1]
        pieces.append(joined)
        end = (end + joined)[-HYPHEN_LOOKBACK:]
    return "".join(pieces)


def _assemble(items: list[_Item], vocabulary: frozenset[str]) -> CleanText:
    parts: list[str] = []
    blocks: list[Block] = []
    offset = 0
    for item in items:
        body = _join_lines(item.lines, vocabulary)
        if parts:
            parts.append(BLOCK_SEPARATOR)
            offset += len(BLOCK_SEPARATOR)
        parts.append(body)
        blocks.append(Block(item.kind, offset, offset + len(body), item.level, item.page_break_before))
        offset += len(body)
    return CleanText("".join(parts), tuple(blocks))
