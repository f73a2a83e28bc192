"""The support-desk task model: a small Llama in PyTorch, in the conventions the engine loads.

RMSNorm (eps 1e-5), RoPE with theta 10000 rotating INTERLEAVED pairs (x[2i], x[2i+1]) -- llama.cpp's
stored convention, so Q/K weights export without permutation --, SwiGLU feed-forward, grouped-query
attention (query head h reads key/value head h // (n_heads / n_kv_heads)), untied output.
Parameter names are the GGUF tensor names, so export is a rename-free copy.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class Config:
    def __init__(self, **kw):
        self.dim = kw.get("dim", 256)
        self.n_layers = kw.get("n_layers", 4)
        self.n_heads = kw.get("n_heads", 8)
        self.n_kv_heads = kw.get("n_kv_heads", 4)
        self.hidden_dim = kw.get("hidden_dim", 768)
        self.vocab_size = kw.get("vocab_size", 1024)
        self.max_seq_len = kw.get("max_seq_len", 512)
        self.rms_eps = kw.get("rms_eps", 1e-5)
        self.rope_theta = kw.get("rope_theta", 10000.0)

    def to_dict(self):
        return dict(self.__dict__)


def rms_norm(x, w, eps):
    x32 = x.float()
    return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)).type_as(x) * w


def rope_tables(head_dim, max_len, theta, device):
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float64) / head_dim))
    ang = torch.arange(max_len, device=device, dtype=torch.float64)[:, None] * inv[None, :]
    return ang.cos().float(), ang.sin().float()


def apply_rope(x, cos, sin):
    # x: [B, H, T, hd]; pairs (x[2i], x[2i+1]) rotate by angle pos * theta^(-2i/hd).
    x0, x1 = x[..., 0::2].float(), x[..., 1::2].float()
    c, s = cos[: x.shape[2]], sin[: x.shape[2]]
    out = torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1)
    return out.flatten(-2).type_as(x)


class Model(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        d, hd = cfg.dim, cfg.dim // cfg.n_heads
        kv = hd * cfg.n_kv_heads
        p = nn.ParameterDict()

        def lin(out_f, in_f):
            return nn.Parameter(torch.randn(out_f, in_f) / math.sqrt(in_f))

        p["token_embd__weight"] = nn.Parameter(torch.randn(cfg.vocab_size, d) * 0.02)
        for i in range(cfg.n_layers):
            b = f"blk__{i}__"
            p[b + "attn_norm__weight"] = nn.Parameter(torch.ones(d))
            p[b + "attn_q__weight"] = lin(d, d)
            p[b + "attn_k__weight"] = lin(kv, d)
            p[b + "attn_v__weight"] = lin(kv, d)
            p[b + "attn_output__weight"] = nn.Parameter(lin(d, d).data / math.sqrt(2 * cfg.n_layers))
            p[b + "ffn_norm__weight"] = nn.Parameter(torch.ones(d))
            p[b + "ffn_gate__weight"] = lin(cfg.hidden_dim, d)
            p[b + "ffn_up__weight"] = lin(cfg.hidden_dim, d)
            p[b + "ffn_down__weight"] = nn.Parameter(lin(d, cfg.hidden_dim).data / math.sqrt(2 * cfg.n_layers))
        p["output_norm__weight"] = nn.Parameter(torch.ones(d))
        p["output__weight"] = lin(cfg.vocab_size, d)
        self.p = p
        cos, sin = rope_tables(hd, cfg.max_seq_len, cfg.rope_theta, "cpu")
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def gguf_state(self):
        """{gguf tensor name: float32 numpy array [out, in]} (row-major, so ggml ne = [in, out])."""
        return {k.replace("__", "."): v.detach().float().cpu().numpy() for k, v in self.p.items()}

    def forward(self, ids):
        cfg, p = self.cfg, self.p
        B, T = ids.shape
        hd = cfg.dim // cfg.n_heads
        group = cfg.n_heads // cfg.n_kv_heads
        x = F.embedding(ids, p["token_embd__weight"])
        for i in range(cfg.n_layers):
            b = f"blk__{i}__"
            h = rms_norm(x, p[b + "attn_norm__weight"], cfg.rms_eps)
            q = (h @ p[b + "attn_q__weight"].t()).view(B, T, cfg.n_heads, hd).transpose(1, 2)
            k = (h @ p[b + "attn_k__weight"].t()).view(B, T, cfg.n_kv_heads, hd).transpose(1, 2)
            v = (h @ p[b + "attn_v__weight"].t()).view(B, T, cfg.n_kv_heads, hd).transpose(1, 2)
            q, k = apply_rope(q, self.cos, self.sin), apply_rope(k, self.cos, self.sin)
            k = k.repeat_interleave(group, dim=1)
            v = v.repeat_interleave(group, dim=1)
            if hasattr(F, "scaled_dot_product_attention"):
                a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:
                s = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
                s = s.masked_fill(torch.ones(T, T, dtype=torch.bool, device=ids.device).triu(1), float("-inf"))
                a = s.softmax(-1) @ v
            x = x + a.transpose(1, 2).reshape(B, T, cfg.dim) @ p[b + "attn_output__weight"].t()
            h = rms_norm(x, p[b + "ffn_norm__weight"], cfg.rms_eps)
            g = F.silu(h @ p[b + "ffn_gate__weight"].t()) * (h @ p[b + "ffn_up__weight"].t())
            x = x + g @ p[b + "ffn_down__weight"].t()
        x = rms_norm(x, p["output_norm__weight"], cfg.rms_eps)
        return x @ p["output__weight"].t()
