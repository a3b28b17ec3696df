"""The same hybrid retrieval on Milvus: a milvus-lite folder (`*.db`) or a Milvus server or cluster.

Layout. Each build generation is two collections, `<name>_g<time>_<id>_passages` and
`..._sentences`. A passage row holds a stable primary key (`<doc_id>:<ordinal>:<text digest>`: rows
shift when documents are added, keys do not, and a key never names other text), its `doc_id`
(filters run inside the search as a filter expression), one dense field per vector space and a
sparse field of BM25 term weights (`bm25.py`). A sentence row holds `<passage key>:<j>`, its
`doc_id` and its dense vectors. The aliases `<name>_passages` and `<name>_sentences` point at the
generation in use; searches go through them, and a hit whose key the loaded build does not know is
ignored, so a server still on the previous build never gets a hit it cannot map.

Writes. A full `assistant index` writes a new generation, switches the aliases in `commit()` (once
`index/CURRENT` names the new build) and drops old generations in `discard`; `rollback()` drops
the new generation. `assistant add`/`remove` (a `Change`) update the generation in use: the added
documents' rows are upserted (what they overwrite is read first, so `rollback()` puts it back),
the removed documents' rows are deleted in `commit()`. An update writes a new generation instead
when the documents changed more than it was told, or when BM25's avgdl drifted past
`milvus_avgdl_tolerance` (see `bm25.py`).

Lexical ranking is Lucene BM25 over the project's own tokens, equal to bm25s's: the collection
stores the tf part of each term, the query carries the idf (from the build's `LexicalTable`, in the
build folder as `milvus-lexical.json`), and the sparse inner product is the score. Milvus's own
analyzer and BM25 function are not used.

pymilvus is imported only here, and this module only when the backend is "milvus".
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import numpy as np

from assistant.errors import AssistantError, IndexCorruptError, quieted
from assistant.files import held_elsewhere
from assistant.ingest.chunking import Passage
from assistant.store.backends.base import TIE_MARGIN, Change, Hit, IndexData, Unit, in_rank_order
from assistant.store.backends.milvus_bm25 import LexicalTable, document_digests
from assistant.store.layout import current_build

if TYPE_CHECKING:
    from pymilvus import MilvusClient

    from assistant.settings import Settings

log = logging.getLogger(__name__)

KEY = "key"
DOC = "doc_id"
SPARSE = "bm25"
MAX_KEY = 1024
TABLE_FILE = "milvus-lexical.json"
BATCH = 1000
"""Rows per insert, upsert or get: a few MB a message, far below gRPC's limits."""
MAX_LIMIT = 16384
"""Milvus's largest top k."""
HNSW_BUILD = {"M": 32, "efConstruction": 80}
"""The FAISS backend's HNSW parameters."""
HNSW_EF = 64
UNITS: tuple[Unit, ...] = ("passage", "sentence")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,150}$")
_GENERATION = re.compile(r"^(?P<prefix>[A-Za-z_][A-Za-z0-9_]*)_g(?P<stamp>\d{8}T\d{12})_(?P<id>[0-9a-f]{6})_(?:passages|sentences)$")



def _quiet_pymilvus() -> None:
    """Every pymilvus error is raised again here as an AssistantError that says what to do;
    pymilvus's own log of it (configured when pymilvus is imported) would print the same error a
    second time, with a traceback."""
    for name in ("pymilvus", "pymilvus.milvus_client"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


# ----------------------------------------------------------------------------- keys and names


def passage_keys(passages: Sequence[Passage]) -> list[str]:
    """Each passage's primary key: document, ordinal within it, digest of its text."""
    ordinal: Counter[str] = Counter()
    keys = []
    for passage in passages:
        digest = hashlib.blake2b(passage.text.encode("utf-8"), digest_size=4).hexdigest()
        keys.append(f"{passage.doc_id}:{ordinal[passage.doc_id]}:{digest}")
        ordinal[passage.doc_id] += 1
    return keys


def sentence_keys(passages: Sequence[Passage], keys: Sequence[str]) -> list[str]:
    """Each sentence's primary key, in sentence-row order: its passage's key and its position."""
    return [f"{key}:{j}" for passage, key in zip(passages, keys, strict=True) for j in range(len(passage.sentences))]


def dense_field(space: str) -> str:
    """The field of one vector space's vectors."""
    return f"dense_{space}"


def quoted(text: str) -> str:
    """A string literal of Milvus's filter expressions."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def doc_filter(doc_ids: Collection[str], *, negate: bool = False) -> str:
    """The filter expression that keeps rows of (or, negated, not of) these documents."""
    return f"{DOC} {'not in' if negate else 'in'} [{', '.join(quoted(d) for d in sorted(doc_ids))}]"


class Generation:
    """The two collections of one build generation, and the aliases that name the one in use."""

    def __init__(self, prefix: str, name: str):
        self.prefix = prefix
        self.name = name

    @classmethod
    def new(cls, prefix: str) -> Generation:
        """A fresh name; the time first, so names sort by age (`discard` relies on it)."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        return cls(prefix, f"{prefix}_g{stamp}_{uuid4().hex[:6]}")

    def collection(self, unit: Unit) -> str:
        """The collection of this generation's passages or sentences."""
        return f"{self.name}_{unit}s"

    def alias(self, unit: Unit) -> str:
        """The alias every search goes through: it names the generation in use."""
        return f"{self.prefix}_{unit}s"


def _redacted(uri: str) -> str:
    """The URI without a password, for messages and the manifest."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")))


def _reason(error: BaseException) -> str:
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    return str(message).splitlines()[0][:200]


# ----------------------------------------------------------------------------- connection


_CLIENTS: dict[tuple[str, str], MilvusClient] = {}
_CLIENTS_LOCK = threading.Lock()


def is_local(uri: str) -> bool:
    """A milvus-lite data folder rather than a server address."""
    return uri.endswith(".db") and "://" not in uri


def check_uri(uri: str) -> None:
    """Refuse a URI that is neither a milvus-lite folder nor a server address, before connecting."""
    if is_local(uri):
        return
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https", "tcp", "grpc", "unix") or not (parts.netloc or parts.path):
        raise AssistantError(f"ASSISTANT_MILVUS_URI={_redacted(uri)!r} is neither a milvus-lite folder ending in .db "
                             "nor a server address: set it to e.g. ./index/milvus.db or http://localhost:19530")


def connect(uri: str, token: str | None, timeout: float) -> MilvusClient:
    """A client of the Milvus at `uri`, one per address and token in a process (a milvus-lite
    folder is served by one in-process server, which a second client would find locked)."""
    check_uri(uri)
    address = str(Path(uri).resolve()) if is_local(uri) else uri
    with _CLIENTS_LOCK:
        client = _CLIENTS.get((address, token or ""))
        if client is not None:
            return client
        if is_local(uri):
            Path(address).parent.mkdir(parents=True, exist_ok=True)
        try:
            from pymilvus import MilvusClient
        except ImportError:
            raise AssistantError("the Milvus backend needs pymilvus and milvus-lite: "
                                 "pip install -e '.[milvus]' (or set ASSISTANT_BACKEND=faiss)") from None
        _quiet_pymilvus()
        try:
            with quieted("milvus_lite.server_manager", logging.CRITICAL):
                # milvus-lite's in-process server refuses pymilvus's keepalive pings (gRPC then logs a
                # GOAWAY "too_many_pings" to stderr and reconnects): a loopback channel needs none.
                options = ({"grpc_options": {"grpc.keepalive_time_ms": 2**31 - 1,
                                             "grpc.keepalive_permit_without_calls": 0}} if is_local(uri) else {})
                client = MilvusClient(uri=address, token=token or "", timeout=timeout, **options)
        except Exception as error:  # pymilvus raises several types for one failure: any is "cannot connect"
            if is_local(uri) and _locked_elsewhere(Path(address)):
                raise AssistantError(f"the milvus-lite data {address} is open in another process (a running "
                                     "`assistant serve`?): stop it first, or use a Milvus server "
                                     "(ASSISTANT_MILVUS_URI=http://host:19530)") from None
            raise AssistantError(f"cannot connect to Milvus at {_redacted(uri)} ({_reason(error)}): start the server, "
                                 "or fix ASSISTANT_MILVUS_URI and ASSISTANT_MILVUS_TOKEN") from None
        _CLIENTS[(address, token or "")] = client
        return client


def disconnect(uri: str) -> None:
    """Close this process's clients of `uri` and, for a milvus-lite folder, stop its in-process
    server, so another process can open the folder (tests, tools)."""
    address = str(Path(uri).resolve()) if is_local(uri) else uri
    with _CLIENTS_LOCK:
        for key in [key for key in _CLIENTS if key[0] == address]:
            client = _CLIENTS.pop(key)
            try:
                client.close()
            except Exception as error:  # closing a dead connection is not worth failing for
                log.debug("closing the Milvus client of %s: %s", address, error)
    if is_local(uri):
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(address)


def _locked_elsewhere(folder: Path) -> bool:
    """Whether another process holds the milvus-lite folder's lock."""
    try:
        return held_elsewhere(folder / "LOCK")
    except OSError:
        return False


@contextmanager
def milvus_errors(action: str, uri: str) -> Iterator[None]:
    """A Milvus failure as one line that says what to do."""
    from pymilvus.exceptions import MilvusException

    try:
        yield
    except AssistantError:
        raise
    except MilvusException as error:
        if "not exist" in _reason(error) or "not found" in _reason(error):
            raise IndexCorruptError(f"Milvus at {_redacted(uri)} has no {_missing_name(error)}, which the index uses "
                                    f"({_reason(error)}): run `assistant index` to rebuild it, or check "
                                    "ASSISTANT_MILVUS_URI and ASSISTANT_MILVUS_COLLECTION") from None
        raise AssistantError(f"Milvus {action} failed at {_redacted(uri)} ({_reason(error)}): check that the server "
                             "is running and reachable") from None


def _missing_name(error: BaseException) -> str:
    found = re.search(r"(collection|alias) '([^']+)'", _reason(error))
    return f"{found.group(1)} {found.group(2)}" if found else "collection"


# ----------------------------------------------------------------------------- the backend


class MilvusBackend:
    """Search over one build through the aliases; rows are the build's passage (or sentence)
    positions, mapped from the stable keys."""

    name = "milvus"

    def __init__(self, client: MilvusClient, uri: str, description: dict, table: LexicalTable,
                 passages: list[Passage]):
        self.client = client
        self.uri = uri
        self.description = description
        self.table = table
        self.generation = Generation(description["collection"], description["generation"])
        self.dimensions: dict[str, int] = {space: int(d) for space, d in description["dimensions"].items()}
        self.hnsw = {unit: description["dense_index"].get(f"{space}/{unit}") == "HNSW"
                     for space in self.dimensions for unit in UNITS}
        keys = passage_keys(passages)
        self._keys: dict[Unit, list[str]] = {"passage": keys, "sentence": sentence_keys(passages, keys)}
        self._rows: dict[Unit, dict[str, int]] = {unit: {key: row for row, key in enumerate(found)}
                                                  for unit, found in self._keys.items()}

    def __len__(self) -> int:
        return len(self._keys["passage"])

    def verify(self, passages: int, sentences: int) -> list[str]:
        """Compare the generation's row counts (less documents whose deletion is pending) and
        the lexical table with the build's passages and sentences."""
        pending = self.description.get("pending_removal") or []
        condition = doc_filter(pending, negate=True) if pending else ""
        problems = []
        with milvus_errors("count", self.uri):
            counts: dict[Unit, int] = {"passage": passages, "sentence": sentences}
            for unit, expected in counts.items():
                found = self.client.query(self.generation.collection(unit), filter=condition,
                                          output_fields=["count(*)"], consistency_level="Strong")[0]["count(*)"]
                if found != expected:
                    problems.append(f"Milvus holds {found} {unit}s for {expected}")
        if self.table.documents != passages:
            problems.append(f"the lexical table counts {self.table.documents} passages for {passages}")
        return problems

    def describe(self) -> dict:
        """What the manifest records of this backend."""
        return self.description

    def search_dense(self, space: str, unit: Unit, vector: np.ndarray, k: int,
                     doc_ids: Collection[str] | None = None) -> list[Hit]:
        """Inner product over the space's dense field; `doc_ids` is a filter expression of the search."""
        if k <= 0 or (doc_ids is not None and not doc_ids):
            return []
        limit = min(k + TIE_MARGIN, MAX_LIMIT)
        params = {"metric_type": "IP", "params": {"ef": max(HNSW_EF, limit)} if self.hnsw[unit] else {}}
        return in_rank_order(self._search(unit, np.asarray(vector, dtype=np.float32).reshape(-1), dense_field(space),
                                          params, limit, limit, doc_ids), k)

    def search_lexical(self, tokens: Sequence[str], k: int, doc_ids: Collection[str] | None = None) -> list[Hit]:
        """bm25s's BM25: the query's idf weights against the stored tf parts (sparse inner product)."""
        query = self.table.query_weights(tokens)
        if k <= 0 or not query or (doc_ids is not None and not doc_ids):
            return []
        hits = self._search("passage", query, SPARSE, {"metric_type": "IP", "params": {}},
                            min(k + TIE_MARGIN, MAX_LIMIT), k, doc_ids)
        return [hit for hit in hits if hit.score > 0]

    def _search(self, unit: Unit, query: np.ndarray | dict[int, float], field: str, params: dict, limit: int, k: int,
                doc_ids: Collection[str] | None) -> list[Hit]:
        """One search; hits mapped to rows (unknown keys ignored), ties broken by row."""
        with milvus_errors("search", self.uri):
            found = self.client.search(self.generation.alias(unit), data=[query], anns_field=field, limit=limit,
                                       filter=doc_filter(doc_ids) if doc_ids is not None else "",
                                       output_fields=[DOC], search_params=params)[0]
        rows = self._rows[unit]
        hits = [Hit(rows[hit.id], float(hit.distance)) for hit in found if hit.id in rows]
        hits.sort(key=lambda hit: (-hit.score, hit.passage))  # as bm25s breaks ties
        return hits[:k]

    def vectors(self, space: str, unit: Unit, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """Fetched by key, one round trip (per `BATCH` rows)."""
        keys = [self._keys[unit][row] for row in rows]
        if not keys:
            return np.zeros((0, self.dimensions[space]), dtype=np.float32)
        field = dense_field(space)
        found: dict[str, list[float]] = {}
        with milvus_errors("read", self.uri):
            for first in range(0, len(keys), BATCH):
                for record in self.client.get(self.generation.alias(unit), ids=keys[first:first + BATCH],
                                              output_fields=[field]):
                    found[record[KEY]] = record[field]
        missing = [key for key in keys if key not in found]
        if missing:
            raise IndexCorruptError(f"Milvus has no {unit} {missing[0]!r} of the index ({len(missing)} missing): "
                                    "run `assistant index` to rebuild it")
        return np.asarray([found[key] for key in keys], dtype=np.float32)


# ----------------------------------------------------------------------------- writing


class PendingGeneration:
    """A generation written (or updated) but not yet in use."""

    def __init__(self, description: dict, commit: Callable[[], None], rollback: Callable[[], None]):
        self.description = description
        self._commit = commit
        self._rollback = rollback

    def commit(self) -> None:
        """Called once `index/CURRENT` names the new build: move the aliases, delete removed rows."""
        self._commit()

    def rollback(self) -> None:
        """Undo; a failure to undo is logged (the original error matters more), with what to do."""
        try:
            self._rollback()
        except Exception as error:
            log.error("could not undo the Milvus write (%s): run `assistant index` to write a clean generation",
                      _reason(error))


class MilvusStore:
    """Writes generations to Milvus, opens them, and drops those no longer used."""

    name = "milvus"

    def __init__(self, *, uri: str, token: str | None, collection: str, index_type: str, hnsw_threshold: int,
                 avgdl_tolerance: float, timeout: float, index_dir: Path):
        if not _NAME.match(collection):
            raise AssistantError(f"ASSISTANT_MILVUS_COLLECTION={collection!r} is not a usable name: use letters, "
                                 "digits and underscores, starting with a letter")
        check_uri(uri)
        self.uri = str(Path(uri).resolve()) if is_local(uri) else uri
        self.token = token
        self.prefix = collection
        self.index_type = index_type
        self.hnsw_threshold = hnsw_threshold
        self.avgdl_tolerance = avgdl_tolerance
        self.timeout = timeout
        self.index_dir = index_dir

    @classmethod
    def from_settings(cls, settings: Settings) -> MilvusStore:
        """The store the settings describe."""
        return cls(uri=settings.milvus_address, token=settings.milvus_token, collection=settings.milvus_collection,
                   index_type=settings.milvus_index_type, hnsw_threshold=settings.hnsw_threshold,
                   avgdl_tolerance=settings.milvus_avgdl_tolerance, timeout=settings.milvus_timeout,
                   index_dir=settings.index_dir)

    @property
    def client(self) -> MilvusClient:
        """The process's client of this store's Milvus (connected on first use)."""
        return connect(self.uri, self.token, self.timeout)

    def reached(self, point: str) -> None:
        """Called at each named point of a write ("created", "passages", "sentences", "flushed"):
        where the tests inject a failure, to see the write undone."""

    # -- open

    def open(self, folder: Path, description: dict, passages: list[Passage]) -> MilvusBackend:
        """The backend of a build: its lexical table, and its generation checked present and loaded."""
        table = LexicalTable.load(folder / TABLE_FILE)
        client = self.client
        generation = Generation(description["collection"], description["generation"])
        with milvus_errors("open", self.uri):
            for unit in UNITS:
                name = generation.collection(unit)
                if not client.has_collection(name):
                    built = description.get("uri")
                    where = f" (the index was built against {built})" if built and built != _redacted(self.uri) else ""
                    raise IndexCorruptError(f"Milvus at {_redacted(self.uri)} has no collection "
                                            f"{name}{where}: set ASSISTANT_MILVUS_URI to where "
                                            "it is, or run `assistant index` to rebuild it")
                self._ensure_loaded(name)
        return MilvusBackend(client, self.uri, description, table, passages)

    # -- write

    def write(self, data: IndexData, folder: Path, *, current: dict | None = None,
              change: Change | None = None) -> PendingGeneration:
        """Update the generation in use when `change` says what changed and that is safe, else write
        a new generation; either way nothing is used before `commit`."""
        keys = passage_keys(data.passages)
        digests = document_digests([p.doc_id for p in data.passages], keys, data.tokens)
        if current is not None and change is not None:
            pending = self._update(data, folder, keys, digests, current, change)
            if pending is not None:
                return pending
        return self._write_generation(data, folder, keys, LexicalTable.build(data.tokens, digests))

    def _dense_kind(self, rows: int) -> str:
        if self.index_type == "auto":
            return "HNSW" if rows >= self.hnsw_threshold else "FLAT"
        return self.index_type.upper()

    def _create(self, name: str, dimensions: dict[str, int], kind: str, sparse: bool) -> None:
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field(KEY, DataType.VARCHAR, is_primary=True, max_length=MAX_KEY)
        schema.add_field(DOC, DataType.VARCHAR, max_length=MAX_KEY)
        for space, dimension in dimensions.items():
            schema.add_field(dense_field(space), DataType.FLOAT_VECTOR, dim=dimension)
        if sparse:
            schema.add_field(SPARSE, DataType.SPARSE_FLOAT_VECTOR)
        params = self.client.prepare_index_params()
        for space in dimensions:
            params.add_index(field_name=dense_field(space), index_type=kind, metric_type="IP",
                             params=HNSW_BUILD if kind == "HNSW" else {})
        if sparse:
            params.add_index(field_name=SPARSE, index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
        params.add_index(field_name=DOC, index_type="INVERTED")
        # Indexes without waiting in pymilvus (its wait polls twice a second); `_wait_for_indexes`
        # checks they are built before the generation is used.
        self.client.create_collection(name, schema=schema, consistency_level="Strong")
        self.client.create_index(name, params, sync=False)
        self.client.load_collection(name)

    def _ensure_loaded(self, name: str) -> None:
        """Load a collection into memory unless it is: milvus-lite does not keep the load state
        across restarts, and a cluster's administrator may have released it."""
        from pymilvus.client.types import LoadState

        if self.client.get_load_state(name).get("state") != LoadState.Loaded:
            log.info("Milvus: loading %s", name)
            self.client.load_collection(name)

    def _wait_for_indexes(self, name: str, deadline_seconds: float = 3600.0) -> None:
        """Until every index of a collection covers all its rows (a cluster builds them in the
        background after a flush; milvus-lite at once)."""
        started = time.monotonic()
        while True:
            pending = []
            for field in self.client.list_indexes(name):
                state = self.client.describe_index(name, field)
                if state.get("pending_index_rows", 0) or state.get("state", "Finished") not in ("Finished", ""):
                    pending.append(field)
            if not pending:
                return
            if time.monotonic() - started > deadline_seconds:
                raise AssistantError(f"Milvus has not finished indexing {name} ({', '.join(pending)}) in "
                                     f"{deadline_seconds:.0f} s: check the cluster's index nodes, then run `assistant index` again")
            time.sleep(1.0)

    def _records(self, data: IndexData, unit: Unit, keys: Sequence[str], table: LexicalTable,
                 rows: Sequence[int]) -> Iterator[list[dict]]:
        """Rows of a collection, `BATCH` at a time."""
        doc_of = ([p.doc_id for p in data.passages] if unit == "passage"
                  else [data.passages[i].doc_id for i in data.sentence_passage])
        for first in range(0, len(rows), BATCH):
            batch = []
            for row in rows[first:first + BATCH]:
                record = {KEY: keys[row], DOC: doc_of[row]}
                for space, units in data.vectors.items():
                    record[dense_field(space)] = units[unit][row]
                if unit == "passage":
                    record[SPARSE] = table.passage_weights(data.tokens[row])
                batch.append(record)
            yield batch

    def _description(self, generation: Generation, data: IndexData, kinds: dict[Unit, str], table: LexicalTable,
                     pending_removal: Collection[str]) -> dict:
        return {
            "name": self.name,
            "uri": _redacted(self.uri),
            "collection": self.prefix,
            "generation": generation.name,
            "spaces": sorted(data.vectors),
            "dimensions": {space: int(units["passage"].shape[1]) for space, units in data.vectors.items()},
            "dense_index": {f"{space}/{unit}": kinds[unit] for space in sorted(data.vectors) for unit in UNITS},
            "avgdl": table.avgdl,
            "avgdl_drift": round(table.drift(), 6),
            "pending_removal": sorted(pending_removal),
        }

    def _write_generation(self, data: IndexData, folder: Path, keys: list[str], table: LexicalTable) -> PendingGeneration:
        """A whole new generation; the aliases move to it on commit."""
        generation = Generation.new(self.prefix)
        all_keys: dict[Unit, list[str]] = {"passage": keys, "sentence": sentence_keys(data.passages, keys)}
        dimensions = {space: int(units["passage"].shape[1]) for space, units in data.vectors.items()}
        kinds: dict[Unit, str] = {unit: self._dense_kind(len(all_keys[unit])) for unit in UNITS}
        client = self.client
        created: list[str] = []

        def drop() -> None:
            """The rollback of a new generation: drop what was created."""
            with milvus_errors("drop", self.uri):
                for name in created:
                    client.drop_collection(name)

        try:
            with milvus_errors("write", self.uri):
                for unit in UNITS:
                    name = generation.collection(unit)
                    self._create(name, dimensions, kinds[unit], sparse=unit == "passage")
                    created.append(name)
                self.reached("created")
                for unit in UNITS:
                    for batch in self._records(data, unit, all_keys[unit], table, range(len(all_keys[unit]))):
                        client.insert(generation.collection(unit), batch)
                    self.reached(f"{unit}s")
                for unit in UNITS:
                    client.flush(generation.collection(unit))
                    self._wait_for_indexes(generation.collection(unit))
                self.reached("flushed")
                self._check_counts(generation, {unit: len(all_keys[unit]) for unit in UNITS})
            table.save(folder / TABLE_FILE)
        except BaseException:
            PendingGeneration({}, lambda: None, drop).rollback()
            raise
        description = self._description(generation, data, kinds, table, [])
        return PendingGeneration(description, lambda: self._point_aliases(generation), drop)

    def _check_counts(self, generation: Generation, expected: dict[Unit, int]) -> None:
        for unit, count in expected.items():
            found = self.client.query(generation.collection(unit), filter="", output_fields=["count(*)"],
                                      consistency_level="Strong")[0]["count(*)"]
            if found != count:
                raise AssistantError(f"Milvus stored {found} of {count} {unit}s: run `assistant index` again")

    def _point_aliases(self, generation: Generation) -> None:
        """Move the aliases to `generation` (create them the first time)."""
        client = self.client
        with milvus_errors("alias switch", self.uri):
            existing = set(client.list_aliases().get("aliases", []))
            for unit in UNITS:
                alias, target = generation.alias(unit), generation.collection(unit)
                if alias in existing:
                    client.alter_alias(target, alias)
                else:
                    client.create_alias(target, alias)

    def _current_table(self) -> LexicalTable | None:
        """The lexical table of the build in use (its term dimensions must be kept)."""

        try:
            return LexicalTable.load(current_build(self.index_dir) / TABLE_FILE)
        except (AssistantError, OSError, ValueError, KeyError):
            return None

    def _update(self, data: IndexData, folder: Path, keys: list[str], digests: dict[str, str], current: dict,
                change: Change) -> PendingGeneration | None:
        """Upsert the added documents' rows into the generation in use (deletes wait for commit);
        None when only a new generation is right, and why is logged."""
        previous = self._current_table()
        generation = Generation(current.get("collection", ""), current.get("generation", ""))
        if previous is None or current.get("collection") != self.prefix or current.get("uri") != _redacted(self.uri):
            log.info("Milvus: writing a new generation (the build in use is not this store's)")
            return None
        with milvus_errors("update", self.uri):
            if not all(self.client.has_collection(generation.collection(unit)) for unit in UNITS):
                log.info("Milvus: writing a new generation (%s is missing)", generation.name)
                return None
            for unit in UNITS:
                self._ensure_loaded(generation.collection(unit))
        doc_ids = [p.doc_id for p in data.passages]
        table = LexicalTable.build(data.tokens, digests, previous=previous)
        changed = {d for d in set(table.digests) | set(previous.digests) if table.digests.get(d) != previous.digests.get(d)}
        pending_before = set(current.get("pending_removal") or [])
        reasons = []
        if not changed <= change.added | change.removed:
            reasons.append(f"documents changed that the update does not name: {sorted(changed - change.added - change.removed)[:3]}")
        if change.added & (set(previous.digests) | pending_before):
            reasons.append("an added document replaces one still stored")
        if table.drift() > self.avgdl_tolerance:
            reasons.append(f"avgdl drifted {table.drift():.1%}, past the tolerance of {self.avgdl_tolerance:.1%}")
        if reasons:
            log.info("Milvus: writing a new generation: %s", "; ".join(reasons))
            return None

        all_keys: dict[Unit, list[str]] = {"passage": keys, "sentence": sentence_keys(data.passages, keys)}
        rows: dict[Unit, list[int]] = {
            "passage": [row for row, doc in enumerate(doc_ids) if doc in change.added],
            "sentence": [row for row, passage in enumerate(data.sentence_passage) if doc_ids[passage] in change.added],
        }
        fields = [KEY, DOC, *(dense_field(space) for space in data.vectors)]
        client = self.client
        before: dict[Unit, list[dict]] = {unit: [] for unit in UNITS}
        written: dict[Unit, list[str]] = {unit: [] for unit in UNITS}

        def undo() -> None:
            """The rollback of an update: delete what was added, put back what was overwritten."""
            with milvus_errors("undo", self.uri):
                for unit in UNITS:
                    kept = {record[KEY] for record in before[unit]}
                    fresh = [key for key in written[unit] if key not in kept]
                    for first in range(0, len(fresh), BATCH):
                        client.delete(generation.collection(unit), ids=fresh[first:first + BATCH])
                    for first in range(0, len(before[unit]), BATCH):
                        client.upsert(generation.collection(unit), before[unit][first:first + BATCH])
                    client.flush(generation.collection(unit))

        try:
            with milvus_errors("update", self.uri):
                for unit in UNITS:
                    wanted = [all_keys[unit][row] for row in rows[unit]]
                    for first in range(0, len(wanted), BATCH):  # what the upsert overwrites, to put back
                        before[unit].extend(client.get(generation.collection(unit), ids=wanted[first:first + BATCH],
                                                       output_fields=fields + ([SPARSE] if unit == "passage" else [])))
                self.reached("created")
                for unit in UNITS:
                    for batch in self._records(data, unit, all_keys[unit], table, rows[unit]):
                        written[unit].extend(record[KEY] for record in batch)
                        client.upsert(generation.collection(unit), batch)
                    self.reached(f"{unit}s")
                for unit in UNITS:
                    client.flush(generation.collection(unit))
                self.reached("flushed")
            table.save(folder / TABLE_FILE)
        except BaseException:
            PendingGeneration({}, lambda: None, undo).rollback()
            raise
        removal = (pending_before | change.removed) - set(table.digests)
        kinds: dict[Unit, str] = {unit: current["dense_index"].get(f"{space}/{unit}", "FLAT")
                                  for space in current.get("spaces", []) for unit in UNITS}
        description = self._description(generation, data, kinds, table, removal)
        log.info("Milvus: updated %s in place (%d passages upserted, %d documents to delete, avgdl drift %.2f%%)",
                 generation.name, len(rows["passage"]), len(removal), 100 * table.drift())
        return PendingGeneration(description, lambda: self._finish_update(generation, removal), undo)

    def _finish_update(self, generation: Generation, removal: set[str]) -> None:
        """Once the new build is in use: delete the removed documents' rows. A failure is logged,
        not raised: the build in use ignores those rows, and the next update retries."""
        self._point_aliases(generation)
        if not removal:
            return
        try:
            with milvus_errors("delete", self.uri):
                for unit in UNITS:
                    self.client.delete(generation.collection(unit), filter=doc_filter(removal))
                    self.client.flush(generation.collection(unit))
        except AssistantError as error:
            log.warning("%s; the next update retries the deletion", error)

    # -- discard

    def discard(self, description: dict, *, keep: dict) -> None:
        """Drop the generation of a build no longer used, unless the build in use (`keep`) or an
        alias still needs it; and generations older than the kept one that no build names (left
        by a killed `assistant index`)."""
        if description.get("collection") != self.prefix or keep.get("collection") != self.prefix:
            return
        kept = keep.get("generation", "")
        client = self.client
        with milvus_errors("discard", self.uri):
            targets = {client.describe_alias(alias)["collection_name"]
                       for alias in client.list_aliases().get("aliases", [])}
            for name in client.list_collections():
                found = _GENERATION.match(name)
                if (found is None or found.group("prefix") != self.prefix or name in targets
                        or name.startswith(f"{kept}_")):
                    continue
                if name.startswith(f"{description.get('generation')}_") or name < kept:
                    log.info("Milvus: dropping %s", name)
                    client.drop_collection(name)
