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

}  // namespace effitune::engine::cuda
