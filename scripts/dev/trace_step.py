#!/usr/bin/env python3
"""One decode step of an EFFITUNE_CUDA_TRACE timeline (PATH.csv), kernel by kernel.

Kernels overlap under programmatic dependent launch (a kernel starts early and waits), so the sum
of durations overstates the step; this prints each kernel's *exclusive* time: how far its end moved
the step's frontier past every earlier kernel's end. Steps are cut at embed_kernel launches.
  trace_step.py PATH.csv [--step K (default: third from last)] [--list N (the first N kernels)]
"""
import argparse
import csv
import re


def short(name):
    name = name.replace("(anonymous namespace)::", "").replace("effitune::engine::cuda::", "").replace("attn_detail::", "")
    if name.endswith(")"):  # drop the parameter list: the last parenthesized group, matched from the end
        depth = 0
        for i in range(len(name) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(name[i], 0)
            if depth == 0:
                name = name[:i]
                break
    return re.sub(r"^void ", "", name)[:110]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--step", type=int, default=-3)
    ap.add_argument("--list", type=int, default=0)
    args = ap.parse_args()
    rows = sorted((float(r["start_us"]), float(r["end_us"]), short(r["kernel"])) for r in csv.DictReader(open(args.csv)))
    cuts = [i for i, r in enumerate(rows) if r[2].startswith("embed")]
    if len(cuts) < 2:
        raise SystemExit(f"{args.csv}: fewer than two embed_kernel launches, no whole step to show")
    k = args.step if args.step >= 0 else len(cuts) + args.step
    k = max(0, min(k, len(cuts) - 2))
    step = rows[cuts[k]:cuts[k + 1]]
    t0 = step[0][0]
    print(f"{args.csv}: step {k} of {len(cuts) - 1}, {rows[cuts[k + 1]][0] - t0:.1f} us, {len(step)} kernels")
    frontier, agg = t0, {}
    for s, e, n in step:
        a = agg.setdefault(n, [0, 0.0, 0.0])
        a[0] += 1
        a[1] += max(0.0, e - max(s, frontier))
        a[2] += e - s
        frontier = max(frontier, e)
    for n, (c, x, d) in sorted(agg.items(), key=lambda t: -t[1][1]):
        print(f"{c:4d} launches  exclusive {x:8.1f} us  durations {d:8.1f} us  {n}")
    for s, e, n in step[: args.list]:
        print(f"{s - t0:8.1f} {e - t0:8.1f} {e - s:7.1f}  {n}")


if __name__ == "__main__":
    main()
