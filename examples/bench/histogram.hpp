// histogram.hpp: an HDR-style log-linear histogram of nanosecond values.
//
// Values below 2^kSubBits are counted exactly; above, each power of two is split into 2^kSubBits
// linear buckets, so a reported percentile is within 1/2^kSubBits (0.8%) of the true value, from
// nanoseconds to hours, in a fixed 58 KiB and with one add per sample.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace bench {

class Histogram {
 public:
  static constexpr int kSubBits = 7;
  static constexpr uint64_t kSub = 1ull << kSubBits;
  static constexpr size_t kBuckets = kSub + (64 - kSubBits) * kSub;

  Histogram() : buckets_(kBuckets, 0) {}

  void add(uint64_t v) {
    ++buckets_[index(v)];
    ++count_;
    sum_ += v;
    if (v > max_) max_ = v;
    if (v < min_) min_ = v;
  }
  void merge(const Histogram& o) {
    for (size_t i = 0; i < kBuckets; ++i) buckets_[i] += o.buckets_[i];
    count_ += o.count_;
    sum_ += o.sum_;
    max_ = std::max(max_, o.max_);
    min_ = std::min(min_, o.min_);
  }
  void clear() {
    std::fill(buckets_.begin(), buckets_.end(), 0);
    count_ = sum_ = max_ = 0;
    min_ = UINT64_MAX;
  }

  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  double mean() const {
    return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0;
  }

  // The value below which `p` (0..100) percent of the samples lie (the bucket's upper edge,
  // capped at the exact maximum).
  uint64_t percentile(double p) const {
    if (!count_) return 0;
    uint64_t rank = static_cast<uint64_t>(p / 100.0 * static_cast<double>(count_) + 0.5);
    if (rank < 1) rank = 1;
    if (rank > count_) rank = count_;
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += buckets_[i];
      if (seen >= rank) return std::min(upper(i), max_);
    }
    return max_;
  }

  // Calls f(upper edge, count) for each non-empty bucket, in increasing order: enough to merge
  // histograms kept by different processes and take a percentile of the whole (seeds.sh).
  template <typename F>
  void for_each_bucket(F f) const {
    for (size_t i = 0; i < kBuckets; ++i)
      if (buckets_[i]) f(upper(i), buckets_[i]);
  }

 private:
  static size_t index(uint64_t v) {
    if (v < kSub) return static_cast<size_t>(v);
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - kSubBits;
    uint64_t sub = (v >> shift) - kSub;  // 0 .. kSub-1
    return static_cast<size_t>(kSub + static_cast<uint64_t>(shift) * kSub + sub);
  }
  static uint64_t upper(size_t i) {
    if (i < kSub) return i;
    uint64_t shift = (i - kSub) / kSub;
    uint64_t sub = (i - kSub) % kSub;
    return ((kSub + sub + 1) << shift) - 1;
  }

  std::vector<uint64_t> buckets_;
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t max_ = 0;
  uint64_t min_ = UINT64_MAX;
};

}  // namespace bench
