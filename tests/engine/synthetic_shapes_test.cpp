// The random-weight shapes of `effitune bench`: the rank shapes are what one rank of Llama-3-8B holds
// under tensor parallelism (tp/shard.h: heads, KV heads, FFN and vocabulary split N ways, head_dim
// kept), so that a rank's compute can be timed on one GPU.
#include <gtest/gtest.h>

#include "effitune/engine/model_loader.h"

namespace effitune::engine {
namespace {

TEST(SyntheticShapes, RankShapesAreTheFullModelSplitNWays) {
  const auto full = synthetic_model_config("llama-8b");
  ASSERT_TRUE(full);
  for (int n : {2, 4}) {
    const auto r = synthetic_model_config("llama-8b-tp" + std::to_string(n) + "-rank");
    ASSERT_TRUE(r) << n;
    EXPECT_EQ(r->dim, full->dim);
    EXPECT_EQ(r->n_layers, full->n_layers);
    EXPECT_EQ(r->n_heads * n, full->n_heads);
    EXPECT_EQ(r->n_kv_heads * n, full->n_kv_heads);
    EXPECT_EQ(r->hidden_dim * n, full->hidden_dim);
    EXPECT_EQ(r->vocab_size * n, full->vocab_size);
    EXPECT_EQ(r->head_dim(), full->head_dim());
    EXPECT_EQ(r->q_dim() * n, full->q_dim());
    EXPECT_FALSE(r->tied_output);
  }
  EXPECT_FALSE(synthetic_model_config("llama-8b-tp3-rank"));
}

}  // namespace
}  // namespace effitune::engine
