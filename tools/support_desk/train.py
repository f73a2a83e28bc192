#!/usr/bin/env python3
"""Trains the support-desk task model and evaluates it on the test split.

Training data is generated and tokenized in-process (generate.py + bpe.py, stdlib and torch only),
so the device run needs only this folder, the tokenizer JSON and the test JSONL. Writes to --out:
model.npz (GGUF tensor names, float32), config.json, eval.json, train_log.txt.

    python3 tools/support_desk/train.py --tokenizer experiments/support-desk/tokenizer.json \
        --test experiments/support-desk/test.jsonl --out /tmp/sd --steps 5000
"""
import argparse
import json
import math
import multiprocessing as mp
import os
import re
import string
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402
import generate  # noqa: E402
from model import Config, Model  # noqa: E402

TRAIN_SEED = 1
_TOK = None


def _tokenize_chunk(args):
    split, seed, chunk, n, max_len = args
    ids = np.full((n, max_len), _TOK.special["<|pad|>"], dtype=np.int16)
    mask = np.zeros((n, max_len), dtype=np.int8)
    lens = np.zeros(n, dtype=np.int32)
    for i, conv in enumerate(generate.generate_chunk(split, seed, chunk, n)):
        a, m, _ = bpe.render(_TOK, conv, with_answer=True)
        if len(a) > max_len:
            raise ValueError(f"train conversation {conv['id']} has {len(a)} tokens > context {max_len}")
        ids[i, :len(a)] = a
        mask[i, :len(m)] = m
        lens[i] = len(a)
    return ids, mask, lens


def build_train(tok, n, max_len, workers):
    global _TOK
    _TOK = tok
    jobs = [("train", TRAIN_SEED, c, min(generate.CHUNK, n - c * generate.CHUNK), max_len)
            for c in range((n + generate.CHUNK - 1) // generate.CHUNK)]
    with mp.get_context("fork").Pool(workers) as pool:
        chunks = pool.map(_tokenize_chunk, jobs)
    return tuple(np.concatenate([c[k] for c in chunks]) for k in range(3))


def normalize(s):
    """HELM quasi-exact-match normalization: lowercase, drop punctuation and articles, squash spaces."""
    s = s.lower()
    s = "".join(c for c in s if c not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def truncate_history(tok, conv, history_budget):
    """Drops the oldest turns whole until system + turns + question fit history_budget tokens
    (the engine's TokenBudget rule). Returns a conversation copy."""
    turns = list(conv["turns"])
    while turns:
        c = dict(conv, turns=turns)
        _, _, prompt_len = bpe.render(tok, c, with_answer=False)
        if prompt_len <= history_budget:
            break
        turns = turns[1:]
    return dict(conv, turns=turns)


@torch.no_grad()
def greedy_batch(model, tok, prompts, max_new, device):
    end = tok.special["<|end|>"]
    pad = tok.special["<|pad|>"]
    B = len(prompts)
    T = min(model.cfg.max_seq_len, max(len(p) for p in prompts) + max_new)
    buf = torch.full((B, T), pad, dtype=torch.long, device=device)
    for i, p in enumerate(prompts):
        buf[i, :len(p)] = torch.tensor(p, device=device)
    lens = torch.tensor([len(p) for p in prompts], device=device)
    done = torch.zeros(B, dtype=torch.bool, device=device)
    outs = [[] for _ in range(B)]
    for _ in range(max_new):
        cur = int(lens.max().item())
        if cur >= T:
            break
        logits = model(buf[:, :cur]).float()
        nxt = logits[torch.arange(B, device=device), lens - 1].argmax(-1)
        for i in range(B):
            if not done[i]:
                t = int(nxt[i])
                if t == end:
                    done[i] = True
                else:
                    outs[i].append(t)
        buf[torch.arange(B, device=device), lens.clamp(max=T - 1)] = torch.where(done, buf[:, 0] * 0 + pad, nxt)
        lens = torch.where(done, lens, lens + 1)
        if bool(done.all()):
            break
    return outs


def evaluate(model, tok, convs, device, history_budget=None, max_new=80, batch=100):
    res = {"short": [0, 0], "long": [0, 0], "key_points": [0, 0], "by_slot": {}}
    for s in range(0, len(convs), batch):
        chunk = convs[s:s + batch]
        if history_budget:
            chunk = [truncate_history(tok, c, history_budget) for c in chunk]
        prompts = [bpe.render(tok, c, with_answer=False)[0] for c in chunk]
        outs = greedy_batch(model, tok, prompts, max_new, device)
        for c, o in zip(chunk, outs):
            text = tok.decode(o)
            ok = normalize(text) == normalize(c["answer"])
            r = res[c["answer_type"]]
            r[0] += ok
            r[1] += 1
            if c["answer_type"] == "long":
                for kp in c["key_points"]:
                    res["key_points"][0] += normalize(kp) in normalize(text)
                    res["key_points"][1] += 1
            else:
                q = c["question"]
                res["by_slot"].setdefault(q, [0, 0])
                res["by_slot"][q][0] += ok
                res["by_slot"][q][1] += 1
    out = {k: (v[0] / v[1] if v[1] else None) for k, v in res.items() if k != "by_slot"}
    out["n_short"] = res["short"][1]
    out["n_long"] = res["long"][1]
    out["by_question"] = {k: round(v[0] / v[1], 3) for k, v in sorted(res["by_slot"].items())}
    return out


def quantize_q4_0(w):
    """ggml's quantize_row_q4_0_ref round trip, blocks of 32 along each row."""
    rows, cols = w.shape
    b = w.reshape(rows, cols // 32, 32)
    idx = b.abs().argmax(-1, keepdim=True)
    mx = torch.gather(b, -1, idx)
    d = (mx / -8).half().float()
    inv = torch.where(d != 0, 1.0 / d, torch.zeros_like(d))
    q = torch.clamp(torch.floor(b * inv + 8.5), 0, 15)
    return ((q - 8) * d).reshape(rows, cols)


@torch.no_grad()
def agreement(ref, other, tok, convs, device):
    """Teacher-forced on the reference answers: same-top-1 rate and mean KL(ref || other)."""
    same, kl, n = 0, 0.0, 0
    for c in convs:
        ids, _, pl = bpe.render(tok, c, with_answer=True)
        x = torch.tensor([ids], device=device)
        lp_r = F.log_softmax(ref(x).float()[0, pl - 1:-1], -1)
        lp_o = F.log_softmax(other(x).float()[0, pl - 1:-1], -1)
        same += int((lp_r.argmax(-1) == lp_o.argmax(-1)).sum())
        kl += float((lp_r.exp() * (lp_r - lp_o)).sum())
        n += lp_r.shape[0]
    return {"top1_agreement": same / n, "mean_kl": kl / n, "tokens": n}


def main(argv):
    p = argparse.ArgumentParser()
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--n-train", type=int, default=300000)
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--hidden", type=int, default=768)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--kv-heads", type=int, default=4)
    p.add_argument("--ctx", type=int, default=512)
    p.add_argument("--max-train-s", type=float, default=1e9, help="stop early past this wall time")
    p.add_argument("--eval-n", type=int, default=0, help="evaluate on the first N test rows (0 = all)")
    p.add_argument("--workers", type=int, default=max(1, min(16, os.cpu_count() or 1)))
    a = p.parse_args(argv)

    torch.manual_seed(1234)
    np.random.seed(1234)
    os.makedirs(a.out, exist_ok=True)
    log = open(os.path.join(a.out, "train_log.txt"), "w")

    def say(msg):
        print(msg, flush=True)
        log.write(msg + "\n")
        log.flush()

    device = "cuda" if torch.cuda.is_available() else "cpu"
    tok = bpe.Tokenizer.load(a.tokenizer)
    t0 = time.time()
    ids, mask, lens = build_train(tok, a.n_train, a.ctx, a.workers)
    say(f"data: {len(ids)} conversations, mean {lens.mean():.0f} max {lens.max()} tokens, "
        f"{time.time() - t0:.1f}s, device {device} {torch.cuda.get_device_name() if device == 'cuda' else ''}")
    ids_t = torch.from_numpy(ids.astype(np.int64)).to(device)
    mask_t = torch.from_numpy(mask).to(device)
    lens_t = torch.from_numpy(lens).to(device)

    cfg = Config(dim=a.dim, n_layers=a.layers, n_heads=a.heads, n_kv_heads=a.kv_heads, hidden_dim=a.hidden,
                 vocab_size=tok.vocab_size, max_seq_len=a.ctx)
    model = Model(cfg).to(device)
    n_params = sum(x.numel() for x in model.parameters())
    say(f"model: {json.dumps(cfg.to_dict())}, {n_params} parameters")
    decay = [v for k, v in model.p.items() if v.dim() == 2]
    no_decay = [v for k, v in model.p.items() if v.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95))
    gen = torch.Generator(device="cpu").manual_seed(99)
    perm = torch.randperm(len(ids), generator=gen)
    use_bf16 = device == "cuda"
    t_train = time.time()
    step = 0
    for step in range(a.steps):
        # Cosine decay over whichever runs out first, the steps or the wall-time limit.
        frac = min(1.0, max(step / a.steps, (time.time() - t_train) / a.max_train_s))
        lr = a.lr * min(1.0, (step + 1) / a.warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        s = (step * a.batch) % (len(perm) - a.batch + 1)
        bi = perm[s:s + a.batch].to(device)
        T = int(lens_t[bi].max())
        x = ids_t[bi, :T]
        m = mask_t[bi, 1:T].float()
        if use_bf16:
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
                logits = model(x[:, :-1])
        else:
            logits = model(x[:, :-1])
        loss_tok = F.cross_entropy(logits.float().reshape(-1, cfg.vocab_size), x[:, 1:].reshape(-1), reduction="none")
        loss = (loss_tok * m.reshape(-1)).sum() / m.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 250 == 0 or step == a.steps - 1:
            say(f"step {step} loss {loss.item():.4f} lr {lr:.2e} {time.time() - t_train:.0f}s")
        if frac >= 1.0:
            say(f"stopping at step {step}: wall-time limit {a.max_train_s}s")
            break
    say(f"trained {step + 1} steps in {time.time() - t_train:.0f}s")
    model.eval()
    np.savez(os.path.join(a.out, "model.npz"), **model.gguf_state())
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(dict(cfg.to_dict(), steps=step + 1, batch=a.batch, lr=a.lr, n_train=a.n_train), f, indent=1)

    test = [json.loads(line) for line in open(a.test)]
    if a.eval_n:
        test = test[:a.eval_n]
    report = {"full_history": evaluate(model, tok, test, device)}
    say("full history: " + json.dumps(report["full_history"]))
    for budget in (64, 128, 192):
        report[f"history_{budget}"] = evaluate(model, tok, test, device, history_budget=budget)
        say(f"history budget {budget}: " + json.dumps(
            {k: v for k, v in report[f'history_{budget}'].items() if k != 'by_question'}))
    q4 = Model(cfg).to(device)
    q4.load_state_dict(model.state_dict())
    with torch.no_grad():
        for k, v in q4.p.items():
            if v.dim() == 2 and k != "token_embd__weight":
                v.copy_(quantize_q4_0(v.float()))
    q4.eval()
    report["q4_0_simulated"] = evaluate(q4, tok, test, device)
    report["q4_0_simulated"].update(agreement(model, q4, tok, test, device))
    say("q4_0 simulated: " + json.dumps({k: v for k, v in report["q4_0_simulated"].items() if k != "by_question"}))
    with open(os.path.join(a.out, "eval.json"), "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1:])
