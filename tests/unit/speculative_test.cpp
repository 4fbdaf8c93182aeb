// Speculative decoding: the n-gram proposer, the sampler's check of a guess (its output
// must be distributed exactly as plain sampling, judged by chi-square against the analytic
// distribution), and the engine with speculation on against its "off" run and the
// fake backend's reference (greedy identical token for token; sampled distributions that a
// two-sample chi-square cannot tell apart).
#include "engine/speculative.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "engine/engine_core.h"
#include "engine/sampler.h"
#include "fake_backend.h"

namespace kiln {
namespace {

using testing::FakeBackend;
using testing::reference_greedy;

// Chi-square critical values at significance 0.001, by degrees of freedom (1-based).
double chi2_critical_001(int df) {
  static const double table[] = {10.83, 13.82, 16.27, 18.47, 20.52, 22.46, 24.32, 26.12,
                                 27.88, 29.59, 31.26, 32.91, 34.53, 36.12, 37.70, 39.25,
                                 40.79, 42.31, 43.82, 45.31, 46.80, 48.27, 49.73, 51.18,
                                 52.62, 54.05, 55.48, 56.89, 58.30, 59.70};
  if (df >= 1 && df <= 30) return table[df - 1];
  // Wilson-Hilferty for larger df, z = 3.09.
  const double k = df, z = 3.0902;
  return k * std::pow(1 - 2 / (9 * k) + z * std::sqrt(2 / (9 * k)), 3);
}

TEST(SpeculativeNgram, ProposesWhatFollowedTheLatestMatch) {
  std::vector<int32_t> out;
  // "5 6" occurs twice before the end; the later one is followed by 9 8.
  propose_ngram(std::vector<int32_t>{5, 6, 7, 1, 5, 6, 9, 8, 2, 5, 6}, 3, 2, 4, out);
  EXPECT_EQ(out, (std::vector<int32_t>{9, 8, 2}));
  // The longest n-gram wins over a later, shorter one: "1 2 3" -> 4; "3" alone -> 0.
  propose_ngram(std::vector<int32_t>{1, 2, 3, 4, 3, 0, 1, 2, 3}, 1, 1, 3, out);
  EXPECT_EQ(out, (std::vector<int32_t>{4}));
  // k is a cap; the continuation may be shorter (it runs to the end of the sequence).
  propose_ngram(std::vector<int32_t>{7, 7, 7}, 5, 1, 2, out);
  EXPECT_EQ(out, (std::vector<int32_t>{7}));
  // Nothing repeats, or below prompt_lookup_min: no proposal.
  propose_ngram(std::vector<int32_t>{1, 2, 3, 4}, 3, 1, 3, out);
  EXPECT_TRUE(out.empty());
  propose_ngram(std::vector<int32_t>{1, 2, 9, 2}, 3, 2, 3, out);
  EXPECT_TRUE(out.empty());
  propose_ngram(std::vector<int32_t>{}, 3, 1, 3, out);
  EXPECT_TRUE(out.empty());
}

TEST(SpeculativeConfig, ValidationNamesTheField) {
  SpeculativeConfig c;
  c.method = SpeculativeConfig::Method::kNgram;
  c.num_speculative_tokens = 0;
  EXPECT_NE(c.validate().message().find("num_speculative_tokens"), std::string::npos);
  c.num_speculative_tokens = 17;
  EXPECT_NE(c.validate().message().find("num_speculative_tokens"), std::string::npos);
  c.num_speculative_tokens = 4;
  c.prompt_lookup_min = 3;
  c.prompt_lookup_max = 2;
  EXPECT_NE(c.validate().message().find("prompt_lookup_max"), std::string::npos);
  c.prompt_lookup_max = 5;
  EXPECT_TRUE(c.validate().ok());
}

// The analytic distribution of temperature + top-k sampling over `logits`.
std::vector<double> analytic(const std::vector<float>& logits, float temperature, int top_k) {
  std::vector<float> sorted = logits;
  std::sort(sorted.rbegin(), sorted.rend());
  const float kth = top_k > 0 ? sorted[(size_t)top_k - 1] : -INFINITY;
  std::vector<double> p(logits.size());
  double total = 0;
  for (size_t i = 0; i < logits.size(); ++i)
    if (logits[i] >= kth) total += p[i] = std::exp((double)logits[i] / temperature);
  for (double& x : p) x /= total;
  return p;
}

double chi2_against(const std::vector<int64_t>& counts, const std::vector<double>& p, int64_t n,
                    int& df) {
  double chi2 = 0;
  df = -1;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == 0) {
      EXPECT_EQ(counts[i], 0) << "token " << i << " has probability 0";
      continue;
    }
    const double e = p[i] * (double)n;
    chi2 += (counts[i] - e) * (counts[i] - e) / e;
    ++df;
  }
  return chi2;
}

// verify() with any draft returns tokens distributed as the target's own distribution.
TEST(SamplerVerify, TokensFollowTheTargetDistributionWhateverTheDraft) {
  const std::vector<float> logits = {1.0f, 2.5f, 0.3f, 2.2f, -1.0f, 1.7f, 0.0f};
  const int64_t vocab = (int64_t)logits.size();
  struct Case {
    float temperature;
    int top_k;
    int32_t draft;
  };
  // The likeliest token, a middling one, one cut by top-k.
  for (const Case c : {Case{1.0f, 0, 1}, Case{1.0f, 0, 2}, Case{0.7f, 0, 5}, Case{0.7f, 4, 6},
                       Case{1.0f, 3, 3}}) {
    SamplingParams params;
    params.temperature = c.temperature;
    params.top_k = c.top_k;
    SequenceSampler sampler(params, 1234 + c.draft, {}, vocab);
    const int64_t n = 40000;
    std::vector<int64_t> counts(vocab, 0);
    int64_t accepted = 0;
    for (int64_t i = 0; i < n; ++i) {
      std::vector<float> row = logits;
      bool ok = false;
      const SampledToken t = sampler.verify(row, {}, c.draft, ok);
      ++counts[(size_t)t.token];
      accepted += ok;
      EXPECT_EQ(ok, t.token == c.draft);
    }
    const std::vector<double> p = analytic(logits, c.temperature, c.top_k);
    int df = 0;
    const double chi2 = chi2_against(counts, p, n, df);
    EXPECT_LT(chi2, chi2_critical_001(df))
        << "temperature " << c.temperature << " top_k " << c.top_k << " draft " << c.draft;
    // The draft is accepted exactly as often as the target would pick it.
    const double rate = (double)accepted / (double)n, expect = p[(size_t)c.draft];
    EXPECT_NEAR(rate, expect, 4 * std::sqrt(expect * (1 - expect) / (double)n) + 1e-9);
  }
}

TEST(SamplerVerify, GreedyAcceptsExactlyTheArgmaxAndReportsSampleLogprobs) {
  const std::vector<float> logits = {0.5f, 3.0f, 1.0f, 2.9f};
  SamplingParams params;
  params.temperature = 0;
  params.logprobs = 2;
  SequenceSampler a(params, 1, {}, 4), b(params, 1, {}, 4);
  for (int32_t draft = 0; draft < 4; ++draft) {
    std::vector<float> r1 = logits, r2 = logits;
    bool ok = false;
    const SampledToken v = a.verify(r1, {}, draft, ok);
    const SampledToken s = b.sample(r2);
    EXPECT_EQ(v.token, 1);
    EXPECT_EQ(ok, draft == 1);
    EXPECT_FLOAT_EQ(v.logprob, s.logprob);
    ASSERT_EQ(v.top.size(), s.top.size());
    for (size_t i = 0; i < v.top.size(); ++i) EXPECT_EQ(v.top[i].token, s.top[i].token);
  }
}

// ---- the engine with speculation ----

EngineConfig spec_config(int32_t k, int32_t disable_by = 1000, int32_t budget = 256) {
  EngineConfig c;
  c.scheduler.max_num_batched_tokens = budget;
  c.scheduler.max_num_seqs = 512;
  c.speculative.method = SpeculativeConfig::Method::kNgram;
  c.speculative.num_speculative_tokens = k;
  c.speculative.prompt_lookup_min = 1;
  c.speculative.prompt_lookup_max = 3;
  c.speculative.disable_by_batch_size = disable_by;
  return c;
}

// The fake backend with its logits scaled (its own span [0, 16) makes nearly deterministic
// distributions; the distribution test wants several likely tokens).
class ScaledBackend final : public ExecutionBackend {
 public:
  ScaledBackend(int32_t num_blocks, int64_t vocab, float scale)
      : inner_(num_blocks, 4, vocab, 4096), scale_(scale) {}
  int64_t vocab_size() const override { return inner_.vocab_size(); }
  int32_t num_kv_blocks() const override { return inner_.num_kv_blocks(); }
  int32_t kv_block_size() const override { return inner_.kv_block_size(); }
  int32_t max_batch_tokens() const override { return inner_.max_batch_tokens(); }
  void copy_blocks(std::span<const BlockCopy> copies) override { inner_.copy_blocks(copies); }
  Status forward(const ForwardBatch& batch, float* logits) override {
    const Status s = inner_.forward(batch, logits);
    for (size_t i = 0; i < batch.logit_rows.size() * (size_t)vocab_size(); ++i) logits[i] *= scale_;
    return s;
  }
  const std::vector<int32_t>& step_tokens() const { return inner_.step_tokens; }

 private:
  FakeBackend inner_;
  float scale_;
};

struct EngineRun {
  std::map<uint64_t, std::vector<int32_t>> tokens;
  std::map<uint64_t, FinishReason> finish;
  EngineStats stats;
  size_t steps = 0;
  int32_t used_blocks = 0;
};

// Runs the requests through an engine over a fake backend of `vocab` tokens.
EngineRun run_engine(const EngineConfig& config, int64_t vocab, int32_t num_blocks,
               const std::vector<GenerationRequest>& requests, float logit_scale = 1.0f) {
  ScaledBackend backend(num_blocks, vocab, logit_scale);
  EngineCore core(backend, nullptr, config);
  std::map<uint64_t, std::shared_ptr<RequestStream>> streams;
  uint64_t id = 1;
  for (const GenerationRequest& r : requests) {
    EXPECT_TRUE(core.validate(r).ok());
    auto stream = std::make_shared<RequestStream>(id, r.sampling.n);
    streams[id] = stream;
    core.add_request(id++, r, stream);
  }
  EngineRun run;
  for (int i = 0; i < 100000 && core.has_work(); ++i) core.step();
  EXPECT_FALSE(core.has_work());
  for (auto& [rid, stream] : streams)
    while (auto out = stream->try_next()) {
      const SampleOutput& s = out->samples[0];
      auto& t = run.tokens[rid];
      t.insert(t.end(), s.token_ids.begin(), s.token_ids.end());
      if (s.finish_reason) run.finish[rid] = *s.finish_reason;
      EXPECT_TRUE(out->error.ok()) << out->error.message();
    }
  for (int32_t n : backend.step_tokens()) EXPECT_LE(n, config.scheduler.max_num_batched_tokens);
  run.stats = core.stats();
  run.steps = backend.step_tokens().size();
  run.used_blocks = core.kv_cache().num_used_blocks();
  return run;
}

std::vector<int32_t> prompt_over(std::mt19937& rng, int64_t vocab, int32_t n) {
  std::vector<int32_t> p(n);
  for (auto& t : p) t = (int32_t)(rng() % vocab);
  return p;
}

TEST(EngineSpeculative, GreedyOutputsEqualTheReferenceAloneAndInABatch) {
  const int64_t vocab = 3;  // so that n-grams repeat and many guesses are right
  std::mt19937 rng(5);
  std::vector<GenerationRequest> requests;
  for (int i = 0; i < 16; ++i) {
    GenerationRequest r;
    r.prompt = prompt_over(rng, vocab, 3 + 7 * i % 40);
    r.sampling.temperature = 0;
    r.sampling.max_tokens = 5 + 11 * i % 37;
    if (i % 5 == 4) r.sampling.stop_token_ids = {2};
    requests.push_back(r);
  }
  for (int32_t k : {1, 3, 5}) {
    for (bool alone : {true, false}) {
      // Alone: one request at a time; in a batch: all 16 together, some speculating and
      // some (disable_by_batch_size) not: with 8 the first steps run without guesses.
      const EngineRun run = alone ? EngineRun{} : run_engine(spec_config(k, 8), vocab, 512, requests);
      for (size_t i = 0; i < requests.size(); ++i) {
        const EngineRun one = alone ? run_engine(spec_config(k), vocab, 512, {requests[i]}) : EngineRun{};
        const auto& got = alone ? one.tokens.at(1) : run.tokens.at(i + 1);
        std::vector<int32_t> eos = requests[i].sampling.stop_token_ids;
        EXPECT_EQ(got, reference_greedy(requests[i].prompt, vocab, requests[i].sampling.max_tokens, eos))
            << "k " << k << (alone ? " alone" : " batch") << " request " << i;
        if (alone) {
          EXPECT_EQ(one.used_blocks, 0);
        }
      }
      if (!alone) {
        EXPECT_EQ(run.used_blocks, 0);
        EXPECT_GT(run.stats.spec_drafts, 0);
        EXPECT_GT(run.stats.spec_accepted_tokens, 0);
        EXPECT_LE(run.stats.spec_accepted_tokens, run.stats.spec_draft_tokens);
        int64_t per_position = 0;
        for (int64_t a : run.stats.spec_accepted_per_position) per_position += a;
        EXPECT_EQ(per_position, run.stats.spec_accepted_tokens);
      }
    }
  }
}

TEST(EngineSpeculative, FewerStepsWithTheSameTokens) {
  const int64_t vocab = 2;
  std::mt19937 rng(9);
  GenerationRequest r;
  r.prompt = prompt_over(rng, vocab, 24);
  r.sampling.temperature = 0;
  r.sampling.max_tokens = 200;
  EngineConfig off = spec_config(4);
  off.speculative.method = SpeculativeConfig::Method::kNone;
  const EngineRun with = run_engine(spec_config(4), vocab, 512, {r});
  const EngineRun without = run_engine(off, vocab, 512, {r});
  EXPECT_EQ(with.tokens.at(1), without.tokens.at(1));
  EXPECT_EQ(with.tokens.at(1).size(), 200u);  // never past max_tokens
  EXPECT_EQ(with.finish.at(1), FinishReason::kLength);
  EXPECT_EQ(without.stats.spec_drafts, 0);
  EXPECT_LT(with.steps, without.steps);
  EXPECT_EQ(with.stats.generation_tokens, 200);
}

TEST(EngineSpeculative, TinyPoolPreemptsAndStillMatches) {
  const int64_t vocab = 3;
  std::mt19937 rng(13);
  std::vector<GenerationRequest> requests;
  for (int i = 0; i < 8; ++i) {
    GenerationRequest r;
    r.prompt = prompt_over(rng, vocab, 10 + i);
    r.sampling.temperature = 0;
    r.sampling.max_tokens = 30;
    requests.push_back(r);
  }
  // 24 blocks of 4 tokens: 8 sequences of up to 50 tokens cannot all fit.
  const EngineRun run = run_engine(spec_config(4), vocab, 24, requests);
  EXPECT_GT(run.stats.num_preemptions, 0);
  EXPECT_GT(run.stats.spec_accepted_tokens, 0);
  for (size_t i = 0; i < requests.size(); ++i)
    EXPECT_EQ(run.tokens.at(i + 1), reference_greedy(requests[i].prompt, vocab, 30, {}));
  EXPECT_EQ(run.used_blocks, 0);
}

// Sampling: the first three tokens of 3,000 seeded samples with speculation and 3,000
// without fall into the same cells; a two-sample chi-square at significance 0.001 must not
// tell them apart, for temperature 1 with top-p 0.9 and temperature 0.7.
TEST(EngineSpeculative, SampledDistributionIsUnchanged) {
  const int64_t vocab = 4;
  const std::vector<int32_t> prompt = {1, 2, 3, 1, 2, 3, 1, 2, 0, 3, 1, 2};
  for (const auto& setting : {std::pair{1.0f, 0.9f}, std::pair{0.7f, 1.0f}}) {
    // Named copies: clang before 16 cannot capture structured bindings in a lambda.
    const float temperature = setting.first, top_p = setting.second;
    auto histogram = [&](bool spec, uint64_t seed_base, int64_t& drafts) {
      std::vector<GenerationRequest> requests;
      for (int i = 0; i < 3000; ++i) {
        GenerationRequest r;
        r.prompt = prompt;
        r.sampling.temperature = temperature;
        r.sampling.top_p = top_p;
        r.sampling.seed = seed_base + (uint64_t)i;
        r.sampling.max_tokens = 3;
        requests.push_back(r);
      }
      EngineConfig config = spec_config(2, 100000, 4096);
      if (!spec) config.speculative.method = SpeculativeConfig::Method::kNone;
      const EngineRun run = run_engine(config, vocab, 8192, requests, 0.15f);
      drafts = run.stats.spec_drafts;
      std::vector<int64_t> cells(64, 0);
      for (const auto& [id, t] : run.tokens) {
        EXPECT_EQ(t.size(), 3u);
        ++cells[(size_t)(t[0] * 16 + t[1] * 4 + t[2])];
      }
      return cells;
    };
    int64_t drafts_on = 0, drafts_off = 0;
    // Different seeds on each side: the samples are independent draws.
    const std::vector<int64_t> on = histogram(true, 1, drafts_on);
    const std::vector<int64_t> off = histogram(false, 100001, drafts_off);
    EXPECT_GT(drafts_on, 1000);
    EXPECT_EQ(drafts_off, 0);
    double chi2 = 0;
    int df = -1;
    for (size_t c = 0; c < on.size(); ++c) {
      const double total = (double)(on[c] + off[c]);
      if (total < 10) continue;  // too few in the cell for the approximation
      const double e = total / 2;
      chi2 += (on[c] - e) * (on[c] - e) / e + (off[c] - e) * (off[c] - e) / e;
      ++df;
    }
    ASSERT_GT(df, 4);
    EXPECT_LT(chi2, chi2_critical_001(df)) << "temperature " << temperature << " top_p " << top_p;
  }
}

}  // namespace
}  // namespace kiln
