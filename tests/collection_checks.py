"""What every fault test asks of a collection after the fault: whole, and in step with its corpus."""

from __future__ import annotations

from assistant.ingest.corpus import corpus_files, corpus_fingerprint, document_id
from assistant.settings import Settings
from assistant.store.index import load_index
from assistant.store.layout import current_build
from assistant.store.transaction import JOURNAL_FILE


def assert_consistent(settings: Settings) -> set[str]:
    """The corpus and the index agree and nothing of a change is left over; the document ids."""
    index = load_index(settings.index_dir, settings)
    ids = {document_id(path) for path in corpus_files(settings.corpus_dir)}
    assert set(index.documents) == ids
    assert index.manifest["corpus_fingerprint"] == corpus_fingerprint(settings.corpus_dir)
    assert not (settings.index_dir / JOURNAL_FILE).exists()
    assert [p.name for p in settings.index_dir.glob("build-*")] == [current_build(settings.index_dir).name]
    assert not [p.name for p in settings.corpus_dir.iterdir() if p.name.startswith(".")]
    assert not [p.name for p in settings.index_dir.iterdir() if ".tmp" in p.name]  # CURRENT's or the journal's
    return ids
