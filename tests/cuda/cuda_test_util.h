// Helpers shared by the CUDA tests: skipping without a device; NMSE and seeded random vectors
// (support/numerics.h).
#pragma once

#include <gtest/gtest.h>

#include "../../engine/src/cuda/cuda_backend_factory.h"
#include "support/numerics.h"

#define EFFITUNE_SKIP_WITHOUT_CUDA() \
  if (!::effitune::engine::cuda_backend_available()) GTEST_SKIP() << "no CUDA device (or a build without CUDA)"
