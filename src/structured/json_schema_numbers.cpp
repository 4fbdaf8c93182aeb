#include "structured/json_schema_numbers.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "structured/json_schema_exprs.h"

namespace kiln::structured::json_schema {
namespace {

uint64_t pow10(int n) {
  uint64_t v = 1;
  while (n-- > 0) v *= 10;
  return v;
}

// The decimals of exactly lo.size() digits from lo to hi (same length, lo <= hi): the
// usual digit-by-digit range construction.
Expr digits_between(const std::string& lo, const std::string& hi) {
  if (lo.empty()) return Expr::empty();
  const size_t rest = lo.size() - 1;
  if (lo[0] == hi[0]) return Expr::seq({ch(lo[0]), digits_between(lo.substr(1), hi.substr(1))});
  const bool lo_zeros = lo.find_first_not_of('0', 1) == std::string::npos;
  const bool hi_nines = hi.find_first_not_of('9', 1) == std::string::npos;
  const char first = lo_zeros ? lo[0] : (char)(lo[0] + 1);
  const char last = hi_nines ? hi[0] : (char)(hi[0] - 1);
  std::vector<Expr> alts;
  if (!lo_zeros)
    alts.push_back(Expr::seq({ch(lo[0]), digits_between(lo.substr(1), std::string(rest, '9'))}));
  if (first <= last)
    alts.push_back(Expr::seq({Expr::byte_set(ByteSet::range((uint8_t)first, (uint8_t)last)),
                              times(digit(), (int32_t)rest)}));
  if (!hi_nines)
    alts.push_back(Expr::seq({ch(hi[0]), digits_between(std::string(rest, '0'), hi.substr(1))}));
  return Expr::alt(std::move(alts));
}

// The len-digit decimals (no leading zeros) of the integers in [lo, hi].
Expr naturals_of_length(uint64_t lo, uint64_t hi, int len) {
  const uint64_t a = std::max(lo, len == 1 ? 0 : pow10(len - 1));
  const uint64_t b = std::min(hi, pow10(len) - 1);
  if (a > b) return Expr::nothing();
  return digits_between(std::to_string(a), std::to_string(b));
}

// Canonical decimals of the integers in [lo, hi]; no hi: unbounded. lo, hi < 10^18.
Expr naturals(uint64_t lo, std::optional<uint64_t> hi) {
  const int lo_len = (int)std::to_string(lo).size();
  const int hi_len = hi ? (int)std::to_string(*hi).size() : lo_len;
  std::vector<Expr> alts;
  for (int len = lo_len; len <= hi_len; ++len)
    alts.push_back(naturals_of_length(lo, hi ? *hi : pow10(len) - 1, len));
  if (!hi)  // every longer decimal
    alts.push_back(Expr::seq({cls("1-9"), times(digit(), lo_len), Expr::star(digit())}));
  return Expr::alt(std::move(alts));
}

}  // namespace

// Decimal integers in [lo, hi] (each side optional), without "-0".
Expr integers(std::optional<int64_t> lo, std::optional<int64_t> hi) {
  std::vector<Expr> alts;
  if (!hi || *hi >= 0) {
    const uint64_t from = lo ? (uint64_t)std::max<int64_t>(*lo, 0) : 0;
    alts.push_back(naturals(from, hi ? std::optional<uint64_t>((uint64_t)*hi) : std::nullopt));
  }
  if (!lo || *lo < 0) {
    const int64_t top = hi ? std::min<int64_t>(*hi, -1) : -1;  // the negative closest to 0
    if (!lo || *lo <= top) {
      // (Two calls rather than a conditional optional: GCC 12 -O3 misreports the latter
      // as maybe-uninitialized.)
      if (lo)
        alts.push_back(Expr::seq({ch('-'), naturals((uint64_t)-top, (uint64_t) - *lo)}));
      else
        alts.push_back(Expr::seq({ch('-'), naturals((uint64_t)-top, std::nullopt)}));
    }
  }
  return Expr::alt(std::move(alts));
}

// The exact decimal a JSON number stands for (a float as its shortest round-trip text).
std::optional<Decimal> to_decimal(const nlohmann::ordered_json& v) {
  if (!v.is_number()) return std::nullopt;
  if (v.is_number_float() && !std::isfinite(v.get<double>())) return std::nullopt;
  const std::string text = v.dump();
  Decimal d;
  size_t i = 0;
  if (text[i] == '-') {
    d.negative = true;
    ++i;
  }
  std::string digits;
  int point = -1;  // digits before the decimal point
  for (; i < text.size() && text[i] != 'e' && text[i] != 'E'; ++i) {
    if (text[i] == '.')
      point = (int)digits.size();
    else
      digits += text[i];
  }
  if (point < 0) point = (int)digits.size();
  if (i < text.size()) point += std::stoi(text.substr(i + 1));
  if (point > 400 || point < -400) return std::nullopt;  // far beyond any double's digits
  if (point <= 0) {
    digits.insert(0, (size_t)(1 - point), '0');
    point = 1;
  }
  if ((size_t)point > digits.size()) digits.append((size_t)point - digits.size(), '0');
  d.int_digits = digits.substr(0, (size_t)point);
  d.frac_digits = digits.substr((size_t)point);
  d.int_digits.erase(0, std::min(d.int_digits.find_first_not_of('0'), d.int_digits.size() - 1));
  while (!d.frac_digits.empty() && d.frac_digits.back() == '0') d.frac_digits.pop_back();
  if (d.int_digits == "0" && d.frac_digits.empty()) d.negative = false;
  return d;
}

namespace {

// Digit strings F (a fraction 0.F) between optional limits on 0.F, at most `budget`
// digits. lo/hi are fraction digit strings compared as decimals.
class FractionRange {
 public:
  FractionRange(const Limit* lo, const Limit* hi, int budget) : lo_(lo), hi_(hi), budget_(budget) {}

  // "" (no fraction) and ".F" with F non-empty.
  Expr expr() const {
    return Expr::alt({ends_ok(0, lo_, hi_) ? Expr::empty() : Expr::nothing(),
                      Expr::seq({ch('.'), next_digits(0, lo_ != nullptr, hi_ != nullptr)})});
  }

 private:
  char lo_digit(int i) const {
    const std::string& f = lo_->value.frac_digits;
    return (size_t)i < f.size() ? f[(size_t)i] : '0';
  }
  char hi_digit(int i) const {
    const std::string& f = hi_->value.frac_digits;
    return (size_t)i < f.size() ? f[(size_t)i] : '0';
  }
  static bool rest_zero(const Limit* l, int i) {
    return (size_t)i >= l->value.frac_digits.size();  // no trailing zeros are stored
  }
  // May F end at position i, its prefix still equal to the tight limits' prefixes?
  bool ends_ok(int i, const Limit* tight_lo, const Limit* tight_hi) const {
    if (tight_lo && !(rest_zero(tight_lo, i) && tight_lo->inclusive)) return false;
    if (tight_hi && rest_zero(tight_hi, i) && !tight_hi->inclusive) return false;
    return true;
  }
  // Strings of one or more digits from position i on.
  Expr next_digits(int i, bool tl, bool th) const {
    if (i >= budget_) return Expr::nothing();
    if (!tl && !th) return Expr::repeat(digit(), 1, budget_ - i);
    // Group the next digit by which limits stay tight after it.
    std::map<std::pair<bool, bool>, ByteSet> groups;
    for (char c = '0'; c <= '9'; ++c) {
      if (tl && c < lo_digit(i)) continue;
      if (th && c > hi_digit(i)) continue;
      groups[{tl && c == lo_digit(i), th && c == hi_digit(i)}].add((uint8_t)c);
    }
    std::vector<Expr> alts;
    for (const auto& [flags, set] : groups)
      alts.push_back(Expr::seq({Expr::byte_set(set), rest(i + 1, flags.first, flags.second)}));
    return Expr::alt(std::move(alts));
  }
  // Zero or more digits from position i on.
  Expr rest(int i, bool tl, bool th) const {
    const bool can_end = ends_ok(i, tl ? lo_ : nullptr, th ? hi_ : nullptr);
    return Expr::alt({can_end ? Expr::empty() : Expr::nothing(), next_digits(i, tl, th)});
  }

  const Limit* lo_;
  const Limit* hi_;
  int budget_;
};

uint64_t saturating_u64(const std::string& digits) {
  if (digits.size() > 17) return pow10(17);
  return std::stoull(digits);
}

// Non-negative decimals (no sign, no exponent, at most kNumberDigits digits) within the
// optional limits. The integer part n and the fraction 0.F split the comparison: x >= L
// holds when n > int(L), or n == int(L) and 0.F >= frac(L).
Expr nonnegative_decimals(const std::optional<Limit>& lo, const std::optional<Limit>& hi) {
  struct Piece {
    uint64_t n_lo, n_hi;
    const Limit* frac_lo;
    const Limit* frac_hi;
  };
  const uint64_t kInf = pow10(17);
  std::vector<Piece> lower = {{0, kInf, nullptr, nullptr}};
  if (lo) {
    const uint64_t li = saturating_u64(lo->value.int_digits);
    lower = {{li + 1, kInf, nullptr, nullptr}, {li, li, &*lo, nullptr}};
  }
  std::vector<Piece> upper = {{0, kInf, nullptr, nullptr}};
  if (hi) {
    const uint64_t ui = saturating_u64(hi->value.int_digits);
    upper = {{ui, ui, nullptr, &*hi}};
    if (ui > 0) upper.push_back({0, ui - 1, nullptr, nullptr});
  }
  std::vector<Expr> alts;
  for (const Piece& a : lower) {
    for (const Piece& b : upper) {
      const uint64_t n_lo = std::max(a.n_lo, b.n_lo), n_hi = std::min(a.n_hi, b.n_hi);
      if (n_lo > n_hi) continue;
      for (int len = 1; len <= kNumberDigits; ++len) {
        Expr whole = naturals_of_length(n_lo, n_hi, len);
        if (is_nothing(whole)) continue;
        const FractionRange frac(a.frac_lo, b.frac_hi, kNumberDigits - len);
        alts.push_back(Expr::seq({std::move(whole), frac.expr()}));
      }
    }
  }
  return Expr::alt(std::move(alts));
}

}  // namespace

// A JSON number within bounds given as decimals (each optional), written without an
// exponent. Negative numbers are "-" and a non-negative y = -x with the bounds mirrored.
Expr bounded_number(const std::optional<Limit>& lo, const std::optional<Limit>& hi) {
  auto positive = [](const std::optional<Limit>& l) { return l && !l->value.negative; };
  auto magnitude = [](const Limit& l) {
    Limit m = l;
    m.value.negative = false;
    return m;
  };
  std::vector<Expr> alts;
  // x >= 0: a negative lower limit is implied by x >= 0.
  if (!hi || positive(hi))
    alts.push_back(nonnegative_decimals(positive(lo) ? lo : std::nullopt, hi));
  // x < 0 (and -0): y = -x >= 0, y >= -hi, y <= -lo.
  if (!lo || lo->value.negative) {
    std::optional<Limit> y_lo, y_hi;
    if (hi && (hi->value.negative || hi->value.int_digits + hi->value.frac_digits == "0"))
      y_lo = magnitude(*hi);
    if (lo) y_hi = magnitude(*lo);
    alts.push_back(Expr::seq({ch('-'), nonnegative_decimals(y_lo, y_hi)}));
  }
  return Expr::alt(std::move(alts));
}

Expr unbounded_integer() {
  return Expr::seq(
      {opt(ch('-')), Expr::alt({ch('0'), Expr::seq({cls("1-9"), Expr::star(digit())})})});
}

Expr unbounded_number() {
  Expr frac = opt(Expr::seq({ch('.'), Expr::plus(digit())}));
  Expr exp = opt(Expr::seq({cls("eE"), opt(cls("+-")), Expr::plus(digit())}));
  return Expr::seq({unbounded_integer(), std::move(frac), std::move(exp)});
}

int compare_decimals(const Decimal& a, const Decimal& b) {
  if (a.negative != b.negative) return a.negative ? -1 : 1;
  int mag = 0;
  if (a.int_digits.size() != b.int_digits.size())
    mag = a.int_digits.size() < b.int_digits.size() ? -1 : 1;
  else if (a.int_digits != b.int_digits)
    mag = a.int_digits < b.int_digits ? -1 : 1;
  else if (a.frac_digits != b.frac_digits)  // no trailing zeros: text order is value order
    mag = a.frac_digits < b.frac_digits ? -1 : 1;
  return a.negative ? -mag : mag;
}

// An integer bound as an int64, rounded into the integers (up for lower bounds) and
// clamped to +-(10^18 - 1); nullopt when the bound leaves that range on the wrong side.
std::optional<int64_t> integer_bound(const Decimal& d, bool lower, bool exclusive) {
  constexpr int64_t kMax = 999999999999999999;
  const bool fraction = !d.frac_digits.empty();
  if (d.int_digits.size() > 18) {  // beyond the range: clamp to it, or nothing fits
    if (lower != d.negative) return std::nullopt;
    return lower ? -kMax : kMax;
  }
  int64_t v = std::stoll(d.int_digits);  // the magnitude, rounded toward zero
  if (d.negative) v = -v;
  // Round toward the inside of the range; an exclusive integral bound moves by one.
  if (lower) {
    if (fraction && !d.negative) v += 1;
    if (exclusive && !fraction) v += 1;
  } else {
    if (fraction && d.negative) v -= 1;
    if (exclusive && !fraction) v -= 1;
  }
  if (v > kMax) return lower ? std::nullopt : std::optional<int64_t>(kMax);
  if (v < -kMax) return lower ? std::optional<int64_t>(-kMax) : std::nullopt;
  return v;
}

}  // namespace kiln::structured::json_schema
