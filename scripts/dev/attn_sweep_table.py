#!/usr/bin/env python3
"""Tabulates bench_attn JSON lines: per (head_dim, KV heads, batch, context), the backend's rule (wide=-1) against
the wide variant forced onto each split length measured (wide=1), with their working CTAs and the ratio.

  python3 scripts/dev/attn_sweep_table.py FILE.jsonl
"""
import collections
import json
import sys


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip())
        return 2
    rows = collections.defaultdict(dict)
    for line in open(argv[1]):
        j = json.loads(line)
        rows[(j.get("head_dim", 128), j["kv_heads"], j["batch"], j["ctx"])][j["chunk"] if j["wide"] == 1 else "rule"] = j
    for (hd, kv, b, ctx), r in sorted(rows.items()):
        rule = r.get("rule")
        if not rule:
            continue
        cells = [f"rule {rule['chunk']}: {rule['us_per_launch']:.2f}"]
        for c in sorted(k for k in r if k != "rule"):
            live = kv * b * -(-ctx // c)
            cells.append(f"w{c} ({live} CTAs) {r[c]['us_per_launch']:.2f} x{rule['us_per_launch'] / r[c]['us_per_launch']:.2f}")
        print(f"hd={hd} kv={kv} b={b} ctx={ctx}: " + " | ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
