// `kiln bench offline MODEL --requests N --concurrency C`: N requests straight into the
// engine from C closed-loop clients (each submits its next request when the previous one
// finishes), with random prompts that may share a prefix. Reports throughput, time to
// first token, time per output token, prefix-cache hits, preemptions and KV waste.
#pragma once

#include <string>

#include "cli/engine_setup.h"

namespace kiln::cli {

struct EngineBenchOptions {
  std::string model;
  int threads = 0;
  EngineFlags engine;
  int requests = 64;
  int concurrency = 16;
  int prompt_tokens = 256;       // per request, after the shared prefix
  int gen_tokens = 128;
  double length_spread = 0.0;    // lengths drawn uniformly from [1 - s, 1 + s] x the mean
  int shared_prefix_tokens = 0;  // every prompt starts with the same this many tokens
  unsigned seed = 1;
  bool json = false;
};

int run_engine_bench(const EngineBenchOptions& options);

}  // namespace kiln::cli
