// Service-level objectives for goodput: `--slo ttft=500ms,tpot=50ms,e2e=10s`. A request is
// good when it succeeded and meets every bound given. A TPOT bound does not apply to a
// request with one output token (it has no TPOT); a TTFT bound fails a request that
// produced no text.
#pragma once

#include <optional>
#include <string_view>

#include "util/status.h"

namespace kiln::bench {

struct SloBounds {
  std::optional<double> ttft_s, tpot_s, e2e_s;
};

// Values take "ms" or "s" (a bare number is milliseconds, as in vLLM's --goodput). Errors
// start with "--slo: ".
StatusOr<SloBounds> parse_slo(std::string_view text);

bool meets_slo(const SloBounds& slo, std::optional<double> ttft_s, std::optional<double> tpot_s,
               double e2e_s);

}  // namespace kiln::bench
