"""Files and sessions shared by the ONNX exports of both models (`onnx.py` for MiniLM, `e5_onnx.py`
for multilingual-e5-small): folders written under a temporary name and renamed into place, a lock
per folder, checksums, the int8 quantisation settings and the one way an InferenceSession is made."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from assistant.errors import AssistantError, quieted
from assistant.files import fsync_file, locked, write_durably

log = logging.getLogger(__name__)


def checked_file(folder: Path, recorded: dict[str, dict], file: str, what: str, run_again: str) -> Path:
    """`folder / file` once its checksum is the one the folder's meta.json records (`recorded`): a
    damaged model or tokenizer that still loads would give wrong vectors without a word."""
    facts = recorded.get(file)
    if facts is None:
        raise AssistantError(f"{what} in {folder} has no {file}: {run_again}")
    if sha256(folder / file) != facts.get("sha256"):
        raise AssistantError(f"{folder / file} is damaged (its checksum differs from meta.json): {run_again}")
    return folder / file


def files_problem(folder: Path, recorded: dict[str, dict], required: Iterable[str]) -> str | None:
    """Why the files of a folder are not the ones its meta.json records (`recorded`: name ->
    bytes and checksum): a required one not listed, a listed one missing or of another size. Sizes,
    not checksums, so it is cheap enough for every start; `checked_file` reads each file loaded."""
    for required_file in required:
        if required_file not in recorded:
            return f"meta.json does not list {required_file}"
    for file, facts in recorded.items():
        path = folder / file
        if not path.is_file():
            return f"{file} is missing"
        if path.stat().st_size != facts.get("bytes"):
            return f"{file} has {path.stat().st_size} bytes, meta.json says {facts.get('bytes')}"
    return None


def inference_session(path: Path, threads: int, run_again: str, *, instead: str, arena: bool = True):
    """An InferenceSession on one thread pool of `threads` that do not spin, sequential
    execution, every graph optimisation; `run_again` says what to do when the file cannot be
    loaded, `instead` what to set when onnxruntime is not installed."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise AssistantError(f"onnxruntime is not installed: run `make install` or {instead}") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle pool threads sleep instead of spinning: on the shared 2-core machine spinning lost
    # (passages on 2 threads, alternating rounds: 35 texts/s spinning, 43 not).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    # Sessions for index builds (`arena=False`) return their memory after each batch instead of
    # an arena keeping the peak of the longest batch. Serving sessions keep the arena: in
    # `make bench` runs of one day, serving RSS after the HTTP rows was 436 MiB without it, 373
    # and 387 with it (why was not looked into).
    options.enable_cpu_mem_arena = arena
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:
        raise AssistantError(f"cannot load {path} ({short(error)}): {run_again}") from None


def versions(*packages: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in packages:
        try:
            found[package] = version(package.replace("_", "-"))
        except PackageNotFoundError:
            found[package] = "missing"
    return found


def quantize_int8(source: Path, target: Path) -> dict[str, Any]:
    """Dynamic int8 quantisation of the weight MatMuls, per output channel (per-tensor scales
    measured a minimum cosine of 0.79 to the reference on the gold questions, per-channel 0.98)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    options = {"weight_type": QuantType.QInt8, "per_channel": True, "op_types_to_quantize": ["MatMul"]}
    with quieted(None, logging.ERROR):  # quantize_dynamic logs a pre-processing hint through the root logger
        quantize_dynamic(str(source), str(target), **options)
    return {"method": "onnxruntime.quantization.quantize_dynamic", "weight_type": "QInt8", "per_channel": True,
            "op_types": ["MatMul"]}


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def sha256(path: Path) -> str | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return None


def file_facts(path: Path) -> dict[str, Any]:
    return {"bytes": path.stat().st_size, "sha256": sha256(path)}


def write_json(path: Path, data: dict) -> None:
    write_durably(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def scratch_folder(target: Path) -> Iterator[Path]:
    """A fresh temporary folder beside `target` (same file system, so it can be renamed into
    place), removed on the way out unless it was renamed. Left-overs of killed exports of the same
    target are removed first; callers hold the target's lock."""
    for stale in target.parent.glob(f".{target.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    scratch = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    scratch.mkdir(parents=True)
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def put_in_place(scratch: Path, target: Path) -> None:
    """Rename the finished `scratch` folder to `target`; an old `target` is moved aside first and
    removed after, so `target` is at every moment either absent, the old or the new export."""
    for path in scratch.iterdir():
        fsync_file(path)
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        os.rename(target, old)
    os.rename(scratch, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def folder_lock(folder: Path) -> contextlib.AbstractContextManager[int]:
    return locked(folder.parent / f".{folder.name}.lock")


class Steps:
    """A few named steps of a long job, shown as a tqdm bar on stderr when `show` is set."""

    def __init__(self, description: str, total: int, show: bool):
        self.started = time.perf_counter()
        self.bar = None
        if show:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=description, file=sys.stderr, bar_format="{desc} [{elapsed}]")
        self.description = description
        self.count = 0

    def next(self, step: str) -> None:
        log.info("%s", step)
        if self.bar is not None:
            if self.count:
                self.bar.update(1)
            self.bar.set_description_str(f"{self.description}: {step} ({self.count + 1}/{self.bar.total})")
        self.count += 1

    def close(self) -> None:
        if self.bar is not None:
            self.bar.set_description_str(f"{self.description}: done")
            self.bar.close()
            self.bar = None

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started


def short(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 160 else text[:157] + "..."
