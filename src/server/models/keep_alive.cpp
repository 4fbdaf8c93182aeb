#include "server/models/keep_alive.h"

#include <charconv>
#include <cmath>
#include <string>

namespace kiln::server {
namespace {

Status bad(std::string_view text) {
  return Status::Error("'" + std::string(text) +
                       "' is not a duration (e.g. 30s, 5m, 1h, 0, or -1 for forever)");
}

// A leading number, as far as it goes.
bool read_number(std::string_view& rest, double& out) {
  size_t n = 0;
  while (n < rest.size() && (std::isdigit((unsigned char)rest[n]) || rest[n] == '.')) ++n;
  if (n == 0) return false;
  const std::string digits(rest.substr(0, n));
  char* end = nullptr;
  out = std::strtod(digits.c_str(), &end);
  if (end != digits.c_str() + digits.size()) return false;
  rest.remove_prefix(n);
  return true;
}

}  // namespace

StatusOr<double> parse_keep_alive(std::string_view text) {
  std::string_view rest = text;
  double sign = 1;
  if (!rest.empty() && (rest[0] == '-' || rest[0] == '+')) {
    if (rest[0] == '-') sign = -1;
    rest.remove_prefix(1);
  }
  if (rest.empty()) return bad(text);
  double value = 0;
  std::string_view probe = rest;
  double plain = 0;
  if (read_number(probe, plain) && probe.empty()) {
    value = plain;  // a bare number: seconds
  } else {
    // Go's time.ParseDuration: one or more number-unit pairs.
    while (!rest.empty()) {
      double number = 0;
      if (!read_number(rest, number)) return bad(text);
      size_t n = 0;
      while (n < rest.size() && !std::isdigit((unsigned char)rest[n]) && rest[n] != '.') ++n;
      const std::string_view unit = rest.substr(0, n);
      rest.remove_prefix(n);
      double scale = 0;
      if (unit == "h") scale = 3600;
      else if (unit == "m") scale = 60;
      else if (unit == "s") scale = 1;
      else if (unit == "ms") scale = 1e-3;
      else if (unit == "us" || unit == "\u00b5s") scale = 1e-6;
      else if (unit == "ns") scale = 1e-9;
      else return bad(text);
      value += number * scale;
    }
  }
  if (!std::isfinite(value)) return bad(text);
  return sign < 0 && value > 0 ? -1.0 : value;
}

StatusOr<double> parse_keep_alive_json(const Json& value) {
  if (value.is_number()) {
    const double seconds = value.get<double>();
    if (!std::isfinite(seconds)) return bad(value.dump());
    return seconds < 0 ? -1.0 : seconds;
  }
  if (value.is_string()) return parse_keep_alive(std::string_view(value.get_ref<const std::string&>()));
  return Status::Error("must be a number of seconds or a duration string such as \"5m\"");
}

}  // namespace kiln::server
