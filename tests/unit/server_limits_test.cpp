// Per-key limits (server/limits/): the token bucket's arithmetic on an injected clock, the
// admission decisions and their Retry-After, reloads that keep what was used, the key
// file's validation and the rate-limit headers' formats.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>

#include "server/limits/headers.h"
#include "server/limits/key_file.h"
#include "server/limits/key_registry.h"
#include "server/limits/key_state.h"
#include "server/limits/token_bucket.h"

namespace kiln::server::limits {
namespace {

TEST(LimitsTokenBucket, RefillsContinuouslyUpToTheMinute) {
  TokenBucket b(60, /*now=*/100);  // one per second
  EXPECT_DOUBLE_EQ(b.level(100), 60);
  b.take(60, 100);
  EXPECT_DOUBLE_EQ(b.level(100), 0);
  EXPECT_DOUBLE_EQ(b.level(110.5), 10.5);
  EXPECT_DOUBLE_EQ(b.level(1000), 60);  // never above one minute's allowance
  EXPECT_DOUBLE_EQ(b.seconds_until_full(1000), 0);
}

TEST(LimitsTokenBucket, DebtIsWaitedOutAtTheSteadyRate) {
  TokenBucket b(120, 0);  // two per second
  b.take(150, 0);         // completion tokens settled after admission: 30 in debt
  EXPECT_DOUBLE_EQ(b.level(0), -30);
  EXPECT_DOUBLE_EQ(b.seconds_until(10, 0), 20);  // 40 tokens at 2/s
  EXPECT_DOUBLE_EQ(b.seconds_until_full(0), 75);
  EXPECT_TRUE(std::isinf(b.seconds_until(121, 0)));  // more than the bucket ever holds
}

TEST(LimitsTokenBucket, NewCapacityKeepsWhatWasUsed) {
  TokenBucket b(100, 0);
  b.take(30, 0);
  b.set_capacity(50, 0);
  EXPECT_DOUBLE_EQ(b.level(0), 20);  // 30 used of 50
  b.set_capacity(10, 0);
  EXPECT_DOUBLE_EQ(b.level(0), -20);
  b.take(-1000, 0);  // a refund never overfills
  EXPECT_DOUBLE_EQ(b.level(0), 10);
}

TEST(LimitsKeyState, RequestsPerMinute) {
  KeyLimits l;
  l.requests_per_minute = 2;
  KeyState k("a", l, 0);
  EXPECT_TRUE(k.try_admit(5, 0).admitted);
  k.release();
  EXPECT_TRUE(k.try_admit(5, 0).admitted);
  k.release();
  const Decision d = k.try_admit(5, 0);
  EXPECT_FALSE(d.admitted);
  EXPECT_EQ(d.reason, Rejection::kRequests);
  EXPECT_EQ(d.retry_after_seconds, 30);  // one request every 30 s
  EXPECT_TRUE(k.try_admit(5, 30).admitted);
  EXPECT_EQ(k.counters().requests, 3);
  EXPECT_EQ(k.counters().rejections[(int)Rejection::kRequests], 1);
}

TEST(LimitsKeyState, TokensCountPromptAtAdmissionAndCompletionAsGenerated) {
  KeyLimits l;
  l.tokens_per_minute = 600;  // 10 per second
  KeyState k("a", l, 0);
  ASSERT_TRUE(k.try_admit(100, 0).admitted);
  k.add_completion_tokens(450, 1);  // a long stream; level 500 + 10 - 450 = 60
  EXPECT_EQ(k.snapshot(1).tokens->remaining, 60);
  const Decision d = k.try_admit(100, 1);
  EXPECT_FALSE(d.admitted);
  EXPECT_EQ(d.reason, Rejection::kTokens);
  EXPECT_EQ(d.retry_after_seconds, 4);  // 40 more at 10/s
  EXPECT_TRUE(k.try_admit(100, 5).admitted);
  EXPECT_EQ(k.counters().prompt_tokens, 200);
  EXPECT_EQ(k.counters().completion_tokens, 450);
}

TEST(LimitsKeyState, PromptLargerThanTheMinuteIsRefusedForGood) {
  KeyLimits l;
  l.tokens_per_minute = 50;
  KeyState k("a", l, 0);
  const Decision d = k.try_admit(51, 0);
  EXPECT_FALSE(d.admitted);
  EXPECT_EQ(d.retry_after_seconds, 0);  // no Retry-After: waiting never helps
  EXPECT_NE(d.message.find("can never be admitted"), std::string::npos);
  EXPECT_DOUBLE_EQ(k.snapshot(0).tokens->remaining, 50);  // a refusal takes nothing
}

TEST(LimitsKeyState, ConcurrencyIsHeldUntilRelease) {
  KeyLimits l;
  l.max_concurrent_requests = 1;
  KeyState k("a", l, 0);
  ASSERT_TRUE(k.try_admit(1, 0).admitted);
  EXPECT_EQ(k.try_admit(1, 0).reason, Rejection::kConcurrency);
  k.release();
  EXPECT_TRUE(k.try_admit(1, 0).admitted);
  EXPECT_EQ(k.in_flight(), 1);
}

TEST(LimitsKeyState, RefundGivesBackRequestAndPrompt) {
  KeyLimits l;
  l.requests_per_minute = 1;
  l.tokens_per_minute = 100;
  KeyState k("a", l, 0);
  ASSERT_TRUE(k.try_admit(80, 0).admitted);
  k.refund(80, 0);
  k.release();
  const Snapshot s = k.snapshot(0);
  EXPECT_EQ(s.requests->remaining, 1);
  EXPECT_EQ(s.tokens->remaining, 100);
  EXPECT_EQ(k.counters().requests, 0);
}

TEST(LimitsKeyState, ModelList) {
  KeyLimits l;
  KeyState open("a", l, 0);
  EXPECT_FALSE(open.has_model_list());
  EXPECT_TRUE(open.allows_model("anything"));
  l.models = {"qwen"};
  KeyState k("b", l, 0);
  EXPECT_TRUE(k.allows_model("qwen"));
  EXPECT_FALSE(k.allows_model("smol"));
}

TEST(LimitsKeyFile, ParsesEveryField) {
  auto keys = parse_key_file(R"({"keys": [
      {"name": "team-a", "key": "sk-a", "requests_per_minute": 60, "tokens_per_minute": 100000,
       "max_concurrent_requests": 8, "models": ["qwen"]},
      {"name": "team-b", "key": "sk-b"}]})",
                             "keys.json");
  ASSERT_TRUE(keys.ok()) << keys.message();
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0].limits.requests_per_minute, 60);
  EXPECT_EQ((*keys)[0].limits.tokens_per_minute, 100000);
  EXPECT_EQ((*keys)[0].limits.max_concurrent_requests, 8);
  EXPECT_EQ((*keys)[0].limits.models, std::vector<std::string>{"qwen"});
  EXPECT_FALSE((*keys)[1].limits.requests_per_minute.has_value());
}

TEST(LimitsKeyFile, ErrorsNameTheFileAndTheEntry) {
  auto expect_error = [](const std::string& text, const std::string& part) {
    auto keys = parse_key_file(text, "k.json");
    ASSERT_FALSE(keys.ok()) << text;
    EXPECT_NE(keys.message().find("k.json"), std::string::npos) << keys.message();
    EXPECT_NE(keys.message().find(part), std::string::npos) << keys.message();
  };
  expect_error("{", "not valid JSON");
  expect_error(R"({"key": []})", "\"keys\" array");
  expect_error(R"({"keys": [{"key": "x"}]})", "keys[0].name");
  expect_error(R"({"keys": [{"name": "a"}]})", "keys[0].key");
  expect_error(R"({"keys": [{"name": "a", "key": "x", "requests_per_minute": 0}]})",
               "requests_per_minute must be a positive integer");
  expect_error(R"({"keys": [{"name": "a", "key": "x", "tokens_per_minute": 1.5}]})",
               "tokens_per_minute");
  expect_error(R"({"keys": [{"name": "a", "key": "x", "rpm": 3}]})", "unknown field \"rpm\"");
  expect_error(R"({"keys": [{"name": "a", "key": "x"}, {"name": "a", "key": "y"}]})",
               "keys[1].name \"a\" appears twice");
  expect_error(R"({"keys": [{"name": "a", "key": "x"}, {"name": "b", "key": "x"}]})",
               "keys[1].key");
  expect_error(R"({"keys": [{"name": "cli", "key": "x"}]})", "reserved");
  expect_error(R"({"keys": [{"name": "a", "key": "x", "models": "qwen"}]})", "models");
}

HttpRequest with_bearer(const std::string& key) {
  HttpRequest r;
  r.headers.emplace_back("authorization", "Bearer " + key);
  return r;
}

TEST(LimitsKeyRegistry, ReloadKeepsStateOfSurvivingKeysAndRejectsBadFiles) {
  const std::string path = ::testing::TempDir() + "kiln_limits_keys.json";
  auto write = [&](const std::string& text) { std::ofstream(path) << text; };
  write(R"({"keys": [{"name": "a", "key": "sk-a", "requests_per_minute": 10},
                     {"name": "b", "key": "sk-b"}]})");
  double now = 0;
  KeyRegistry reg({"cli-key"}, path, [&] { return now; });
  ASSERT_TRUE(reg.load().ok());
  EXPECT_TRUE(reg.enabled());
  EXPECT_EQ(reg.identify(with_bearer("cli-key"))->name(), "cli");
  EXPECT_EQ(reg.identify(with_bearer("sk-b"))->name(), "b");
  EXPECT_EQ(reg.identify(with_bearer("sk-x")), nullptr);
  auto a = reg.identify(with_bearer("sk-a"));
  ASSERT_TRUE(a->try_admit(3, now).admitted);

  // A new key for "a", a lower limit, "b" gone: "a" keeps its state and its use.
  write(R"({"keys": [{"name": "a", "key": "sk-a2", "requests_per_minute": 5}]})");
  ASSERT_TRUE(reg.reload().ok());
  EXPECT_EQ(reg.identify(with_bearer("sk-a")), nullptr);
  EXPECT_EQ(reg.identify(with_bearer("sk-b")), nullptr);
  auto a2 = reg.identify(with_bearer("sk-a2"));
  EXPECT_EQ(a2.get(), a.get());
  EXPECT_EQ(a2->snapshot(now).requests->remaining, 4);  // 1 used of 5
  EXPECT_EQ(a2->in_flight(), 1);

  write(R"({"keys": [{"name": "a"}]})");
  const Status bad = reg.reload();
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("keys[0].key"), std::string::npos);
  EXPECT_NE(reg.identify(with_bearer("sk-a2")), nullptr);  // the old keys stay

  const std::string metrics = reg.render_metrics("vllm", "m");
  EXPECT_NE(metrics.find("vllm:api_key_requests_total{model_name=\"m\",key_name=\"a\"} 1\n"),
            std::string::npos)
      << metrics;
  EXPECT_NE(
      metrics.find("vllm:api_key_prompt_tokens_total{model_name=\"m\",key_name=\"a\"} 3\n"),
      std::string::npos);
  EXPECT_EQ(metrics.find("sk-"), std::string::npos);  // never the key itself
  std::remove(path.c_str());
}

TEST(LimitsHeaders, OpenAiDurations) {
  EXPECT_EQ(openai_duration(0), "0s");
  EXPECT_EQ(openai_duration(0.017), "17ms");
  EXPECT_EQ(openai_duration(1), "1s");
  EXPECT_EQ(openai_duration(1.5), "1.5s");
  EXPECT_EQ(openai_duration(360), "6m0s");
  EXPECT_EQ(openai_duration(3661.25), "1h1m1.25s");
}

TEST(LimitsHeaders, ValuesAndFormats) {
  Snapshot s;
  s.requests = Snapshot::Budget{60, 59, 1};
  s.tokens = Snapshot::Budget{1000, 900, 6};
  HeaderList openai, anthropic;
  append_openai_headers(s, openai);
  EXPECT_EQ(openai, (HeaderList{{"x-ratelimit-limit-requests", "60"},
                                {"x-ratelimit-remaining-requests", "59"},
                                {"x-ratelimit-reset-requests", "1s"},
                                {"x-ratelimit-limit-tokens", "1000"},
                                {"x-ratelimit-remaining-tokens", "900"},
                                {"x-ratelimit-reset-tokens", "6s"}}));
  const auto t0 = std::chrono::system_clock::from_time_t(1767225600);  // 2026-01-01T00:00:00Z
  append_anthropic_headers(s, t0, anthropic);
  EXPECT_EQ(anthropic, (HeaderList{{"anthropic-ratelimit-requests-limit", "60"},
                                   {"anthropic-ratelimit-requests-remaining", "59"},
                                   {"anthropic-ratelimit-requests-reset", "2026-01-01T00:00:01Z"},
                                   {"anthropic-ratelimit-tokens-limit", "1000"},
                                   {"anthropic-ratelimit-tokens-remaining", "900"},
                                   {"anthropic-ratelimit-tokens-reset", "2026-01-01T00:00:06Z"}}));
}

}  // namespace
}  // namespace kiln::server::limits
