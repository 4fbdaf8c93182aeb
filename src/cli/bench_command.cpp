// `kiln bench offline MODEL`: prompt-processing and generation throughput of one sequence,
// measured like llama-bench's pp/tg tests (random token ids, no sampling) so the figures
// compare directly with llama.cpp's. With --requests N it drives the serving engine
// instead (bench_engine.h).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "cli/bench_engine.h"
#include "cli/commands.h"
#include "cli/model_arg.h"
#include "cli/loaded_model.h"
#include "engine/session.h"
#include "util/cpu_features.h"

namespace kiln::cli {
namespace {

struct BenchOptions {
  std::string model;
  int prompt_tokens = 512;
  int gen_tokens = 128;
  int depth = 0;  // tokens already in the context before each timed run (llama-bench's -d)
  std::vector<int> threads{1, 2};
  int repeats = 3;
  bool json = false;
  EngineBenchOptions engine;  // used when engine.requests > 0
};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int run_offline(const BenchOptions& o) {
  nlohmann::json report = nlohmann::json::array();
  for (int threads : o.threads) {
    auto loaded = load_model(o.model, threads, std::max(o.prompt_tokens, 1));
    if (!loaded) return 1;
    const int64_t vocab = loaded->model->config().vocab_size;
    std::mt19937 rng(1234);
    std::uniform_int_distribution<int32_t> pick(0, (int32_t)vocab - 1);
    std::vector<int32_t> prompt(o.prompt_tokens), context(o.depth);
    for (auto& id : prompt) id = pick(rng);
    for (auto& id : context) id = pick(rng);
    const int64_t max_tokens = (int64_t)o.depth + std::max(o.prompt_tokens, o.gen_tokens) + 1;
    Session session(*loaded->model, max_tokens, o.engine.engine.kv_cache_dtype);
    if (session.max_tokens() < max_tokens) {
      print_error(o.model + ": --depth " + std::to_string(o.depth) + " plus the prompt exceeds " +
                  "the model's context of " + std::to_string(session.max_tokens()) + " tokens");
      return 1;
    }
    // The depth's KV is computed once, untimed; each run starts from it.
    if (o.depth > 0) {
      if (Status s = session.append(context); !s.ok()) {
        print_error(s.message());
        return 1;
      }
    }

    auto run_pp = [&]() -> double {
      session.truncate(o.depth);
      const auto start = std::chrono::steady_clock::now();
      if (Status s = session.append(prompt); !s.ok()) {
        print_error(s.message());
        return -1;
      }
      return seconds_since(start);
    };
    auto run_tg = [&]() -> double {
      session.truncate(o.depth);
      const auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < o.gen_tokens; ++i) {
        const int32_t id = pick(rng);
        if (Status s = session.append(std::span<const int32_t>(&id, 1)); !s.ok()) {
          print_error(s.message());
          return -1;
        }
      }
      return seconds_since(start);
    };
    // Warm-up (page in the weights, grow scratch buffers), then the timed repeats.
    if (o.prompt_tokens > 0 && run_pp() < 0) return 1;
    if (o.gen_tokens > 0 && run_tg() < 0) return 1;
    std::vector<double> pp, tg;
    for (int r = 0; r < o.repeats; ++r) {
      if (o.prompt_tokens > 0) pp.push_back(run_pp());
      if (o.gen_tokens > 0) tg.push_back(run_tg());
    }
    nlohmann::json row;
    row["engine"] = "kiln";
    row["threads"] = threads;
    row["isa"] = isa_name(best_isa());
    if (o.depth > 0) row["depth"] = o.depth;
    if (!pp.empty()) row["pp" + std::to_string(o.prompt_tokens) + "_tps"] = o.prompt_tokens / median(pp);
    if (!tg.empty()) row["tg" + std::to_string(o.gen_tokens) + "_tps"] = o.gen_tokens / median(tg);
    if (o.json) {
      std::puts(row.dump().c_str());
    } else {
      std::printf("threads %d  isa %s", threads, isa_name(best_isa()));
      if (o.depth > 0) std::printf("  depth %d", o.depth);
      if (!pp.empty()) std::printf("  pp%d %8.1f tok/s", o.prompt_tokens, o.prompt_tokens / median(pp));
      if (!tg.empty()) std::printf("  tg%d %7.1f tok/s", o.gen_tokens, o.gen_tokens / median(tg));
      std::printf("\n");
    }
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

void register_bench_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<BenchOptions>();
  CLI::App* bench = app.add_subcommand("bench", "Measure throughput");
  bench->require_subcommand(1);
  CLI::App* offline = bench->add_subcommand(
      "offline", "Prompt processing and generation tokens/s of one sequence (like llama-bench)");
  offline->add_option("model", opts->model, "GGUF model file or model name in the store")->required();
  offline->add_option("-p,--prompt-tokens", opts->prompt_tokens, "prompt length")
      ->check(CLI::Range(0, 1 << 20));
  offline->add_option("-n,--gen-tokens", opts->gen_tokens, "tokens to generate")
      ->check(CLI::Range(0, 1 << 20));
  offline->add_option("-d,--depth", opts->depth,
                      "tokens already in the context when each prompt or generation run starts")
      ->check(CLI::Range(0, 1 << 20));
  offline->add_option("-t,--threads", opts->threads, "thread counts to measure, e.g. 1,2")
      ->delimiter(',')
      ->check(CLI::Range(1, 1024));
  offline->add_option("-r,--repeats", opts->repeats, "timed repeats (median reported)")
      ->check(CLI::Range(1, 1000));
  offline->add_flag("--json", opts->json, "one JSON line per thread count");
  EngineBenchOptions& e = opts->engine;
  e.requests = 0;
  offline->add_option("--requests", e.requests,
                      "drive the serving engine with this many requests (default: the "
                      "one-sequence pp/tg measurement)")
      ->check(CLI::Range(0, 1 << 20));
  offline->add_option("--concurrency", e.concurrency, "with --requests: requests in flight")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 16));
  offline->add_option("--shared-prefix-tokens", e.shared_prefix_tokens,
                      "with --requests: every prompt starts with the same this many tokens")
      ->check(CLI::Range(0, 1 << 20));
  offline->add_option("--length-spread", e.length_spread,
                      "with --requests: lengths drawn from [1-s, 1+s] x -p / -n")
      ->check(CLI::Range(0.0, 1.0));
  offline->add_option("--seed", e.seed, "with --requests: seed of the random prompts");
  add_engine_flags(offline, e.engine);
  register_bench_serve_commands(bench, exit_code);
  register_bench_structured_command(bench, exit_code);
  offline->callback([opts, &exit_code] {
    if (!resolve_model_arg(opts->model)) {
      exit_code = 1;
      return;
    }
    if (opts->engine.requests > 0) {
      EngineBenchOptions e = opts->engine;
      e.model = opts->model;
      e.threads = opts->threads.front();
      e.prompt_tokens = opts->prompt_tokens;
      e.gen_tokens = opts->gen_tokens;
      e.json = opts->json;
      exit_code = run_engine_bench(e);
      return;
    }
    exit_code = run_offline(*opts);
  });
}

}  // namespace kiln::cli
