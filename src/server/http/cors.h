// CORS (--allowed-origins, --allowed-methods, --allowed-headers, --allow-credentials, as
// vLLM names them): which browser origins may call the API, the Access-Control-Allow-*
// headers on responses to them, and the answer to a preflight (OPTIONS with
// Access-Control-Request-Method), which the transport gives itself: a preflight carries no
// credentials, so it must not need an API key. Off (no CORS headers at all) unless origins
// are given; vLLM allows every origin by default, kiln only what the operator names.
#pragma once

#include <string>
#include <vector>

#include "server/http/http_types.h"

namespace kiln::server {

struct CorsOptions {
  std::vector<std::string> allowed_origins;        // "*": any; empty: CORS off
  std::vector<std::string> allowed_methods{"*"};   // for preflights
  std::vector<std::string> allowed_headers{"*"};   // for preflights
  bool allow_credentials = false;
  bool enabled() const { return !allowed_origins.empty(); }
};

// Splits comma-separated entries ("a,b" and repeated flags both work) and trims spaces.
std::vector<std::string> split_list_flag(const std::vector<std::string>& values);

bool is_cors_preflight(const HttpRequest& request);
// The headers for a response to `request` (none when it has no Origin or one not allowed).
void append_cors_headers(const CorsOptions& cors, const HttpRequest& request, HeaderList& out);
// 204 with the Allow-* headers for an allowed origin, method and headers; 403 otherwise.
HttpReply cors_preflight_reply(const CorsOptions& cors, const HttpRequest& request);

}  // namespace kiln::server
