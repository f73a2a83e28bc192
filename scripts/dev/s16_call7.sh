#!/usr/bin/env bash
# Session 16, call 7 (one GPU, asked for nvidia-h200): the final check at this session's code: CUDA
# tests, memcheck and the table, three runs.
BENCH_RUNS=3 bash scripts/gpu_check.sh all 2>&1 | tail -3
python3 - $OUT/bench_cuda.jsonl <<'PY'
import json,sys,collections,statistics
r=collections.defaultdict(list)
for l in open(sys.argv[1]):
  d=json.loads(l)
  v=d['decode_tok_s'] if d['gen_tokens']>0 else d['prefill_tok_s']
  r[(d['model'].replace('synthetic:',''),d['quant'],d['batch'],d['prompt_tokens'],d['gen_tokens'])].append(v)
for k in sorted(r): print(k, '%.1f [%.1f-%.1f]' % (statistics.median(r[k]), min(r[k]), max(r[k])))
PY
