// `kiln bench sweep` output: one CSV row per run, and a standalone SVG chart of output
// tokens/s (x) against median and p99 TPOT (left panel) and TTFT (right panel), each
// point labelled with its run's concurrency or request rate.
#pragma once

#include <string>
#include <vector>

#include "bench/load_report.h"

namespace kiln::bench {

struct SweepPoint {
  std::string setting;  // "concurrency" or "request_rate"
  double value = 0;     // the concurrency or rate of this run
  const LoadReport* report = nullptr;
};

std::string sweep_csv(const std::vector<SweepPoint>& points);
std::string sweep_svg(const std::vector<SweepPoint>& points, const std::string& title);

}  // namespace kiln::bench
