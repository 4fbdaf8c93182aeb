#include "engine/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <numeric>
#include <random>
#include <vector>

namespace kiln {
namespace {

SamplingParams greedy_with_logprobs(int32_t k) {
  SamplingParams p;
  p.temperature = 0;
  p.logprobs = k;
  return p;
}

SampledToken sample_once(const SamplingParams& p, std::vector<float> logits,
                         std::span<const int32_t> prompt = {},
                         std::span<const int32_t> suppressed = {}, uint64_t seed = 1) {
  SequenceSampler s(p, seed, prompt, (int64_t)logits.size());
  return s.sample(logits, suppressed);
}

std::vector<double> log_softmax(const std::vector<double>& x) {
  const double m = *std::max_element(x.begin(), x.end());
  double sum = 0;
  for (double v : x) sum += std::exp(v - m);
  std::vector<double> out;
  for (double v : x) out.push_back(v - m - std::log(sum));
  return out;
}

// token -> logprob from a SampledToken's top list.
std::map<int32_t, double> top_map(const SampledToken& t) {
  std::map<int32_t, double> m;
  for (const auto& e : t.top) m[e.token] = e.logprob;
  return m;
}

// Expects `t.top` to be exactly the tokens of `expected` (logits of the kept set, before
// renormalisation), with log-softmax logprobs over them, best first.
void expect_kept(const SampledToken& t, const std::map<int32_t, double>& expected) {
  std::vector<double> x;
  for (const auto& [tok, v] : expected) x.push_back(v);
  const std::vector<double> lp = log_softmax(x);
  ASSERT_EQ(t.top.size(), expected.size());
  size_t i = 0;
  const auto got = top_map(t);
  for (const auto& [tok, v] : expected) {
    ASSERT_TRUE(got.count(tok)) << "token " << tok << " missing";
    EXPECT_NEAR(got.at(tok), lp[i++], 1e-5) << "token " << tok;
  }
  for (size_t j = 1; j < t.top.size(); ++j) EXPECT_GE(t.top[j - 1].logprob, t.top[j].logprob);
}

std::vector<int> counts(const SamplingParams& p, const std::vector<float>& logits, int draws,
                        uint64_t seed = 7) {
  SequenceSampler s(p, seed, {}, (int64_t)logits.size());
  std::vector<int> c(logits.size());
  std::vector<float> scratch;
  for (int i = 0; i < draws; ++i) {
    scratch = logits;
    ++c[s.sample(scratch).token];
  }
  return c;
}

std::vector<float> log_probs_of(std::initializer_list<double> probs) {
  std::vector<float> l;
  for (double p : probs) l.push_back((float)std::log(p));
  return l;
}

TEST(Argmax, TiesGoToTheLowestId) {
  EXPECT_EQ(argmax(std::vector<float>{1, 3, 3, 2}), 1);
  EXPECT_EQ(argmax(std::vector<float>{5}), 0);
}

TEST(SequenceSampler, GreedyTakesTheArgmaxLowestIdOnTies) {
  SamplingParams p;
  p.temperature = 0;
  EXPECT_EQ(sample_once(p, {0.1f, 3.0f, -1.0f, 2.9f}).token, 1);
  EXPECT_EQ(sample_once(p, {0.1f, 3.0f, 3.0f, 3.0f}).token, 1);
  p.temperature = 1e-6f;  // below vLLM's epsilon: greedy too
  EXPECT_EQ(sample_once(p, {0.1f, 3.0f, 3.0f, 3.0f}).token, 1);
}

TEST(SequenceSampler, GreedyLogprobsAreTheLogSoftmaxAtTemperatureOne) {
  const SampledToken t = sample_once(greedy_with_logprobs(4), {1.0f, 2.0f, 0.5f, -1.0f});
  EXPECT_EQ(t.token, 1);
  expect_kept(t, {{0, 1.0}, {1, 2.0}, {2, 0.5}, {3, -1.0}});
  EXPECT_NEAR(t.logprob, log_softmax({1, 2, 0.5, -1})[1], 1e-6);
  EXPECT_EQ(t.top[0].token, 1);
}

TEST(SequenceSampler, LogprobsOffOrChosenOnly) {
  SamplingParams p;
  p.temperature = 0;
  SampledToken t = sample_once(p, {1.0f, 2.0f});
  EXPECT_EQ(t.logprob, 0.0f);
  EXPECT_TRUE(t.top.empty());
  p.logprobs = 0;
  t = sample_once(p, {1.0f, 2.0f});
  EXPECT_NEAR(t.logprob, log_softmax({1, 2})[1], 1e-6);
  EXPECT_TRUE(t.top.empty());
}

TEST(SequenceSampler, LogitBiasForcesAndBans) {
  SamplingParams p;
  p.temperature = 0;
  p.logit_bias = {{3, 100.0f}};
  EXPECT_EQ(sample_once(p, {5.0f, 1.0f, 2.0f, -3.0f}).token, 3);
  p.logit_bias = {{0, -100.0f}};
  EXPECT_EQ(sample_once(p, {5.0f, 1.0f, 2.0f, -3.0f}).token, 2);
  // Sampling at temperature 1 never picks a token banned by -100 next to logits near 0.
  p.temperature = 1.0f;
  p.logit_bias = {{1, -100.0f}};
  EXPECT_EQ(counts(p, {0.0f, 0.0f}, 2000)[1], 0);
  // Exact arithmetic: bias adds to the logit; entries for one id add up.
  p = greedy_with_logprobs(3);
  p.logit_bias = {{1, 1.5f}, {2, -0.5f}, {1, 0.25f}};
  expect_kept(sample_once(p, {1.0f, 0.0f, 2.0f}), {{0, 1.0}, {1, 1.75}, {2, 1.5}});
}

TEST(SequenceSampler, RepetitionPenaltyDividesPositiveAndMultipliesNegativeLogits) {
  SamplingParams p = greedy_with_logprobs(5);
  p.repetition_penalty = 2.0f;
  const std::vector<int32_t> prompt = {0, 1, 1};
  SequenceSampler s(p, 1, prompt, 5);
  s.accept(2);
  std::vector<float> logits = {2.0f, -1.0f, 0.5f, 3.0f, 0.0f};
  const SampledToken t = s.sample(logits);
  // Prompt and output tokens alike, once however often they occurred; 0 stays 0.
  expect_kept(t, {{0, 1.0}, {1, -2.0}, {2, 0.25}, {3, 3.0}, {4, 0.0}});
  // A penalty below 1 encourages instead.
  p.repetition_penalty = 0.5f;
  expect_kept(sample_once(p, {2.0f, -1.0f, 0.0f}, prompt), {{0, 4.0}, {1, -0.5}, {2, 0.0}});
}

TEST(SequenceSampler, FrequencyAndPresencePenaltiesCountOutputTokensOnly) {
  SamplingParams p = greedy_with_logprobs(4);
  p.frequency_penalty = 0.5f;
  p.presence_penalty = 0.25f;
  const std::vector<int32_t> prompt = {3, 3};
  SequenceSampler s(p, 1, prompt, 4);
  s.accept(1);
  s.accept(1);
  s.accept(2);
  std::vector<float> logits = {1.0f, 1.0f, 1.0f, 1.0f};
  // 1: -(0.5 * 2 + 0.25); 2: -(0.5 * 1 + 0.25); 3 (prompt only): untouched.
  expect_kept(s.sample(logits), {{0, 1.0}, {1, -0.25}, {2, 0.25}, {3, 1.0}});
  s.accept(2);  // counts grow incrementally
  logits = {1.0f, 1.0f, 1.0f, 1.0f};
  expect_kept(s.sample(logits), {{0, 1.0}, {1, -0.25}, {2, -0.25}, {3, 1.0}});
  // Negative penalties encourage.
  p.frequency_penalty = -1.0f;
  p.presence_penalty = -2.0f;
  SequenceSampler e(p, 1, {}, 2);
  e.accept(1);
  logits = {1.0f, 0.0f};
  expect_kept(e.sample(logits), {{0, 1.0}, {1, 3.0}});
}

TEST(SequenceSampler, BiasThenRepetitionThenFrequency) {
  SamplingParams p = greedy_with_logprobs(2);
  p.logit_bias = {{0, 2.0f}};
  p.repetition_penalty = 2.0f;
  p.frequency_penalty = 1.0f;
  SequenceSampler s(p, 1, {}, 2);
  s.accept(0);
  std::vector<float> logits = {-1.0f, 0.0f};
  // (-1 + 2) / 2 - 1 = -0.5; the other orders give -1, -2 or -1.5.
  expect_kept(s.sample(logits), {{0, -0.5}, {1, 0.0}});
}

TEST(SequenceSampler, SuppressedIdsAreNeverChosenNorListed) {
  SamplingParams p = greedy_with_logprobs(3);
  const std::vector<int32_t> suppressed = {1};
  const SampledToken t = sample_once(p, {1.0f, 5.0f, 0.0f}, {}, suppressed);
  EXPECT_EQ(t.token, 0);
  expect_kept(t, {{0, 1.0}, {2, 0.0}});
  p.temperature = 2.0f;
  SequenceSampler s(p, 3, {}, 3);
  for (int i = 0; i < 500; ++i) {
    std::vector<float> logits = {0.0f, 3.0f, 0.0f};
    EXPECT_NE(s.sample(logits, suppressed).token, 1);
  }
}

TEST(SequenceSampler, TemperatureScalesTheLogits) {
  SamplingParams p;
  p.temperature = 0.5f;
  p.logprobs = 3;
  expect_kept(sample_once(p, {1.0f, 0.0f, -1.0f}), {{0, 2.0}, {1, 0.0}, {2, -2.0}});
  p.temperature = 4.0f;
  expect_kept(sample_once(p, {1.0f, 0.0f, -1.0f}), {{0, 0.25}, {1, 0.0}, {2, -0.25}});
}

TEST(SequenceSampler, TopKKeepsTheKLargestAndTheirTies) {
  SamplingParams p;
  p.top_k = 2;
  p.logprobs = 5;  // more than are kept: only the kept are listed
  const std::vector<float> logits = {1.0f, 4.0f, 2.0f, 3.0f, 0.0f};
  expect_kept(sample_once(p, logits), {{1, 4.0}, {3, 3.0}});
  const auto c = counts(p, logits, 2000);
  EXPECT_EQ(c[0] + c[2] + c[4], 0);
  EXPECT_GT(c[1], 0);
  EXPECT_GT(c[3], 0);
  // Logits equal to the k-th largest stay, as in vLLM.
  expect_kept(sample_once(p, {3.0f, 1.0f, 3.0f, 3.0f}), {{0, 3.0}, {2, 3.0}, {3, 3.0}});
  p.top_k = -1;  // off
  EXPECT_EQ(sample_once(p, logits).top.size(), 5u);
  p.top_k = 1;
  EXPECT_EQ(counts(p, logits, 200)[1], 200);
}

TEST(SequenceSampler, TopPKeepsTheSmallestPrefixReachingP) {
  SamplingParams p;
  p.logprobs = 4;
  const std::vector<float> logits = log_probs_of({0.15, 0.5, 0.05, 0.3});
  p.top_p = 0.7f;  // 0.5 < 0.7 <= 0.8
  expect_kept(sample_once(p, logits), {{1, logits[1]}, {3, logits[3]}});
  EXPECT_NEAR(sample_once(p, logits).top[0].logprob, std::log(0.5 / 0.8), 1e-6);
  p.top_p = 0.85f;
  expect_kept(sample_once(p, logits), {{0, logits[0]}, {1, logits[1]}, {3, logits[3]}});
  p.top_p = 0.4f;
  expect_kept(sample_once(p, logits), {{1, logits[1]}});
  const auto c = counts(p, logits, 500);
  EXPECT_EQ(c[1], 500);
}

TEST(SequenceSampler, TopPMeasuresTheDistributionLeftByTopK) {
  SamplingParams p;
  p.logprobs = 4;
  const std::vector<float> logits = log_probs_of({0.4, 0.3, 0.2, 0.1});
  p.top_p = 0.5f;
  expect_kept(sample_once(p, logits), {{0, logits[0]}, {1, logits[1]}});
  p.top_k = 2;  // renormalised: 0.57, 0.43, so top-p 0.5 keeps one
  expect_kept(sample_once(p, logits), {{0, logits[0]}});
}

TEST(SequenceSampler, MinPKeepsTokensAtLeastMinPTimesTheLargest) {
  SamplingParams p;
  p.logprobs = 4;
  const std::vector<float> logits = log_probs_of({0.15, 0.5, 0.05, 0.3});
  p.min_p = 0.25f;  // floor 0.125
  expect_kept(sample_once(p, logits), {{0, logits[0]}, {1, logits[1]}, {3, logits[3]}});
  p.min_p = 0.7f;  // floor 0.35
  expect_kept(sample_once(p, logits), {{1, logits[1]}});
  p.min_p = 0.25f;  // after top-p: ratios survive renormalisation
  p.top_p = 0.7f;
  expect_kept(sample_once(p, logits), {{1, logits[1]}, {3, logits[3]}});
}

TEST(SequenceSampler, LogprobsOfTheChosenTokenMatchItsEntryAndSumToOne) {
  SamplingParams p;
  p.temperature = 0.8f;
  p.top_p = 0.9f;
  p.logprobs = 20;
  std::mt19937 gen(3);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::vector<float> logits(64);
  for (float& x : logits) x = normal(gen);
  SequenceSampler s(p, 11, {}, 64);
  for (int i = 0; i < 50; ++i) {
    std::vector<float> scratch = logits;
    const SampledToken t = s.sample(scratch);
    const auto m = top_map(t);
    double mass = 0;
    for (const auto& [tok, lp] : m) mass += std::exp(lp);
    if (t.top.size() < 20u) {  // the whole kept set is listed
      EXPECT_NEAR(mass, 1.0, 1e-5);
      ASSERT_TRUE(m.count(t.token));
    }
    if (m.count(t.token)) {
      EXPECT_NEAR(m.at(t.token), t.logprob, 1e-6);
    }
  }
}

// The nucleus and min-p on a real-sized vocabulary against a plain full sort: checks the
// prefilter and the chunked selection.
TEST(SequenceSampler, LargeVocabularyKeptSetMatchesAFullSort) {
  const int64_t vocab = 50000;
  std::mt19937 gen(5);
  std::vector<float> logits(vocab);
  // Peaked (a few hundred in the nucleus) and flat (tens of thousands) distributions.
  for (float sd : {3.0f, 0.3f}) {
    std::normal_distribution<float> normal(0.0f, sd);
    for (float& x : logits) x = normal(gen);
    for (int i = 0; i < 100; ++i) logits[i * 7] = logits[3];  // ties
    for (float top_p : {0.3f, 0.9f, 0.99f, 1.0f}) {
      for (float min_p : {0.0f, 0.01f}) {
        for (int32_t top_k : {0, 1000}) {
          SamplingParams p;
          p.temperature = 0.7f;
          p.top_p = top_p;
          p.min_p = min_p;
          p.top_k = top_k;
          p.logprobs = 20;
          // Reference: weights, best first, ties by id.
          std::vector<std::pair<double, int32_t>> w;
          const float mx = *std::max_element(logits.begin(), logits.end());
          for (int32_t i = 0; i < vocab; ++i) w.push_back({std::exp((logits[i] - mx) / 0.7), i});
          std::sort(w.begin(), w.end(), [](auto& a, auto& b) {
            return a.first > b.first || (a.first == b.first && a.second < b.second);
          });
          size_t n = top_k > 0 ? (size_t)top_k : w.size();
          double total = 0, cum = 0;
          for (size_t i = 0; i < n; ++i) total += w[i].first;
          size_t kept = n;
          if (top_p < 1) {
            for (size_t i = 0; i < n; ++i)
              if ((cum += w[i].first) >= top_p * total) {
                kept = i + 1;
                break;
              }
          }
          while (kept > 1 && w[kept - 1].first < min_p * w[0].first) --kept;
          double kept_total = 0;
          for (size_t i = 0; i < kept; ++i) kept_total += w[i].first;
          SequenceSampler s(p, 9, {}, vocab);
          for (int draw = 0; draw < 20; ++draw) {
            std::vector<float> scratch = logits;
            const SampledToken t = s.sample(scratch);
            ASSERT_EQ(t.top.size(), std::min<size_t>(20, kept))
                << sd << " " << top_p << " " << min_p << " " << top_k;
            for (size_t i = 0; i < t.top.size(); ++i) {
              EXPECT_EQ(t.top[i].token, w[i].second);
              EXPECT_NEAR(t.top[i].logprob, std::log(w[i].first / kept_total), 1e-4);
            }
            bool in_kept = false;
            for (size_t i = 0; i < kept; ++i) in_kept |= w[i].second == t.token;
            EXPECT_TRUE(in_kept);
          }
        }
      }
    }
  }
}

TEST(SequenceSampler, SameSeedSameTokensWhateverElseRuns) {
  SamplingParams p;
  p.temperature = 1.0f;
  std::mt19937 gen(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> logits(1000);
  for (float& x : logits) x = normal(gen);
  auto run = [&](uint64_t seed, bool interleave) {
    SequenceSampler s(p, seed, {}, 1000);
    SequenceSampler other(p, seed + 1, {}, 1000);
    std::vector<int32_t> out;
    for (int i = 0; i < 100; ++i) {
      std::vector<float> scratch = logits;
      if (interleave) (void)other.sample(scratch);
      scratch = logits;
      out.push_back(s.sample(scratch).token);
    }
    return out;
  };
  EXPECT_EQ(run(42, false), run(42, true));
  EXPECT_NE(run(42, false), run(43, false));
}

// Chi-square goodness of fit (3 degrees of freedom; 16.27 is the 0.1% critical value),
// through each of the sampler's three ways to hold the kept set. Seeded, so not flaky.
TEST(SequenceSampler, DrawsFollowTheDistribution) {
  const std::vector<double> probs = {0.1, 0.2, 0.3, 0.4};
  std::vector<float> logits = log_probs_of({0.1, 0.2, 0.3, 0.4, 1e-9, 1e-9});
  for (int path = 0; path < 3; ++path) {
    SamplingParams p;
    if (path == 1) p.top_k = 4;
    if (path == 2) p.top_p = 0.9999f;
    const int draws = 20000;
    const auto c = counts(p, logits, draws, 100 + path);
    double chi2 = 0;
    for (size_t i = 0; i < probs.size(); ++i)
      chi2 += std::pow(c[i] - draws * probs[i], 2) / (draws * probs[i]);
    EXPECT_LT(chi2, 16.27) << "path " << path;
    EXPECT_LE(c[4] + c[5], 2);
  }
  // Temperature 2 flattens to the square roots.
  SamplingParams p;
  p.temperature = 2.0f;
  const auto c = counts(p, log_probs_of({0.2, 0.8}), 20000);
  EXPECT_NEAR(c[1] / 20000.0, 2.0 / 3.0, 0.015);
}

TEST(TokenCounts, CountsManyDistinctTokens) {
  TokenCounts counts;
  for (int32_t t = 0; t < 5000; ++t)
    for (int r = 0; r <= t % 3; ++r) counts.add(t * 31);
  EXPECT_EQ(counts.size(), 5000u);
  int64_t total = 0, seen = 0;
  counts.for_each([&](int32_t token, int32_t count) {
    EXPECT_EQ(token % 31, 0);
    EXPECT_EQ(count, (token / 31) % 3 + 1);
    total += count;
    ++seen;
  });
  EXPECT_EQ(seen, 5000);
  EXPECT_EQ(total, 5000 / 3 * 6 + 1 + 2);  // 4998 tokens in whole cycles, then 1 and 2
}

TEST(SamplingParams, DefaultsAreOpenAIsAndValid) {
  SamplingParams p;
  EXPECT_EQ(p.temperature, 1.0f);
  EXPECT_EQ(p.top_p, 1.0f);
  EXPECT_TRUE(p.validate(100).ok());
  p.top_k = -1;
  p.max_tokens = 5;
  p.min_tokens = 5;
  p.logit_bias = {{99, -100.0f}};
  p.stop_token_ids = {0, 99};
  p.stop = {"a", "b"};
  p.logprobs = 20;
  p.temperature = 0;
  EXPECT_TRUE(p.validate(100).ok()) << p.validate(100).message();
}

TEST(SamplingParams, ValidateNamesTheInvalidField) {
  const std::vector<std::pair<std::string, std::function<void(SamplingParams&)>>> cases = {
      {"temperature", [](SamplingParams& p) { p.temperature = -0.1f; }},
      {"temperature", [](SamplingParams& p) { p.temperature = NAN; }},
      {"temperature", [](SamplingParams& p) { p.temperature = INFINITY; }},
      {"top_p", [](SamplingParams& p) { p.top_p = 0.0f; }},
      {"top_p", [](SamplingParams& p) { p.top_p = 1.5f; }},
      {"top_k", [](SamplingParams& p) { p.top_k = -2; }},
      {"min_p", [](SamplingParams& p) { p.min_p = -0.5f; }},
      {"min_p", [](SamplingParams& p) { p.min_p = 1.01f; }},
      {"presence_penalty", [](SamplingParams& p) { p.presence_penalty = 2.5f; }},
      {"frequency_penalty", [](SamplingParams& p) { p.frequency_penalty = -2.01f; }},
      {"frequency_penalty", [](SamplingParams& p) { p.frequency_penalty = NAN; }},
      {"repetition_penalty", [](SamplingParams& p) { p.repetition_penalty = 0.0f; }},
      {"logit_bias",
       [](SamplingParams& p) {
         p.logit_bias = {{100, 1.0f}};
       }},
      {"logit_bias",
       [](SamplingParams& p) {
         p.logit_bias = {{-1, 1.0f}};
       }},
      {"logit_bias",
       [](SamplingParams& p) {
         p.logit_bias = {{5, 100.5f}};
       }},
      {"n", [](SamplingParams& p) { p.n = 0; }},
      {"n", [](SamplingParams& p) { p.n = SamplingParams::kMaxN + 1; }},
      {"max_tokens", [](SamplingParams& p) { p.max_tokens = 0; }},
      {"max_tokens", [](SamplingParams& p) { p.max_tokens = -2; }},
      {"min_tokens", [](SamplingParams& p) { p.min_tokens = -1; }},
      {"min_tokens",
       [](SamplingParams& p) {
         p.max_tokens = 3;
         p.min_tokens = 4;
       }},
      {"stop",
       [](SamplingParams& p) {
         p.stop = {"a", ""};
       }},
      {"stop", [](SamplingParams& p) { p.stop.assign(SamplingParams::kMaxStops + 1, "x"); }},
      {"stop_token_ids",
       [](SamplingParams& p) {
         p.stop_token_ids = {3, 100};
       }},
      {"logprobs", [](SamplingParams& p) { p.logprobs = 21; }},
      {"logprobs", [](SamplingParams& p) { p.logprobs = -2; }},
  };
  for (const auto& [field, mutate] : cases) {
    SamplingParams p;
    mutate(p);
    const Status s = p.validate(100);
    ASSERT_FALSE(s.ok()) << field;
    // Begins with the field's name, then a non-identifier character.
    EXPECT_EQ(s.message().rfind(field, 0), 0u) << s.message();
    EXPECT_EQ(s.message()[field.size()], ' ') << s.message();
  }
  SamplingParams p;
  p.top_p = 1.5f;
  EXPECT_EQ(p.validate(100).message(), "top_p must be in (0, 1], got 1.5");
}

}  // namespace
}  // namespace kiln
