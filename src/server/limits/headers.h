// The rate-limit headers a keyed response carries, in each API's own spelling:
//   OpenAI:    x-ratelimit-{limit,remaining,reset}-{requests,tokens}; reset as a Go-style
//              duration ("1s", "6m0s", "250ms") until the budget is full again.
//   Anthropic: anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}; reset as the
//              RFC 3339 time at which the budget is full again.
// Only the budgets the key has are reported.
#pragma once

#include <chrono>
#include <string>

#include "server/http/http_types.h"
#include "server/limits/key_state.h"

namespace kiln::server::limits {

std::string openai_duration(double seconds);
std::string rfc3339_utc(std::chrono::system_clock::time_point t);

void append_openai_headers(const Snapshot& s, HeaderList& out);
void append_anthropic_headers(const Snapshot& s, std::chrono::system_clock::time_point now,
                              HeaderList& out);

}  // namespace kiln::server::limits
