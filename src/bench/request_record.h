// One measured request, as the report's "requests" entries hold it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kiln::bench {

struct RequestRecord {
  double start_s = 0;            // when it was sent, from the run's first send
  std::optional<double> ttft_s;  // to the first chunk carrying text; none without text
  double e2e_s = 0;              // to the end of the stream (or the failure)
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  std::vector<double> itl_s;  // gaps between successive text-carrying chunks
  std::string error;          // "" on success; else http_<status>, connect, timeout,
                              // closed_mid_stream or bad_response
  std::string error_message;

  bool ok() const { return error.empty(); }
  // (E2E - TTFT) / (output_tokens - 1), for successful requests with more than one token.
  std::optional<double> tpot_s() const {
    if (!ok() || !ttft_s || output_tokens <= 1) return std::nullopt;
    return (e2e_s - *ttft_s) / (double)(output_tokens - 1);
  }
};

}  // namespace kiln::bench
