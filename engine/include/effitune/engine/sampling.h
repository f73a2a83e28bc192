// Decoding strategies: greedy, temperature with top-k / top-p (nucleus), and beam search.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "effitune/common/status.h"

namespace effitune::engine {

enum class DecodingStrategy { kGreedy, kSample, kBeam };

struct DecodingConfig {
  DecodingStrategy strategy = DecodingStrategy::kGreedy;
  float temperature = 1.0f;   // kSample: logits / temperature; <= 0 means greedy
  int32_t top_k = 0;          // kSample: keep the k most likely; 0 = all
  float top_p = 1.0f;         // kSample: smallest set whose probability reaches p; 1 = all
  int32_t beam_width = 1;     // kBeam
  float length_penalty = 1.0f;  // kBeam: score = logprob / len^length_penalty (GNMT-style without the +5)
  uint64_t seed = 0;
  int32_t max_new_tokens = 64;  // the response budget
  std::vector<std::string> stop_strings;
  bool stop_at_eos = true;
};

// Validates the knobs; kInvalidArgument naming the field.
Status validate(const DecodingConfig& config);
const char* strategy_name(DecodingStrategy s);

// Picks tokens from logits for greedy and sampled decoding. Same seed, same logits -> same tokens.
// Not thread-safe (owns its RNG).
class Sampler {
 public:
  explicit Sampler(const DecodingConfig& config);
  int32_t sample(std::span<const float> logits);

 private:
  DecodingConfig config_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> scratch_;
};

// One row's knobs for a device sampler (the CUDA backend's forward_sample): Sampler's semantics, but
// the random number comes from a counter-based generator, so the token depends only on (logits,
// seed, counter) and not on the batch or the order of draws. A plain struct: it is copied to the GPU.
struct RowSampling {
  float temperature = 0.0f;  // <= 0 (or top_k == 1): argmax, lowest index on ties
  int32_t top_k = 0;         // keep the k most likely (ties at the boundary to lower ids); 0 = all
  float top_p = 1.0f;        // then the smallest prefix whose probability reaches p; 1 = all
  uint64_t seed = 0;
  uint64_t counter = 0;      // the draw's index in its stream (the scheduler: tokens generated so far)
};

// The row knobs of `config` for its `counter`-th token: greedy and temperature 0 give argmax.
RowSampling row_sampling(const DecodingConfig& config, uint64_t counter);
// kInvalidArgument naming the field when a device sampler cannot take `p`.
Status validate(const RowSampling& p);
// True when `p` takes the argmax whatever the logits (temperature <= 0, or top_k 1): a device
// sampler may then run its greedy path for the row.
inline bool is_argmax(const RowSampling& p) { return !(p.temperature > 0.0f) || p.top_k == 1; }

// Greedy argmax (lowest index wins ties).
int32_t argmax(std::span<const float> logits);
// log-softmax of `logits` into `out` (same size), computed stably in double then stored as float.
void log_softmax(std::span<const float> logits, std::span<float> out);

}  // namespace effitune::engine
