// Ollama's keep_alive: how long a model stays loaded once idle. A number is seconds; a string
// is a Go duration ("30s", "5m", "1h30m", "250ms") or a bare number of seconds; any negative
// value means until the server stops, and 0 unloads the model as soon as it is idle.
#pragma once

#include <string_view>

#include "server/json_util.h"
#include "util/status.h"

namespace kiln::server {

// Seconds; < 0 for forever.
StatusOr<double> parse_keep_alive(std::string_view text);
StatusOr<double> parse_keep_alive_json(const Json& value);

}  // namespace kiln::server
