#include "bench/slo.h"

#include <cmath>
#include <cstdlib>
#include <string>

namespace kiln::bench {

StatusOr<SloBounds> parse_slo(std::string_view text) {
  SloBounds slo;
  if (text.empty()) return Status::Error("--slo: empty (expected e.g. ttft=500ms,tpot=50ms)");
  size_t begin = 0;
  while (begin <= text.size()) {
    size_t end = text.find(',', begin);
    if (end == std::string_view::npos) end = text.size();
    const std::string item(text.substr(begin, end - begin));
    begin = end + 1;
    const size_t eq = item.find('=');
    if (eq == std::string::npos) return Status::Error("--slo: '" + item + "' is not NAME=VALUE");
    const std::string name = item.substr(0, eq);
    std::string value = item.substr(eq + 1);
    double scale = 1e-3;  // bare numbers are milliseconds
    if (value.ends_with("ms")) {
      value.resize(value.size() - 2);
    } else if (value.ends_with("s")) {
      value.resize(value.size() - 1);
      scale = 1.0;
    }
    char* parsed_end = nullptr;
    const double v = value.empty() ? NAN : std::strtod(value.c_str(), &parsed_end);
    if (value.empty() || parsed_end != value.c_str() + value.size() || !std::isfinite(v) || v <= 0) {
      return Status::Error("--slo: bad value '" + item.substr(eq + 1) + "' for " + name +
                           " (expected a positive number with ms or s)");
    }
    std::optional<double>* slot = name == "ttft"   ? &slo.ttft_s
                                  : name == "tpot" ? &slo.tpot_s
                                  : name == "e2e"  ? &slo.e2e_s
                                                   : nullptr;
    if (!slot) return Status::Error("--slo: unknown metric '" + name + "' (expected ttft, tpot or e2e)");
    *slot = v * scale;
    if (end == text.size()) break;
  }
  return slo;
}

bool meets_slo(const SloBounds& slo, std::optional<double> ttft_s, std::optional<double> tpot_s,
               double e2e_s) {
  if (slo.ttft_s && (!ttft_s || *ttft_s > *slo.ttft_s)) return false;
  if (slo.tpot_s && tpot_s && *tpot_s > *slo.tpot_s) return false;
  if (slo.e2e_s && e2e_s > *slo.e2e_s) return false;
  return true;
}

}  // namespace kiln::bench
