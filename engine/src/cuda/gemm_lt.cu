#include "gemm_lt.cuh"

#include <algorithm>
#include <cstdint>
#include <string>

#include "common.cuh"

namespace effitune::engine::cuda {
namespace {

constexpr int kCandidates = 8;
constexpr int kTimedReps = 5;

Status lt_status(cublasStatus_t s, const char* what) {
  if (s == CUBLAS_STATUS_SUCCESS) return {};
  return internal_error(std::string("cublasLt: ") + what + ": status " + std::to_string(static_cast<int>(s)));
}

// The largest power of two (<= 256) that divides every address: the alignment the algorithms may assume.
int alignment(const LtProblem& p) {
  uintptr_t bits = reinterpret_cast<uintptr_t>(p.w) | reinterpret_cast<uintptr_t>(p.x) | reinterpret_cast<uintptr_t>(p.y);
  const int elem_ab = p.ab == CUDA_R_32F ? 4 : 2, elem_c = p.c == CUDA_R_32F ? 4 : 2;
  bits |= static_cast<uintptr_t>(p.ldb * elem_ab) | static_cast<uintptr_t>(p.ldc * elem_c) |
          static_cast<uintptr_t>(p.k * elem_ab);
  int a = 256;
  while (a > 1 && (bits % a) != 0) a /= 2;
  return a;
}

}  // namespace

LtTuner::~LtTuner() {
  for (auto& [key, plan] : plans_) {
    cublasLtMatmulDescDestroy(plan.desc);
    cublasLtMatrixLayoutDestroy(plan.a);
    cublasLtMatrixLayoutDestroy(plan.b);
    cublasLtMatrixLayoutDestroy(plan.c);
  }
  cudaFree(scratch_);
  if (lt_) cublasLtDestroy(lt_);
}

Status LtTuner::init(void* workspace, size_t workspace_bytes) {
  workspace_ = workspace;
  workspace_bytes_ = workspace_bytes;
  return lt_status(cublasLtCreate(&lt_), "create");
}

Status LtTuner::tune(const LtProblem& p, int align, Plan& plan, cudaStream_t s) {
  // Column-major view of the row-major product: Y^T [n, t] = W [k, n]^T X^T [k, t].
  EFFITUNE_RETURN_IF_ERROR(lt_status(cublasLtMatmulDescCreate(&plan.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), "desc"));
  const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  EFFITUNE_RETURN_IF_ERROR(lt_status(
      cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta), "transa"));
  EFFITUNE_RETURN_IF_ERROR(lt_status(
      cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb), "transb"));
  EFFITUNE_RETURN_IF_ERROR(lt_status(cublasLtMatrixLayoutCreate(&plan.a, p.ab, p.k, p.n, p.k), "layout a"));
  EFFITUNE_RETURN_IF_ERROR(lt_status(cublasLtMatrixLayoutCreate(&plan.b, p.ab, p.k, p.t, p.ldb), "layout b"));
  EFFITUNE_RETURN_IF_ERROR(lt_status(cublasLtMatrixLayoutCreate(&plan.c, p.c, p.n, p.t, p.ldc), "layout c"));

  cublasLtMatmulPreference_t pref = nullptr;
  EFFITUNE_RETURN_IF_ERROR(lt_status(cublasLtMatmulPreferenceCreate(&pref), "preference"));
  const uint32_t a32 = static_cast<uint32_t>(align);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace_bytes_,
                                       sizeof workspace_bytes_);
  for (auto attr : {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                    CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
    cublasLtMatmulPreferenceSetAttribute(pref, attr, &a32, sizeof a32);
  cublasLtMatmulHeuristicResult_t found[kCandidates];
  int n_found = 0;
  const cublasStatus_t hs =
      cublasLtMatmulAlgoGetHeuristic(lt_, plan.desc, plan.a, plan.b, plan.c, plan.c, pref, kCandidates, found, &n_found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (hs != CUBLAS_STATUS_SUCCESS || n_found == 0) return {};  // not usable: the caller's GEMM stays

  // Time every candidate into a scratch output (same shape, type and ld as Y; beta as the caller's).
  const size_t out_bytes = static_cast<size_t>(p.ldc) * p.t * (p.c == CUDA_R_32F ? 4 : 2);
  if (out_bytes > scratch_bytes_) {
    cudaFree(scratch_);
    scratch_ = nullptr;
    scratch_bytes_ = 0;
    CUDA_RETURN_IF_ERROR(cudaMalloc(&scratch_, out_bytes));
    scratch_bytes_ = out_bytes;
  }
  CUDA_RETURN_IF_ERROR(cudaMemsetAsync(scratch_, 0, out_bytes, s));
  cudaEvent_t e0 = nullptr, e1 = nullptr;
  CUDA_RETURN_IF_ERROR(cudaEventCreate(&e0));
  CUDA_RETURN_IF_ERROR(cudaEventCreate(&e1));
  const float alpha = 1.0f;
  float best_ms = 0.0f;
  for (int i = 0; i < n_found; ++i) {
    auto launch = [&] {
      return cublasLtMatmul(lt_, plan.desc, &alpha, p.w, plan.a, p.x, plan.b, &p.beta, scratch_, plan.c, scratch_,
                            plan.c, &found[i].algo, workspace_, workspace_bytes_, s);
    };
    if (launch() != CUBLAS_STATUS_SUCCESS) continue;  // warm-up; an algorithm that refuses is skipped
    cudaEventRecord(e0, s);
    bool ok = true;
    for (int r = 0; r < kTimedReps && ok; ++r) ok = launch() == CUBLAS_STATUS_SUCCESS;
    cudaEventRecord(e1, s);
    if (!ok || cudaEventSynchronize(e1) != cudaSuccess) continue;
    float ms = 0.0f;
    cudaEventElapsedTime(&ms, e0, e1);
    if (!plan.usable || ms < best_ms) {
      plan.algo = found[i].algo;
      plan.usable = true;
      best_ms = ms;
    }
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  cudaGetLastError();
  return {};
}

Result<bool> LtTuner::run(const LtProblem& p, cudaStream_t s) {
  const int align = alignment(p);
  const Key key{p.n, p.t, p.k, p.ldb, p.ldc, static_cast<int>(p.ab), static_cast<int>(p.c), p.beta != 0.0f, align};
  auto it = plans_.find(key);
  if (it == plans_.end()) {
    cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
    CUDA_RETURN_IF_ERROR(cudaStreamIsCapturing(s, &capturing));
    if (capturing != cudaStreamCaptureStatusNone) return false;
    it = plans_.emplace(key, Plan{}).first;
    EFFITUNE_RETURN_IF_ERROR(tune(p, align, it->second, s));
  }
  const Plan& plan = it->second;
  if (!plan.usable) return false;
  const float alpha = 1.0f;
  EFFITUNE_RETURN_IF_ERROR(lt_status(cublasLtMatmul(lt_, plan.desc, &alpha, p.w, plan.a, p.x, plan.b, &p.beta, p.y,
                                                    plan.c, p.y, plan.c, &plan.algo, workspace_, workspace_bytes_, s),
                                     "matmul"));
  return true;
}

}  // namespace effitune::engine::cuda
