// Greedy decoding with a vocab-parallel LM head (tensor parallelism): instead of assembling every
// rank's logits on every rank (an all-reduce of rows x vocab floats: 33 MB per step at batch 64 for
// a 128k vocabulary, through NCCL's ring), each rank folds its own columns into one argmax key per
// row (gemv_detail::argmax_key's format) and the ranks exchange the keys: rows x ranks x 4 floats.
//
// The exchange rides on Communicator::all_reduce_sum, a sum: rank r writes its key, cut into four
// 16-bit pieces held as floats (exact), into its own part of a zeroed gather buffer; summing the
// ranks' buffers adds zeros to every piece, so every rank ends with every rank's keys, bit for bit.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace effitune::engine::cuda {

// Floats of the gather buffer for `rows` rows and `n` ranks.
inline int64_t tp_argmax_gather_floats(int32_t rows, int32_t n) { return static_cast<int64_t>(rows) * n * 4; }

// gather[q][r][0..4) = the pieces of keys[r] for q == rank, zeros for every other rank; the key's
// row index (local to this rank's columns) is offset by `col0`, the rank's first vocabulary id.
// keys[r] is then reset to 0 (the head GEMV atomicMax-es into it next step).
void launch_keys_to_gather(unsigned long long* keys, int32_t rows, int32_t rank, int32_t n, int64_t col0,
                           float* gather, cudaStream_t s);

// After the all-reduce of `gather`: out[r] = the token of the largest key of row r over the ranks
// (the largest logit, the lowest id on ties, as engine::argmax over the whole vocabulary).
void launch_gather_to_tokens(const float* gather, int32_t rows, int32_t n, int32_t* out, cudaStream_t s);

}  // namespace effitune::engine::cuda
