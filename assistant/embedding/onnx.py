"""The english model on ONNX Runtime: the same vectors as sentence-transformers without torch.

A sentence-transformers model (all-MiniLM-L6-v2 by default) is exported once, with torch, into a
folder beside the index (`<onnx_dir>/<name>-<fingerprint[:16]>/`), and from then on questions, and
passages if configured, are encoded with `onnxruntime` and the `tokenizers` fast tokenizer alone:
no torch import, a fraction of the start-up time and memory, and a few times faster per question
(figures in eval/onnx.md, measured by eval/onnx_check.py).

The export folder holds `model.onnx` (the transformer, token embeddings out), `tokenizer.json`
(the fast tokenizer sentence-transformers itself runs), `meta.json` (the source model's name and
fingerprint, dimension, max sequence length, pooling, prompts, opset, tool versions, file sizes
and checksums) and, once asked for, `model.int8.onnx` (dynamically quantised weights). A folder is
written under a temporary name and renamed into place, so a killed export never leaves a folder
that looks complete; `meta.json` is written last.

Mean pooling over the attention mask and L2 normalisation are done here, in numpy, as
sentence-transformers' `Pooling` and `Normalize` modules do; the export refuses models that pool
otherwise. `OnnxEmbedder.name` and `.fingerprint` are the source model's, so an index built with
torch serves ONNX questions and the other way round; tests/embedding/test_embedding_onnx.py holds every gold
question and a sample of corpus passages to a cosine of 0.99999 against sentence-transformers.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

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
    short,
    versions,
    write_json,
)
from assistant.embedding.base import encode_in_batches, normalized
from assistant.embedding.transformers import (
    PASSAGE_PROMPTS,
    QUERY_PROMPTS,
    check_model_folder,
    model_fingerprint,
    model_name,
)
from assistant.errors import AssistantError
from assistant.settings import Settings

log = logging.getLogger(__name__)

# Bump when the export changes in a way that old folders must be redone.
EXPORT_FORMAT = 1
OPSET = 17
MODEL_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
META_FILE = "meta.json"
OUTPUT = "token_embeddings"
# An export must reproduce sentence-transformers' vectors at least this closely on probe texts.
MIN_COSINE = 0.99999
PROBE_TEXTS = (
    "Is sex work legal in Kazakhstan?",
    "Where can a migrant without propiska get an HIV test?",
    "Где можно бесплатно сдать тест на ВИЧ?",
    "АИТВ-ға тест қайда тапсыруға болады?",
    "x",
    "",
    "The 2024 law on trafficking in persons took effect on 1 July; it sets penalties of up to 15 years. " * 12,
)

Quantization = Literal["none", "int8"]
RUN_AGAIN = "delete that folder (it is exported again on the next start) or set ASSISTANT_QUERY_RUNTIME=torch"


@dataclass(frozen=True)
class ExportMeta:
    """What `meta.json` says about an export folder."""

    name: str
    fingerprint: str
    dimension: int
    max_seq_length: int
    inputs: tuple[str, ...]
    query_prompt: str
    passage_prompt: str
    pad_id: int
    pad_token: str
    files: dict[str, dict[str, Any]]
    raw: dict[str, Any]

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ExportMeta:
        """Parse a `meta.json` document; KeyError/TypeError/ValueError when it is not one."""
        if raw["export_format"] != EXPORT_FORMAT or raw["pooling"] != "mean" or raw["normalize"] is not True:
            raise ValueError("an export of another format")
        return cls(name=str(raw["source"]["name"]), fingerprint=str(raw["source"]["fingerprint"]),
                   dimension=int(raw["dimension"]), max_seq_length=int(raw["max_seq_length"]),
                   inputs=tuple(raw["inputs"]), query_prompt=str(raw["prompts"]["query"]),
                   passage_prompt=str(raw["prompts"]["passage"]), pad_id=int(raw["padding"]["id"]),
                   pad_token=str(raw["padding"]["token"]), files=dict(raw["files"]), raw=raw)


def read_meta(folder: Path) -> ExportMeta:
    """The folder's `meta.json`, or an AssistantError that says what to do."""
    try:
        return ExportMeta.from_json(json.loads((folder / META_FILE).read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise AssistantError(f"{folder} is not a finished ONNX export (no {META_FILE}): {RUN_AGAIN}") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise AssistantError(f"the ONNX export in {folder} has an unreadable {META_FILE} ({short(error)}): "
                             f"{RUN_AGAIN}") from None


def export_problem(folder: Path, fingerprint: str) -> str | None:
    """Why `folder` cannot serve the model with `fingerprint` (missing, half-written, another
    model, an older export format), or None when it can. Cheap (sizes, not checksums), so it can
    run at every start; `OnnxEmbedder` checks the checksum of the file it loads."""
    if not folder.is_dir():
        return "it does not exist"
    try:
        meta = read_meta(folder)
    except AssistantError:
        return f"its {META_FILE} is missing or unreadable (a half-written or older export)"
    if meta.fingerprint != fingerprint:
        return f"it was exported from another model (fingerprint {meta.fingerprint[:16]})"
    return files_problem(folder, meta.files, (MODEL_FILE, TOKENIZER_FILE))


def export_onnx(model_path: Path, target_dir: Path, *, int8: bool = False, progress: bool = True) -> Path:
    """Export the sentence-transformers model in `model_path` to ONNX in `target_dir` (replacing
    whatever is there) and return `target_dir`. Needs torch, imported here and only here: this is
    the one-time step that lets every later process encode without it. The export is checked
    against sentence-transformers on probe texts before it is put in place; `int8` adds the
    quantised copy. Steps are reported on stderr when `progress` is set."""
    model_path, target_dir = check_model_folder(Path(model_path)), Path(target_dir)
    target_dir.parent.mkdir(parents=True, exist_ok=True)
    steps = Steps(f"exporting {model_name(model_path)} to ONNX", 5 if int8 else 4, progress)
    with scratch_folder(target_dir) as scratch:
        try:
            steps.next("loading the model (torch)")
            import torch

            from assistant.embedding.transformers import SentenceTransformerEmbedder

            model = SentenceTransformerEmbedder(model_path).model
            transformer, max_seq_length = _check_architecture(model)
            tokenizer = model.tokenizer
            inputs = [name for name in ("input_ids", "attention_mask", "token_type_ids") if name in tokenizer.model_input_names]
            steps.next("tracing the transformer")
            _export_transformer(torch, transformer.auto_model, tokenizer, inputs, scratch / MODEL_FILE)
            _save_tokenizer(tokenizer, max_seq_length, scratch / TOKENIZER_FILE)
            meta: dict[str, Any] = {
                "export_format": EXPORT_FORMAT,
                "source": {"name": model_name(model_path), "fingerprint": model_fingerprint(model_path),
                           "path": str(model_path)},
                "dimension": int(model.get_embedding_dimension()),
                "max_seq_length": max_seq_length,
                "pooling": "mean",
                "normalize": True,
                "inputs": inputs,
                "output": OUTPUT,
                "prompts": {"query": _prompt(model, QUERY_PROMPTS), "passage": _prompt(model, PASSAGE_PROMPTS)},
                "padding": {"id": int(tokenizer.pad_token_id), "token": str(tokenizer.pad_token)},
                "opset": OPSET,
                "exporter": "torch.onnx.export (TorchScript tracer, dynamo=False), eager attention",
                "versions": versions("torch", "transformers", "sentence_transformers", "tokenizers", "onnx", "onnxruntime"),
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "files": {},
            }
            steps.next("checking its vectors against sentence-transformers")
            meta["files"] = {name: file_facts(scratch / name) for name in (MODEL_FILE, TOKENIZER_FILE)}
            reference = model.encode(list(PROBE_TEXTS), normalize_embeddings=True, convert_to_numpy=True,
                                     show_progress_bar=False)
            meta["verified"] = _verify(scratch, ExportMeta.from_json(meta), MODEL_FILE, reference, MIN_COSINE)
            if int8:
                steps.next("quantising a copy to int8")
                meta["int8"] = quantize_int8(scratch / MODEL_FILE, scratch / INT8_FILE)
                meta["files"][INT8_FILE] = file_facts(scratch / INT8_FILE)
                meta["int8"]["verified"] = _verify(scratch, ExportMeta.from_json(meta), INT8_FILE, reference, None)
            steps.next("writing")
            write_json(scratch / META_FILE, meta)
        except AssistantError:
            steps.close()
            raise
        except Exception as error:  # the exporter raises many kinds; the user needs one line
            steps.close()
            raise AssistantError(f"exporting {model_path} to ONNX failed ({short(error)}): "
                                 "set ASSISTANT_QUERY_RUNTIME=torch and ASSISTANT_PASSAGE_RUNTIME=torch") from error
        put_in_place(scratch, target_dir)
    steps.close()
    log.info("exported %s to %s in %.1f s", model_path, target_dir, steps.elapsed)
    return target_dir


def add_int8(folder: Path, *, progress: bool = True) -> Path:
    """Add the int8 copy (`model.int8.onnx`) to an export made without it. No torch: the weights
    are quantised from `model.onnx`. The file is written under a temporary name and renamed, and
    `meta.json` is replaced only then, so a killed run leaves the folder as it was."""
    meta = read_meta(folder)
    steps = Steps(f"quantising {meta.name} to int8", 1, progress)
    steps.next("quantize_dynamic")
    for stale in folder.glob(f".{INT8_FILE}.tmp-*"):  # left by a killed run; callers hold the lock
        stale.unlink(missing_ok=True)
    scratch = folder / f".{INT8_FILE}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        facts = quantize_int8(folder / MODEL_FILE, scratch)
        os.replace(scratch, folder / INT8_FILE)
    except AssistantError:
        raise
    except Exception as error:
        raise AssistantError(f"quantising {folder / MODEL_FILE} failed ({short(error)}): "
                             "set ASSISTANT_ONNX_QUANTIZATION=none") from error
    finally:
        scratch.unlink(missing_ok=True)
        steps.close()
    raw = dict(meta.raw)
    raw["int8"] = facts
    raw["files"] = {**meta.files, INT8_FILE: file_facts(folder / INT8_FILE)}
    write_json(folder / META_FILE, raw)
    return folder / INT8_FILE


def export_folder(model_path: Path | None, onnx_dir: Path) -> Path:
    """Where the export of a model lives: `<onnx_dir>/<name>-<fingerprint[:16]>`, so each set of
    weights has its own folder and every build reuses it."""
    return Path(onnx_dir) / f"{model_name(model_path)}-{model_fingerprint(_model_path(model_path))[:16]}"


def ensure_export(model_path: Path | None, onnx_dir: Path, *, int8: bool = False, progress: bool = True) -> Path:
    """The ready export folder of the model, exported first (with torch) when it is missing,
    half-written, of an older format or of other weights, and given its int8 copy when `int8` asks
    for one. Holds a lock, so two processes starting at once export once."""
    model_path = _model_path(model_path)
    folder = export_folder(model_path, onnx_dir)
    fingerprint = model_fingerprint(model_path)
    if export_problem(folder, fingerprint) is None and (not int8 or INT8_FILE in read_meta(folder).files):
        return folder
    with folder_lock(folder):
        problem = export_problem(folder, fingerprint)
        if problem is not None:
            if folder.exists():
                log.warning("exporting the model to ONNX again: %s %s", folder, problem)
            export_onnx(model_path, folder, int8=int8, progress=progress)
        elif int8 and INT8_FILE not in read_meta(folder).files:
            add_int8(folder, progress=progress)
    return folder


def onnx_embedder(settings: Settings, *, progress: bool = True) -> OnnxEmbedder:
    """The english model on ONNX Runtime as `settings` configure it (`onnx_dir`,
    `onnx_quantization`, thread counts), exporting it first when needed (`ensure_export`; the only
    step that loads torch). Raises AssistantError when ONNX cannot be used."""
    folder = ensure_export(settings.model_path, settings.onnx_path, int8=settings.onnx_quantization == "int8",
                           progress=progress)
    return OnnxEmbedder(folder, quantization=settings.onnx_quantization, query_threads=settings.onnx_query_threads,
                        passage_threads=settings.onnx_passage_threads, batch_size=settings.embed_batch_size)


class OnnxEmbedder:
    """An `Embedder` on ONNX Runtime over an export folder (see `export_onnx`): the fast
    tokenizer, the transformer, then mean pooling over the attention mask and L2 normalisation as
    sentence-transformers does. Questions run on a session with `query_threads` intra-op threads
    (1 when serving), passages on one with `passage_threads` (0: every core), made on first use.
    `quantization="int8"` encodes questions with the int8 copy; passages always use full
    precision, so an index holds reference-quality vectors."""

    def __init__(self, folder: Path, *, quantization: Quantization = "none", query_threads: int = 1,
                 passage_threads: int = 0, batch_size: int = 32):
        self.folder = Path(folder)
        self.meta = read_meta(self.folder)
        self.quantization = quantization
        self.batch_size = batch_size
        self.query_threads = query_threads or cores()
        self.passage_threads = passage_threads or cores()
        self.tokenizer = _load_tokenizer(self.folder, self.meta)
        query_file = INT8_FILE if quantization == "int8" else MODEL_FILE
        # Made now, so a damaged file is reported (and the factory can fall back) before serving.
        self._query_session = _session(self.folder, self.meta, query_file, self.query_threads)
        self._passage_session = (self._query_session if query_file == MODEL_FILE and self.passage_threads == self.query_threads
                                 else None)
        self._passage_lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def fingerprint(self) -> str:
        return self.meta.fingerprint

    @property
    def dimension(self) -> int:
        return self.meta.dimension

    @property
    def query_runtime(self) -> str:
        """What encodes questions: "onnx" or "onnx-int8" (see `use_query_threads`)."""
        return "onnx-int8" if self.quantization == "int8" else "onnx"

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        session, prompt = self._query_session, self.meta.query_prompt
        return encode_in_batches(lambda batch: self._encode(session, batch, prompt), texts, dimension=self.dimension,
                                 batch_size=self.batch_size, progress=False, description="questions")

    def encode_passages(self, texts: Sequence[str], *, progress: bool = False, description: str = "passages") -> np.ndarray:
        session, prompt = self._passages(), self.meta.passage_prompt
        return encode_in_batches(lambda batch: self._encode(session, batch, prompt), texts, dimension=self.dimension,
                                 batch_size=self.batch_size, progress=progress, description=description)

    def _passages(self):
        with self._passage_lock:
            if self._passage_session is None:
                self._passage_session = _session(self.folder, self.meta, MODEL_FILE, self.passage_threads)
            return self._passage_session

    def _encode(self, session, texts: list[str], prompt: str) -> np.ndarray:
        return _encode(self.tokenizer, session, self.meta.inputs, texts, prompt)


def _encode(tokenizer, session, inputs: Sequence[str], texts: list[str], prompt: str) -> np.ndarray:
    """Tokenize (padded to the batch's longest text), run the transformer, pool."""
    if prompt:
        texts = [prompt + text for text in texts]
    encodings = tokenizer.encode_batch(texts)
    mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
    feeds = {"input_ids": np.array([e.ids for e in encodings], dtype=np.int64), "attention_mask": mask,
             "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64)}
    (tokens,) = session.run([OUTPUT], {name: feeds[name] for name in inputs})
    return mean_pooled(tokens, mask)


def mean_pooled(token_embeddings: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    """Sentence vectors from token vectors as sentence-transformers' mean `Pooling` then
    `Normalize` make them: the mean over the tokens the mask keeps (the sum divided by the count,
    clamped at 1e-9), scaled to unit length."""
    mask = attention_mask[..., None].astype(token_embeddings.dtype)
    summed = (token_embeddings * mask).sum(axis=1)
    return normalized(summed / np.maximum(mask.sum(axis=1), 1e-9))


# -- export helpers ---------------------------------------------------------------------------


def _model_path(model_path: Path | None) -> Path:
    from assistant.embedding.transformers import bundled_model_path

    return check_model_folder(Path(model_path) if model_path else bundled_model_path())


def _check_architecture(model) -> tuple[Any, int]:
    """The model's Transformer module and max sequence length, or an AssistantError when its
    modules are not Transformer -> mean Pooling (with prompt tokens) -> optional Normalize, the
    only layout `OnnxEmbedder` reproduces."""
    modules = list(model)
    kinds = [type(module).__name__ for module in modules]
    pooling = modules[1] if len(modules) > 1 else None
    supported = (kinds[:2] == ["Transformer", "Pooling"] and kinds[2:] in ([], ["Normalize"])
                 and getattr(pooling, "pooling_mode", None) in ("mean", ("mean",), ["mean"])
                 and getattr(pooling, "include_prompt", True))
    if not supported:
        raise AssistantError(f"the model's modules ({' -> '.join(kinds)}, pooling "
                             f"{getattr(pooling, 'pooling_mode', None)!r}) are not Transformer -> mean Pooling -> "
                             "Normalize, the only layout the ONNX runtime reproduces: set "
                             "ASSISTANT_QUERY_RUNTIME=torch and ASSISTANT_PASSAGE_RUNTIME=torch")
    max_seq_length = model.max_seq_length
    if not max_seq_length:
        raise AssistantError("the model has no max_seq_length: set ASSISTANT_QUERY_RUNTIME=torch")
    return modules[0], int(max_seq_length)


def _export_transformer(torch, transformer, tokenizer, inputs: list[str], target: Path) -> None:
    """Trace the transformer (eager attention, which ONNX Runtime fuses into its Attention
    kernel) with a padded example batch and write it with dynamic batch and sequence axes.

    The TorchScript exporter (`dynamo=False`) is used: it ships with torch and needs no
    onnxscript, and on this model it measured as fast as the dynamo export and the offline
    `onnxruntime.transformers` fusions (5.5-6.7 ms a question each)."""
    class Transformer(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, *tensors):
            return self.model(**dict(zip(inputs, tensors, strict=True))).last_hidden_state

    example = tokenizer(["A padded example question?", "A longer example, so that the first one is padded."],
                        padding=True, truncation=True, return_tensors="pt")
    previous = transformer.config._attn_implementation
    transformer.set_attn_implementation("eager")
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # The tracer warns about Python-level branches in transformers' mask code; none of
            # them depends on the batch or sequence size of an encoder without a cache, and the
            # export is checked against sentence-transformers right after.
            warnings.simplefilter("ignore")
            torch.onnx.export(Transformer(transformer).eval(), tuple(example[name] for name in inputs), str(target),
                              dynamo=False, input_names=inputs, output_names=[OUTPUT], opset_version=OPSET,
                              do_constant_folding=True,
                              dynamic_axes={name: {0: "batch", 1: "sequence"} for name in [*inputs, OUTPUT]})
    finally:
        transformer.set_attn_implementation(previous)


def _save_tokenizer(tokenizer, max_seq_length: int, target: Path) -> None:
    """Save the fast tokenizer sentence-transformers runs (its `backend_tokenizer`, not the file it
    came from), truncating at the model's max sequence length and padding to the longest text of a
    batch, as sentence-transformers calls it."""
    from tokenizers import Tokenizer

    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    backend.enable_truncation(max_length=max_seq_length)
    backend.enable_padding(pad_id=int(tokenizer.pad_token_id), pad_token=str(tokenizer.pad_token),
                           pad_type_id=int(getattr(tokenizer, "pad_token_type_id", 0) or 0))
    backend.save(str(target))


def _prompt(model, names: Sequence[str]) -> str:
    from assistant.embedding.transformers import model_prompt

    return model_prompt(model, names) or ""


def _verify(folder: Path, meta: ExportMeta, file: str, reference: np.ndarray, minimum: float | None) -> dict[str, Any]:
    """Encode the probe texts with the fresh export and compare with sentence-transformers'
    vectors; below `minimum` the export is refused (it is never put in place)."""
    session = _session(folder, meta, file, cores(), check=False)
    vectors = _encode(_load_tokenizer(folder, meta), session, meta.inputs, list(PROBE_TEXTS), meta.query_prompt)
    cosine = float((vectors * reference).sum(axis=1).min())
    if minimum is not None and cosine < minimum:
        raise AssistantError(f"the ONNX export of {meta.name} does not reproduce sentence-transformers' vectors "
                             f"(cosine {cosine:.6f} < {minimum}): set ASSISTANT_QUERY_RUNTIME=torch and "
                             "ASSISTANT_PASSAGE_RUNTIME=torch")
    return {"texts": len(PROBE_TEXTS), "min_cosine": round(cosine, 7)}


# -- runtime helpers --------------------------------------------------------------------------


def _load_tokenizer(folder: Path, meta: ExportMeta):
    """The export's fast tokenizer, truncating and padding as sentence-transformers does, once its
    checksum is the one meta.json records: a tokenizer changed by one bit still loads and splits
    some words otherwise (hashing its 0.7 MB costs about 1 ms)."""
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise AssistantError("the tokenizers package is not installed: run `make install` or set "
                             "ASSISTANT_QUERY_RUNTIME=torch") from None
    path = checked_file(folder, meta.files, TOKENIZER_FILE, "the ONNX export", RUN_AGAIN)
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as error:
        raise AssistantError(f"cannot read {folder / TOKENIZER_FILE} ({short(error)}): {RUN_AGAIN}") from None
    tokenizer.enable_truncation(max_length=meta.max_seq_length)
    tokenizer.enable_padding(pad_id=meta.pad_id, pad_token=meta.pad_token)
    return tokenizer


def _session(folder: Path, meta: ExportMeta, file: str, threads: int, *, check: bool = True):
    """The session of one file of the export (`inference_session`). With `check`, the file's
    checksum must match `meta.json` first: a damaged model that still parses would give wrong vectors without a word."""
    if check or file not in meta.files:
        path = checked_file(folder, meta.files, file, "the ONNX export", RUN_AGAIN)
    else:
        path = folder / file
    return inference_session(path, threads, RUN_AGAIN, instead="set ASSISTANT_QUERY_RUNTIME=torch")
