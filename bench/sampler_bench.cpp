// SequenceSampler::sample per call at SmolLM2's (49152) and Qwen2.5's (151936) vocabulary
// sizes: greedy (a plain argmax), OpenAI-style temperature 0.8 + top_p 0.95 with 5
// logprobs, and kiln run's defaults (top_k 40). "peaked" logits look like a language
// model's (a few clear candidates over a normal background); "flat" ones (normal, sd 1)
// keep thousands of tokens in the nucleus, the slow case. Each call samples a fresh copy
// of the logits (the sampler overwrites them); copy_only times that copy alone.
//
//   kiln_micro_bench --benchmark_filter=sampler/
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "engine/sampler.h"

namespace kiln {
namespace {

std::vector<float> make_logits(int64_t vocab, bool peaked) {
  std::mt19937 gen(1);
  std::normal_distribution<float> normal(0.0f, peaked ? 2.0f : 1.0f);
  std::vector<float> logits(vocab);
  for (float& x : logits) x = normal(gen);
  if (peaked)
    for (int i = 0; i < 8; ++i) logits[(i * 7919) % vocab] = 16.0f - (float)i;
  return logits;
}

void bm_sample(benchmark::State& state, SamplingParams params, int64_t vocab, bool peaked,
               bool copy_only) {
  const std::vector<float> logits = make_logits(vocab, peaked);
  std::vector<float> scratch(logits.size());
  SequenceSampler sampler(params, 1234, {}, vocab);
  for (auto _ : state) {
    std::copy(logits.begin(), logits.end(), scratch.begin());
    if (!copy_only) benchmark::DoNotOptimize(sampler.sample(scratch));
    benchmark::ClobberMemory();
  }
}

const bool registered = [] {
  SamplingParams greedy;
  greedy.temperature = 0;
  SamplingParams top_p;
  top_p.temperature = 0.8f;
  top_p.top_p = 0.95f;
  top_p.logprobs = 5;
  SamplingParams cli;
  cli.temperature = 0.8f;
  cli.top_k = 40;
  cli.top_p = 0.95f;
  struct Case {
    const char* name;
    SamplingParams params;
    bool copy_only;
  };
  const Case cases[] = {{"copy_only", greedy, true},
                        {"greedy", greedy, false},
                        {"t0.8_top_p0.95_logprobs5", top_p, false},
                        {"t0.8_top_k40_top_p0.95", cli, false}};
  for (int64_t vocab : {49152, 151936})
    for (bool peaked : {true, false})
      for (const Case& c : cases) {
        const std::string name = std::string("sampler/") + c.name +
                                 "/vocab:" + std::to_string(vocab) + (peaked ? "/peaked" : "/flat");
        benchmark::RegisterBenchmark(name.c_str(), bm_sample, c.params, vocab, peaked, c.copy_only)
            ->Unit(benchmark::kMicrosecond);
      }
  return true;
}();

}  // namespace
}  // namespace kiln
