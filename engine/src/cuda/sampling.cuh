// Token selection on the device, so that only token ids cross the bus.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "effitune/common/status.h"
#include "effitune/engine/sampling.h"

namespace effitune::engine::cuda {

// out[r] = argmax of logits row r (lowest index on ties, as engine::argmax).
void launch_argmax(const float* logits, int32_t rows, int32_t vocab, int32_t* out, cudaStream_t s);
// keys[r] = the argmax of the first `width` logits of row r (rows `ld` floats apart) as a key in the
// head GEMV's format (gemv_detail::argmax_key: the logit's order-preserving bits, then the
// complemented column index), for tp_argmax.cuh's exchange.
void launch_argmax_keys(const float* logits, int32_t rows, int32_t width, int64_t ld, unsigned long long* keys,
                        cudaStream_t s);

// out[r] = a token drawn from logits row r with params[r] (device memory), one CTA per row, with
// Sampler's semantics: temperature <= 0 or top_k == 1 is the argmax; else the top_k most likely
// (ties at the boundary to lower ids), then the smallest prefix (by descending probability, lower id
// first) whose mass reaches top_p, then a draw with the 64 bits philox_u64(seed, counter). The same
// logits, seed and counter give the same token. `row_stride` (floats; < 0 = vocab) lets many draws
// read one row (0). Probabilities are exp((l - max) / T) in f32 held as 2^-40 fixed point, so the
// sums are exact integers and the result does not depend on the order of atomic additions.
void launch_sample(const float* logits, int32_t rows, int32_t vocab, const RowSampling* params, int32_t* out,
                   cudaStream_t s, int64_t row_stride = -1);

// The k largest log-softmax values of every row (k <= kMaxTopK, k <= vocab), descending, lower id
// first on ties: ids[r * k + j], logprobs[r * k + j].
inline constexpr int32_t kMaxTopK = 128;
void launch_topk_logprobs(const float* logits, int32_t rows, int32_t vocab, int32_t k, int32_t* ids, float* logprobs,
                          cudaStream_t s);

// The device sampler's per-backend buffers: per-row params (pinned staging and device copy) and the
// top-k outputs. Grows on demand; frees on destruction.
class SamplingBuffers {
 public:
  SamplingBuffers() = default;
  SamplingBuffers(const SamplingBuffers&) = delete;
  SamplingBuffers& operator=(const SamplingBuffers&) = delete;
  ~SamplingBuffers();

  // Room for `rows` params and `rows` x `k` top-k outputs. Synchronizes `s` before reallocating.
  Status reserve(int64_t rows, int32_t k, cudaStream_t s);
  RowSampling* host_params() { return host_params_; }
  RowSampling* params() { return params_; }
  int32_t* ids() { return ids_; }
  float* logprobs() { return logprobs_; }

 private:
  void release();
  int64_t rows_cap_ = 0, topk_cap_ = 0;
  RowSampling* host_params_ = nullptr;  // pinned
  RowSampling* params_ = nullptr;
  int32_t* ids_ = nullptr;
  float* logprobs_ = nullptr;
};

}  // namespace effitune::engine::cuda
