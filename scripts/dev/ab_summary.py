#!/usr/bin/env python3
"""Summarizes labelled bench_cuda / `effitune bench` JSON lines from A/B device calls.

  python3 scripts/dev/ab_summary.py FILE.jsonl

Each line is one measurement with a "label" (the switch's value, added by the call script). Prints,
per shape (model, quant, batch) and label, the decode tok/s of every run, or the prefill tok/s for
prefill-only rows (gen_tokens 0); with --median, the median and range instead.
"""
import collections
import json
import statistics
import sys


def main(argv):
    median = "--median" in argv
    files = [a for a in argv[1:] if not a.startswith("--")]
    if not files:
        print(__doc__.strip())
        return 2
    runs = collections.defaultdict(list)
    for path in files:
        for line in open(path):
            d = json.loads(line)
            value = d["decode_tok_s"] if d.get("gen_tokens", 1) > 0 else d["prefill_tok_s"]
            key = (d["model"].replace("synthetic:", ""), d["quant"], d["batch"], d.get("label", ""))
            if d.get("gen_tokens", 1) == 0:
                key = key[:3] + ("prefill " + str(d.get("prompt_tokens")),) + key[3:]
            runs[key].append(value)
    for key in sorted(runs, key=str):
        v = runs[key]
        if median:
            print(key, "%.1f [%.1f-%.1f]" % (statistics.median(v), min(v), max(v)))
        else:
            print(key, [round(x, 1) for x in v])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
