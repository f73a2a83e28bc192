#include "sampling_ops.h"

#include <algorithm>
#include <chrono>
#include <string>

#include "common.cuh"
#include "sampling.cuh"

namespace effitune::engine::cuda_ops {
namespace {

using namespace effitune::engine::cuda;

template <typename T>
struct Dev {
  T* p = nullptr;
  ~Dev() { cudaFree(p); }
  Status alloc(size_t n) { return cuda_status(cudaMalloc(&p, std::max<size_t>(n, 1) * sizeof(T)), "cudaMalloc"); }
  Status put(std::span<const T> host) {
    EFFITUNE_RETURN_IF_ERROR(alloc(host.size()));
    return cuda_status(cudaMemcpy(p, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice), "upload");
  }
};

Status available() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    cudaGetLastError();
    return unavailable("no CUDA device");
  }
  return {};
}

Status check_params(std::span<const RowSampling> params) {
  for (size_t i = 0; i < params.size(); ++i) {
    const Status s = validate(params[i]);
    if (!s.ok()) return s.with_context("params[" + std::to_string(i) + "]");
  }
  return {};
}

template <typename T>
Status fetch(std::vector<T>& out, const Dev<T>& d, size_t n) {
  CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize());
  CUDA_RETURN_IF_LAUNCH_ERROR("sampling op");
  out.resize(n);
  CUDA_RETURN_IF_ERROR(cudaMemcpy(out.data(), d.p, n * sizeof(T), cudaMemcpyDeviceToHost));
  return {};
}

// Uploads the logits and knobs, draws `rows` tokens (row r at r x row_stride; -1 = vocab), fetches them.
Status draw(std::span<const float> logits, int32_t rows, int32_t vocab, int64_t row_stride,
            std::span<const RowSampling> params, std::vector<int32_t>& out) {
  EFFITUNE_RETURN_IF_ERROR(check_params(params));
  Dev<float> l;
  Dev<RowSampling> p;
  Dev<int32_t> o;
  EFFITUNE_RETURN_IF_ERROR(l.put(logits));
  EFFITUNE_RETURN_IF_ERROR(p.put(params));
  EFFITUNE_RETURN_IF_ERROR(o.alloc(rows));
  launch_sample(l.p, rows, vocab, p.p, o.p, nullptr, row_stride);
  return fetch(out, o, rows);
}

}  // namespace

Status sample_rows(std::span<const float> logits, int32_t rows, std::span<const RowSampling> params,
                   std::vector<int32_t>& out) {
  EFFITUNE_RETURN_IF_ERROR(available());
  if (rows < 1 || logits.size() % rows != 0 || logits.empty())
    return invalid_argument("sample_rows: " + std::to_string(logits.size()) + " logits are not " + std::to_string(rows) + " rows");
  if (params.size() != static_cast<size_t>(rows))
    return invalid_argument("sample_rows: " + std::to_string(params.size()) + " params for " + std::to_string(rows) + " rows");
  return draw(logits, rows, static_cast<int32_t>(logits.size() / rows), -1, params, out);
}

Status sample_one_row(std::span<const float> logits, std::span<const RowSampling> params, std::vector<int32_t>& out) {
  EFFITUNE_RETURN_IF_ERROR(available());
  if (logits.empty()) return invalid_argument("sample_one_row: empty logits");
  // Row stride 0: every draw reads the same row.
  return draw(logits, static_cast<int32_t>(params.size()), static_cast<int32_t>(logits.size()), 0, params, out);
}

Status topk_logprobs(std::span<const float> logits, int32_t rows, int32_t k, std::vector<int32_t>& ids,
                     std::vector<float>& logprobs) {
  EFFITUNE_RETURN_IF_ERROR(available());
  if (rows < 1 || logits.size() % rows != 0 || logits.empty())
    return invalid_argument("topk_logprobs: " + std::to_string(logits.size()) + " logits are not " + std::to_string(rows) + " rows");
  const int64_t vocab = static_cast<int64_t>(logits.size()) / rows;
  if (k < 1 || k > kMaxTopK || k > vocab)
    return invalid_argument("topk_logprobs: k must be in [1, min(" + std::to_string(kMaxTopK) + ", vocab)], got " + std::to_string(k));
  Dev<float> l, lp;
  Dev<int32_t> o;
  EFFITUNE_RETURN_IF_ERROR(l.put(logits));
  EFFITUNE_RETURN_IF_ERROR(o.alloc(static_cast<size_t>(rows) * k));
  EFFITUNE_RETURN_IF_ERROR(lp.alloc(static_cast<size_t>(rows) * k));
  launch_topk_logprobs(l.p, rows, static_cast<int32_t>(vocab), k, o.p, lp.p, nullptr);
  EFFITUNE_RETURN_IF_ERROR(fetch(ids, o, static_cast<size_t>(rows) * k));
  return fetch(logprobs, lp, static_cast<size_t>(rows) * k);
}

Result<SampleTiming> time_sample(std::span<const float> logits, int32_t rows, const RowSampling& params, int32_t reps) {
  EFFITUNE_RETURN_IF_ERROR(available());
  if (rows < 1 || logits.size() % rows != 0 || logits.empty())
    return invalid_argument("time_sample: " + std::to_string(logits.size()) + " logits are not " + std::to_string(rows) + " rows");
  if (reps < 1) return invalid_argument("time_sample: reps must be >= 1");
  EFFITUNE_RETURN_IF_ERROR(validate(params));
  const int32_t vocab = static_cast<int32_t>(logits.size() / rows);
  Dev<float> l;
  Dev<RowSampling> p;
  Dev<int32_t> o;
  EFFITUNE_RETURN_IF_ERROR(l.put(logits));
  EFFITUNE_RETURN_IF_ERROR(o.alloc(rows));
  std::vector<RowSampling> host(rows, params);
  EFFITUNE_RETURN_IF_ERROR(p.put(host));
  RowSampling* pinned = nullptr;
  CUDA_RETURN_IF_ERROR(cudaMallocHost(&pinned, rows * sizeof(RowSampling)));
  std::vector<int32_t> ids(rows);
  std::vector<float> copy(logits.size());
  std::vector<double> dev_us, copy_us;
  auto now = [] { return std::chrono::steady_clock::now(); };
  auto us = [](auto a, auto b) { return std::chrono::duration<double, std::micro>(b - a).count(); };
  auto once = [&](uint64_t counter) -> Status {
    // What forward_sample adds to a step: the params' upload, the kernel, the ids' copy back.
    for (int32_t i = 0; i < rows; ++i) pinned[i] = params, pinned[i].counter = counter;
    const auto t0 = now();
    CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(p.p, pinned, rows * sizeof(RowSampling), cudaMemcpyHostToDevice, nullptr));
    launch_sample(l.p, rows, vocab, p.p, o.p, nullptr);
    CUDA_RETURN_IF_LAUNCH_ERROR("sample");
    CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(ids.data(), o.p, rows * sizeof(int32_t), cudaMemcpyDeviceToHost, nullptr));
    CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(nullptr));
    const auto t1 = now();
    CUDA_RETURN_IF_ERROR(cudaMemcpy(copy.data(), l.p, copy.size() * 4, cudaMemcpyDeviceToHost));
    const auto t2 = now();
    dev_us.push_back(us(t0, t1));
    copy_us.push_back(us(t1, t2));
    return {};
  };
  auto all = [&]() -> Status {
    for (int32_t r = 0; r <= reps; ++r) EFFITUNE_RETURN_IF_ERROR(once(static_cast<uint64_t>(r)));
    return {};
  };
  const Status st = all();
  cudaFreeHost(pinned);
  EFFITUNE_RETURN_IF_ERROR(st);
  dev_us.erase(dev_us.begin());  // the warm-up
  copy_us.erase(copy_us.begin());
  std::sort(dev_us.begin(), dev_us.end());
  std::sort(copy_us.begin(), copy_us.end());
  return SampleTiming{dev_us[dev_us.size() / 2], copy_us[copy_us.size() / 2]};
}

}  // namespace effitune::engine::cuda_ops
