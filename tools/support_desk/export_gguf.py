#!/usr/bin/python3
"""Writes the trained support-desk model as GGUF v3 (F32 master; the engine quantizes at load).

    /usr/bin/python3 tools/support_desk/export_gguf.py --weights model.npz --config config.json \
        --tokenizer experiments/support-desk/tokenizer.json --out experiments/support-desk/model.gguf

Tensors use llama.cpp's names and ggml dims order (ne[0] = the contiguous column count): a PyTorch
weight [out, in] is written row-major as ne = [in, out], with no transpose. Q/K rows need no
permutation because the model was trained with RoPE on interleaved pairs, llama.cpp's convention.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402

ALIGNMENT = 32
GGUF_MAGIC = b"GGUF"
T_UINT32, T_INT32, T_FLOAT32, T_BOOL, T_STRING, T_ARRAY = 4, 5, 6, 7, 8, 9
GGML_F32 = 0
TOKEN_NORMAL, TOKEN_CONTROL = 1, 3


def _str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


class GgufWriter:
    def __init__(self):
        self.kv = []
        self.tensors = []

    def u32(self, k, v):
        self.kv.append(_str(k) + struct.pack("<II", T_UINT32, v))

    def f32(self, k, v):
        self.kv.append(_str(k) + struct.pack("<If", T_FLOAT32, v))

    def boolean(self, k, v):
        self.kv.append(_str(k) + struct.pack("<IB", T_BOOL, 1 if v else 0))

    def string(self, k, v):
        self.kv.append(_str(k) + struct.pack("<I", T_STRING) + _str(v))

    def str_array(self, k, vs):
        self.kv.append(_str(k) + struct.pack("<IIQ", T_ARRAY, T_STRING, len(vs)) + b"".join(_str(v) for v in vs))

    def i32_array(self, k, vs):
        self.kv.append(_str(k) + struct.pack("<IIQ", T_ARRAY, T_INT32, len(vs)) +
                       np.asarray(vs, dtype="<i4").tobytes())

    def tensor(self, name, arr):
        arr = np.ascontiguousarray(arr, dtype="<f4")
        self.tensors.append((name, list(reversed(arr.shape)), arr.tobytes()))

    def write(self, path):
        head = GGUF_MAGIC + struct.pack("<IQQ", 3, len(self.tensors), len(self.kv)) + b"".join(self.kv)
        infos, offset = [], 0
        for name, ne, data in self.tensors:
            infos.append(_str(name) + struct.pack("<I", len(ne)) + struct.pack(f"<{len(ne)}Q", *ne) +
                         struct.pack("<IQ", GGML_F32, offset))
            offset += (len(data) + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT
        head += b"".join(infos)
        head += b"\0" * ((-len(head)) % ALIGNMENT)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(head)
            for _, _, data in self.tensors:
                f.write(data)
                f.write(b"\0" * ((-len(data)) % ALIGNMENT))
        os.replace(tmp, path)


def main(argv):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--weights", required=True)
    p.add_argument("--config", required=True)
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    cfg = json.load(open(a.config))
    tok = bpe.Tokenizer.load(a.tokenizer)
    weights = np.load(a.weights)
    if tok.vocab_size != cfg["vocab_size"]:
        sys.exit(f"{a.tokenizer}: vocab {tok.vocab_size} != model vocab {cfg['vocab_size']} in {a.config}")

    w = GgufWriter()
    w.string("general.architecture", "llama")
    w.string("general.name", "support-desk")
    w.u32("general.alignment", ALIGNMENT)
    w.u32("llama.context_length", cfg["max_seq_len"])
    w.u32("llama.embedding_length", cfg["dim"])
    w.u32("llama.block_count", cfg["n_layers"])
    w.u32("llama.feed_forward_length", cfg["hidden_dim"])
    w.u32("llama.attention.head_count", cfg["n_heads"])
    w.u32("llama.attention.head_count_kv", cfg["n_kv_heads"])
    w.f32("llama.attention.layer_norm_rms_epsilon", cfg["rms_eps"])
    w.f32("llama.rope.freq_base", cfg["rope_theta"])
    w.u32("llama.rope.dimension_count", cfg["dim"] // cfg["n_heads"])
    w.u32("llama.vocab_size", cfg["vocab_size"])
    w.string("tokenizer.ggml.model", "gpt2")
    w.string("tokenizer.ggml.pre", "gpt-2")
    w.str_array("tokenizer.ggml.tokens", tok.tokens)
    w.i32_array("tokenizer.ggml.token_type",
                [TOKEN_CONTROL if t in tok.special else TOKEN_NORMAL for t in tok.tokens])
    w.str_array("tokenizer.ggml.merges", [f"{x} {y}" for x, y in tok.merges])
    w.u32("tokenizer.ggml.bos_token_id", tok.special["<|bos|>"])
    # Every turn ends with <|end|>, so it is the token that ends generation (as Llama-3's <|eot_id|>).
    w.u32("tokenizer.ggml.eos_token_id", tok.special["<|end|>"])
    w.u32("tokenizer.ggml.eot_token_id", tok.special["<|end|>"])
    w.u32("tokenizer.ggml.padding_token_id", tok.special["<|pad|>"])
    w.boolean("tokenizer.ggml.add_bos_token", True)
    w.string("effitune.chat_format", "support-desk")

    names = ["token_embd.weight"]
    for i in range(cfg["n_layers"]):
        names += [f"blk.{i}.{n}.weight" for n in ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                                                   "ffn_norm", "ffn_gate", "ffn_down", "ffn_up")]
    names += ["output_norm.weight", "output.weight"]
    if sorted(names) != sorted(weights.files):
        sys.exit(f"{a.weights}: tensors {sorted(set(weights.files) ^ set(names))} unexpected or missing")
    for n in names:
        w.tensor(n, weights[n])
    w.write(a.out)
    print(f"{a.out}: {os.path.getsize(a.out)} bytes, {len(names)} tensors")


if __name__ == "__main__":
    main(sys.argv[1:])
