// Token selection on the device, so that only token ids cross the bus.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace effitune::engine::cuda {

// out[r] = argmax of logits row r (lowest index on ties, as engine::argmax).
void launch_argmax(const float* logits, int32_t rows, int32_t vocab, int32_t* out, cudaStream_t s);

}  // namespace effitune::engine::cuda
