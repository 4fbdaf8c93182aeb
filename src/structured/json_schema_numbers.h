// Numbers in JSON Schema's grammars: the exact decimals a schema's bounds stand for, and
// the canonical decimal texts of the integers and numbers within such bounds (ranges
// built digit by digit, so the grammar checks a bound exactly as written).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "structured/grammar.h"

namespace kiln::structured::json_schema {

// Bounded numbers have at most this many digits: any two decimals that short are
// different doubles, so a bound that a parser checks on doubles holds exactly as the
// grammar checks it on decimals (0.99999999999999999 would parse to 1.0 and break
// exclusiveMaximum 1).
constexpr int kNumberDigits = 15;

// A decimal as written in a schema: sign, integer digits ("0" for none, no leading zeros)
// and fraction digits (no trailing zeros).
struct Decimal {
  bool negative = false;
  std::string int_digits = "0";
  std::string frac_digits;
};

// The exact decimal a JSON number stands for (a float as its shortest round-trip text).
std::optional<Decimal> to_decimal(const nlohmann::ordered_json& v);
// -1, 0 or 1 as a < b, a == b, a > b.
int compare_decimals(const Decimal& a, const Decimal& b);

// One side of a range on non-negative decimals: |value| with its inclusiveness.
struct Limit {
  Decimal value;
  bool inclusive = true;
};

// Decimal integers in [lo, hi] (each side optional), without "-0".
Expr integers(std::optional<int64_t> lo, std::optional<int64_t> hi);
// A JSON number within bounds given as decimals (each optional), written without an
// exponent and with at most kNumberDigits digits.
Expr bounded_number(const std::optional<Limit>& lo, const std::optional<Limit>& hi);
// Any JSON integer, and any JSON number.
Expr unbounded_integer();
Expr unbounded_number();
// An integer bound as an int64, rounded into the integers (up for lower bounds) and
// clamped to +-(10^18 - 1); nullopt when the bound leaves that range on the wrong side.
std::optional<int64_t> integer_bound(const Decimal& d, bool lower, bool exclusive);

}  // namespace kiln::structured::json_schema
