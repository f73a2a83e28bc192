// The model's weights on the device: every tensor in one allocation (an arena), q|k|v and
// gate|up concatenated per layer so that each is one matrix product, quantized rows repacked.
#pragma once

#include <cuda_runtime.h>

#include <memory>
#include <vector>

#include "device_types.cuh"
#include "effitune/common/status.h"
#include "effitune/engine/weights.h"

namespace effitune::engine::cuda {

struct DeviceLayer {
  float* attn_norm = nullptr;
  DeviceMatrix wqkv;  // [q_dim + 2 kv_dim, dim]
  DeviceMatrix wo;
  float* ffn_norm = nullptr;
  DeviceMatrix w_gu;  // [2 hidden, dim]: gate rows, then up rows
  DeviceMatrix w_down;
};

class DeviceModel {
 public:
  ~DeviceModel();
  DeviceModel(const DeviceModel&) = delete;
  DeviceModel& operator=(const DeviceModel&) = delete;

  // Chooses the activation type and each matrix's device kind, and sizes the arena; allocates
  // nothing. kInvalidArgument for shapes the kernels do not support.
  static Result<std::unique_ptr<DeviceModel>> plan(const ModelWeights& w);
  // Allocates the arena and fills it from the host views (converting types where planned).
  Status upload(const ModelWeights& w);
  // Allocates the arena and fills it with seeded random weights generated on the device.
  Status randomize(uint64_t seed, cudaStream_t s);

  ActType act() const { return act_; }
  int64_t bytes() const { return bytes_; }
  // Elements of the largest quantized matrix (the size of the bf16 dequant scratch), or 0.
  int64_t largest_quant_elems() const;

  DeviceMatrix emb;
  DeviceMatrix output;  // shares emb's storage when tied
  float* out_norm = nullptr;
  std::vector<DeviceLayer> layers;

 private:
  DeviceModel() = default;
  struct Part {  // one source view inside a destination matrix, at row offset `row0`
    TensorView view;
    int64_t row0;
  };
  struct Slot {
    DeviceMatrix* m = nullptr;  // a matrix, or
    float** norm = nullptr;     // a norm vector of `norm_len` floats
    int64_t norm_len = 0;
    std::vector<Part> parts;
  };
  void add_matrix(DeviceMatrix* m, WKind kind, std::vector<TensorView> parts);
  void add_norm(float** p, const TensorView& v);
  Status allocate();

  ActType act_ = ActType::kBF16;
  int64_t bytes_ = 0;
  void* arena_ = nullptr;
  std::vector<Slot> slots_;
};

// Uploads one host matrix as `kind` into a fresh allocation (*alloc, freed by the caller with
// cudaFree). Used by the per-op tests.
Status upload_single(const TensorView& v, WKind kind, DeviceMatrix& m, void** alloc);

}  // namespace effitune::engine::cuda
