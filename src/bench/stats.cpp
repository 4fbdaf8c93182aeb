#include "bench/stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace kiln::bench {

double percentile(const std::vector<double>& sorted, double q) {
  const double pos = q / 100.0 * (double)(sorted.size() - 1);
  const auto lo = (size_t)std::floor(pos);
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - (double)lo);
}

LatencySummary summarize(std::vector<double> samples) {
  LatencySummary s;
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  s.mean = std::accumulate(samples.begin(), samples.end(), 0.0) / (double)samples.size();
  s.median = percentile(samples, 50);
  s.p90 = percentile(samples, 90);
  s.p99 = percentile(samples, 99);
  s.min = samples.front();
  s.max = samples.back();
  return s;
}

}  // namespace kiln::bench
