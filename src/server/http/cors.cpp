#include "server/http/cors.h"

#include <algorithm>
#include <cctype>

namespace kiln::server {
namespace {

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace((unsigned char)s.front())) s.remove_prefix(1);
  while (!s.empty() && std::isspace((unsigned char)s.back())) s.remove_suffix(1);
  return std::string(s);
}

bool contains(const std::vector<std::string>& list, std::string_view v, bool ignore_case) {
  return std::any_of(list.begin(), list.end(), [&](const std::string& e) {
    if (e == "*") return true;
    if (!ignore_case) return e == v;
    return e.size() == v.size() && std::equal(e.begin(), e.end(), v.begin(), [](char a, char b) {
             return std::tolower((unsigned char)a) == std::tolower((unsigned char)b);
           });
  });
}

const std::string* allowed_origin(const CorsOptions& cors, const HttpRequest& request) {
  if (!cors.enabled()) return nullptr;
  const std::string* origin = request.header("origin");
  if (!origin || !contains(cors.allowed_origins, *origin, false)) return nullptr;
  return origin;
}

void append_origin(const CorsOptions& cors, const std::string& origin, HeaderList& out) {
  const bool any = std::find(cors.allowed_origins.begin(), cors.allowed_origins.end(), "*") !=
                   cors.allowed_origins.end();
  // With credentials the origin itself must be named; "*" is refused by browsers then.
  if (any && !cors.allow_credentials) {
    out.emplace_back("Access-Control-Allow-Origin", "*");
  } else {
    out.emplace_back("Access-Control-Allow-Origin", origin);
    out.emplace_back("Vary", "Origin");
  }
  if (cors.allow_credentials) out.emplace_back("Access-Control-Allow-Credentials", "true");
}

}  // namespace

std::vector<std::string> split_list_flag(const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (const std::string& v : values) {
    size_t start = 0;
    while (start <= v.size()) {
      size_t comma = v.find(',', start);
      if (comma == std::string::npos) comma = v.size();
      std::string item = trim(std::string_view(v).substr(start, comma - start));
      if (!item.empty()) out.push_back(std::move(item));
      start = comma + 1;
    }
  }
  return out;
}

bool is_cors_preflight(const HttpRequest& request) {
  return request.method == "OPTIONS" && request.header("origin") &&
         request.header("access-control-request-method");
}

void append_cors_headers(const CorsOptions& cors, const HttpRequest& request, HeaderList& out) {
  if (const std::string* origin = allowed_origin(cors, request)) {
    append_origin(cors, *origin, out);
    // Lets browser code read the ids and limits, which are not CORS-safelisted headers.
    out.emplace_back("Access-Control-Expose-Headers",
                     "X-Request-Id, Retry-After, x-ratelimit-limit-requests, "
                     "x-ratelimit-remaining-requests, x-ratelimit-reset-requests, "
                     "x-ratelimit-limit-tokens, x-ratelimit-remaining-tokens, "
                     "x-ratelimit-reset-tokens");
  }
}

HttpReply cors_preflight_reply(const CorsOptions& cors, const HttpRequest& request) {
  HttpReply r;
  r.content_type = "text/plain; charset=utf-8";
  const std::string* origin = allowed_origin(cors, request);
  const std::string& method = *request.header("access-control-request-method");
  const std::string* asked_headers = request.header("access-control-request-headers");
  bool headers_ok = true;
  if (asked_headers)
    for (const std::string& h : split_list_flag({*asked_headers}))
      headers_ok &= contains(cors.allowed_headers, h, true);
  if (!origin || !contains(cors.allowed_methods, method, false) || !headers_ok) {
    r.status = 403;
    r.body = !origin ? "disallowed CORS origin\n" : "disallowed CORS method or headers\n";
    r.log_note = "cors preflight refused";
    return r;
  }
  r.status = 204;
  append_origin(cors, *origin, r.headers);
  std::string methods;
  for (const std::string& m : cors.allowed_methods) methods += (methods.empty() ? "" : ", ") + m;
  r.headers.emplace_back("Access-Control-Allow-Methods",
                         contains(cors.allowed_methods, "*", false) &&
                                 cors.allowed_methods.size() == 1
                             ? method
                             : methods);
  if (asked_headers) r.headers.emplace_back("Access-Control-Allow-Headers", *asked_headers);
  r.headers.emplace_back("Access-Control-Max-Age", "600");
  return r;
}

}  // namespace kiln::server
