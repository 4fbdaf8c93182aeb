#include "server/http/auth.h"

#include <algorithm>
#include <cctype>

namespace kiln::server {

bool equal_constant_time(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= (unsigned char)(a[i] ^ b[i]);
  return diff == 0;
}

std::string_view offered_key(const HttpRequest& request) {
  std::string_view offered;
  if (const std::string* auth = request.header("authorization")) {
    std::string_view v = *auth;
    constexpr std::string_view kBearer = "Bearer ";
    if (v.size() > kBearer.size() &&
        std::equal(kBearer.begin(), kBearer.end(), v.begin(),
                   [](char x, char y) { return std::tolower(x) == std::tolower(y); }))
      offered = v.substr(kBearer.size());
  }
  if (offered.empty())
    if (const std::string* key = request.header("x-api-key")) offered = *key;
  return offered;
}

bool path_needs_key(std::string_view path) {
  return path.starts_with("/v1/") || path.starts_with("/api/") || path == "/tokenize" ||
         path == "/detokenize" || path == "/mcp";
}

}  // namespace kiln::server
