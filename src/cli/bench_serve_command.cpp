// `kiln bench serve` and `kiln bench sweep`: load generators for any OpenAI-compatible
// server (kiln, vLLM, llama.cpp's server, ...). `serve` runs one load and reports latency,
// throughput, goodput and cost (src/bench/); `sweep` repeats it over several concurrencies
// or request rates and writes a CSV and an SVG chart. docs/bench.md describes every flag.
//
// NOTE: every value is parsed here rather than by CLI11's typed options so that any bad
// value is one line naming the flag and exits with status 1, as the contract asks.
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "bench/load_report.h"
#include "bench/load_run.h"
#include "bench/sweep_chart.h"
#include "bench/workload.h"
#include "cli/commands.h"
#include "gguf/reader.h"
#include "tokenizer/tokenizer.h"

namespace kiln::cli {
namespace {

using nlohmann::json;
constexpr double kInf = std::numeric_limits<double>::infinity();

struct ServeBenchFlags {
  std::string base_url, model, api_key, endpoint = "chat";
  bench::WorkloadOptions workload;
  std::string tokenizer;
  double request_rate = kInf;
  int max_concurrency = 0;
  double burstiness = 1.0;
  std::optional<int64_t> num_requests;
  std::optional<double> duration_s;
  int warmup_requests = 1;
  double request_timeout_s = 300;
  std::string extra_body;
  bool ignore_eos = false;
  std::string slo, compare_price;
  std::optional<double> hourly_usd;
  std::string json_path, label;
  bool no_progress = false;
  // sweep only
  std::vector<int> concurrencies;
  std::vector<double> request_rates;
  std::string csv_path, chart_path;
};

[[noreturn]] void bad_value(const std::string& message) { throw CLI::ValidationError(message, 1); }

double parse_double(const std::string& flag, const std::string& text, double min, bool allow_inf = false) {
  if (allow_inf && (text == "inf" || text == "Inf" || text == "INF")) return kInf;
  char* end = nullptr;
  const double v = text.empty() ? NAN : std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(v) || v < min) {
    bad_value(flag + ": '" + text + "' is not " + (min > 0 ? "a positive number" : "a number >= 0") +
              (allow_inf ? " (or inf)" : ""));
  }
  return v;
}

int64_t parse_int(const std::string& flag, const std::string& text, int64_t min, int64_t max) {
  int64_t v = 0;
  auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (err != std::errc() || end != text.data() + text.size() || v < min || v > max) {
    bad_value(flag + ": '" + text + "' is not an integer in [" + std::to_string(min) + ", " +
              std::to_string(max) + "]");
  }
  return v;
}

template <typename T>
void int_option(CLI::App* cmd, const std::string& name, T& target, int64_t min, int64_t max,
                const std::string& help) {
  const std::string flag = name.substr(0, name.find(','));
  cmd->add_option_function<std::string>(
      name, [&target, flag, min, max](const std::string& s) { target = (T)parse_int(flag, s, min, max); },
      help)->type_name("INT");
}

void double_option(CLI::App* cmd, const std::string& name, double& target, double min,
                   const std::string& help, bool allow_inf = false) {
  cmd->add_option_function<std::string>(
      name, [&target, name, min, allow_inf](const std::string& s) { target = parse_double(name, s, min, allow_inf); },
      help)->type_name(allow_inf ? "NUMBER|inf" : "NUMBER");
}

void add_common_flags(CLI::App* cmd, ServeBenchFlags& f, bool sweep) {
  cmd->add_option("--base-url", f.base_url, "server root, e.g. http://127.0.0.1:8080 (required)")->type_name("URL");
  cmd->add_option("--model", f.model, "model name sent in every request (required)")->type_name("NAME");
  cmd->add_option("--api-key", f.api_key, "sent as Authorization: Bearer KEY")->type_name("KEY");
  cmd->add_option_function<std::string>(
      "--endpoint",
      [&f](const std::string& s) {
        if (s != "chat" && s != "completions") bad_value("--endpoint: '" + s + "' is not chat or completions");
        f.endpoint = s;
      },
      "chat (default): /v1/chat/completions; completions: /v1/completions")
      ->type_name("chat|completions");
  cmd->add_option("--dataset", f.workload.dataset,
                  "random (default), shared-prefix, or a .jsonl / .json (ShareGPT) file")
      ->type_name("KIND|FILE");
  int_option(cmd, "--input-len", f.workload.input_len, 1, 1 << 24, "prompt tokens (random: mean; default 256)");
  int_option(cmd, "--output-len", f.workload.output_len, 1, 1 << 24, "max_tokens per request (default 128)");
  cmd->add_option_function<std::string>(
      "--range-ratio",
      [&f](const std::string& s) {
        f.workload.range_ratio = parse_double("--range-ratio", s, 0.0);
        if (f.workload.range_ratio >= 1.0) bad_value("--range-ratio: must be in [0, 1)");
      },
      "random: lengths uniform in [len*(1-r), len*(1+r)] (default 0)")
      ->type_name("NUMBER");
  int_option(cmd, "--num-prefixes", f.workload.num_prefixes, 1, 1 << 20, "shared-prefix: groups (default 4)");
  int_option(cmd, "--prefix-len", f.workload.prefix_len, 0, 1 << 24, "shared-prefix: prefix tokens (default 1000)");
  cmd->add_option("--tokenizer", f.tokenizer,
                  "MODEL.gguf whose tokenizer makes prompt lengths exact and counts output without usage")
      ->type_name("GGUF");
  if (!sweep) {
    double_option(cmd, "--request-rate", f.request_rate, 1e-9, "requests/s, or inf (default): all at once", true);
    int_option(cmd, "--max-concurrency", f.max_concurrency, 1, 1 << 20, "most requests in flight (default: no cap)");
  } else {
    double_option(cmd, "--request-rate", f.request_rate, 1e-9, "with --concurrency: requests/s (default inf)", true);
    int_option(cmd, "--max-concurrency", f.max_concurrency, 1, 1 << 20,
               "with --request-rates: most requests in flight (default: no cap)");
  }
  double_option(cmd, "--burstiness", f.burstiness, 1e-9, "gamma shape of arrivals; 1 = Poisson (default)");
  cmd->add_option_function<std::string>(
      "--num-requests", [&f](const std::string& s) { f.num_requests = parse_int("--num-requests", s, 1, 1 << 24); },
      "requests to send (default 100 unless --duration)")
      ->type_name("INT");
  cmd->add_option_function<std::string>(
      "--duration", [&f](const std::string& s) { f.duration_s = parse_double("--duration", s, 1e-9); },
      "stop sending after this many seconds")
      ->type_name("SECONDS");
  int_option(cmd, "--warmup-requests", f.warmup_requests, 0, 1 << 16, "unmeasured requests first (default 1)");
  double_option(cmd, "--request-timeout", f.request_timeout_s, 1e-3, "seconds per request (default 300)");
  int_option(cmd, "--seed", f.workload.seed, 0, std::numeric_limits<int64_t>::max(), "seed of prompts and arrivals (default 0)");
  cmd->add_option("--extra-body", f.extra_body, "JSON object merged into every request body")->type_name("JSON");
  cmd->add_flag("--ignore-eos", f.ignore_eos, "send ignore_eos and min_tokens = output length");
  cmd->add_option("--slo", f.slo, "goodput bounds, e.g. ttft=500ms,tpot=50ms,e2e=10s")->type_name("BOUNDS");
  auto* gpu = cmd->add_option_function<std::string>(
      "--gpu-hourly-cost", [&f](const std::string& s) { f.hourly_usd = parse_double("--gpu-hourly-cost", s, 0.0); },
      "USD per hour of the server, for cost per million tokens")
      ->type_name("USD");
  auto* instance = cmd->add_option_function<std::string>(
      "--instance-hourly-cost",
      [&f](const std::string& s) { f.hourly_usd = parse_double("--instance-hourly-cost", s, 0.0); },
      "synonym of --gpu-hourly-cost")
      ->type_name("USD");
  gpu->excludes(instance);
  cmd->add_option("--compare-price", f.compare_price, "in=X,out=Y: an API's USD per million tokens, for break-even")
      ->type_name("PRICES");
  cmd->add_option("--json", f.json_path, sweep ? "write {\"runs\": [report, ...]} here" : "write the report here")
      ->type_name("FILE");
  cmd->add_option("--label", f.label, "name of this run in the report")->type_name("NAME");
  cmd->add_flag("--no-progress", f.no_progress, "no progress line on stderr");
}

// Everything a run needs, checked and resolved from the flags.
struct Setup {
  bench::HttpEndpoint endpoint;
  std::unique_ptr<Tokenizer> tokenizer;
  std::vector<bench::WorkItem> warmup_items, items;
  int64_t seed = 0;  // the prompts' seed
  bench::LoadRunOptions run;
  bench::ReportOptions report;
};

json config_json(const ServeBenchFlags& f, const bench::LoadRunOptions& run, int64_t seed) {
  json c;
  c["base_url"] = f.base_url;
  c["model"] = f.model;
  c["api_key_set"] = !f.api_key.empty();
  c["endpoint"] = f.endpoint;
  c["dataset"] = f.workload.dataset;
  c["input_len"] = f.workload.input_len;
  c["output_len"] = f.workload.output_len;
  c["range_ratio"] = f.workload.range_ratio;
  c["num_prefixes"] = f.workload.num_prefixes;
  c["prefix_len"] = f.workload.prefix_len;
  c["tokenizer"] = f.tokenizer.empty() ? json(nullptr) : json(f.tokenizer);
  c["request_rate"] = std::isinf(run.request_rate) ? json("inf") : json(run.request_rate);
  c["max_concurrency"] = run.max_concurrency > 0 ? json(run.max_concurrency) : json(nullptr);
  c["burstiness"] = f.burstiness;
  c["num_requests"] = run.num_requests ? json(*run.num_requests) : json(nullptr);
  c["duration"] = f.duration_s ? json(*f.duration_s) : json(nullptr);
  c["warmup_requests"] = f.warmup_requests;
  c["request_timeout"] = f.request_timeout_s;
  c["seed"] = seed;
  c["extra_body"] = run.shape.extra_body;
  c["ignore_eos"] = f.ignore_eos;
  c["slo"] = f.slo.empty() ? json(nullptr) : json(f.slo);
  c["gpu_hourly_cost"] = f.hourly_usd ? json(*f.hourly_usd) : json(nullptr);
  c["compare_price"] = f.compare_price.empty() ? json(nullptr) : json(f.compare_price);
  c["label"] = f.label;
  return c;
}

// The timed and warm-up prompts for `seed` (random and shared-prefix draw from it; files are
// read in order).
Status build_items(const ServeBenchFlags& f, int64_t seed, Setup& s) {
  bench::WorkloadOptions timed = f.workload;
  timed.seed = seed;
  // NOTE: a duration-bounded run cycles through a pool of 1000 prompts.
  const size_t count = s.run.num_requests ? *s.run.num_requests : 1000;
  auto items = bench::build_workload(timed, count, s.tokenizer.get());
  if (!items.ok()) return items.status();
  s.items = std::move(items).value();
  bench::WorkloadOptions warm = timed;
  warm.seed = seed + 0x9e3779b9;  // warm-up prompts differ from the timed ones
  auto warmups = bench::build_workload(warm, (size_t)f.warmup_requests, s.tokenizer.get());
  if (!warmups.ok()) return warmups.status();
  s.warmup_items = std::move(warmups).value();
  s.seed = seed;
  s.run.seed = (uint64_t)seed;  // arrivals too
  return Status::Ok();
}

StatusOr<std::unique_ptr<Setup>> prepare(const ServeBenchFlags& f) {
  auto s = std::make_unique<Setup>();
  if (f.base_url.empty()) return Status::Error("--base-url is required");
  if (f.model.empty()) return Status::Error("--model is required (the name the server lists in /v1/models)");
  auto endpoint = bench::parse_base_url(f.base_url);
  if (!endpoint.ok()) return endpoint.status();
  s->endpoint = *endpoint;
  if (!f.tokenizer.empty()) {
    auto file = gguf::File::open(f.tokenizer);
    if (!file.ok()) return Status::Error("--tokenizer: " + file.message());
    auto tok = Tokenizer::from_gguf(*file);
    if (!tok.ok()) return Status::Error("--tokenizer: " + f.tokenizer + ": " + tok.message());
    s->tokenizer = std::make_unique<Tokenizer>(std::move(tok).value());
  }
  bench::LoadRunOptions& run = s->run;
  run.shape.chat = f.endpoint == "chat";
  run.shape.model = f.model;
  run.shape.ignore_eos = f.ignore_eos;
  if (!f.extra_body.empty()) {
    json extra = json::parse(f.extra_body, nullptr, /*allow_exceptions=*/false);
    if (!extra.is_object()) return Status::Error("--extra-body: not a JSON object: " + f.extra_body);
    run.shape.extra_body = std::move(extra);
  }
  run.request_rate = f.request_rate;
  run.burstiness = f.burstiness;
  run.max_concurrency = f.max_concurrency;
  if (f.num_requests) run.num_requests = (size_t)*f.num_requests;
  if (!f.num_requests && !f.duration_s) run.num_requests = 100;
  run.duration_s = f.duration_s;
  run.seed = f.workload.seed;
  run.progress = !f.no_progress;
  run.client.request_timeout = std::chrono::milliseconds((int64_t)(f.request_timeout_s * 1000));
  run.client.connect_timeout = std::min(run.client.request_timeout, std::chrono::milliseconds(10000));
  run.client.api_key = f.api_key;
  if (!f.slo.empty()) {
    auto slo = bench::parse_slo(f.slo);
    if (!slo.ok()) return slo.status();
    s->report.slo = *slo;
  }
  if (!f.compare_price.empty()) {
    auto price = bench::parse_compare_price(f.compare_price);
    if (!price.ok()) return price.status();
    s->report.compare_price = *price;
    if (!f.hourly_usd) {
      std::fprintf(stderr, "kiln: note: --compare-price needs --gpu-hourly-cost for a break-even\n");
    }
  }
  s->report.hourly_usd = f.hourly_usd;
  s->report.label = f.label;

  const bool synthetic = f.workload.dataset == "random" || f.workload.dataset == "shared-prefix";
  if (synthetic && !s->tokenizer) {
    std::fprintf(stderr,
                 "kiln: note: without --tokenizer, prompts are random English words (about one "
                 "token each), so prompt lengths are approximate\n");
  }
  if (Status b = build_items(f, f.workload.seed, *s); !b.ok()) return b;
  return s;
}

Status check_bounds(const bench::LoadRunOptions& run) {
  if (std::isinf(run.request_rate) && !run.num_requests && run.max_concurrency <= 0) {
    return Status::Error("--duration with an infinite --request-rate needs --max-concurrency or --num-requests");
  }
  return Status::Ok();
}

bench::LoadReport run_once(Setup& s, const std::string& label) {
  s.report.label = label;
  s.run.progress_label = label.empty() ? "" : label + ": ";
  bench::LoadRunResult result =
      bench::run_load(s.endpoint, s.run, s.warmup_items, s.items, s.tokenizer.get());
  if (result.warmup_failed > 0) {
    std::fprintf(stderr, "kiln: warning: %d warm-up request(s) failed (first: %s)\n", result.warmup_failed,
                 result.warmup_error.c_str());
  }
  return bench::make_report(std::move(result), s.report);
}

bool write_file(const std::string& flag, const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
  out.close();
  if (!out) {
    std::fprintf(stderr, "kiln: %s: cannot write %s\n", flag.c_str(), path.c_str());
    return false;
  }
  return true;
}

int run_serve(const ServeBenchFlags& f) {
  auto setup = prepare(f);
  if (!setup.ok()) {
    std::fprintf(stderr, "kiln: %s\n", setup.message().c_str());
    return 1;
  }
  Setup& s = **setup;
  if (Status b = check_bounds(s.run); !b.ok()) {
    std::fprintf(stderr, "kiln: %s\n", b.message().c_str());
    return 1;
  }
  s.report.config = config_json(f, s.run, s.seed);
  bench::LoadReport report = run_once(s, f.label);
  bench::print_report(report, stdout);
  std::fflush(stdout);
  if (!f.json_path.empty() && !write_file("--json", f.json_path, to_json(report).dump(2) + "\n")) return 1;
  if (report.completed == 0) {
    std::fprintf(stderr, "kiln: every request failed\n");
    return 1;
  }
  return 0;
}

int run_sweep(const ServeBenchFlags& f) {
  if (f.concurrencies.empty() == f.request_rates.empty()) {
    std::fprintf(stderr, "kiln: bench sweep needs exactly one of --concurrency and --request-rates\n");
    return 1;
  }
  auto setup = prepare(f);
  if (!setup.ok()) {
    std::fprintf(stderr, "kiln: %s\n", setup.message().c_str());
    return 1;
  }
  Setup& s = **setup;
  const bool by_concurrency = !f.concurrencies.empty();
  std::vector<double> values;
  if (by_concurrency) {
    for (int c : f.concurrencies) values.push_back(c);
  } else {
    values = f.request_rates;
  }
  std::vector<bench::LoadReport> reports;
  reports.reserve(values.size());
  for (double v : values) {
    char label[96];
    if (by_concurrency) {
      s.run.max_concurrency = (int)v;
      std::snprintf(label, sizeof label, "concurrency=%d", (int)v);
    } else {
      s.run.request_rate = v;
      std::snprintf(label, sizeof label, "request_rate=%g", v);
    }
    if (Status b = check_bounds(s.run); !b.ok()) {
      std::fprintf(stderr, "kiln: %s\n", b.message().c_str());
      return 1;
    }
    // NOTE: each point gets prompts of its own (seed + point index), or a server's prefix
    // cache would serve later points from the earlier points' prompts.
    const int64_t point_seed = f.workload.seed + (int64_t)reports.size();
    if (point_seed != s.seed) {
      if (Status b = build_items(f, point_seed, s); !b.ok()) {
        std::fprintf(stderr, "kiln: %s\n", b.message().c_str());
        return 1;
      }
    }
    s.report.config = config_json(f, s.run, s.seed);
    const std::string full = f.label.empty() ? label : f.label + " " + label;
    reports.push_back(run_once(s, full));
    bench::print_report(reports.back(), stdout);
    std::fflush(stdout);
  }
  std::vector<bench::SweepPoint> points;
  for (size_t i = 0; i < reports.size(); ++i) {
    points.push_back({by_concurrency ? "concurrency" : "request_rate", values[i], &reports[i]});
  }
  const std::string csv = bench::sweep_csv(points);
  std::fputs(csv.c_str(), stdout);
  bool ok = true;
  if (!f.csv_path.empty()) ok &= write_file("--csv", f.csv_path, csv);
  if (!f.chart_path.empty()) {
    const std::string title = "kiln bench sweep: " + f.model + (f.label.empty() ? "" : " (" + f.label + ")");
    ok &= write_file("--chart", f.chart_path, bench::sweep_svg(points, title));
  }
  if (!f.json_path.empty()) {
    json runs = json::array();
    for (const auto& r : reports) runs.push_back(to_json(r));
    ok &= write_file("--json", f.json_path, json{{"runs", runs}}.dump(2) + "\n");
  }
  for (const auto& r : reports) ok &= r.completed > 0;
  return ok ? 0 : 1;
}

}  // namespace

void register_bench_serve_commands(CLI::App* bench, int& exit_code) {
  auto serve_flags = std::make_shared<ServeBenchFlags>();
  CLI::App* serve = bench->add_subcommand(
      "serve", "Load-test an OpenAI-compatible server: latency, throughput, goodput, cost");
  add_common_flags(serve, *serve_flags, /*sweep=*/false);
  serve->callback([serve_flags, &exit_code] { exit_code = run_serve(*serve_flags); });

  auto sweep_flags = std::make_shared<ServeBenchFlags>();
  CLI::App* sweep = bench->add_subcommand(
      "sweep", "Repeat `bench serve` over concurrencies or request rates; CSV and SVG chart");
  add_common_flags(sweep, *sweep_flags, /*sweep=*/true);
  ServeBenchFlags& sf = *sweep_flags;
  sweep->add_option_function<std::vector<std::string>>(
      "--concurrency",
      [&sf](const std::vector<std::string>& list) {
        for (const auto& s : list) sf.concurrencies.push_back((int)parse_int("--concurrency", s, 1, 1 << 20));
      },
      "in-flight caps to run, e.g. 1,4,16,64")
      ->delimiter(',')
      ->type_name("INT");
  sweep->add_option_function<std::vector<std::string>>(
      "--request-rates",
      [&sf](const std::vector<std::string>& list) {
        for (const auto& s : list) sf.request_rates.push_back(parse_double("--request-rates", s, 1e-9));
      },
      "request rates to run, e.g. 1,2,4")
      ->delimiter(',')
      ->type_name("NUMBER");
  sweep->add_option("--csv", sf.csv_path, "write one row per run here")->type_name("FILE");
  sweep->add_option("--chart", sf.chart_path, "write an SVG chart here")->type_name("FILE");
  sweep->callback([sweep_flags, &exit_code] { exit_code = run_sweep(*sweep_flags); });
}

}  // namespace kiln::cli
