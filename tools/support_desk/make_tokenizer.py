#!/usr/bin/python3
"""Trains the support-desk BPE on the train split and writes its merges as JSON.

    /usr/bin/python3 tools/support_desk/make_tokenizer.py --out experiments/support-desk/tokenizer.json
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402
import generate  # noqa: E402


def main(argv):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", required=True)
    p.add_argument("--vocab-size", type=int, default=1024)
    p.add_argument("--n", type=int, default=5000, help="train conversations to learn merges from")
    a = p.parse_args(argv)
    texts = []
    for r in generate.generate("train", a.n, 1):
        texts += [r["system"], r["question"], r["answer"]] + [t["content"] for t in r["turns"]]
    # The chat format encodes each message with a leading space; learn merges on that text.
    merges = bpe.train([" " + t for t in texts], a.vocab_size)
    tok = bpe.Tokenizer(merges)
    tok.save(a.out)
    print(f"{a.out}: vocab {tok.vocab_size} ({len(merges)} merges)")


if __name__ == "__main__":
    main(sys.argv[1:])
