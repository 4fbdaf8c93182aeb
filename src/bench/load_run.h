// Drives one benchmark run: warm-up requests first (all at once under the in-flight cap,
// not measured), then the timed requests on the arrival schedule, everything on one
// io_context thread (the caller's). Records each timed request, the in-flight count (its
// maximum and time-weighted mean), and draws a progress line on stderr.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "bench/openai_request.h"
#include "bench/request_record.h"
#include "bench/sse_stream_client.h"
#include "bench/workload.h"

namespace kiln {
class Tokenizer;
}

namespace kiln::bench {

struct LoadRunOptions {
  RequestShape shape;
  double request_rate = std::numeric_limits<double>::infinity();
  double burstiness = 1.0;
  int max_concurrency = 0;  // 0: no cap
  // The run stops sending after this many requests or this long after the first send,
  // whichever comes first (at least one must be set; an infinite rate with only a duration
  // needs max_concurrency).
  std::optional<size_t> num_requests;
  std::optional<double> duration_s;
  uint64_t seed = 0;
  bool progress = true;
  std::string progress_label;  // shown before the progress figures
  StreamClientOptions client;
};

struct LoadRunResult {
  std::vector<RequestRecord> requests;  // timed requests in send order
  std::string started_at;               // ISO-8601 UTC of the first timed send
  double duration_s = 0;                // first timed send to last completion
  int max_in_flight = 0;
  double mean_in_flight = 0;  // time-weighted over duration_s
  int warmup_failed = 0;
  std::string warmup_error;  // the first warm-up failure, "error: message"
};

// Timed request i sends items[i % items.size()]; items must not be empty. `tokenizer` may be
// null; it must outlive the call.
LoadRunResult run_load(const HttpEndpoint& endpoint, const LoadRunOptions& options,
                       const std::vector<WorkItem>& warmup_items, const std::vector<WorkItem>& items,
                       const Tokenizer* tokenizer);

}  // namespace kiln::bench
