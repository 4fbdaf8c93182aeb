#include "bench/load_report.h"

namespace kiln::bench {
namespace {

using nlohmann::json;

json optional_json(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

json summary_json(const LatencySummary& s) {
  return {{"mean", optional_json(s.mean)}, {"median", optional_json(s.median)},
          {"p90", optional_json(s.p90)},   {"p99", optional_json(s.p99)},
          {"min", optional_json(s.min)},   {"max", optional_json(s.max)}};
}

json slo_json(const SloBounds& slo) {
  json j = json::object();
  if (slo.ttft_s) j["ttft_s"] = *slo.ttft_s;
  if (slo.tpot_s) j["tpot_s"] = *slo.tpot_s;
  if (slo.e2e_s) j["e2e_s"] = *slo.e2e_s;
  return j;
}

void line(std::FILE* out, const char* name, const std::string& value) {
  std::fprintf(out, "%-42s%s\n", name, value.c_str());
}

std::string number(double v, const char* fmt = "%.2f") {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

std::string ms(const std::optional<double>& s) { return s ? number(*s * 1000.0) : "-"; }

void heading(std::FILE* out, const char* title) {
  const std::string text = std::string(title) + " ";
  std::fprintf(out, "%s%s\n", text.c_str(),
               std::string(text.size() < 60 ? 60 - text.size() : 0, '-').c_str());
}

}  // namespace

LoadReport make_report(LoadRunResult run, const ReportOptions& o) {
  LoadReport r;
  r.label = o.label;
  r.config = o.config;
  r.started_at = run.started_at;
  r.duration_s = run.duration_s;
  r.num_requests = (int64_t)run.requests.size();
  r.max_concurrency_observed = run.max_in_flight;
  r.mean_concurrency = run.mean_in_flight;
  std::vector<double> ttft, tpot, itl, e2e;
  int64_t good = 0;
  for (const RequestRecord& q : run.requests) {
    if (!q.ok()) {
      ++r.failed;
      ++r.errors[q.error];
      r.error_examples.emplace(q.error, q.error_message);
      continue;
    }
    ++r.completed;
    r.input_tokens += q.input_tokens;
    r.output_tokens += q.output_tokens;
    if (q.ttft_s) ttft.push_back(*q.ttft_s);
    if (auto t = q.tpot_s()) tpot.push_back(*t);
    itl.insert(itl.end(), q.itl_s.begin(), q.itl_s.end());
    e2e.push_back(q.e2e_s);
    if (o.slo && meets_slo(*o.slo, q.ttft_s, q.tpot_s(), q.e2e_s)) ++good;
  }
  if (r.duration_s > 0) {
    r.request_throughput = (double)r.completed / r.duration_s;
    r.input_throughput = (double)r.input_tokens / r.duration_s;
    r.output_throughput = (double)r.output_tokens / r.duration_s;
    r.total_token_throughput = r.input_throughput + r.output_throughput;
  }
  r.ttft_s = summarize(std::move(ttft));
  r.tpot_s = summarize(std::move(tpot));
  r.itl_s = summarize(std::move(itl));
  r.e2e_s = summarize(std::move(e2e));
  if (o.slo) {
    Goodput g;
    g.slo = *o.slo;
    g.good_requests = good;
    g.request_rate = r.duration_s > 0 ? (double)good / r.duration_s : 0.0;
    g.fraction = r.num_requests > 0 ? (double)good / (double)r.num_requests : 0.0;
    r.goodput = g;
  }
  if (o.hourly_usd) {
    r.cost = compute_cost(*o.hourly_usd, r.input_throughput, r.output_throughput, o.compare_price);
    if (o.compare_price) {
      r.break_even = compute_break_even(*o.hourly_usd, r.input_throughput, r.output_throughput,
                                        *o.compare_price);
    }
  }
  r.requests = std::move(run.requests);
  return r;
}

json to_json(const LoadReport& r) {
  json j;
  j["label"] = r.label;
  j["config"] = r.config;
  j["started_at"] = r.started_at;
  j["duration_s"] = r.duration_s;
  j["num_requests"] = r.num_requests;
  j["completed"] = r.completed;
  j["failed"] = r.failed;
  j["errors"] = r.errors;
  j["error_examples"] = r.error_examples;
  j["input_tokens"] = r.input_tokens;
  j["output_tokens"] = r.output_tokens;
  j["request_throughput"] = r.request_throughput;
  j["input_throughput"] = r.input_throughput;
  j["output_throughput"] = r.output_throughput;
  j["total_token_throughput"] = r.total_token_throughput;
  j["max_concurrency_observed"] = r.max_concurrency_observed;
  j["mean_concurrency"] = r.mean_concurrency;
  j["ttft_s"] = summary_json(r.ttft_s);
  j["tpot_s"] = summary_json(r.tpot_s);
  j["itl_s"] = summary_json(r.itl_s);
  j["e2e_s"] = summary_json(r.e2e_s);
  j["goodput"] = nullptr;
  if (r.goodput) {
    j["goodput"] = {{"slo", slo_json(r.goodput->slo)},
                    {"good_requests", r.goodput->good_requests},
                    {"request_rate", r.goodput->request_rate},
                    {"fraction", r.goodput->fraction}};
  }
  j["cost"] = nullptr;
  if (r.cost) {
    j["cost"] = {{"hourly_usd", r.cost->hourly_usd},
                 {"usd_per_million_input", optional_json(r.cost->usd_per_million_input)},
                 {"usd_per_million_output", optional_json(r.cost->usd_per_million_output)},
                 {"usd_per_million_total", optional_json(r.cost->usd_per_million_total)},
                 {"split", r.cost->split}};
  }
  j["break_even"] = nullptr;
  if (r.break_even) {
    const BreakEven& b = *r.break_even;
    j["break_even"] = {{"price_in", b.price.in_per_million},
                       {"price_out", b.price.out_per_million},
                       {"api_blended_usd_per_million", b.api_blended_usd_per_million},
                       {"self_hosted_monthly_usd", b.self_hosted_monthly_usd},
                       {"monthly_tokens", optional_json(b.monthly_tokens)},
                       {"instance_monthly_capacity_tokens", b.instance_monthly_capacity_tokens},
                       {"note", b.note}};
  }
  json requests = json::array();
  for (const RequestRecord& q : r.requests) {
    requests.push_back({{"start_s", q.start_s},
                        {"ttft_s", optional_json(q.ttft_s)},
                        {"e2e_s", q.e2e_s},
                        {"input_tokens", q.input_tokens},
                        {"output_tokens", q.output_tokens},
                        {"itl_s", q.itl_s},
                        {"error", q.ok() ? json(nullptr) : json(q.error)}});
  }
  j["requests"] = std::move(requests);
  return j;
}

void print_report(const LoadReport& r, std::FILE* out) {
  heading(out, r.label.empty() ? "Serving Benchmark Result" : ("Serving Benchmark Result: " + r.label).c_str());
  line(out, "Requests sent:", std::to_string(r.num_requests));
  line(out, "Successful requests:", std::to_string(r.completed));
  line(out, "Failed requests:", std::to_string(r.failed));
  for (const auto& [kind, n] : r.errors) {
    line(out, ("  " + kind + ":").c_str(), std::to_string(n) + "  (" + r.error_examples.at(kind) + ")");
  }
  line(out, "Benchmark duration (s):", number(r.duration_s));
  line(out, "Total input tokens:", std::to_string(r.input_tokens));
  line(out, "Total generated tokens:", std::to_string(r.output_tokens));
  line(out, "Request throughput (req/s):", number(r.request_throughput));
  line(out, "Input token throughput (tok/s):", number(r.input_throughput));
  line(out, "Output token throughput (tok/s):", number(r.output_throughput));
  line(out, "Total token throughput (tok/s):", number(r.total_token_throughput));
  line(out, "Concurrency (max / time-weighted mean):",
       std::to_string(r.max_concurrency_observed) + " / " + number(r.mean_concurrency));
  if (r.goodput) {
    line(out, "Request goodput (req/s):", number(r.goodput->request_rate));
    line(out, "Requests within SLO:",
         std::to_string(r.goodput->good_requests) + " (" + number(100.0 * r.goodput->fraction, "%.1f") + "%)");
  }
  const std::pair<const char*, const LatencySummary*> metrics[] = {
      {"Time to First Token", &r.ttft_s},
      {"Time per Output Token (excl. 1st token)", &r.tpot_s},
      {"Inter-token Latency", &r.itl_s},
      {"End-to-end Latency", &r.e2e_s}};
  const char* shorts[] = {"TTFT", "TPOT", "ITL", "E2E"};
  for (size_t i = 0; i < 4; ++i) {
    heading(out, metrics[i].first);
    const LatencySummary& s = *metrics[i].second;
    const std::string n = shorts[i];
    line(out, ("Mean " + n + " (ms):").c_str(), ms(s.mean));
    line(out, ("Median " + n + " (ms):").c_str(), ms(s.median));
    line(out, ("P90 " + n + " (ms):").c_str(), ms(s.p90));
    line(out, ("P99 " + n + " (ms):").c_str(), ms(s.p99));
  }
  if (r.cost) {
    heading(out, "Cost");
    line(out, "Hourly cost (USD):", number(r.cost->hourly_usd));
    auto usd = [](const std::optional<double>& v) { return v ? number(*v, "%.4f") : std::string("-"); };
    line(out, "USD per million tokens (all):", usd(r.cost->usd_per_million_total));
    line(out, "USD per million input tokens:", usd(r.cost->usd_per_million_input));
    line(out, "USD per million output tokens:", usd(r.cost->usd_per_million_output));
  }
  if (r.break_even) {
    const BreakEven& b = *r.break_even;
    line(out, "API blended price (USD / million):", number(b.api_blended_usd_per_million, "%.4f"));
    line(out, "Break-even (tokens / month):", b.monthly_tokens ? number(*b.monthly_tokens, "%.4g") : "-");
    line(out, "Instance capacity (tokens / month):", number(b.instance_monthly_capacity_tokens, "%.4g"));
    std::fprintf(out, "Break-even: %s\n", b.note.c_str());
  }
  std::fprintf(out, "%s\n", std::string(60, '=').c_str());
}

}  // namespace kiln::bench
