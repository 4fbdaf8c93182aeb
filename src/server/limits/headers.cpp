#include "server/limits/headers.h"

#include <cmath>
#include <ctime>

namespace kiln::server::limits {

std::string openai_duration(double seconds) {
  if (!(seconds > 0)) return "0s";
  const int64_t ms = std::llround(std::min(seconds, 1e9) * 1000);
  if (ms < 1000) return std::to_string(ms) + "ms";
  std::string out;
  const int64_t h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, frac = ms % 1000;
  if (h > 0) out += std::to_string(h) + "h";
  if (h > 0 || m > 0) out += std::to_string(m) + "m";
  out += std::to_string(s);
  if (frac > 0) {
    char buf[8];
    std::snprintf(buf, sizeof buf, ".%03d", (int)frac);
    std::string f = buf;
    while (f.back() == '0') f.pop_back();
    out += f;
  }
  return out + "s";
}

std::string rfc3339_utc(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void append_openai_headers(const Snapshot& s, HeaderList& out) {
  auto add = [&](const char* what, const Snapshot::Budget& b) {
    out.emplace_back(std::string("x-ratelimit-limit-") + what, std::to_string(b.limit));
    out.emplace_back(std::string("x-ratelimit-remaining-") + what, std::to_string(b.remaining));
    out.emplace_back(std::string("x-ratelimit-reset-") + what, openai_duration(b.seconds_to_full));
  };
  if (s.requests) add("requests", *s.requests);
  if (s.tokens) add("tokens", *s.tokens);
}

void append_anthropic_headers(const Snapshot& s, std::chrono::system_clock::time_point now,
                              HeaderList& out) {
  auto add = [&](const char* what, const Snapshot::Budget& b) {
    const std::string prefix = std::string("anthropic-ratelimit-") + what;
    out.emplace_back(prefix + "-limit", std::to_string(b.limit));
    out.emplace_back(prefix + "-remaining", std::to_string(b.remaining));
    // Rounded up to the second: the budget is full by then, not a moment after.
    const auto full = now + std::chrono::seconds((int64_t)std::ceil(std::min(b.seconds_to_full, 1e6)));
    out.emplace_back(prefix + "-reset", rfc3339_utc(full));
  };
  if (s.requests) add("requests", *s.requests);
  if (s.tokens) add("tokens", *s.tokens);
}

}  // namespace kiln::server::limits
