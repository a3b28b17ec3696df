"""A passage's citation: its source's metadata and where in the served text (and on which page) it stands."""

from __future__ import annotations

from dataclasses import asdict

from assistant.answer.model import Citation
from assistant.ingest.chunking import Passage
from assistant.ingest.corpus import Document, page_at


def citation_for(document: Document, passage: Passage) -> Citation:
    metadata = {**asdict(document.metadata), "language": document.language}
    return Citation(**metadata, year_label=document.year_label, doc_id=document.doc_id,
                    section=passage.section, start=passage.start, end=passage.end,
                    page=page_at(document.pages, passage.start))
