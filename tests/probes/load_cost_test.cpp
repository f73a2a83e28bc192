// Cost: the price table, GPU-name lookup, $/hour and $ per 1M good tokens by hand; NVML absent.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "effitune/probes/cost.h"

namespace effitune::probes {
namespace {

TEST(Cost, PriceTable) {
  auto t = parse_price_table("H100=2.49,H200=3.19,cpu_core=0.04,kwh=0.15");
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_EQ(t->usd_per_gpu_hour.size(), 2u);
  EXPECT_DOUBLE_EQ(t->usd_per_cpu_core_hour, 0.04);
  EXPECT_DOUBLE_EQ(*t->usd_per_kwh, 0.15);
  EXPECT_DOUBLE_EQ(gpu_price_per_hour(*t, "NVIDIA H100 80GB HBM3").value(), 2.49);
  EXPECT_DOUBLE_EQ(gpu_price_per_hour(*t, "H200").value(), 3.19);
  auto missing = gpu_price_per_hour(*t, "NVIDIA A100-SXM4-40GB");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("H100, H200"), std::string::npos);
  EXPECT_FALSE(parse_price_table("H100").ok());
  EXPECT_FALSE(parse_price_table("H100=-1").ok());
  EXPECT_FALSE(parse_price_table("H100=abc").ok());
  EXPECT_FALSE(parse_price_table("H100=1,H100=2").ok());
  EXPECT_FALSE(parse_price_table("").ok());
}

TEST(Cost, GpuDeploymentWithEnergy) {
  PriceTable t = parse_price_table("H100=2.5,kwh=0.2").value();
  CostInput in;
  in.deployment = {"H100", 2, 0, 3};  // 2 GPUs per replica, 3 replicas
  in.mean_power_w = 700;              // one replica's GPUs
  in.good_output_tokens = 360000;     // in 600 s: 600 tokens/s = 2.16M tokens/hour per replica
  in.measured_s = 600;
  auto r = compute_cost(t, in);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_DOUBLE_EQ(r->hardware_usd_per_hour, 3 * 2 * 2.5);    // 15
  EXPECT_TRUE(r->energy_known);
  EXPECT_DOUBLE_EQ(*r->energy_usd_per_hour, 3 * 0.7 * 0.2);  // 0.42
  EXPECT_DOUBLE_EQ(r->usd_per_hour, 15.42);
  // Per replica 5.14 $/hour over 2.16M tokens/hour: 2.3796... $ per 1M.
  EXPECT_NEAR(*r->usd_per_million_good_tokens, 5.14 / 2.16, 1e-12);
}

TEST(Cost, UnknownEnergyIsNeverZero) {
  PriceTable t = parse_price_table("H100=2.5,kwh=0.2").value();
  CostInput in;
  in.deployment = {"H100", 1, 0, 1};
  in.measured_s = 10;
  auto r = compute_cost(t, in);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->energy_known);
  EXPECT_FALSE(r->energy_usd_per_hour.has_value());
  EXPECT_FALSE(r->usd_per_million_good_tokens.has_value());  // no good tokens: no per-token cost
  EXPECT_DOUBLE_EQ(r->usd_per_hour, 2.5);
}

TEST(Cost, CpuCoreHours) {
  PriceTable t = parse_price_table("cpu_core=0.05").value();
  CostInput in;
  in.deployment.cpu_cores_per_replica = 2;
  in.good_output_tokens = 3600;
  in.measured_s = 3600;  // 1 token/s = 3600 tokens/hour
  auto r = compute_cost(t, in);
  ASSERT_TRUE(r.ok());
  EXPECT_DOUBLE_EQ(r->usd_per_hour, 0.1);
  EXPECT_NEAR(*r->usd_per_million_good_tokens, 0.1 / 3600 * 1e6, 1e-9);
  in.deployment.gpus_per_replica = 1;
  in.deployment.gpu_model = "L4";
  EXPECT_EQ(compute_cost(t, in).status().code(), StatusCode::kNotFound);
}

TEST(Cost, PowerMeterOpensOrSaysWhy) {
  std::string why;
  auto meter = PowerMeter::open({}, &why);
  if (!meter) {
    EXPECT_FALSE(why.empty());
    GTEST_SKIP() << "no NVML here: " << why;
  }
  EXPECT_FALSE(meter->gpu_names().empty());
  meter->start(0.02);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto e = meter->stop();
  ASSERT_TRUE(e.has_value());
  EXPECT_GT(e->mean_power_w, 1.0);
  EXPECT_GT(e->joules, 0.0);
}

}  // namespace
}  // namespace effitune::probes
