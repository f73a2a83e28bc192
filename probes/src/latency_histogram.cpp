// HDR-style histogram: exact microsecond buckets below 2^11, then 1024 buckets per power of two.
#include "effitune/probes/latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace effitune::probes {
namespace {

constexpr int kLinearBits = 11;                  // values below 2048 us have their own bucket
constexpr int64_t kLinear = int64_t{1} << kLinearBits;
constexpr int kSubBits = kLinearBits - 1;         // 1024 buckets per octave above
constexpr int64_t kSub = int64_t{1} << kSubBits;
constexpr int kOctaves = 36 - kLinearBits;        // octaves [2^11, 2^36)
constexpr int kBuckets = static_cast<int>(kLinear + kOctaves * kSub);

int64_t to_micros(double ms) {
  if (!(ms > 0)) return 0;  // negatives and NaN
  const double us = std::round(ms * 1000.0);
  if (us >= static_cast<double>(LatencyHistogram::kMaxMicros)) return LatencyHistogram::kMaxMicros;
  return static_cast<int64_t>(us);
}

}  // namespace

LatencyHistogram::LatencyHistogram() : counts_(kBuckets, 0) {}

int LatencyHistogram::bucket_of(int64_t us) {
  us = std::clamp<int64_t>(us, 0, kMaxMicros);
  if (us < kLinear) return static_cast<int>(us);
  const int octave = std::bit_width(static_cast<uint64_t>(us)) - 1;  // floor(log2), >= 11
  const int shift = octave - kSubBits;                               // >= 1
  const int64_t slot = (us >> shift) - kSub;                         // [0, 1024)
  return static_cast<int>(kLinear + (octave - kLinearBits) * kSub + slot);
}

int64_t LatencyHistogram::bucket_lowest(int bucket) {
  if (bucket < kLinear) return bucket;
  const int rel = bucket - static_cast<int>(kLinear);
  const int octave = rel / static_cast<int>(kSub) + kLinearBits;
  const int64_t slot = rel % kSub;
  return (kSub + slot) << (octave - kSubBits);
}

void LatencyHistogram::record_ms(double ms) {
  const int64_t us = to_micros(ms);
  ++counts_[bucket_of(us)];
  if (count_ == 0 || us < min_us_) min_us_ = us;
  if (count_ == 0 || us > max_us_) max_us_ = us;
  ++count_;
  sum_us_ += us;
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  if (other.count_ == 0) return;
  for (int i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  min_us_ = count_ == 0 ? other.min_us_ : std::min(min_us_, other.min_us_);
  max_us_ = count_ == 0 ? other.max_us_ : std::max(max_us_, other.max_us_);
  count_ += other.count_;
  sum_us_ += other.sum_us_;
}

double LatencyHistogram::min_ms() const { return count_ ? min_us_ / 1000.0 : 0.0; }
double LatencyHistogram::max_ms() const { return count_ ? max_us_ / 1000.0 : 0.0; }
double LatencyHistogram::mean_ms() const { return count_ ? static_cast<double>(sum_us_ / count_) / 1000.0 : 0.0; }

double LatencyHistogram::quantile_ms(double q) const {
  if (count_ == 0) return 0.0;
  q = std::clamp(q, 0.0, 1.0);
  // The (1 - 1e-12) keeps q*n that is an integer in exact arithmetic from rounding up a rank.
  uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_) * (1 - 1e-12)));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::clamp(bucket_lowest(i), min_us_, max_us_) / 1000.0;
  }
  return max_us_ / 1000.0;
}

}  // namespace effitune::probes
