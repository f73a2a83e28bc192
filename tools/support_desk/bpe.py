"""A small GPT-2-style byte-level BPE: training on a corpus, encoding, and the chat rendering.

The encoding must give the same ids as llama.cpp's "gpt2" tokenizer with the "gpt-2" pre-tokenizer
(and so as the engine's C++ tokenizer): the exact GPT-2 split regex, GPT-2's byte-to-unicode table,
and merges applied lowest rank first. Special tokens are never parsed from text; the chat renderer
inserts their ids.
"""
import json

try:
    import regex as _re
    GPT2_SPLIT = _re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
    _ASCII_ONLY = False
except ImportError:  # The device image may lack python3-regex; on ASCII text this pattern is the same.
    import re as _re
    GPT2_SPLIT = _re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""",
                             _re.ASCII)
    _ASCII_ONLY = True

SPECIAL_TOKENS = ["<|bos|>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>", "<|pad|>"]


def bytes_to_unicode():
    """GPT-2's reversible map from bytes to printable unicode characters."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


BYTE_TO_UNI = bytes_to_unicode()
UNI_TO_BYTE = {v: k for k, v in BYTE_TO_UNI.items()}


def pretokenize(text):
    if _ASCII_ONLY and not text.isascii():
        raise ValueError("python3-regex is missing and the text is not ASCII; install python3-regex")
    return GPT2_SPLIT.findall(text)


def to_symbols(word):
    return tuple(BYTE_TO_UNI[b] for b in word.encode("utf-8"))


def train(texts, vocab_size, skip_digits=True):
    """Learns merges until 256 + merges + specials == vocab_size. Ties break on the pair's text so
    training is deterministic. Words with digits are skipped so numbers stay digit-level: copying
    a number is then a copy of single-digit tokens."""
    freq = {}
    for t in texts:
        for w in pretokenize(t):
            if skip_digits and any(c.isdigit() for c in w):
                continue
            freq[w] = freq.get(w, 0) + 1
    words = [list(to_symbols(w)) for w in freq]
    counts = list(freq.values())
    pair_count, pair_words = {}, {}
    for i, syms in enumerate(words):
        for a, b in zip(syms, syms[1:]):
            pair_count[(a, b)] = pair_count.get((a, b), 0) + counts[i]
            pair_words.setdefault((a, b), set()).add(i)
    merges = []
    n_merges = vocab_size - 256 - len(SPECIAL_TOKENS)
    while len(merges) < n_merges and pair_count:
        best = max(pair_count.items(), key=lambda kv: (kv[1], kv[0]))
        pair = best[0]
        if best[1] < 2:
            break
        merges.append(pair)
        merged = pair[0] + pair[1]
        for i in list(pair_words.get(pair, ())):
            syms = words[i]
            for a, b in zip(syms, syms[1:]):
                pair_count[(a, b)] -= counts[i]
                if pair_count[(a, b)] == 0:
                    del pair_count[(a, b)]
                pair_words[(a, b)].discard(i)
            out, j = [], 0
            while j < len(syms):
                if j + 1 < len(syms) and syms[j] == pair[0] and syms[j + 1] == pair[1]:
                    out.append(merged)
                    j += 2
                else:
                    out.append(syms[j])
                    j += 1
            words[i] = out
            for a, b in zip(out, out[1:]):
                pair_count[(a, b)] = pair_count.get((a, b), 0) + counts[i]
                pair_words.setdefault((a, b), set()).add(i)
    return merges


class Tokenizer:
    def __init__(self, merges):
        self.merges = [tuple(m) for m in merges]
        self.ranks = {m: i for i, m in enumerate(self.merges)}
        self.tokens = [BYTE_TO_UNI[b] for b in range(256)] + [a + b for a, b in self.merges] + \
            list(SPECIAL_TOKENS)
        self.ids = {t: i for i, t in enumerate(self.tokens)}
        assert len(self.ids) == len(self.tokens), "duplicate token strings"
        self.special = {t: self.ids[t] for t in SPECIAL_TOKENS}
        self._cache = {}

    @property
    def vocab_size(self):
        return len(self.tokens)

    def _bpe(self, word):
        syms = list(to_symbols(word))
        while len(syms) > 1:
            best, best_rank = None, None
            for a, b in zip(syms, syms[1:]):
                r = self.ranks.get((a, b))
                if r is not None and (best_rank is None or r < best_rank):
                    best, best_rank = (a, b), r
            if best is None:
                break
            out, j = [], 0
            while j < len(syms):
                if j + 1 < len(syms) and syms[j] == best[0] and syms[j + 1] == best[1]:
                    out.append(best[0] + best[1])
                    j += 2
                else:
                    out.append(syms[j])
                    j += 1
            syms = out
        return [self.ids[s] for s in syms]

    def encode(self, text):
        ids = []
        for w in pretokenize(text):
            cached = self._cache.get(w)
            if cached is None:
                cached = self._bpe(w)
                if len(self._cache) < 200000:
                    self._cache[w] = cached
            ids.extend(cached)
        return ids

    def decode(self, ids):
        data = bytearray()
        for i in ids:
            if 0 <= i < len(self.tokens) and self.tokens[i] not in self.special:
                data.extend(UNI_TO_BYTE[c] for c in self.tokens[i])
        return data.decode("utf-8", errors="replace")

    def save(self, path):
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"merges": [f"{a} {b}" for a, b in self.merges],
                       "special_tokens": SPECIAL_TOKENS}, f, ensure_ascii=True)

    @staticmethod
    def load(path):
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
        if d["special_tokens"] != SPECIAL_TOKENS:
            raise ValueError(f"{path}: special tokens differ from this script's")
        return Tokenizer([m.split(" ") for m in d["merges"]])


def render(tok, conv, with_answer):
    """The support-desk chat format (engine/src/chat must match it exactly):
        <|bos|> <|system|> enc(" "+system) <|end|>
        ( <|user|> | <|assistant|> ) enc(" "+content) <|end|>      for each history turn
        <|user|> enc(" "+question) <|end|> <|assistant|>            the prompt ends here
        enc(" "+answer) <|end|>                                     the target
    Content is encoded with a leading space so a fact copied from the history has the same tokens.
    Returns (ids, loss_mask): the mask is 1 on every assistant content token and its <|end|>."""
    s = tok.special
    ids, mask = [s["<|bos|>"], s["<|system|>"]], [0, 0]

    def add(piece_ids, m):
        ids.extend(piece_ids)
        mask.extend([m] * len(piece_ids))

    add(tok.encode(" " + conv["system"]) + [s["<|end|>"]], 0)
    for t in conv["turns"]:
        is_asst = t["role"] == "assistant"
        add([s["<|assistant|>" if is_asst else "<|user|>"]], 0)
        add(tok.encode(" " + t["content"]) + [s["<|end|>"]], 1 if is_asst else 0)
    add([s["<|user|>"]] + tok.encode(" " + conv["question"]) + [s["<|end|>"], s["<|assistant|>"]], 0)
    prompt_len = len(ids)
    if with_answer:
        add(tok.encode(" " + conv["answer"]) + [s["<|end|>"]], 1)
    return ids, mask, prompt_len
