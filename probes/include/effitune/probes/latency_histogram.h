// LatencyHistogram: an HDR-style log-bucketed histogram of latencies in milliseconds.
//
// Values are recorded as whole microseconds. Below 2048 us every microsecond has its own bucket;
// above, each power-of-two range is split into 1024 equal buckets, so a bucket is at most 2^-10
// (0.1%) of its value wide, like HdrHistogram with 3 significant digits. Memory is fixed (about
// 220 KB) whatever the count, so per-token latencies of long runs fit. Not thread-safe.
#pragma once

#include <cstdint>
#include <vector>

namespace effitune::probes {

class LatencyHistogram {
 public:
  // Values of 2^36 us (about 19 hours) and above are clamped to the top bucket; negative ones to 0.
  static constexpr int64_t kMaxMicros = (int64_t{1} << 36) - 1;

  LatencyHistogram();
  void record_ms(double ms);
  void merge(const LatencyHistogram& other);

  uint64_t count() const { return count_; }
  double min_ms() const;  // exact (to the microsecond); 0 when empty
  double max_ms() const;  // exact (to the microsecond); 0 when empty
  double mean_ms() const;  // exact (to the microsecond); 0 when empty

  // Nearest-rank quantile, q in [0, 1]: the smallest recorded value v with count(<= v) >=
  // ceil(q * count) (at least rank 1), returned as the lowest value of v's bucket, clamped to
  // [min_ms, max_ms]. Exact for values below 2.048 ms, for multiples of the bucket width, and at the
  // extremes; otherwise at most 0.1% below the recorded value. 0 when empty.
  double quantile_ms(double q) const;

  // Bucket index and lowest microsecond value of a bucket (exposed for tests).
  static int bucket_of(int64_t micros);
  static int64_t bucket_lowest(int bucket);

 private:
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  int64_t min_us_ = 0, max_us_ = 0;
  long double sum_us_ = 0;
};

}  // namespace effitune::probes
