#include "cli/bench_engine.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace kiln::cli {
namespace {

using Seconds = std::chrono::duration<double>;

struct Sample {
  double ttft = 0, tpot = 0, e2e = 0;
  int prompt_tokens = 0, cached_tokens = 0, output_tokens = 0;
  bool ok = false;
};

struct Summary {
  double mean = 0, p50 = 0, p99 = 0, sum = 0;
};

Summary summarize(std::vector<double> v) {
  Summary s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  for (double x : v) s.sum += x;
  s.mean = s.sum / (double)v.size();
  s.p50 = v[v.size() / 2];
  s.p99 = v[std::min(v.size() - 1, (size_t)((double)v.size() * 0.99))];
  return s;
}

nlohmann::json to_json(const Summary& s) {
  return {{"mean", s.mean}, {"p50", s.p50}, {"p99", s.p99}, {"sum", s.sum}};
}

// The forward passes of one kind during the run.
StepTimes step_times_between(const StepTimes& before, const StepTimes& after) {
  return {after.steps - before.steps, after.tokens - before.tokens,
          after.seconds - before.seconds};
}

nlohmann::json to_json(const StepTimes& s) {
  return {{"steps", s.steps}, {"tokens", s.tokens}, {"seconds", s.seconds}};
}

// "563 decode-only (17.1 ms, 15.2 tokens each)"
std::string describe(const StepTimes& s, const char* kind) {
  char buf[128];
  if (s.steps == 0) {
    std::snprintf(buf, sizeof buf, "0 %s", kind);
  } else {
    std::snprintf(buf, sizeof buf, "%lld %s (%.1f ms, %.1f tokens each)", (long long)s.steps,
                  kind, s.seconds * 1e3 / (double)s.steps, (double)s.tokens / (double)s.steps);
  }
  return buf;
}

}  // namespace

int run_engine_bench(const EngineBenchOptions& o) {
  auto running = start_engine(o.model, o.threads, o.engine, /*log_kv=*/!o.json);
  if (!running) return 1;
  Engine& engine = *running->engine;
  const int64_t vocab = running->loaded.model->config().vocab_size;

  std::mt19937 rng(o.seed);
  std::uniform_int_distribution<int32_t> token(0, (int32_t)vocab - 1);
  auto length = [&](int mean) {
    const double lo = std::max(1.0, mean * (1.0 - o.length_spread)), hi = mean * (1.0 + o.length_spread);
    return std::max(1, (int)std::uniform_real_distribution<double>(lo, hi + 1e-9)(rng));
  };
  std::vector<int32_t> prefix(o.shared_prefix_tokens);
  for (auto& t : prefix) t = token(rng);
  std::vector<GenerationRequest> requests(o.requests);
  for (GenerationRequest& r : requests) {
    r.prompt = prefix;
    const int n = length(o.prompt_tokens);
    for (int i = 0; i < n; ++i) r.prompt.push_back(token(rng));
    r.sampling.temperature = 0.0f;
    r.sampling.ignore_eos = true;  // fixed output lengths, whatever the random prompt
    r.sampling.max_tokens = length(o.gen_tokens);
  }

  auto run_one = [&](GenerationRequest request) {
    Sample s;
    const auto start = Clock::now();
    auto stream = engine.submit(std::move(request));
    if (!stream.ok()) {
      print_error(stream.message());
      return s;
    }
    Clock::time_point first{};
    while (auto out = (*stream)->next()) {
      if (first == Clock::time_point{} && !out->samples[0].token_ids.empty()) first = Clock::now();
      s.output_tokens += (int)out->samples[0].token_ids.size();
      if (out->finished) {
        s.ok = out->error.ok();
        s.prompt_tokens = out->num_prompt_tokens;
        s.cached_tokens = out->num_cached_tokens;
      }
    }
    const auto end = Clock::now();
    s.e2e = Seconds(end - start).count();
    s.ttft = Seconds(first - start).count();
    s.tpot = s.output_tokens > 1 ? Seconds(end - first).count() / (s.output_tokens - 1) : 0;
    return s;
  };

  // Warm-up: pages the weights in and grows scratch buffers; not counted.
  {
    GenerationRequest warm;
    warm.prompt.assign(16, 1);
    warm.sampling.temperature = 0.0f;
    warm.sampling.max_tokens = 4;
    warm.sampling.ignore_eos = true;
    warm.cache_salt = "warm-up";
    run_one(warm);
  }
  engine.wait_until_idle();
  const EngineStats before = engine.stats();
  std::vector<Sample> samples(o.requests);
  std::atomic<int> next{0};
  const auto start = Clock::now();
  std::vector<std::thread> clients;
  for (int c = 0; c < std::min(o.concurrency, o.requests); ++c)
    clients.emplace_back([&] {
      for (int i; (i = next++) < o.requests;) samples[i] = run_one(requests[i]);
    });
  for (auto& t : clients) t.join();
  const double elapsed = Seconds(Clock::now() - start).count();
  engine.wait_until_idle();
  const EngineStats after = engine.stats();

  int64_t prompt_tokens = 0, output_tokens = 0, cached = 0;
  int failed = 0;
  std::vector<double> ttft, tpot, e2e;
  for (const Sample& s : samples) {
    if (!s.ok) ++failed;
    prompt_tokens += s.prompt_tokens;
    cached += s.cached_tokens;
    output_tokens += s.output_tokens;
    ttft.push_back(s.ttft);
    tpot.push_back(s.tpot);
    e2e.push_back(s.e2e);
  }
  const Summary t = summarize(ttft), p = summarize(tpot), e = summarize(e2e);
  const int64_t held = after.kv_slots_held - before.kv_slots_held;
  const int64_t unused = after.kv_slots_unused - before.kv_slots_unused;
  const double kv_waste = held > 0 ? (double)unused / (double)held : 0;
  const double total_tps = (double)(prompt_tokens + output_tokens) / elapsed;
  const double output_tps = (double)output_tokens / elapsed;
  const int64_t steps = after.num_steps - before.num_steps;
  const double tokens_per_step =
      steps > 0 ? (double)(after.num_batched_tokens - before.num_batched_tokens) / (double)steps : 0;
  const StepTimes decode = step_times_between(before.decode_steps, after.decode_steps);
  const StepTimes prompt = step_times_between(before.prompt_steps, after.prompt_steps);

  if (o.json) {
    nlohmann::json j = {
        {"model", o.model},
        {"threads", running->loaded.pool->num_threads()},
        {"requests", o.requests},
        {"concurrency", o.concurrency},
        {"prefix_caching", !o.engine.no_prefix_caching},
        {"chunked_prefill", !o.engine.no_chunked_prefill},
        {"max_num_batched_tokens", o.engine.max_num_batched_tokens},
        {"failed", failed},
        {"seconds", elapsed},
        {"prompt_tokens", prompt_tokens},
        {"cached_prompt_tokens", cached},
        {"output_tokens", output_tokens},
        {"total_tokens_per_second", total_tps},
        {"output_tokens_per_second", output_tps},
        {"ttft_seconds", to_json(t)},
        {"tpot_seconds", to_json(p)},
        {"e2e_seconds", to_json(e)},
        {"preemptions", after.num_preemptions - before.num_preemptions},
        {"tokens_per_step", tokens_per_step},
        {"kv_waste_fraction", kv_waste},
        {"decode_steps", to_json(decode)},
        {"prompt_steps", to_json(prompt)},
    };
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("requests %d, concurrency %d, %d failed, %.2f s\n", o.requests, o.concurrency,
                failed, elapsed);
    std::printf("tokens: %lld prompt (%lld from the prefix cache), %lld output\n",
                (long long)prompt_tokens, (long long)cached, (long long)output_tokens);
    std::printf("throughput: %.1f total tokens/s, %.1f output tokens/s\n", total_tps, output_tps);
    std::printf("TTFT: mean %.1f ms, p50 %.1f ms, p99 %.1f ms, sum %.2f s\n", t.mean * 1e3,
                t.p50 * 1e3, t.p99 * 1e3, t.sum);
    std::printf("TPOT: mean %.1f ms, p50 %.1f ms, p99 %.1f ms\n", p.mean * 1e3, p.p50 * 1e3,
                p.p99 * 1e3);
    std::printf("engine: %lld steps, %.1f tokens per step, %lld preemptions, KV waste %.2f%%\n",
                (long long)steps, tokens_per_step,
                (long long)(after.num_preemptions - before.num_preemptions), kv_waste * 100);
    std::printf("forward passes: %s, %s\n", describe(decode, "decode-only").c_str(),
                describe(prompt, "with prompt tokens").c_str());
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace kiln::cli
