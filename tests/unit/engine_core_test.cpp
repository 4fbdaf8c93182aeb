// The engine's scheduler, KV cache and sampling loop driven through a fake backend (no
// weights): every optimisation against its "off" run and against an independent
// reference computed from token lists alone.
#include "engine/engine_core.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>
#include <vector>

#include "fake_backend.h"
#include "structured/grammar_matcher.h"
#include "structured/matcher.h"

namespace kiln {
namespace {

using testing::FakeBackend;
using testing::reference_greedy;

constexpr int64_t kVocab = 97;

struct Collected {
  std::vector<std::vector<int32_t>> tokens;  // per sample
  std::vector<std::vector<SampledToken>> logprobs;  // per sample, when requested
  std::vector<std::optional<FinishReason>> finish;
  std::vector<StopCause> stop_cause;
  bool finished = false;
  int32_t num_cached_tokens = 0;
  RequestTimes times;
};

struct Harness {
  Harness(int32_t num_blocks, int32_t block_size, const EngineConfig& config,
          int32_t backend_max_tokens = 4096)
      : backend(num_blocks, block_size, kVocab, backend_max_tokens),
        core(backend, nullptr, config) {}

  uint64_t add(GenerationRequest request) {
    const Status s = core.validate(request);
    EXPECT_TRUE(s.ok()) << s.message();
    const uint64_t id = next_id++;
    auto stream = std::make_shared<RequestStream>(id, request.sampling.n);
    streams[id] = stream;
    results[id].tokens.resize(request.sampling.n);
    results[id].logprobs.resize(request.sampling.n);
    results[id].finish.resize(request.sampling.n);
    results[id].stop_cause.resize(request.sampling.n);
    core.add_request(id, std::move(request), stream);
    return id;
  }

  void drain() {
    for (auto& [id, stream] : streams) {
      while (auto out = stream->try_next()) {
        Collected& c = results[id];
        EXPECT_FALSE(c.finished) << "output after the final one";
        for (size_t i = 0; i < out->samples.size(); ++i) {
          const SampleOutput& s = out->samples[i];
          c.tokens[i].insert(c.tokens[i].end(), s.token_ids.begin(), s.token_ids.end());
          c.logprobs[i].insert(c.logprobs[i].end(), s.logprobs.begin(), s.logprobs.end());
          if (s.finish_reason) {
            EXPECT_FALSE(c.finish[i]) << "finish reason reported twice";
            c.finish[i] = s.finish_reason;
            c.stop_cause[i] = s.stop_cause;
          }
        }
        c.num_cached_tokens = out->num_cached_tokens;
        if (out->finished) {
          c.finished = true;
          c.times = out->times;
          EXPECT_TRUE(out->error.ok()) << out->error.message();
        }
      }
    }
  }

  void step() {
    core.step();
    drain();
  }

  void run(int max_steps = 200000) {
    for (int i = 0; i < max_steps && core.has_work(); ++i) step();
    ASSERT_FALSE(core.has_work()) << "engine did not finish";
    const int32_t budget = core.config().scheduler.max_num_batched_tokens;
    for (int32_t n : backend.step_tokens) ASSERT_LE(n, budget);
  }

  FakeBackend backend;
  EngineCore core;
  uint64_t next_id = 1;
  std::map<uint64_t, std::shared_ptr<RequestStream>> streams;
  std::map<uint64_t, Collected> results;
};

GenerationRequest greedy(std::vector<int32_t> prompt, int32_t max_tokens) {
  GenerationRequest r;
  r.prompt = std::move(prompt);
  r.sampling.temperature = 0.0f;
  r.sampling.max_tokens = max_tokens;
  return r;
}

std::vector<int32_t> random_prompt(std::mt19937& rng, int32_t n) {
  std::uniform_int_distribution<int32_t> tok(1, (int32_t)kVocab - 1);
  std::vector<int32_t> p(n);
  for (auto& t : p) t = tok(rng);
  return p;
}

EngineConfig config_with(int32_t budget, int32_t max_seqs = 64, bool prefix = true,
                         bool chunked = true) {
  EngineConfig c;
  c.scheduler.max_num_batched_tokens = budget;
  c.scheduler.max_num_seqs = max_seqs;
  c.scheduler.chunked_prefill = chunked;
  c.prefix_caching = prefix;
  return c;
}

// 16 prompts of different lengths, some sharing a prefix.
std::vector<std::vector<int32_t>> mixed_prompts(uint32_t seed) {
  std::mt19937 rng(seed);
  const auto shared = random_prompt(rng, 40);
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 16; ++i) {
    auto p = random_prompt(rng, 3 + 23 * i % 150);
    if (i % 3 == 0) p.insert(p.begin(), shared.begin(), shared.end());
    prompts.push_back(p);
  }
  return prompts;
}

// Runs the prompts together under `config` and checks each against the reference.
Harness& run_and_check(Harness& h, const std::vector<std::vector<int32_t>>& prompts,
                       int32_t max_tokens) {
  std::vector<uint64_t> ids;
  for (const auto& p : prompts) ids.push_back(h.add(greedy(p, max_tokens)));
  h.run();
  for (size_t i = 0; i < prompts.size(); ++i) {
    const Collected& c = h.results[ids[i]];
    EXPECT_TRUE(c.finished);
    EXPECT_EQ(c.tokens[0], reference_greedy(prompts[i], kVocab, max_tokens, {})) << "request " << i;
    EXPECT_EQ(c.finish[0], FinishReason::kLength);
  }
  EXPECT_EQ(h.core.kv_cache().num_used_blocks(), 0) << "leaked blocks";
  return h;
}

TEST(EngineCore, OneRequestMatchesTheReference) {
  Harness h(64, 16, config_with(512));
  std::mt19937 rng(1);
  run_and_check(h, {random_prompt(rng, 37)}, 20);
}

TEST(EngineCore, SixteenRequestsTogetherEqualEachAlone) {
  const auto prompts = mixed_prompts(2);
  Harness together(512, 16, config_with(512));
  run_and_check(together, prompts, 24);
  for (const auto& p : prompts) {
    Harness alone(512, 16, config_with(512));
    run_and_check(alone, {p}, 24);
  }
  // Together, steps really were batched.
  EXPECT_LT(together.backend.step_tokens.size(), 16u * 24u);
}

TEST(EngineCore, PrefixCachingOnEqualsOff) {
  const auto prompts = mixed_prompts(3);
  Harness on(512, 16, config_with(512, 64, true));
  Harness off(512, 16, config_with(512, 64, false));
  run_and_check(on, prompts, 16);
  run_and_check(off, prompts, 16);
  EXPECT_GT(on.core.stats().prefix_hit_tokens, 0);
  EXPECT_EQ(off.core.stats().prefix_hit_tokens, 0);
}

TEST(EngineCore, ChunkedPrefillWithTinyChunksEqualsOneShot) {
  const auto prompts = mixed_prompts(4);
  Harness tiny(512, 16, config_with(7));
  run_and_check(tiny, prompts, 12);
  EXPECT_LE(tiny.core.stats().max_step_tokens, 7);
  Harness whole(512, 16, config_with(256, 64, true, false));
  run_and_check(whole, prompts, 12);
}

TEST(EngineCore, ChunkedPrefillOffRejectsPromptsLongerThanAStep) {
  Harness h(64, 16, config_with(32, 8, true, false));
  GenerationRequest r = greedy(std::vector<int32_t>(40, 5), 4);
  EXPECT_FALSE(h.core.validate(r).ok());
}

TEST(EngineCore, TinyPoolPreemptsAndStillMatches) {
  const auto prompts = mixed_prompts(5);
  // 16 blocks of 16 tokens hold one long sequence but not sixteen.
  Harness h(16, 16, config_with(128));
  run_and_check(h, prompts, 40);
  EXPECT_GT(h.core.stats().num_preemptions, 0);
}

TEST(EngineCore, PrefixOfAThousandTokensIsComputedOnce) {
  std::mt19937 rng(6);
  const auto prefix = random_prompt(rng, 1000);
  auto a = prefix, b = prefix;
  const auto tail_a = random_prompt(rng, 10), tail_b = random_prompt(rng, 12);
  a.insert(a.end(), tail_a.begin(), tail_a.end());
  b.insert(b.end(), tail_b.begin(), tail_b.end());

  Harness h(256, 16, config_with(512));
  run_and_check(h, {a}, 8);
  const int64_t before = h.core.stats().prompt_tokens_computed;
  EXPECT_EQ(before, 1010);
  run_and_check(h, {b}, 8);
  // The 62 whole blocks inside the shared 1,000 tokens come from the cache.
  EXPECT_EQ(h.core.stats().prompt_tokens_computed - before, 1012 - 992);
  EXPECT_EQ(h.results[2].num_cached_tokens, 992);

  Harness off(256, 16, config_with(512, 64, false));
  run_and_check(off, {b}, 8);
  EXPECT_EQ(off.results[1].tokens, h.results[2].tokens);
}

TEST(EngineCore, SamplesOfOneRequestShareThePromptAndCopyOnWrite) {
  std::mt19937 rng(7);
  const auto prompt = random_prompt(rng, 21);  // ends inside a block
  Harness h(64, 16, config_with(512));
  GenerationRequest r = greedy(prompt, 10);
  r.sampling.n = 4;
  const uint64_t id = h.add(r);
  h.run();
  const auto expected = reference_greedy(prompt, kVocab, 10, {});
  for (int i = 0; i < 4; ++i) EXPECT_EQ(h.results[id].tokens[i], expected) << "sample " << i;
  EXPECT_EQ(h.core.stats().prompt_tokens_computed, 21);  // the prompt ran once
  EXPECT_GE(h.backend.num_block_copies, 3);              // three samples copied the shared tail
  EXPECT_EQ(h.core.kv_cache().num_used_blocks(), 0);
}

GenerationRequest seeded(std::vector<int32_t> prompt, uint64_t seed, int32_t n = 1) {
  GenerationRequest r;
  r.prompt = std::move(prompt);
  r.sampling.temperature = 1.0f;
  r.sampling.seed = seed;
  r.sampling.max_tokens = 24;
  r.sampling.n = n;
  return r;
}

TEST(EngineCore, SeededSamplingIsTheSameAloneOrInABatch) {
  std::mt19937 rng(8);
  const auto prompt = random_prompt(rng, 30);
  Harness alone(256, 16, config_with(512));
  const uint64_t a = alone.add(seeded(prompt, 1234, 3));
  alone.run();

  Harness batch(256, 16, config_with(64));
  for (int i = 0; i < 6; ++i) batch.add(seeded(random_prompt(rng, 50), 99 + i));
  const uint64_t b = batch.add(seeded(prompt, 1234, 3));
  for (int i = 0; i < 6; ++i) batch.add(greedy(random_prompt(rng, 20), 30));
  batch.run();
  EXPECT_EQ(alone.results[a].tokens, batch.results[b].tokens);
  // The three samples draw from different streams.
  const auto& s = alone.results[a].tokens;
  EXPECT_TRUE(s[0] != s[1] || s[1] != s[2]);

  Harness other(256, 16, config_with(512));
  const uint64_t c = other.add(seeded(prompt, 4321, 3));
  other.run();
  EXPECT_NE(other.results[c].tokens, alone.results[a].tokens);
}

TEST(EngineCore, EosStopsUnlessIgnoredAndMinTokensHoldsItBack) {
  std::mt19937 rng(9);
  const auto prompt = random_prompt(rng, 12);
  const auto free_run = reference_greedy(prompt, kVocab, 12, {});
  const int32_t eos = free_run[3];
  EngineConfig config = config_with(512);
  config.eos_token_ids = {eos};

  Harness h(64, 16, config);
  const uint64_t stops = h.add(greedy(prompt, 12));
  GenerationRequest ignoring = greedy(prompt, 12);
  ignoring.sampling.ignore_eos = true;
  const uint64_t ignores = h.add(ignoring);
  GenerationRequest by_id = greedy(prompt, 12);
  by_id.sampling.stop_token_ids = {free_run[1]};
  const uint64_t stop_id = h.add(by_id);
  GenerationRequest held = greedy(prompt, 12);
  held.sampling.min_tokens = 6;
  const uint64_t min = h.add(held);
  h.run();

  EXPECT_EQ(h.results[stops].tokens[0], reference_greedy(prompt, kVocab, 12, {eos}));
  EXPECT_EQ(h.results[stops].finish[0], FinishReason::kStop);
  EXPECT_EQ(h.results[ignores].tokens[0], free_run);
  EXPECT_EQ(h.results[ignores].finish[0], FinishReason::kLength);
  EXPECT_EQ(h.results[stop_id].tokens[0], std::vector<int32_t>(free_run.begin(), free_run.begin() + 2));
  EXPECT_EQ(h.results[stop_id].finish[0], FinishReason::kStop);
  // vLLM's stop_reason: the listed token that stopped it; nothing for an EOS token.
  EXPECT_EQ(h.results[stop_id].stop_cause[0].token, free_run[1]);
  EXPECT_FALSE(h.results[stops].stop_cause[0].token.has_value());
  EXPECT_FALSE(h.results[stops].stop_cause[0].string.has_value());
  const auto& m = h.results[min].tokens[0];
  ASSERT_GE(m.size(), 6u);
  for (size_t i = 0; i + 1 < 6; ++i) EXPECT_NE(m[i], eos) << i;
}

TEST(EngineCore, AbortFreesBlocksAndReportsAbort) {
  std::mt19937 rng(10);
  Harness h(64, 16, config_with(512));
  const uint64_t keep = h.add(greedy(random_prompt(rng, 40), 30));
  const uint64_t gone = h.add(greedy(random_prompt(rng, 40), 30));
  for (int i = 0; i < 5; ++i) h.step();
  EXPECT_GT(h.core.kv_cache().num_used_blocks(), 0);
  h.core.abort(gone);
  h.drain();
  EXPECT_TRUE(h.results[gone].finished);
  EXPECT_EQ(h.results[gone].finish[0], FinishReason::kAbort);
  h.run();
  EXPECT_EQ(h.results[keep].finish[0], FinishReason::kLength);
  EXPECT_EQ(h.core.kv_cache().num_used_blocks(), 0);
  EXPECT_EQ(h.core.stats().requests_finished_abort, 1);
}

TEST(EngineCore, LowerPriorityValueRunsFirst) {
  std::mt19937 rng(11);
  Harness h(64, 16, config_with(512, 1));
  const uint64_t first = h.add(greedy(random_prompt(rng, 10), 4));
  GenerationRequest urgent = greedy(random_prompt(rng, 10), 4);
  urgent.priority = -1;
  const uint64_t second = h.add(urgent);
  h.run();
  EXPECT_LT(h.results[second].times.first_scheduled, h.results[first].times.first_scheduled);
}

TEST(EngineCore, ValidationNamesTheProblem) {
  Harness h(8, 16, config_with(64));  // a pool of 128 tokens bounds the context
  EXPECT_EQ(h.core.max_model_len(), 128);
  auto message = [&](GenerationRequest r) { return h.core.validate(r).message(); };
  EXPECT_NE(message(greedy({}, 4)).find("prompt"), std::string::npos);
  EXPECT_NE(message(greedy({1, 2, (int32_t)kVocab}, 4)).find("vocabulary"), std::string::npos);
  EXPECT_NE(message(greedy(std::vector<int32_t>(128, 1), 4)).find("context length"),
            std::string::npos);
  EXPECT_NE(message(greedy(std::vector<int32_t>(100, 1), 40)).find("max_tokens"), std::string::npos);
  GenerationRequest many = greedy({1, 2}, 4);
  many.sampling.n = 65;
  EXPECT_NE(message(many).find("n "), std::string::npos);
  GenerationRequest stops = greedy({1, 2}, 4);
  stops.sampling.stop = {"x"};
  EXPECT_NE(message(stops).find("stop"), std::string::npos);
  GenerationRequest bad = greedy({1, 2}, 4);
  bad.sampling.top_p = 2.0f;
  EXPECT_NE(message(bad).find("top_p"), std::string::npos);
}

// Random arrivals, lengths, n, cancellations, priorities and budgets: every request ends
// with the right reason, no block leaks, no step exceeds its budget, and greedy outputs
// equal the reference.
TEST(EngineCore, PropertyRandomTrafficOverManySeeds) {
  for (uint32_t seed = 0; seed < 40; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    const int32_t block_size = std::vector<int32_t>{1, 4, 16}[pick(0, 2)];
    const int32_t max_len = 160;
    const int32_t num_blocks = (max_len + block_size - 1) / block_size + pick(0, 40);
    EngineConfig config = config_with(pick(1, 100), pick(1, 12), pick(0, 1), pick(0, 3) != 0);
    config.max_model_len = max_len;
    if (!config.scheduler.chunked_prefill) config.scheduler.max_num_batched_tokens = 100;
    Harness h(num_blocks, block_size, config);
    const int32_t budget = h.core.config().scheduler.max_num_batched_tokens;
    const auto shared = random_prompt(rng, 30);

    struct Expect {
      std::vector<int32_t> prompt;
      int32_t max_tokens;
      bool cancelled = false;
    };
    std::map<uint64_t, Expect> expect;
    const int num_requests = pick(5, 30);
    int submitted = 0;
    for (int step = 0; step < 100000 && (submitted < num_requests || h.core.has_work()); ++step) {
      while (submitted < num_requests && pick(0, 2) == 0) {
        auto prompt = random_prompt(rng, pick(1, 90));
        if (pick(0, 1)) prompt.insert(prompt.begin(), shared.begin(), shared.begin() + pick(1, 30));
        if ((int32_t)prompt.size() > budget && !config.scheduler.chunked_prefill) prompt.resize(budget);
        const int32_t max_tokens = pick(1, max_len - (int32_t)prompt.size());
        GenerationRequest r = greedy(prompt, max_tokens);
        r.sampling.n = std::min(pick(1, 3), config.scheduler.max_num_seqs);
        r.priority = pick(0, 2);
        const uint64_t id = h.add(r);
        expect[id] = {prompt, max_tokens};
        ++submitted;
      }
      if (!expect.empty() && pick(0, 30) == 0) {
        auto it = expect.begin();
        std::advance(it, pick(0, (int)expect.size() - 1));
        if (!h.results[it->first].finished) {
          it->second.cancelled = true;
          h.core.abort(it->first);
        }
      }
      if (h.core.has_work()) h.step();
      h.drain();
    }
    ASSERT_FALSE(h.core.has_work());
    for (int32_t n : h.backend.step_tokens) ASSERT_LE(n, budget);
    EXPECT_EQ(h.core.kv_cache().num_used_blocks(), 0);
    EXPECT_EQ(h.core.kv_cache().num_free_blocks(), num_blocks);
    for (const auto& [id, e] : expect) {
      const Collected& c = h.results[id];
      ASSERT_TRUE(c.finished) << "request " << id;
      const auto reference = reference_greedy(e.prompt, kVocab, e.max_tokens, {});
      for (size_t i = 0; i < c.tokens.size(); ++i) {
        ASSERT_TRUE(c.finish[i]) << "request " << id << " sample " << i;
        if (e.cancelled && *c.finish[i] == FinishReason::kAbort) {
          // A prefix of the reference, cut short.
          EXPECT_TRUE(std::equal(c.tokens[i].begin(), c.tokens[i].end(), reference.begin()));
        } else {
          EXPECT_EQ(*c.finish[i], FinishReason::kLength);
          EXPECT_EQ(c.tokens[i], reference) << "request " << id << " sample " << i;
        }
      }
    }
  }
}


namespace structured_test {

// Token i spells: digits 0-9, then "[", "]", ",", then random strings over the same
// alphabet; the last token is the end token.
std::shared_ptr<const structured::TokenVocabulary> bracket_vocab(int32_t eos) {
  std::vector<std::string> bytes(kVocab);
  const std::string alphabet = "0123456789[],";
  for (int32_t i = 0; i < 13; ++i) bytes[i] = alphabet.substr(i, 1);
  std::mt19937 rng(3);
  for (int32_t i = 13; i < kVocab; ++i) {
    const int len = 1 + (int)(rng() % 3);
    for (int k = 0; k < len; ++k) bytes[i] += alphabet[rng() % alphabet.size()];
  }
  bytes[eos].clear();
  return std::make_shared<structured::TokenVocabulary>(bytes, std::vector<int32_t>{eos},
                                                       (int32_t)kVocab);
}

// "[" number ("," number)* "]", numbers of 1-3 digits.
structured::Grammar bracket_grammar() {
  using structured::Expr;
  structured::GrammarBuilder b;
  const Expr number = Expr::repeat(Expr::byte_set(structured::ByteSet::range('0', '9')), 1, 3);
  const uint32_t root = b.add("list", Expr::seq({Expr::byte('['), number,
                                                 Expr::star(Expr::seq({Expr::byte(','), number})),
                                                 Expr::byte(']')}));
  return b.build(root).value();
}

}  // namespace structured_test

TEST(EngineCore, GrammarConstrainsEverySampleWithinABatch) {
  const int32_t eos = (int32_t)kVocab - 1;
  auto vocab = structured_test::bracket_vocab(eos);
  const structured::Grammar grammar = structured_test::bracket_grammar();
  auto compiled = std::make_shared<const structured::CompiledGrammar>(grammar, vocab);
  EngineConfig config = config_with(64);
  config.eos_token_ids = {eos};
  Harness h(64, 16, config);
  std::mt19937 rng(11);
  const auto prompt = random_prompt(rng, 20);

  GenerationRequest sampled = greedy(prompt, 80);
  sampled.grammar = compiled;
  sampled.sampling.temperature = 1.0f;
  sampled.sampling.seed = 5;
  sampled.sampling.n = 6;
  const uint64_t constrained = h.add(sampled);
  const uint64_t free = h.add(greedy(prompt, 10));  // same batch, no grammar
  GenerationRequest short_one = greedy(prompt, 3);
  short_one.grammar = compiled;
  const uint64_t truncated = h.add(short_one);
  h.run();

  auto text_of = [&](const std::vector<int32_t>& tokens) {
    std::string text;
    for (int32_t t : tokens) text += vocab->bytes(t);
    return text;
  };
  const Collected& c = h.results[constrained];
  int completed = 0;
  for (int i = 0; i < 6; ++i) {
    const auto& tokens = c.tokens[i];
    ASSERT_FALSE(tokens.empty());
    if (c.finish[i] == FinishReason::kStop) {
      EXPECT_EQ(tokens.back(), eos);
      EXPECT_TRUE(structured::grammar_accepts(grammar, text_of(tokens))) << text_of(tokens);
      ++completed;
    } else {
      EXPECT_EQ(c.finish[i], FinishReason::kLength);
      EXPECT_TRUE(structured::grammar_accepts_prefix(grammar, text_of(tokens)));
    }
  }
  EXPECT_GT(completed, 0);
  // The unconstrained request in the same batch is untouched.
  EXPECT_EQ(h.results[free].tokens[0], reference_greedy(prompt, kVocab, 10, {}));
  EXPECT_EQ(h.results[truncated].finish[0], FinishReason::kLength);
  EXPECT_EQ(h.results[truncated].tokens[0].size(), 3u);
  EXPECT_TRUE(structured::grammar_accepts_prefix(grammar, text_of(h.results[truncated].tokens[0])));
  EXPECT_EQ(h.core.kv_cache().num_used_blocks(), 0);
}

// Jump-forward: where the grammar allows one token only, the engine appends it without a
// forward pass. The vocabulary spells "[", "]" and "," only as single tokens, so after a
// three-digit number "]" is forced, then ",", then "[", and the end token after the last "]".
TEST(EngineCore, JumpForwardAppendsForcedTokensWithTheSameOutput) {
  const int32_t eos = (int32_t)kVocab - 1;
  std::vector<std::string> bytes(kVocab);
  const std::string alphabet = "0123456789[],";
  for (int32_t i = 0; i < 13; ++i) bytes[i] = alphabet.substr(i, 1);
  std::mt19937 rng(7);
  for (int32_t i = 13; i < eos; ++i)
    for (int k = 0, len = 2 + (int)(rng() % 2); k < len; ++k) bytes[i] += (char)('0' + rng() % 10);
  auto vocab = std::make_shared<structured::TokenVocabulary>(bytes, std::vector<int32_t>{eos},
                                                             (int32_t)kVocab);
  using structured::Expr;
  structured::GrammarBuilder b;
  const Expr number = Expr::repeat(Expr::byte_set(structured::ByteSet::range('0', '9')), 3, 3);
  const uint32_t root = b.add("triple", Expr::seq({Expr::byte('['), number, Expr::literal("],["),
                                                   number, Expr::literal("],["), number,
                                                   Expr::byte(']')}));
  const structured::Grammar grammar = b.build(root).value();
  auto compiled = std::make_shared<const structured::CompiledGrammar>(grammar, vocab);

  auto run = [&](bool jump, int64_t& forced, size_t& steps) {
    EngineConfig config = config_with(64);
    config.eos_token_ids = {eos};
    config.grammar_jump_forward = jump;
    Harness h(64, 16, config);
    std::mt19937 prompts(11);
    std::vector<uint64_t> ids;
    GenerationRequest sampled = greedy(random_prompt(prompts, 20), 40);
    sampled.grammar = compiled;
    sampled.sampling.temperature = 1.0f;
    sampled.sampling.seed = 5;
    sampled.sampling.n = 3;
    sampled.sampling.logprobs = 2;
    ids.push_back(h.add(sampled));
    GenerationRequest g = greedy(random_prompt(prompts, 9), 40);
    g.grammar = compiled;
    ids.push_back(h.add(g));
    GenerationRequest cut = greedy(random_prompt(prompts, 5), 7);  // max_tokens among forced ones
    cut.grammar = compiled;
    cut.sampling.logprobs = 0;
    ids.push_back(h.add(cut));
    ids.push_back(h.add(greedy(random_prompt(prompts, 12), 12)));  // unconstrained
    h.run();
    EXPECT_EQ(h.core.kv_cache().num_used_blocks(), 0);
    forced = h.core.stats().grammar_forced_tokens;
    steps = h.backend.step_tokens.size();
    std::vector<Collected> out;
    for (uint64_t id : ids) out.push_back(h.results[id]);
    return out;
  };
  int64_t forced_on = 0, forced_off = 0;
  size_t steps_on = 0, steps_off = 0;
  const auto on = run(true, forced_on, steps_on);
  const auto off = run(false, forced_off, steps_off);
  ASSERT_EQ(on.size(), off.size());
  for (size_t r = 0; r < on.size(); ++r)
    for (size_t i = 0; i < on[r].tokens.size(); ++i) {
      EXPECT_EQ(on[r].tokens[i], off[r].tokens[i]) << "request " << r << " sample " << i;
      EXPECT_EQ(on[r].finish[i], off[r].finish[i]) << "request " << r << " sample " << i;
      ASSERT_EQ(on[r].logprobs[i].size(), off[r].logprobs[i].size());
      for (size_t t = 0; t < on[r].logprobs[i].size(); ++t) {
        const SampledToken &a = on[r].logprobs[i][t], &e = off[r].logprobs[i][t];
        EXPECT_EQ(a.token, e.token);
        EXPECT_NEAR(a.logprob, e.logprob, 1e-6);
        ASSERT_EQ(a.top.size(), e.top.size()) << "request " << r << " token " << t;
        for (size_t k = 0; k < a.top.size(); ++k) EXPECT_EQ(a.top[k].token, e.top[k].token);
      }
    }
  // The three samples and the greedy one complete "[ddd],[ddd],[ddd]" and the end token:
  // 1 + 3 + 3 forced tokens each, 3 of them in the cut one before its 7 tokens run out.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(on[0].finish[i], FinishReason::kStop);
  EXPECT_EQ(on[2].finish[0], FinishReason::kLength);
  EXPECT_EQ(on[2].tokens[0].size(), 7u);
  EXPECT_EQ(forced_off, 0);
  EXPECT_GE(forced_on, 4 * 7 + 3);
  EXPECT_LT(steps_on, steps_off);
}

TEST(EngineCore, GrammarForVocabularyOfAnotherSizeIsRefused) {
  auto vocab = std::make_shared<structured::TokenVocabulary>(
      std::vector<std::string>{"a", "b"}, std::vector<int32_t>{}, 2);
  auto compiled = std::make_shared<const structured::CompiledGrammar>(
      structured_test::bracket_grammar(), vocab);
  FakeBackend backend(8, 16, kVocab, 64);
  EngineCore core(backend, nullptr, config_with(64));
  GenerationRequest r;
  r.prompt = {1, 2};
  r.sampling.max_tokens = 4;
  r.grammar = compiled;
  const Status s = core.validate(r);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("grammar"), std::string::npos);
}

}  // namespace
}  // namespace kiln
