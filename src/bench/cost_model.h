// What the measured throughput costs on a rented instance, and where self-hosting breaks
// even with a hosted API. All prices are USD; API prices are per million tokens.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "util/status.h"

namespace kiln::bench {

struct ApiPrice {
  double in_per_million = 0, out_per_million = 0;
};
// "in=X,out=Y" (either order). Errors start with "--compare-price: ".
StatusOr<ApiPrice> parse_compare_price(std::string_view text);

// The price ratio output/input used to split the hourly cost when no API price is given:
// the typical ratio of hosted APIs.
inline constexpr double kDefaultOutputInputPriceRatio = 4.0;

struct CostFigures {
  double hourly_usd = 0;
  std::optional<double> usd_per_million_input, usd_per_million_output, usd_per_million_total;
  std::string split;  // how the hourly cost was divided between input and output
};
// input/output_tok_s: measured token throughputs; `price` sets the split ratio when given.
CostFigures compute_cost(double hourly_usd, double input_tok_s, double output_tok_s,
                         const std::optional<ApiPrice>& price);

inline constexpr double kHoursPerMonth = 730.0;

struct BreakEven {
  ApiPrice price;
  double api_blended_usd_per_million = 0;  // the API's price at this workload's token mix
  double self_hosted_monthly_usd = 0;
  std::optional<double> monthly_tokens;  // API spend that equals the instance's monthly cost
  double instance_monthly_capacity_tokens = 0;  // at this run's throughput, all month
  std::string note;
};
BreakEven compute_break_even(double hourly_usd, double input_tok_s, double output_tok_s,
                             const ApiPrice& price);

}  // namespace kiln::bench
