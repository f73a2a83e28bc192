// CudaBackend's device sampler: one forward pass (run() leaves the logits in logits_), then the
// per-row knobs go up in one copy from pinned memory and only token ids (or k ids and logprobs per
// step) come back, instead of vocab floats per row.
#include <algorithm>
#include <string>

#include "common.cuh"
#include "cuda_backend.cuh"
#include "sampling.cuh"

namespace effitune::engine::cuda {
namespace {

// Logits rows of the steps: every token's with all_logits, else the last token's.
int64_t rows_of(std::span<const SequenceStep> steps) {
  int64_t rows = 0;
  for (const SequenceStep& s : steps) rows += s.all_logits ? static_cast<int64_t>(s.tokens.size()) : 1;
  return rows;
}

}  // namespace

Status CudaBackend::forward_sample(std::span<const SequenceStep> steps, std::span<const RowSampling> params,
                                   std::vector<int32_t>& tokens) {
  if (params.size() != steps.size())
    return invalid_argument("forward_sample: " + std::to_string(params.size()) + " sampling params for " +
                            std::to_string(steps.size()) + " steps (one per step)");
  for (size_t i = 0; i < params.size(); ++i) {
    const Status s = validate(params[i]);
    if (!s.ok()) return s.with_context("forward_sample: step " + std::to_string(i));
  }
  // Every row argmax (the bench, evaluation suites, greedy serving): the greedy path gives the same
  // tokens with less work. Under tensor parallelism it exchanges one argmax key per row and rank,
  // where sampling must first assemble every rank's logits: at batch 64 and a 128k vocabulary a
  // zeroing pass and a 33 MB all-reduce, 0.17 ms of a 4.3 ms TP=2 step (8B, H100s, session 10).
  // Every rank sees the same params, so all take the same path. EFFITUNE_SAMPLE_GREEDY_ROUTE=0: off.
  if (sample_argmax_route_ && std::all_of(params.begin(), params.end(), is_argmax)) return forward_greedy(steps, tokens);
  const int64_t rows = rows_of(steps);
  // Before run(): it may allocate, which no tensor-parallel rank may do after the step gate.
  EFFITUNE_RETURN_IF_ERROR(run(steps, false, sampling_.reserve(rows, 0, stream_)));
  // A step's earlier rows (all_logits) take the argmax: cheap, and never read.
  RowSampling* host = sampling_.host_params();
  int64_t r = 0;
  for (size_t i = 0; i < steps.size(); ++i) {
    const int64_t n = steps[i].all_logits ? static_cast<int64_t>(steps[i].tokens.size()) : 1;
    for (int64_t j = 0; j + 1 < n; ++j) host[r++] = RowSampling{};
    host[r++] = params[i];
  }
  CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(sampling_.params(), host, rows * sizeof(RowSampling), cudaMemcpyHostToDevice, stream_));
  launch_sample(logits_, static_cast<int32_t>(rows), cfg_.vocab_size, sampling_.params(), tokens_out_, stream_);
  CUDA_RETURN_IF_LAUNCH_ERROR("sample");
  std::vector<int32_t> all(rows);
  CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(all.data(), tokens_out_, rows * 4, cudaMemcpyDeviceToHost, stream_));
  EFFITUNE_RETURN_IF_ERROR(finish_step("forward_sample"));
  tokens.clear();
  r = 0;
  for (const SequenceStep& s : steps) {
    r += s.all_logits ? static_cast<int64_t>(s.tokens.size()) : 1;
    tokens.push_back(all[r - 1]);
  }
  return {};
}

Status CudaBackend::forward_topk(std::span<const SequenceStep> steps, int32_t k, std::vector<int32_t>& ids,
                                 std::vector<float>& logprobs) {
  if (k < 1 || k > kMaxTopK || k > cfg_.vocab_size)
    return invalid_argument("forward_topk: k must be in [1, " + std::to_string(std::min(kMaxTopK, cfg_.vocab_size)) +
                            "], got " + std::to_string(k));
  const int64_t rows = rows_of(steps);
  EFFITUNE_RETURN_IF_ERROR(run(steps, false, sampling_.reserve(rows, k, stream_)));  // see forward_sample
  launch_topk_logprobs(logits_, static_cast<int32_t>(rows), cfg_.vocab_size, k, sampling_.ids(), sampling_.logprobs(),
                       stream_);
  CUDA_RETURN_IF_LAUNCH_ERROR("top-k logprobs");
  std::vector<int32_t> all_ids(rows * k);
  std::vector<float> all_lp(rows * k);
  CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(all_ids.data(), sampling_.ids(), all_ids.size() * 4, cudaMemcpyDeviceToHost, stream_));
  CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(all_lp.data(), sampling_.logprobs(), all_lp.size() * 4, cudaMemcpyDeviceToHost, stream_));
  EFFITUNE_RETURN_IF_ERROR(finish_step("forward_topk"));
  ids.clear();
  logprobs.clear();
  int64_t r = 0;
  for (const SequenceStep& s : steps) {
    r += s.all_logits ? static_cast<int64_t>(s.tokens.size()) : 1;
    ids.insert(ids.end(), all_ids.begin() + (r - 1) * k, all_ids.begin() + r * k);
    logprobs.insert(logprobs.end(), all_lp.begin() + (r - 1) * k, all_lp.begin() + r * k);
  }
  return {};
}

}  // namespace effitune::engine::cuda
