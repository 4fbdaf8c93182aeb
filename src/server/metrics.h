// GET /metrics: Prometheus text (format 0.0.4) under vLLM's metric names with the prefix
// `kiln:` instead of `vllm:`, so dashboards and the Gateway API Inference Extension, which
// read num_requests_waiting, num_requests_running and kv_cache_usage_perc, need only that
// change. Every series carries a model_name label.
//
// Counters and gauges come from the engine's EngineStats; latency histograms are observed
// here, per request, from the times the engine stamps on its outputs. Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine_stats.h"
#include "engine/request.h"
#include "structured/grammar_compiler.h"

namespace kiln::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value, int64_t count = 1);
  // Appends the _bucket, _count and _sum series (cumulative buckets, then le="+Inf").
  void render(std::string& out, std::string_view name, std::string_view labels) const;

  int64_t count() const { return count_; }
  double sum() const { return sum_; }

 private:
  std::vector<double> bounds_;
  std::vector<int64_t> counts_;  // per bucket (not cumulative), one more for +Inf
  int64_t count_ = 0;
  double sum_ = 0;
};

class ServerMetrics {
 public:
  // `prefix`: the metric names' namespace, "kiln" (kiln:num_requests_running, ...) or
  // "vllm" (--metrics-prefix vllm), so that dashboards and the Gateway API Inference
  // Extension's endpoint picker, which read vLLM's names, work unchanged.
  explicit ServerMetrics(std::string prefix = "kiln");

  // A request's prompt has been computed (its first output arrived): counts its prompt
  // tokens, cached ones included, as vLLM's prompt_tokens_total does.
  void on_prompt_done(int32_t num_prompt_tokens);
  // `count` tokens arrived `seconds_each` apart (a merged read of several tokens spreads
  // the time since the previous one over them).
  void on_inter_token(double seconds_each, int64_t count);
  // A request finished with stop or length (aborted and failed ones are not observed).
  void on_request_finished(const RequestTimes& times, int32_t num_prompt_tokens,
                           int32_t num_generated);

  // A generation request refused with a 429 before it reached the engine, by reason:
  // "capacity" (every slot of --max-num-seqs + --max-queue taken) or "key_limit" (its API
  // key's RPM, TPM or concurrency budget), so that clients' refusals and the server's can
  // be reconciled (bench/soak.py does).
  enum class Rejection { kCapacity, kKeyLimit };
  void on_rejected(Rejection reason);

  // The whole exposition. `stats` is the engine's, read by the caller.
  std::string render(std::string_view model_name, const EngineStats& stats,
                     const structured::GrammarCompilerStats& grammars = {}) const;

 private:
  std::string prefix_;
  mutable std::mutex mu_;
  int64_t prompt_tokens_ = 0;
  int64_t rejected_[2] = {0, 0};  // by Rejection
  Histogram ttft_, itl_, tpot_, request_tpot_, e2e_, queue_, inference_, prefill_, decode_,
      prompt_len_, generation_len_;
};

// The label value with Prometheus' escapes (backslash, double quote, newline).
std::string escape_label_value(std::string_view value);

// Lines of an exposition: "# HELP name help" and "# TYPE name type", and "name{labels} value".
void append_metric_header(std::string& out, std::string_view name, std::string_view type,
                          std::string_view help);
void append_metric_sample(std::string& out, std::string_view name, std::string_view labels,
                          double value);

// An exposition written under "kiln:" with the names moved to `prefix:` (unchanged for
// "kiln"): only a line's metric name (at its start, or after "# HELP " / "# TYPE ") is
// touched, never a label value.
std::string with_prefix(const std::string& text, const std::string& prefix);

// Several expositions (one per model) as one: each metric family's header once, followed by
// the family's samples from every exposition, as Prometheus requires.
std::string merge_expositions(const std::vector<std::string>& expositions);

}  // namespace kiln::server
