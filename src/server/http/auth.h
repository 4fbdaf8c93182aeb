// API keys on the wire: which paths need one and which key a request offers. Keys are
// accepted as OpenAI's "Authorization: Bearer KEY" or Anthropic's "x-api-key: KEY" on any
// protected path, so either SDK works against either API. Which keys exist, and their
// limits, is server/limits/key_registry.h.
#pragma once

#include <string>
#include <string_view>

#include "server/http/http_types.h"

namespace kiln::server {

// The key a request offers ("Authorization: Bearer KEY", else "x-api-key: KEY"); empty if none.
std::string_view offered_key(const HttpRequest& request);
// Compares every byte whatever the first mismatch, so the time taken does not tell an
// attacker how much of a guessed key was right.
bool equal_constant_time(std::string_view a, std::string_view b);

// The API itself (/v1/..., Ollama's /api/..., /tokenize, /detokenize, /mcp) needs a key; /health, /metrics and
// /openapi.json stay open for probes and scrapers, as in vLLM.
bool path_needs_key(std::string_view path);

}  // namespace kiln::server
