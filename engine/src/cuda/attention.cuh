// Attention over the paged KV cache. Decode (one new token per sequence) splits each sequence's
// positions into chunks of kAttnChunk (flash-decoding) and merges the partial softmaxes; prefill
// (several tokens per sequence) is a flash-attention-style kernel: query tiles against K/V tiles
// staged in shared memory with an online softmax, causal by absolute position.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "device_types.cuh"
#include "elementwise.cuh"

namespace effitune::engine::cuda {

// Positions per decode split: small enough that batch-1 decode spreads over many CTAs (8 KV heads
// x ctx/64 splits), and the scores of a split fit in shared memory. decode_attn_chunk() picks a
// longer split when the batch alone fills the GPU.
constexpr int kAttnChunk = 64;
constexpr int kAttnMaxChunk = 256;  // keeps the decode kernel under 48 KB of shared memory (G 8, HD 128)
// The longest split of the tensor-core decode kernel's wide variant (8 warps, two 16-position tiles each).
constexpr int kWideChunk = 256;
constexpr int kAttnMaxGroup = 8;  // query heads per KV head the decode kernel supports
constexpr int kAttnPrefillRows = 64;  // query rows (tokens x group) per prefill CTA (4 lanes each)

struct AttnArgs {
  const void* qkv = nullptr;  // [n_tokens][ld_qkv], q heads first (already rotated)
  int64_t ld_qkv = 0;
  void* out = nullptr;  // [n_tokens][n_heads * head_dim], act type
  KvLayer kv;
  const int32_t* block_tables = nullptr;  // [n_steps][bt_stride]
  int32_t bt_stride = 0;
  int32_t block_size = 0;
  int32_t n_heads = 0, n_kv_heads = 0, head_dim = 0;
  float scale = 1.0f;  // 1 / sqrt(head_dim)
  // Decode only: when set, q and the new token's k are still unrotated in qkv, and the decode kernel
  // applies RoPE (inv_freq as RopeStoreArgs) and stores the new K/V itself (no rope_store launch).
  const double* inv_freq = nullptr;
  int32_t chunk = kAttnChunk;  // decode: positions per split (decode_attn_chunk; above kAttnMaxChunk tensor-core only)
  // Decode: the splits that hold positions of the longest sequence (the grid's are a power of two, see
  // decode_attn_splits); it only informs the kernel choice by waves. 0: all of them.
  int32_t live_splits = 0;
  // Decode: how a thread holds its K row for the scores. -1 chooses by grid size (see
  // attention.cu: registers-light once the CTAs fill the GPU); 0 / 1 force one (tests run both).
  int8_t k_row_in_regs = -1;
  // Decode: the tensor-core kernel (attention_decode_mma.cu) for 16-bit activations, head_dim 64 or
  // 128 and up to 16 query heads per KV head. -1: whenever it applies (EFFITUNE_ATTN_DECODE_MMA=0
  // turns it off); 0: the scalar kernel; 1: the tensor-core one where it applies.
  int8_t decode_mma = -1;
  // Decode on the tensor-core kernel: its wide variant (8 warps, every tile copied before the wait;
  // splits of up to kWideChunk). -1: for one split while its CTAs fit one wave (decode_split_length;
  // EFFITUNE_ATTN_WIDE=0 turns it off); 0: never; 1: whenever the split fits it.
  int8_t decode_wide = -1;
  // Decode: pull the cached K/V rows of the earlier positions into L1 before waiting on the previous
  // kernel (set by the launcher while the CTAs are few; EFFITUNE_ATTN_PREFETCH=0 turns it off).
  bool prefetch_kv = false;
};

// Positions per decode split for a step of `steps` sequences whose longest has max_len positions
// (decode_split_length in decode_attn_choice.h, with its measurements): 256 once the (KV head,
// sequence) pairs alone give one CTA per SM; below that, where the tensor-core kernel runs, splits of
// 256 from 65 positions while its wide variant holds pairs x splits in one wave (one split up to 256),
// else up to 256 positions one split once the pairs give half the SMs a CTA, else the shortest of
// 64, 128, 192, 256, 384, 512, 768, ... whose working CTAs fit one wave of it; else 64. Switches
// (A/B): EFFITUNE_ATTN_WAVE_SPLITS=0 drops the rules by waves (64 below one pair an SM),
// EFFITUNE_ATTN_WIDE=0 the wide variant and its rule, EFFITUNE_ATTN_LONG_SPLITS=0 keeps 64 always,
// EFFITUNE_ATTN_CHUNK=<a multiple of 64>
// forces a length (above 256 only where the tensor-core kernel runs, else 256).
int32_t decode_attn_chunk(ActType act, int32_t head_dim, int32_t n_heads, int32_t n_kv_heads, int32_t steps,
                          int32_t max_len);

// Decode splits for a step whose longest sequence has max_len positions, in splits of `chunk`: the
// next power of two, so that the decode graphs (keyed by it) stay few as contexts grow.
int32_t decode_attn_splits(int32_t max_len, int32_t chunk);
// Of those, the splits that hold positions of the longest sequence (AttnArgs::live_splits).
int32_t decode_attn_live_splits(int32_t max_len, int32_t chunk);

// Decode: token s belongs to step s; seq_len[s] positions (the new one included) are attended.
// With n_splits > 1, partial_o ([n_steps][n_heads][n_splits][head_dim]) and partial_ml
// ([n_steps][n_heads][n_splits][2]) hold the per-split results before the merge.
void launch_attn_decode(ActType act, const AttnArgs& a, const int32_t* seq_len, int32_t n_steps, int32_t n_splits,
                        float* partial_o, float* partial_ml, cudaStream_t s);

// Prefill: tiles[3 i .. 3 i + 2] = (step, first token, token count <= prefill_tile_tokens); the
// tile's tokens are consecutive positions pos[first] .. of that step.
void launch_attn_prefill(ActType act, const AttnArgs& a, const int32_t* tiles, int32_t n_tiles, const int32_t* pos,
                         cudaStream_t s);

inline int prefill_tile_tokens(int n_heads, int n_kv_heads) { return kAttnPrefillRows / (n_heads / n_kv_heads); }

}  // namespace effitune::engine::cuda
