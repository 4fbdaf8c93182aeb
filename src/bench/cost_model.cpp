#include "bench/cost_model.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace kiln::bench {
namespace {

std::string format(const char* fmt, double a, double b = 0, double c = 0) {
  char buf[256];
  std::snprintf(buf, sizeof buf, fmt, a, b, c);
  return buf;
}

}  // namespace

StatusOr<ApiPrice> parse_compare_price(std::string_view text) {
  ApiPrice price;
  bool have_in = false, have_out = false;
  size_t begin = 0;
  while (true) {
    size_t end = text.find(',', begin);
    if (end == std::string_view::npos) end = text.size();
    const std::string item(text.substr(begin, end - begin));
    const size_t eq = item.find('=');
    const std::string name = item.substr(0, eq);
    if (eq == std::string::npos || (name != "in" && name != "out")) {
      return Status::Error("--compare-price: '" + item + "' is not in=X or out=Y (USD per million tokens)");
    }
    const std::string value = item.substr(eq + 1);
    char* parsed_end = nullptr;
    const double v = value.empty() ? NAN : std::strtod(value.c_str(), &parsed_end);
    if (value.empty() || parsed_end != value.c_str() + value.size() || !std::isfinite(v) || v < 0) {
      return Status::Error("--compare-price: bad price '" + value + "' for " + name);
    }
    (name == "in" ? price.in_per_million : price.out_per_million) = v;
    (name == "in" ? have_in : have_out) = true;
    if (end == text.size()) break;
    begin = end + 1;
  }
  if (!have_in || !have_out) return Status::Error("--compare-price: needs both in=X and out=Y");
  if (price.in_per_million + price.out_per_million <= 0) {
    return Status::Error("--compare-price: prices must not both be zero");
  }
  return price;
}

CostFigures compute_cost(double hourly_usd, double input_tok_s, double output_tok_s,
                         const std::optional<ApiPrice>& price) {
  CostFigures c;
  c.hourly_usd = hourly_usd;
  double ratio = kDefaultOutputInputPriceRatio;
  std::string source = "the typical hosted-API ratio";
  if (price && price->in_per_million > 0) {
    ratio = price->out_per_million / price->in_per_million;
    source = "the ratio of --compare-price";
  }
  c.split = format("hourly cost divided so that an output token costs %g x an input token (", ratio) +
            source + "), with input_tok/s x price_in + output_tok/s x price_out = hourly cost / 3600";
  const double tok_s = input_tok_s + output_tok_s;
  if (tok_s <= 0) return c;
  const double usd_per_s = hourly_usd / 3600.0;
  c.usd_per_million_total = usd_per_s / tok_s * 1e6;
  const double weight = input_tok_s + ratio * output_tok_s;
  if (weight > 0) {
    c.usd_per_million_input = usd_per_s / weight * 1e6;
    c.usd_per_million_output = ratio * *c.usd_per_million_input;
  }
  return c;
}

BreakEven compute_break_even(double hourly_usd, double input_tok_s, double output_tok_s,
                             const ApiPrice& price) {
  BreakEven b;
  b.price = price;
  b.self_hosted_monthly_usd = hourly_usd * kHoursPerMonth;
  const double tok_s = input_tok_s + output_tok_s;
  b.instance_monthly_capacity_tokens = tok_s * 3600.0 * kHoursPerMonth;
  if (tok_s <= 0) {
    b.note = "no tokens were processed, so there is no break-even point";
    return b;
  }
  b.api_blended_usd_per_million =
      (input_tok_s * price.in_per_million + output_tok_s * price.out_per_million) / tok_s;
  if (b.api_blended_usd_per_million <= 0) {
    b.note = "the API price at this token mix is zero, so self-hosting never breaks even";
    return b;
  }
  b.monthly_tokens = b.self_hosted_monthly_usd * 1e6 / b.api_blended_usd_per_million;
  const double self_per_million = hourly_usd / (tok_s * 3600.0) * 1e6;
  if (*b.monthly_tokens > b.instance_monthly_capacity_tokens) {
    b.note = format(
        "one instance at this load cannot reach break-even: self-hosted cost per token at full "
        "load ($%.4g per million) exceeds the API's ($%.4g per million at this input/output mix)",
        self_per_million, b.api_blended_usd_per_million);
  } else {
    b.note = format(
        "self-hosting is cheaper above %.4g tokens/month (%.1f%% of one instance's capacity at "
        "this load); at full load it costs $%.4g per million tokens",
        *b.monthly_tokens, 100.0 * *b.monthly_tokens / b.instance_monthly_capacity_tokens,
        self_per_million);
    b.note += format(" vs the API's $%.4g", b.api_blended_usd_per_million);
  }
  return b;
}

}  // namespace kiln::bench
