// The engine's record of one request while it runs: the request, its samples'
// sequences, its output stream and its timings. Owned by EngineCore.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/request.h"
#include "engine/sequence.h"

namespace kiln {

struct RequestState {
  uint64_t id = 0;
  GenerationRequest request;
  std::shared_ptr<RequestStream> stream;
  uint64_t cache_key = 0;  // block_hash.h's extra key, from the cache salt
  uint64_t base_seed = 0;  // sample i draws from a generator seeded by (base_seed, i)
  std::vector<std::unique_ptr<Sequence>> sequences;
  int32_t num_finished = 0;
  bool admitted = false;  // scheduled at least once
  RequestTimes times;
  bool has_first_token = false;
  bool notify_pending = false;  // new output this step, not yet signalled to the reader
};

}  // namespace kiln
