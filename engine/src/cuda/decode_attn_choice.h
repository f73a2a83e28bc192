// Which decode-attention kernel a step takes: host arithmetic only, so that CI tests it without a GPU.
#pragma once

#include <cstdint>

namespace effitune::engine::cuda {

// The tensor-core decode kernel (attention_decode_mma.cu) is faster alone at every measured shape
// (bench_attn, H100: 2 KV heads batch 64 9.0 -> 5.5 us, 8 KV heads batch 1 6.5 -> 3.6 us), but it
// holds fewer CTAs an SM (3 against 5 at head_dim 128), and where its grid needs a second wave that
// the scalar kernel's does not (8B TP=1 batch 64: 512 CTAs on 132 SMs), the step measured 0.5-1.5%
// slower. So by default it runs unless exactly that happens. `forced` (AttnArgs::decode_mma) and then
// `env` (EFFITUNE_ATTN_DECODE_MMA: -1 unset, 0, 1) decide first. `ctas`: the decode grid's CTAs;
// `*_per_sm`: how many CTAs of each kernel an SM holds at once.
inline bool use_decode_mma(int forced, int env, int64_t ctas, int64_t sms, int mma_per_sm, int scalar_per_sm) {
  if (forced >= 0) return forced > 0;
  if (env >= 0) return env > 0;
  return ctas <= mma_per_sm * sms || ctas > scalar_per_sm * sms;
}

// Decode splits of kAttnMaxChunk (256) positions instead of kAttnChunk (64): once the (KV head,
// sequence) pairs alone give a CTA per SM, as before; and below that, when the short splits' grid
// needs more than one wave of the tensor-core kernel while the long splits' grid fits in one (each
// split pays the kernel's fixed chain of phases, and the merge reads every split back). Measured on
// an H100 at 544-position contexts (bench/README.md, session 18): a TP=4 rank at batch 32 (64 pairs,
// 1,024 short CTAs against 256 long) +6.8%, a TP=2 rank at batch 16 +4.2%, 1B batch 16 +7.2%; where
// the long grid also needs a second wave (TP=4 rank batch 64: 512 CTAs, 3 an SM) short splits were
// 5% faster, and at batch 1 (8 pairs, one wave either way) short splits were faster on the 8B shape.
// `splits_*`: the splits each length gives the longest context; `mma_per_sm_*`: the tensor-core
// kernel's CTAs an SM at each length (0 where it cannot run: then only the first rule applies).
inline bool use_long_splits(int64_t pairs, int64_t splits_short, int64_t splits_long, int64_t sms, int mma_per_sm_short,
                            int mma_per_sm_long) {
  if (pairs >= sms) return true;
  if (mma_per_sm_short <= 0 || mma_per_sm_long <= 0) return false;
  return pairs * splits_short > mma_per_sm_short * sms && pairs * splits_long <= mma_per_sm_long * sms;
}

}  // namespace effitune::engine::cuda
