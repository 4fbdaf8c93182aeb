// --speculative-config: vLLM's JSON form of the speculative decoding settings,
// {"method": "ngram", "num_speculative_tokens": k, "prompt_lookup_min": n,
//  "prompt_lookup_max": n, "disable_by_batch_size": n}, read into the engine's config.
#pragma once

#include <string>

#include "engine/speculative.h"
#include "util/status.h"

namespace kiln::cli {

// The flag's value (empty: speculation off), each mistake named by its field.
StatusOr<SpeculativeConfig> parse_speculative_config(const std::string& text);

}  // namespace kiln::cli
