// Server-sent events as the OpenAI and Anthropic APIs frame them: "data: <json>\n\n" per
// OpenAI chunk (ending with "data: [DONE]\n\n"), "event: <type>\ndata: <json>\n\n" per
// Anthropic event.
#pragma once

#include <string>
#include <string_view>

#include "server/json_util.h"

namespace kiln::server {

inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

// NOTE: compact JSON never contains a raw newline (newlines in strings are escaped), so a
// payload is always one `data:` line.
void append_sse_data(std::string& out, const Json& payload);
void append_sse_event(std::string& out, std::string_view event, const Json& payload);

}  // namespace kiln::server
