// The Prometheus exposition (names, labels, histogram buckets) and the admission bound.
#include <gtest/gtest.h>

#include "server/admission.h"
#include "server/metrics.h"

namespace kiln::server {
namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

TEST(ServerMetrics, HistogramBucketsAreCumulative) {
  Histogram h({0.5, 1.0});
  h.observe(0.25);
  h.observe(0.5);  // on a bound: counts in that bucket (le = less or equal)
  h.observe(0.75, 2);
  h.observe(7);
  std::string out;
  h.render(out, "x", "m=\"a\"");
  EXPECT_EQ(out,
            "x_bucket{m=\"a\",le=\"0.5\"} 2\n"
            "x_bucket{m=\"a\",le=\"1\"} 4\n"
            "x_bucket{m=\"a\",le=\"+Inf\"} 5\n"
            "x_count{m=\"a\"} 5\n"
            "x_sum{m=\"a\"} 9.25\n");
}

TEST(ServerMetrics, ExpositionUsesVllmNamesWithKilnPrefix) {
  ServerMetrics m;
  EngineStats s;
  s.num_running = 3;
  s.num_waiting = 2;
  s.kv_blocks_total = 8;
  s.kv_blocks_used = 2;
  s.generation_tokens = 40;
  s.num_preemptions = 1;
  s.prefix_queried_tokens = 100;
  s.prefix_hit_tokens = 32;
  s.requests_finished_stop = 4;
  s.requests_finished_abort = 1;
  m.on_prompt_done(12);
  m.on_inter_token(0.02, 3);
  RequestTimes t;
  t.arrival = Clock::now();
  t.first_scheduled = t.arrival + std::chrono::milliseconds(10);
  t.first_token = t.arrival + std::chrono::milliseconds(50);
  t.finished = t.arrival + std::chrono::milliseconds(250);
  m.on_request_finished(t, 12, 5);
  m.on_rejected(ServerMetrics::Rejection::kCapacity);
  m.on_rejected(ServerMetrics::Rejection::kCapacity);
  m.on_rejected(ServerMetrics::Rejection::kKeyLimit);
  const std::string text = m.render("my \"model\"", s);
  const std::string l = "{model_name=\"my \\\"model\\\"\"}";
  EXPECT_TRUE(has_line(text, "# TYPE kiln:num_requests_running gauge"));
  EXPECT_TRUE(has_line(text, "kiln:num_requests_running" + l + " 3"));
  EXPECT_TRUE(has_line(text, "kiln:num_requests_waiting" + l + " 2"));
  EXPECT_TRUE(has_line(text, "kiln:kv_cache_usage_perc" + l + " 0.25"));
  EXPECT_TRUE(has_line(text, "# TYPE kiln:prompt_tokens_total counter"));
  EXPECT_TRUE(has_line(text, "kiln:prompt_tokens_total" + l + " 12"));
  EXPECT_TRUE(has_line(text, "kiln:generation_tokens_total" + l + " 40"));
  EXPECT_TRUE(has_line(text, "kiln:num_preemptions_total" + l + " 1"));
  EXPECT_TRUE(has_line(text, "kiln:prefix_cache_queries_total" + l + " 100"));
  EXPECT_TRUE(has_line(text, "kiln:prefix_cache_hits_total" + l + " 32"));
  EXPECT_TRUE(has_line(
      text,
      "kiln:request_success_total{model_name=\"my \\\"model\\\"\",finished_reason=\"stop\"} 4"));
  EXPECT_TRUE(has_line(
      text,
      "kiln:request_success_total{model_name=\"my \\\"model\\\"\",finished_reason=\"abort\"} 1"));
  EXPECT_TRUE(has_line(text, "# TYPE kiln:request_rejected_total counter"));
  EXPECT_TRUE(has_line(
      text, "kiln:request_rejected_total{model_name=\"my \\\"model\\\"\",reason=\"capacity\"} 2"));
  EXPECT_TRUE(has_line(
      text, "kiln:request_rejected_total{model_name=\"my \\\"model\\\"\",reason=\"key_limit\"} 1"));
  for (const char* h : {"kiln:time_to_first_token_seconds", "kiln:inter_token_latency_seconds",
                        "kiln:e2e_request_latency_seconds", "kiln:request_queue_time_seconds",
                        "kiln:time_per_output_token_seconds"})
    EXPECT_TRUE(has_line(text, std::string("# TYPE ") + h + " histogram")) << h;
  EXPECT_TRUE(has_line(text, "kiln:inter_token_latency_seconds_count" + l + " 3"));
  EXPECT_TRUE(has_line(text, "kiln:time_to_first_token_seconds_sum" + l + " 0.05"));
  EXPECT_TRUE(has_line(text, "kiln:request_queue_time_seconds_sum" + l + " 0.01"));
  EXPECT_TRUE(has_line(text, "kiln:time_per_output_token_seconds_count" + l + " 3"));
  EXPECT_TRUE(has_line(text, "kiln:request_time_per_output_token_seconds_sum" + l + " 0.05"));
  EXPECT_TRUE(has_line(text, "kiln:request_prefill_time_seconds_sum" + l + " 0.04"));
  EXPECT_TRUE(has_line(text, "kiln:request_decode_time_seconds_sum" + l + " 0.2"));
  EXPECT_TRUE(has_line(
      text,
      "kiln:e2e_request_latency_seconds_bucket{model_name=\"my \\\"model\\\"\",le=\"0.3\"} 1"));
}

TEST(ServerAdmission, BoundsSequencesInFlight) {
  Admission a(/*max_running=*/2, /*max_queue=*/1);
  auto t1 = a.try_admit(2);
  ASSERT_TRUE(t1.has_value());
  auto t2 = a.try_admit(1);
  ASSERT_TRUE(t2.has_value());
  EXPECT_FALSE(a.try_admit(1).has_value());
  EXPECT_EQ(a.in_flight(), 3);
  t1->release();
  t1->release();  // idempotent
  EXPECT_EQ(a.in_flight(), 1);
  {
    auto t3 = a.try_admit(2);
    EXPECT_TRUE(t3.has_value());
    EXPECT_FALSE(a.try_admit(1).has_value());
  }
  EXPECT_EQ(a.in_flight(), 1);
  t2.reset();
  // Alone, even a request larger than the bound goes through to the engine's own checks.
  auto big = a.try_admit(10);
  EXPECT_TRUE(big.has_value());
}

// --metrics-prefix vllm: every name under vllm:, the label values (a model named "kiln:x")
// untouched, and the same lines otherwise.
TEST(ServerMetrics, VllmPrefixRenamesEveryMetricAndNoLabel) {
  EngineStats s;
  s.num_running = 3;
  s.spec_drafts = 2;
  const std::string kiln = ServerMetrics().render("kiln:x", s);
  const std::string vllm = ServerMetrics("vllm").render("kiln:x", s);
  EXPECT_TRUE(has_line(vllm, "# TYPE vllm:num_requests_running gauge"));
  EXPECT_TRUE(has_line(vllm, "vllm:num_requests_running{model_name=\"kiln:x\"} 3"));
  EXPECT_TRUE(has_line(vllm, "vllm:spec_decode_num_drafts_total{model_name=\"kiln:x\"} 2"));
  std::string renamed = kiln;
  size_t lines = 0;
  for (size_t at = 0; (at = renamed.find("kiln:", at)) != std::string::npos;) {
    // Names sit at a line's start or after "# HELP " / "# TYPE "; the label's "kiln:x" stays.
    const bool name = at == 0 || renamed[at - 1] == '\n' || renamed.compare(at - 7, 7, "# HELP ") == 0 ||
                      renamed.compare(at - 7, 7, "# TYPE ") == 0;
    if (name) {
      renamed.replace(at, 5, "vllm:");
      ++lines;
    }
    at += 5;
  }
  EXPECT_GT(lines, 50u);
  EXPECT_EQ(renamed, vllm);
  EXPECT_EQ(vllm.find("\nkiln:"), std::string::npos);
}

}  // namespace
}  // namespace kiln::server
