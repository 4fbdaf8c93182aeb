// Workloads: seeded determinism, lengths within the range, exact prompt lengths with a
// tokenizer (the one-token-per-byte test tokenizer), shared prefixes, jsonl and ShareGPT
// files with FILE:LINE errors. Arrivals: mean rate over many draws, `inf`, the in-flight cap.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "bench/arrivals.h"
#include "bench/workload.h"
#include "server_test_util.h"

namespace kiln::bench {
namespace {

std::string write_file(const std::string& name, const std::string& content) {
  const std::string path = testing::TempDir() + "kiln_bench_" + name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

size_t count_words(const std::string& s) {
  size_t n = 0;
  bool in_word = false;
  for (char c : s) {
    const bool space = c == ' ' || c == '\n';
    if (!space && !in_word) ++n;
    in_word = !space;
  }
  return n;
}

TEST(BenchWorkload, RandomIsSeededAndWithinRange) {
  WorkloadOptions o;
  o.input_len = 40;
  o.output_len = 20;
  o.range_ratio = 0.5;
  o.seed = 7;
  auto a = build_workload(o, 50, nullptr);
  auto b = build_workload(o, 50, nullptr);
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a->size(), 50u);
  o.seed = 8;
  auto c = build_workload(o, 50, nullptr);
  bool differs = false;
  for (size_t i = 0; i < 50; ++i) {
    EXPECT_EQ((*a)[i].prompt, (*b)[i].prompt);
    EXPECT_EQ((*a)[i].output_len, (*b)[i].output_len);
    differs |= (*a)[i].prompt != (*c)[i].prompt;
    const size_t words = count_words((*a)[i].prompt);
    EXPECT_GE(words, 20u);
    EXPECT_LE(words, 60u);
    EXPECT_GE((*a)[i].output_len, 10);
    EXPECT_LE((*a)[i].output_len, 30);
    EXPECT_EQ((*a)[i].prompt_tokens, -1);
  }
  EXPECT_TRUE(differs);
}

TEST(BenchWorkload, ExactLengthsWithATokenizer) {
  const Tokenizer& tok = server::testing::byte_tokenizer();
  WorkloadOptions o;
  o.range_ratio = 0.3;
  o.input_len = 100;
  auto items = build_workload(o, 20, &tok);
  ASSERT_TRUE(items.ok());
  for (const WorkItem& item : *items) {
    EXPECT_EQ((int32_t)tok.encode(item.prompt, false, false).size(), item.prompt_tokens);
    EXPECT_GE(item.prompt_tokens, 70);
    EXPECT_LE(item.prompt_tokens, 130);
  }
  PromptSynthesizer synth(3, &tok);
  for (int32_t n : {1, 2, 3, 7, 64, 257}) {
    EXPECT_EQ(synth.count_tokens(synth.make(n)), n) << n;
  }
}

TEST(BenchWorkload, SharedPrefixGroups) {
  WorkloadOptions o;
  o.dataset = "shared-prefix";
  o.num_prefixes = 3;
  o.prefix_len = 30;
  o.input_len = 5;
  auto items = build_workload(o, 7, nullptr);
  ASSERT_TRUE(items.ok());
  auto prefix = [](const WorkItem& w) { return w.prompt.substr(0, w.prompt.find('\n')); };
  EXPECT_EQ(prefix((*items)[0]), prefix((*items)[3]));
  EXPECT_EQ(prefix((*items)[1]), prefix((*items)[4]));
  EXPECT_NE(prefix((*items)[0]), prefix((*items)[1]));
  EXPECT_NE((*items)[0].prompt, (*items)[3].prompt);  // unique suffixes
  EXPECT_EQ(count_words(prefix((*items)[0])), 30u);
}

TEST(BenchWorkload, JsonlPromptsCycle) {
  const std::string path = write_file("prompts.jsonl",
                                      "{\"prompt\": \"hello\", \"output_len\": 5}\n\n"
                                      "{\"prompt\": \"world\"}\n");
  WorkloadOptions o;
  o.dataset = path;
  o.output_len = 9;
  auto items = build_workload(o, 3, nullptr);
  ASSERT_TRUE(items.ok()) << items.message();
  EXPECT_EQ((*items)[0].prompt, "hello");
  EXPECT_EQ((*items)[0].output_len, 5);
  EXPECT_EQ((*items)[1].output_len, 9);
  EXPECT_EQ((*items)[2].prompt, "hello");
}

TEST(BenchWorkload, ShareGptArrayAndJsonl) {
  const std::string conv =
      "{\"conversations\": [{\"from\": \"human\", \"value\": \"hi there\"}, "
      "{\"from\": \"gpt\", \"value\": \"0123456789abcdef\"}]}";
  const std::string lonely = "{\"conversations\": [{\"from\": \"human\", \"value\": \"alone\"}]}";
  const std::string array_path = write_file("sharegpt.json", "[" + conv + ", " + lonely + "]");
  auto items = read_dataset_file(array_path, 100, nullptr);
  ASSERT_TRUE(items.ok()) << items.message();
  ASSERT_EQ(items->size(), 1u);  // the record without a reply is skipped
  EXPECT_EQ((*items)[0].prompt, "hi there");
  EXPECT_EQ((*items)[0].output_len, 4);  // 16 characters / 4
  const Tokenizer& tok = server::testing::byte_tokenizer();
  auto counted = read_dataset_file(write_file("sharegpt.jsonl", conv + "\n"), 100, &tok);
  ASSERT_TRUE(counted.ok());
  EXPECT_EQ((*counted)[0].output_len, 16);  // one token per byte
  EXPECT_EQ((*counted)[0].prompt_tokens, 8);
}

TEST(BenchWorkload, BadFilesNameFileAndLine) {
  const std::string path = write_file("bad.jsonl", "{\"prompt\": \"ok\"}\n{\"prompt\": 3}\n");
  auto r = read_dataset_file(path, 10, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.message().rfind(path + ":2: ", 0), 0u) << r.message();
  auto not_json = read_dataset_file(write_file("bad2.jsonl", "{\"prompt\": \"ok\"}\n{oops\n"), 10, nullptr);
  EXPECT_NE(not_json.message().find(":2: not valid JSON"), std::string::npos) << not_json.message();
  auto no_len = read_dataset_file(write_file("bad3.jsonl", "{\"prompt\": \"a\", \"output_len\": 0}\n"), 10, nullptr);
  EXPECT_NE(no_len.message().find(":1: \"output_len\""), std::string::npos) << no_len.message();
  auto neither = read_dataset_file(write_file("bad4.jsonl", "{\"text\": \"a\"}\n"), 10, nullptr);
  EXPECT_NE(neither.message().find(":1: expected \"prompt\" or \"conversations\""), std::string::npos);
  auto empty = read_dataset_file(write_file("empty.jsonl", "\n"), 10, nullptr);
  EXPECT_NE(empty.message().find("no usable entries"), std::string::npos);
  auto missing = read_dataset_file(testing::TempDir() + "kiln_bench_does_not_exist.jsonl", 10, nullptr);
  EXPECT_NE(missing.message().find("--dataset: cannot open"), std::string::npos);
}

TEST(BenchArrivals, MeanRateOverManyDraws) {
  for (double burstiness : {1.0, 0.5, 4.0}) {
    ArrivalSchedule s(8.0, burstiness, 42);
    const int n = 200000;
    double total = 0;
    for (int i = 0; i < n; ++i) total += s.next_gap_s();
    // Gap std is 1/(R*sqrt(k)); the mean of n gaps is within 5 standard errors.
    const double tolerance = 5.0 / (8.0 * std::sqrt(burstiness) * std::sqrt((double)n));
    EXPECT_NEAR(total / n, 1.0 / 8.0, tolerance) << "burstiness " << burstiness;
  }
}

TEST(BenchArrivals, InfiniteRateIsAllAtOnce) {
  ArrivalSchedule s(std::numeric_limits<double>::infinity(), 1.0, 1);
  EXPECT_TRUE(s.all_at_once());
  for (int i = 0; i < 100; ++i) EXPECT_EQ(s.next_gap_s(), 0.0);
}

TEST(BenchArrivals, ConcurrencyGateHonoursTheCap) {
  ConcurrencyGate gate(3);
  for (int i = 0; i < 10; ++i) gate.arrive();
  int sent = 0;
  while (gate.try_send()) ++sent;
  EXPECT_EQ(sent, 3);
  EXPECT_EQ(gate.waiting(), 7);
  gate.finish();
  EXPECT_TRUE(gate.try_send());
  EXPECT_FALSE(gate.try_send());
  gate.drop_waiting();
  gate.finish();
  EXPECT_FALSE(gate.try_send());
  ConcurrencyGate open(0);
  for (int i = 0; i < 50; ++i) open.arrive();
  while (open.try_send()) {
  }
  EXPECT_EQ(open.in_flight(), 50);
}

}  // namespace
}  // namespace kiln::bench
