#include "server/metrics.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <map>

namespace kiln::server {
namespace {

// vLLM's bucket boundaries, so the two servers' histograms can be compared directly.
const std::vector<double> kTtftBuckets = {0.001, 0.005, 0.01, 0.02,  0.04,  0.06,  0.08, 0.1,
                                          0.25,  0.5,   0.75, 1.0,   2.5,   5.0,   7.5,  10.0,
                                          20.0,  40.0,  80.0, 160.0, 640.0, 2560.0};
const std::vector<double> kTokenLatencyBuckets = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2,
                                                  0.3,  0.4,   0.5,  0.75,  1.0, 2.5,  5.0,
                                                  7.5,  10.0,  20.0, 40.0,  80.0};
const std::vector<double> kRequestLatencyBuckets = {
    0.3,  0.5,  0.8,  1.0,  1.5,   2.0,   2.5,   5.0,   10.0,   15.0,  20.0,
    30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};
// 1-2-5 steps up to a million tokens (vLLM's build_1_2_5_buckets).
std::vector<double> token_count_buckets() {
  std::vector<double> b;
  for (double scale = 1; scale <= 1e6; scale *= 10)
    for (double m : {1.0, 2.0, 5.0}) b.push_back(m * scale);
  return b;
}

std::string number(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::string("NaN");
}

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

bool stamped(Clock::time_point t) { return t.time_since_epoch().count() != 0; }

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  append_metric_header(out, name, type, help);
}

void sample(std::string& out, std::string_view name, std::string_view labels, double value) {
  append_metric_sample(out, name, labels, value);
}

}  // namespace

void append_metric_header(std::string& out, std::string_view name, std::string_view type,
                          std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void append_metric_sample(std::string& out, std::string_view name, std::string_view labels,
                          double value) {
  out.append(name).append("{").append(labels).append("} ").append(number(value)).append("\n");
}

std::string merge_expositions(const std::vector<std::string>& expositions) {
  // Each family: its two header lines, then every exposition's samples in order.
  struct Family {
    std::string head, samples;
  };
  std::vector<std::string> order;
  std::map<std::string, Family, std::less<>> families;
  for (const std::string& text : expositions) {
    Family* current = nullptr;
    size_t at = 0;
    while (at < text.size()) {
      size_t end = text.find('\n', at);
      end = end == std::string::npos ? text.size() : end + 1;
      std::string_view line(text.data() + at, end - at);
      at = end;
      if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
        std::string_view rest = line.substr(7);
        const std::string name(rest.substr(0, rest.find(' ')));
        auto [it, fresh] = families.try_emplace(name);
        if (fresh) order.push_back(name);
        current = &it->second;
        // A family's header is kept from the first exposition that has it.
        if (fresh || current->head.find(line.substr(0, 7)) == std::string::npos)
          current->head.append(line);
        continue;
      }
      if (current) current->samples.append(line);
    }
  }
  std::string out;
  for (const std::string& name : order) {
    const Family& f = families.at(name);
    out.append(f.head).append(f.samples);
  }
  return out;
}

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value, int64_t count) {
  const size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  counts_[i] += count;
  count_ += count;
  sum_ += value * (double)count;
}

void Histogram::render(std::string& out, std::string_view name, std::string_view labels) const {
  const std::string bucket = std::string(name) + "_bucket";
  int64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i];
    const std::string le = i < bounds_.size() ? number(bounds_[i]) : "+Inf";
    sample(out, bucket, std::string(labels) + ",le=\"" + le + "\"", (double)cumulative);
  }
  sample(out, std::string(name) + "_count", labels, (double)count_);
  sample(out, std::string(name) + "_sum", labels, sum_);
}

std::string with_prefix(const std::string& text, const std::string& prefix) {
  if (prefix == "kiln") return text;
  static constexpr std::string_view kOld = "kiln:";
  std::string out;
  out.reserve(text.size() + text.size() / 16);
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    end = end == std::string::npos ? text.size() : end + 1;
    std::string_view line(text.data() + at, end - at);
    size_t name = 0;
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) name = 7;
    if (line.substr(name).starts_with(kOld)) {
      out.append(line.substr(0, name));
      out.append(prefix).append(":");
      out.append(line.substr(name + kOld.size()));
    } else {
      out.append(line);
    }
    at = end;
  }
  return out;
}

ServerMetrics::ServerMetrics(std::string prefix)
    : prefix_(std::move(prefix)),
      ttft_(kTtftBuckets),
      itl_(kTokenLatencyBuckets),
      tpot_(kTokenLatencyBuckets),
      request_tpot_(kTokenLatencyBuckets),
      e2e_(kRequestLatencyBuckets),
      queue_(kRequestLatencyBuckets),
      inference_(kRequestLatencyBuckets),
      prefill_(kRequestLatencyBuckets),
      decode_(kRequestLatencyBuckets),
      prompt_len_(token_count_buckets()),
      generation_len_(token_count_buckets()) {}

void ServerMetrics::on_prompt_done(int32_t num_prompt_tokens) {
  std::lock_guard lock(mu_);
  prompt_tokens_ += num_prompt_tokens;
}

void ServerMetrics::on_rejected(Rejection reason) {
  std::lock_guard lock(mu_);
  ++rejected_[(int)reason];
}

void ServerMetrics::on_inter_token(double seconds_each, int64_t count) {
  std::lock_guard lock(mu_);
  itl_.observe(seconds_each, count);
  tpot_.observe(seconds_each, count);
}

void ServerMetrics::on_request_finished(const RequestTimes& t, int32_t num_prompt_tokens,
                                        int32_t num_generated) {
  std::lock_guard lock(mu_);
  e2e_.observe(seconds_between(t.arrival, t.finished));
  if (stamped(t.first_scheduled)) {
    queue_.observe(seconds_between(t.arrival, t.first_scheduled));
    inference_.observe(seconds_between(t.first_scheduled, t.finished));
  }
  if (stamped(t.first_token)) {
    ttft_.observe(seconds_between(t.arrival, t.first_token));
    decode_.observe(seconds_between(t.first_token, t.finished));
    if (stamped(t.first_scheduled))
      prefill_.observe(seconds_between(t.first_scheduled, t.first_token));
    if (num_generated > 1)
      request_tpot_.observe(seconds_between(t.first_token, t.finished) / (num_generated - 1));
  }
  prompt_len_.observe(num_prompt_tokens);
  generation_len_.observe(num_generated);
}

std::string ServerMetrics::render(std::string_view model_name, const EngineStats& s,
                                  const structured::GrammarCompilerStats& g) const {
  const std::string labels = "model_name=\"" + escape_label_value(model_name) + "\"";
  std::string out;
  auto gauge = [&](std::string_view name, std::string_view help, double v) {
    header(out, name, "gauge", help);
    sample(out, name, labels, v);
  };
  auto counter = [&](std::string_view name, std::string_view help, double v) {
    header(out, name, "counter", help);
    sample(out, name, labels, v);
  };
  gauge("kiln:num_requests_running", "Number of requests in model execution batches.",
        s.num_running);
  gauge("kiln:num_requests_waiting", "Number of requests waiting to be processed.", s.num_waiting);
  gauge("kiln:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.",
        s.kv_blocks_total > 0 ? (double)s.kv_blocks_used / s.kv_blocks_total : 0.0);

  std::lock_guard lock(mu_);
  counter("kiln:prompt_tokens_total", "Number of prefill tokens processed.",
          (double)prompt_tokens_);
  counter("kiln:generation_tokens_total", "Number of generation tokens processed.",
          (double)s.generation_tokens);
  counter("kiln:num_preemptions_total", "Cumulative number of preemption from the engine.",
          (double)s.num_preemptions);
  counter("kiln:prefix_cache_queries_total",
          "Prefix cache queries, in terms of number of queried tokens.",
          (double)s.prefix_queried_tokens);
  counter("kiln:prefix_cache_hits_total", "Prefix cache hits, in terms of number of cached tokens.",
          (double)s.prefix_hit_tokens);
  counter("kiln:structured_requests_total",
          "Requests whose output a grammar constrained (structured output, tool calls).",
          (double)s.structured_requests);
  counter("kiln:grammar_mask_seconds_total", "Time spent computing structured-output token masks.",
          s.grammar_mask_seconds);
  counter("kiln:grammar_forced_tokens_total",
          "Structured-output tokens appended without a forward pass: the grammar allowed no other "
          "(jump-forward).",
          (double)s.grammar_forced_tokens);
  counter("kiln:grammar_compiles_total", "Grammars compiled for the vocabulary (cache misses).",
          (double)g.compiles);
  counter("kiln:grammar_compile_seconds_total", "Time spent compiling grammars.",
          g.compile_seconds);
  counter("kiln:grammar_cache_hits_total", "Requests whose grammar came from the cache.",
          (double)g.cache_hits);

  // Speculative decoding, under vLLM's spec_decode names.
  counter("kiln:spec_decode_num_drafts_total", "Number of spec decoding drafts.",
          (double)s.spec_drafts);
  counter("kiln:spec_decode_num_draft_tokens_total", "Number of draft tokens.",
          (double)s.spec_draft_tokens);
  counter("kiln:spec_decode_num_accepted_tokens_total", "Number of accepted tokens.",
          (double)s.spec_accepted_tokens);
  header(out, "kiln:spec_decode_num_accepted_tokens_per_pos_total", "counter",
         "Accepted tokens per draft position.");
  for (size_t i = 0; i < s.spec_accepted_per_position.size(); ++i)
    if (i == 0 || s.spec_accepted_per_position[i] > 0)
      sample(out, "kiln:spec_decode_num_accepted_tokens_per_pos_total",
             labels + ",position=\"" + std::to_string(i) + "\"",
             (double)s.spec_accepted_per_position[i]);

  header(out, "kiln:request_success_total", "counter", "Count of successfully processed requests.");
  sample(out, "kiln:request_success_total", labels + ",finished_reason=\"stop\"",
         (double)s.requests_finished_stop);
  sample(out, "kiln:request_success_total", labels + ",finished_reason=\"length\"",
         (double)s.requests_finished_length);
  sample(out, "kiln:request_success_total", labels + ",finished_reason=\"abort\"",
         (double)s.requests_finished_abort);

  header(out, "kiln:request_rejected_total", "counter",
         "Generation requests refused with a 429 before they reached the engine, by reason.");
  for (auto [reason, name] : {std::pair{Rejection::kCapacity, "capacity"},
                              std::pair{Rejection::kKeyLimit, "key_limit"}})
    sample(out, "kiln:request_rejected_total", labels + ",reason=\"" + name + "\"",
           (double)rejected_[(int)reason]);

  auto histogram = [&](std::string_view name, std::string_view help, const Histogram& h) {
    header(out, name, "histogram", help);
    h.render(out, name, labels);
  };
  histogram("kiln:time_to_first_token_seconds", "Histogram of time to first token in seconds.",
            ttft_);
  histogram("kiln:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.",
            itl_);
  // NOTE: vLLM keeps time_per_output_token_seconds as the older name of the inter-token
  // latency (same observations); older dashboards read it.
  histogram("kiln:time_per_output_token_seconds",
            "Histogram of time per output token in seconds (the inter-token latency, under its "
            "older name).",
            tpot_);
  histogram("kiln:request_time_per_output_token_seconds",
            "Histogram of time_per_output_token_seconds per request.", request_tpot_);
  histogram("kiln:e2e_request_latency_seconds",
            "Histogram of end to end request latency in seconds.", e2e_);
  histogram("kiln:request_queue_time_seconds",
            "Histogram of time spent in WAITING phase for request.", queue_);
  histogram("kiln:request_inference_time_seconds",
            "Histogram of time spent in RUNNING phase for request.", inference_);
  histogram("kiln:request_prefill_time_seconds",
            "Histogram of time spent in PREFILL phase for request.", prefill_);
  histogram("kiln:request_decode_time_seconds",
            "Histogram of time spent in DECODE phase for request.", decode_);
  histogram("kiln:request_prompt_tokens", "Number of prefill tokens processed.", prompt_len_);
  histogram("kiln:request_generation_tokens", "Number of generation tokens processed.",
            generation_len_);
  return with_prefix(out, prefix_);
}

std::string escape_label_value(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

}  // namespace kiln::server
