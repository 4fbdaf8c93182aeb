// --api-keys-file: the keys a server accepts, each with a name (what logs and /metrics
// show; the key itself never appears) and optional limits:
//   {"keys": [{"name": "team-a", "key": "sk-...", "requests_per_minute": 60,
//              "tokens_per_minute": 100000, "max_concurrent_requests": 8,
//              "models": ["qwen"]}]}
#pragma once

#include <string>
#include <vector>

#include "server/limits/key_state.h"
#include "util/status.h"

namespace kiln::server::limits {

struct KeyEntry {
  std::string name;
  std::string key;
  KeyLimits limits;
};

// The name the keys given with --api-key share (no limits, no model list).
inline constexpr const char* kCliKeyName = "cli";

// Parses the file's text; errors name `path` and the entry at fault.
StatusOr<std::vector<KeyEntry>> parse_key_file(const std::string& text, const std::string& path);
StatusOr<std::vector<KeyEntry>> load_key_file(const std::string& path);

}  // namespace kiln::server::limits
