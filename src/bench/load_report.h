// The figures of one run (contract: the JSON report of `kiln bench serve`): counts, errors
// by type, token throughputs, latency summaries, goodput, cost and break-even; as JSON and
// as the human table printed on stdout.
#pragma once

#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "bench/cost_model.h"
#include "bench/load_run.h"
#include "bench/slo.h"
#include "bench/stats.h"

namespace kiln::bench {

struct ReportOptions {
  std::string label;
  nlohmann::json config = nlohmann::json::object();  // every flag, resolved
  std::optional<SloBounds> slo;
  std::optional<double> hourly_usd;
  std::optional<ApiPrice> compare_price;
};

struct Goodput {
  SloBounds slo;
  int64_t good_requests = 0;
  double request_rate = 0;
  double fraction = 0;
};

struct LoadReport {
  std::string label;
  nlohmann::json config;
  std::string started_at;
  double duration_s = 0;
  int64_t num_requests = 0, completed = 0, failed = 0;
  std::map<std::string, int64_t> errors;
  std::map<std::string, std::string> error_examples;
  int64_t input_tokens = 0, output_tokens = 0;
  double request_throughput = 0, input_throughput = 0, output_throughput = 0,
         total_token_throughput = 0;
  int max_concurrency_observed = 0;
  double mean_concurrency = 0;
  LatencySummary ttft_s, tpot_s, itl_s, e2e_s;
  std::optional<Goodput> goodput;
  std::optional<CostFigures> cost;
  std::optional<BreakEven> break_even;
  std::vector<RequestRecord> requests;
};

LoadReport make_report(LoadRunResult run, const ReportOptions& options);

nlohmann::json to_json(const LoadReport& report);
// The vLLM-style summary table.
void print_report(const LoadReport& report, std::FILE* out);

}  // namespace kiln::bench
