// The report's arithmetic: NumPy-style percentiles, goodput under SLOs, throughput, cost per
// million tokens and break-even on chosen numbers; SLO and price parsing errors; the sweep's
// CSV and SVG.
#include <gtest/gtest.h>

#include <cmath>

#include "bench/cost_model.h"
#include "bench/load_report.h"
#include "bench/slo.h"
#include "bench/stats.h"
#include "bench/sweep_chart.h"

namespace kiln::bench {
namespace {

TEST(BenchStats, PercentilesMatchNumpyLinear) {
  // numpy.percentile([1, 2, 3, 4, 10], [50, 90, 99, 25]) = [3, 7.6, 9.76, 2]
  const std::vector<double> v = {1, 2, 3, 4, 10};
  EXPECT_DOUBLE_EQ(percentile(v, 50), 3.0);
  EXPECT_NEAR(percentile(v, 90), 7.6, 1e-12);
  EXPECT_NEAR(percentile(v, 99), 9.76, 1e-12);
  EXPECT_DOUBLE_EQ(percentile(v, 25), 2.0);
  EXPECT_DOUBLE_EQ(percentile(v, 0), 1.0);
  EXPECT_DOUBLE_EQ(percentile(v, 100), 10.0);
  // numpy.percentile([0.5, 0.1], 50) = 0.3; one sample is every percentile.
  EXPECT_NEAR(percentile({0.1, 0.5}, 50), 0.3, 1e-12);
  EXPECT_DOUBLE_EQ(percentile({7}, 99), 7.0);
}

TEST(BenchStats, SummarizeSortsAndHandlesEmpty) {
  LatencySummary s = summarize({10, 1, 4, 3, 2});
  EXPECT_DOUBLE_EQ(*s.mean, 4.0);
  EXPECT_DOUBLE_EQ(*s.median, 3.0);
  EXPECT_NEAR(*s.p99, 9.76, 1e-12);
  EXPECT_DOUBLE_EQ(*s.min, 1.0);
  EXPECT_DOUBLE_EQ(*s.max, 10.0);
  EXPECT_FALSE(summarize({}).median.has_value());
}

TEST(BenchSlo, ParsesUnits) {
  auto slo = parse_slo("ttft=500ms,tpot=0.05s,e2e=10s");
  ASSERT_TRUE(slo.ok()) << slo.message();
  EXPECT_DOUBLE_EQ(*slo->ttft_s, 0.5);
  EXPECT_DOUBLE_EQ(*slo->tpot_s, 0.05);
  EXPECT_DOUBLE_EQ(*slo->e2e_s, 10.0);
  auto bare = parse_slo("tpot=50");  // milliseconds
  ASSERT_TRUE(bare.ok());
  EXPECT_DOUBLE_EQ(*bare->tpot_s, 0.05);
  EXPECT_FALSE(bare->ttft_s.has_value());
}

TEST(BenchSlo, BadSpecsNameTheProblem) {
  for (const char* bad : {"", "ttft", "ttft=", "ttft=fast", "latency=5ms", "ttft=-1ms", "ttft=5ms,"}) {
    auto r = parse_slo(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.message().rfind("--slo: ", 0), 0u) << r.message();
  }
  EXPECT_NE(parse_slo("latency=5ms").message().find("latency"), std::string::npos);
}

TEST(BenchSlo, MeetsEveryGivenBound) {
  SloBounds slo;
  slo.ttft_s = 0.5;
  slo.tpot_s = 0.05;
  EXPECT_TRUE(meets_slo(slo, 0.4, 0.04, 100));
  EXPECT_FALSE(meets_slo(slo, 0.6, 0.04, 1));
  EXPECT_FALSE(meets_slo(slo, 0.4, 0.06, 1));
  EXPECT_TRUE(meets_slo(slo, 0.4, std::nullopt, 1));  // one output token: no TPOT
  EXPECT_FALSE(meets_slo(slo, std::nullopt, 0.01, 1));  // no text at all
}

TEST(BenchCost, ComparePriceParsing) {
  auto p = parse_compare_price("out=0.6,in=0.15");
  ASSERT_TRUE(p.ok());
  EXPECT_DOUBLE_EQ(p->in_per_million, 0.15);
  EXPECT_DOUBLE_EQ(p->out_per_million, 0.6);
  for (const char* bad : {"", "in=1", "in=x,out=1", "in=1,out=2,mid=3", "in=-1,out=2", "in=0,out=0"}) {
    auto r = parse_compare_price(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.message().rfind("--compare-price: ", 0), 0u) << r.message();
  }
}

TEST(BenchCost, PerMillionAndSplit) {
  // $3.6/h = $0.001/s. I = 400 tok/s, O = 100 tok/s.
  CostFigures c = compute_cost(3.6, 400, 100, std::nullopt);
  EXPECT_NEAR(*c.usd_per_million_total, 0.001 / 500 * 1e6, 1e-12);  // $2 per million
  // r = 4: 400 p + 100 * 4p = 0.001 -> p = 1.25e-6 per token.
  EXPECT_NEAR(*c.usd_per_million_input, 1.25, 1e-9);
  EXPECT_NEAR(*c.usd_per_million_output, 5.0, 1e-9);
  EXPECT_NE(c.split.find("4"), std::string::npos);
  // The API's ratio when given (out/in = 2): 400p + 100 * 2p = 0.001.
  CostFigures d = compute_cost(3.6, 400, 100, ApiPrice{1.0, 2.0});
  EXPECT_NEAR(*d.usd_per_million_input, 0.001 / 600 * 1e6, 1e-9);
  EXPECT_NEAR(*d.usd_per_million_output, 2 * 0.001 / 600 * 1e6, 1e-9);
  // Spending per second matches the hourly cost.
  EXPECT_NEAR(400 * *d.usd_per_million_input / 1e6 + 100 * *d.usd_per_million_output / 1e6, 0.001, 1e-12);
  EXPECT_FALSE(compute_cost(3.6, 0, 0, std::nullopt).usd_per_million_total.has_value());
}

TEST(BenchCost, BreakEven) {
  // C = $2/h, I = 300, O = 100 tok/s, API in=$1, out=$3 per million.
  BreakEven b = compute_break_even(2.0, 300, 100, ApiPrice{1.0, 3.0});
  EXPECT_NEAR(b.api_blended_usd_per_million, (300 * 1.0 + 100 * 3.0) / 400, 1e-12);  // 1.5
  EXPECT_NEAR(b.self_hosted_monthly_usd, 1460.0, 1e-9);
  EXPECT_NEAR(*b.monthly_tokens, 1460.0 * 1e6 / 1.5, 1e-3);
  EXPECT_NEAR(b.instance_monthly_capacity_tokens, 400.0 * 3600 * 730, 1e-3);
  // 973M needed vs 1051M capacity: reachable.
  EXPECT_EQ(b.note.find("cannot"), std::string::npos) << b.note;
  // Ten times cheaper API: not reachable with one instance at this load.
  BreakEven c = compute_break_even(2.0, 300, 100, ApiPrice{0.1, 0.3});
  EXPECT_GT(*c.monthly_tokens, c.instance_monthly_capacity_tokens);
  EXPECT_NE(c.note.find("cannot reach break-even"), std::string::npos) << c.note;
}

RequestRecord ok_record(double start, double ttft, double e2e, int64_t out, std::vector<double> itl) {
  RequestRecord r;
  r.start_s = start;
  r.ttft_s = ttft;
  r.e2e_s = e2e;
  r.input_tokens = 10;
  r.output_tokens = out;
  r.itl_s = std::move(itl);
  return r;
}

TEST(BenchReport, FiguresFromRecords) {
  LoadRunResult run;
  run.duration_s = 2.0;
  run.max_in_flight = 2;
  run.mean_in_flight = 1.5;
  run.requests.push_back(ok_record(0, 0.1, 1.1, 11, {0.1, 0.1}));   // TPOT 0.1
  run.requests.push_back(ok_record(0.5, 0.3, 0.8, 6, {0.2}));       // TPOT 0.1
  run.requests.push_back(ok_record(0.6, 0.2, 0.2, 1, {}));          // no TPOT
  RequestRecord bad;
  bad.error = "http_429";
  bad.error_message = "slow down";
  run.requests.push_back(bad);
  ReportOptions o;
  SloBounds slo;
  slo.ttft_s = 0.25;
  o.slo = slo;
  o.hourly_usd = 3.6;
  o.compare_price = ApiPrice{1, 2};
  LoadReport r = make_report(std::move(run), o);
  EXPECT_EQ(r.num_requests, 4);
  EXPECT_EQ(r.completed, 3);
  EXPECT_EQ(r.failed, 1);
  EXPECT_EQ(r.errors.at("http_429"), 1);
  EXPECT_EQ(r.error_examples.at("http_429"), "slow down");
  EXPECT_EQ(r.output_tokens, 18);
  EXPECT_EQ(r.input_tokens, 30);
  EXPECT_DOUBLE_EQ(r.request_throughput, 1.5);
  EXPECT_DOUBLE_EQ(r.output_throughput, 9.0);
  EXPECT_DOUBLE_EQ(r.total_token_throughput, 24.0);
  EXPECT_NEAR(*r.ttft_s.median, 0.2, 1e-12);
  EXPECT_NEAR(*r.tpot_s.mean, 0.1, 1e-12);
  EXPECT_NEAR(*r.itl_s.median, 0.1, 1e-12);  // pooled: 0.1, 0.1, 0.2
  EXPECT_EQ(r.goodput->good_requests, 2);    // TTFT 0.1 and 0.2
  EXPECT_DOUBLE_EQ(r.goodput->fraction, 0.5);
  EXPECT_DOUBLE_EQ(r.goodput->request_rate, 1.0);
  ASSERT_TRUE(r.cost.has_value());
  ASSERT_TRUE(r.break_even.has_value());

  nlohmann::json j = to_json(r);
  EXPECT_EQ(j["errors"]["http_429"], 1);
  EXPECT_EQ(j["requests"].size(), 4u);
  EXPECT_TRUE(j["requests"][3]["error"] == "http_429");
  EXPECT_TRUE(j["requests"][0]["error"].is_null());
  EXPECT_DOUBLE_EQ(j["goodput"]["slo"]["ttft_s"].get<double>(), 0.25);
  EXPECT_FALSE(j["goodput"]["slo"].contains("tpot_s"));
  for (const char* key : {"label", "config", "started_at", "duration_s", "max_concurrency_observed",
                          "mean_concurrency", "ttft_s", "tpot_s", "itl_s", "e2e_s", "cost", "break_even"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  for (const char* key : {"mean", "median", "p90", "p99", "min", "max"}) EXPECT_TRUE(j["e2e_s"].contains(key));
}

TEST(BenchReport, NullsWithoutSamplesOrOptions) {
  LoadRunResult run;
  RequestRecord bad;
  bad.error = "connect";
  run.requests.push_back(bad);
  nlohmann::json j = to_json(make_report(std::move(run), ReportOptions{}));
  EXPECT_TRUE(j["ttft_s"]["median"].is_null());
  EXPECT_TRUE(j["goodput"].is_null());
  EXPECT_TRUE(j["cost"].is_null());
  EXPECT_TRUE(j["break_even"].is_null());
}

TEST(BenchSweep, CsvRowsAndValidLookingSvg) {
  LoadRunResult a, b;
  a.duration_s = b.duration_s = 1.0;
  a.requests.push_back(ok_record(0, 0.1, 0.5, 5, {0.1}));
  b.requests.push_back(ok_record(0, 0.2, 0.9, 9, {0.1}));
  LoadReport ra = make_report(std::move(a), {}), rb = make_report(std::move(b), {});
  std::vector<SweepPoint> points = {{"concurrency", 1, &ra}, {"concurrency", 4, &rb}};
  const std::string csv = sweep_csv(points);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3);
  EXPECT_NE(csv.find("concurrency,4,"), std::string::npos);
  const std::string svg = sweep_svg(points, "a <title> & more");
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("<svg xmlns=\"http://www.w3.org/2000/svg\""), std::string::npos);
  EXPECT_NE(svg.find("&lt;title&gt; &amp; more"), std::string::npos);
  EXPECT_NE(svg.find("output tokens/s"), std::string::npos);
  EXPECT_NE(svg.find("TPOT (ms)"), std::string::npos);
  EXPECT_NE(svg.find("TTFT (ms)"), std::string::npos);
  EXPECT_TRUE(svg.ends_with("</svg>\n"));
}

}  // namespace
}  // namespace kiln::bench
