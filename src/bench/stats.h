// Summary statistics of latency samples, with NumPy's default percentile (linear
// interpolation between order statistics), so figures can be checked against numpy.
#pragma once

#include <optional>
#include <vector>

namespace kiln::bench {

// q in [0, 100]; `sorted` ascending and not empty.
double percentile(const std::vector<double>& sorted, double q);

struct LatencySummary {
  std::optional<double> mean, median, p90, p99, min, max;  // all empty when no sample
};
LatencySummary summarize(std::vector<double> samples);

}  // namespace kiln::bench
