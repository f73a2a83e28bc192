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

// The wide variant's split lengths past 256: its ring variant (each warp's tiles go round the two
// stages, two rounds in flight), a kernel of its own with its own CTAs an SM (one at head_dim 128,
// two at 64, where the 256-position kernel also holds two).
inline bool is_wide_ring_length(int64_t c) { return c == 512 || c == 1024 || c == 2048; }

// Whether `ctas` working CTAs of `chunk`-position splits run on the wide variant (`per_sm` of its
// CTAs an SM at that length): splits of 256 or of a ring length that fit one wave, as
// decode_split_length picks them (the one-wave rules without the wide variant never pick a ring
// length for so few CTAs: the candidate before it, 3/4 as long, needed more than a wave of the
// 4-warp kernel, which holds more CTAs an SM than the ring variant).
inline bool wide_fits(int32_t chunk, int64_t ctas, int64_t sms, int per_sm) {
  return (chunk == 256 || is_wide_ring_length(chunk)) && ctas <= static_cast<int64_t>(per_sm) * sms;
}

// Whether a decode launch takes the tensor-core kernel's wide variant (attention_decode_mma.cu):
// `forced` (AttnArgs::decode_wide: -1 unset, 0, 1) first; by default, unless `env` (EFFITUNE_ATTN_WIDE)
// is off, where wide_fits (`per_sm`: the variant's CTAs an SM at this chunk).
inline bool use_decode_wide(int forced, bool env, int32_t chunk, int64_t ctas, int64_t sms, int per_sm) {
  if (forced >= 0) return forced > 0;
  return env && wide_fits(chunk, ctas, sms, per_sm);
}

// The split lengths decode_split_length below chooses from below one pair an SM: 64, 128, then 2^k and 3 x 2^(k-1) (192, 256,
// 384, 512, 768, ...): within a factor 4/3 of any length, so one wave is filled to three quarters or
// more, and coarse enough that a growing context changes the captured decode graph (keyed by the
// length) about twice per doubling, as the block-table stride does.
inline int64_t next_split_length(int64_t c) {
  if (c < 128) return 128;
  return (c & (c - 1)) == 0 ? c + c / 2 : c / 3 * 4;
}

// Positions per decode split (FlashInfer's decode planner sizes its KV chunks the same way):
//  - (KV head, sequence) pairs that give every SM a CTA: 256 (their grid is several waves whatever the
//    length; at 8B batch 64, ~190 positions, one split and no merge launch);
//  - below that, where the tensor-core kernel cannot run (`per_sm_*` 0): 64;
//  - where the tensor-core kernel's wide variant runs (`per_sm_wide` its CTAs an SM; 8 warps, two
//    16-position tiles each, all copied before the wait on the previous kernel) and its CTAs,
//    pairs x ceil(max_len / 256), fit one wave: 256 (one split and no merge launch up to 256
//    positions). Past 6,144 positions, and past 4,096 where 256 would need a second wave, its ring
//    variant instead (`per_sm_ring` its CTAs an SM): the shortest of 512, 1,024 and 2,048 (512 only,
//    below 6,144) whose CTAs fit one wave of it. Kernel alone, H100, against the rules without it
//    (bench/README.md session 21): head_dim 128 (one CTA an SM) at 8,192-32,768 positions 1.05-2.02x
//    for 2-32 pairs (8 pairs at 8,192: 512 x 128 CTAs 17.0 us against 23.4), 8 pairs at 4,128
//    1.16-1.19x (512 x 72 against 256 x 136), at 6,144 1.5x; head_dim 64 (two an SM) 1.15-1.44x at
//    8,192-16,384 and 1.40x for 16 pairs at 4,128. Where it lost it is not taken: 2 pairs at
//    4,128-6,144 at head_dim 128 (0.84-0.97x: 256's 34-48 CTAs fit), 16-32 pairs at 4,128 (0.87-0.92x:
//    512 does not fit).
//  - else between 65 and 256 positions, pairs for half the SMs or more: one split of 256 on the
//    4-warp kernel (129-160 positions: 8B batch 16 +1.7%, 1B batch 16 +2.9%, a TP=2 rank at batch 32
//    +0.6%, 8B q4_0 batch 16 -0.8% within its spread); fewer pairs keep 64 (8B batch 1: one split on
//    the 4-warp kernel -1.4%, q4_0 -9%: each warp's tiles come one after another);
//  - else the shortest candidate whose working CTAs, pairs x ceil(max_len / c), all run at once on the
//    tensor-core kernel (`per_sm_short` its CTAs an SM at 64 positions, one cp.async stage; `per_sm_long`
//    above, two stages). That is 64 at batch 1 and short contexts (160 positions: 9% faster than 256 on
//    the 8B shape), and one wave of longer splits elsewhere: a TP=4 rank at batch 64 (128 pairs, 396
//    slots) takes 192 at 544 positions (384 CTAs against 1,152 of 64), 384 at 1,056 (against 640
//    working CTAs of 256, the last split 32 positions), 768 at 2,080. A split whose CTAs all start
//    together streams its K/V at once, where a second, partly filled wave of shorter splits pays the
//    kernel's fixed phases again (H100, against session 18's 64-or-256 rule by waves: the kernel alone
//    at 2 KV heads batch 64 -43% / -29% / -12% at 544 / 1,056 / 2,080 positions, the rank end to end
//    +11% / +10% / +4%).
// H100 measurements, bench/README.md sessions 18-21.
inline int32_t decode_split_length(int64_t pairs, int64_t max_len, int64_t sms, int per_sm_short, int per_sm_long,
                                   int per_sm_wide = 0, int per_sm_ring = 0) {
  if (pairs >= sms) return 256;
  if (per_sm_short <= 0 || per_sm_long <= 0) return 64;
  if (max_len > 64 && per_sm_wide > 0) {
    const int64_t s256 = (max_len + 255) / 256, wave = static_cast<int64_t>(per_sm_wide) * sms;
    const int64_t ring_wave = static_cast<int64_t>(per_sm_ring) * sms;
    if (ring_wave > 0 && (max_len > 6144 || (max_len > 4096 && pairs * s256 > wave))) {
      for (int64_t c = 512; c <= (max_len > 6144 ? 2048 : 512); c *= 2)
        if (pairs * ((max_len + c - 1) / c) <= ring_wave) return static_cast<int32_t>(c);
    }
    if (pairs * s256 <= wave) return 256;
  }
  if (max_len > 64 && max_len <= 256 && 2 * pairs >= sms) return 256;
  int64_t c = 64;
  for (;; c = next_split_length(c)) {
    const int64_t slots = static_cast<int64_t>(c <= 64 ? per_sm_short : per_sm_long) * sms;
    if (c >= max_len || pairs * ((max_len + c - 1) / c) <= slots) break;
  }
  return static_cast<int32_t>(c);
}

}  // namespace effitune::engine::cuda
