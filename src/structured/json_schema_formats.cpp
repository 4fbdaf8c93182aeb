#include "structured/json_schema_formats.h"

#include <vector>

#include "structured/json_schema_exprs.h"

namespace kiln::structured::json_schema {
namespace {

Expr two_digits(char tens_lo, char tens_hi, char units_hi_for_last) {
  // tens in [tens_lo, tens_hi]; with tens == tens_hi the units go up to units_hi_for_last.
  std::vector<Expr> alts;
  if (tens_lo < tens_hi)
    alts.push_back(Expr::seq(
        {Expr::byte_set(ByteSet::range((uint8_t)tens_lo, (uint8_t)(tens_hi - 1))), digit()}));
  alts.push_back(
      Expr::seq({ch(tens_hi), Expr::byte_set(ByteSet::range('0', (uint8_t)units_hi_for_last))}));
  return Expr::alt(std::move(alts));
}

// Years 0001-9999 (Python's date has no year 0).
Expr year() {
  return Expr::alt({Expr::seq({cls("1-9"), times(digit(), 3)}),
                    Expr::seq({ch('0'), cls("1-9"), times(digit(), 2)}),
                    Expr::seq({lit("00"), cls("1-9"), digit()}),
                    Expr::seq({lit("000"), cls("1-9")})});
}

// Two digits divisible by 4, other than 00.
Expr multiple_of_four() {
  return Expr::alt({Expr::seq({cls("02468"), cls("48")}), Expr::seq({cls("2468"), ch('0')}),
                    Expr::seq({cls("13579"), cls("26")})});
}

// RFC 3339 full-date, days bounded by the month, February 29 only in leap years.
Expr date_format() {
  Expr day28 = Expr::alt({Expr::seq({ch('0'), cls("1-9")}), Expr::seq({ch('1'), digit()}),
                          Expr::seq({ch('2'), cls("0-8")})});
  Expr day30 =
      Expr::alt({Expr::seq({ch('0'), cls("1-9")}), Expr::seq({cls("12"), digit()}), lit("30")});
  Expr day31 = Expr::alt({Expr::seq({ch('0'), cls("1-9")}), Expr::seq({cls("12"), digit()}),
                          Expr::seq({ch('3'), cls("01")})});
  Expr long_month =
      Expr::alt({Expr::seq({ch('0'), cls("13578")}), Expr::seq({ch('1'), cls("02")})});
  Expr short_month = Expr::alt({Expr::seq({ch('0'), cls("469")}), lit("11")});
  Expr month_day = Expr::alt({Expr::seq({std::move(long_month), ch('-'), std::move(day31)}),
                              Expr::seq({std::move(short_month), ch('-'), std::move(day30)}),
                              Expr::seq({lit("02-"), std::move(day28)})});
  Expr leap_year = Expr::alt({Expr::seq({digit(), digit(), multiple_of_four()}),
                              Expr::seq({multiple_of_four(), lit("00")})});
  return Expr::alt({Expr::seq({year(), ch('-'), std::move(month_day)}),
                    Expr::seq({std::move(leap_year), lit("-02-29")})});
}

Expr hour() { return two_digits('0', '2', '3'); }
Expr sixty() { return Expr::seq({cls("0-5"), digit()}); }

// RFC 3339 full-time: the offset is required (partial-time is not "time").
Expr time_format() {
  Expr offset = Expr::alt({ch('Z'), Expr::seq({cls("+-"), hour(), ch(':'), sixty()})});
  return Expr::seq({hour(), ch(':'), sixty(), ch(':'), sixty(),
                    opt(Expr::seq({ch('.'), Expr::plus(digit())})), std::move(offset)});
}

Expr date_time_format() { return Expr::seq({date_format(), ch('T'), time_format()}); }

// RFC 3339 appendix A duration (ISO 8601): components in order, none skipped in between.
Expr duration_format() {
  auto n = [] { return Expr::plus(digit()); };
  Expr second = Expr::seq({n(), ch('S')});
  Expr minute = Expr::seq({n(), ch('M'), opt(second)});
  Expr hr = Expr::seq({n(), ch('H'), opt(minute)});
  Expr time = Expr::seq({ch('T'), Expr::alt({hr, minute, second})});
  Expr day = Expr::seq({n(), ch('D')});
  Expr month = Expr::seq({n(), ch('M'), opt(day)});
  Expr yr = Expr::seq({n(), ch('Y'), opt(month)});
  Expr date = Expr::seq({Expr::alt({day, month, yr}), opt(time)});
  Expr week = Expr::seq({n(), ch('W')});
  return Expr::seq({ch('P'), Expr::alt({std::move(date), std::move(time), std::move(week)})});
}

// 8-4-4-4-12 hex digits; a version digit (1-8) pins the version and the RFC 4122 variant.
Expr uuid_format(char version) {
  Expr third = version ? Expr::seq({ch(version), times(hexdig(), 3)}) : times(hexdig(), 4);
  Expr fourth = version ? Expr::seq({cls("89abAB"), times(hexdig(), 3)}) : times(hexdig(), 4);
  return Expr::seq({times(hexdig(), 8), ch('-'), times(hexdig(), 4), ch('-'), std::move(third),
                    ch('-'), std::move(fourth), ch('-'), times(hexdig(), 12)});
}

Expr ipv4_format() {
  Expr octet = Expr::alt(
      {Expr::seq({lit("25"), cls("0-5")}), Expr::seq({ch('2'), cls("0-4"), digit()}),
       Expr::seq({ch('1'), digit(), digit()}), Expr::seq({cls("1-9"), digit()}), digit()});
  return Expr::seq({octet, times(Expr::seq({ch('.'), octet}), 3)});
}

// RFC 3986 IPv6address (no zone).
Expr ipv6_format() {
  Expr h16 = Expr::repeat(hexdig(), 1, 4);
  Expr h16c = Expr::seq({h16, ch(':')});
  Expr ls32 = Expr::alt({Expr::seq({h16, ch(':'), h16}), ipv4_format()});
  // [ *m( h16 ":" ) h16 ]
  auto head = [&](int32_t m) { return opt(Expr::seq({Expr::repeat(h16c, 0, m), h16})); };
  return Expr::alt({
      Expr::seq({times(h16c, 6), ls32}),
      Expr::seq({lit("::"), times(h16c, 5), ls32}),
      Expr::seq({opt(h16), lit("::"), times(h16c, 4), ls32}),
      Expr::seq({head(1), lit("::"), times(h16c, 3), ls32}),
      Expr::seq({head(2), lit("::"), times(h16c, 2), ls32}),
      Expr::seq({head(3), lit("::"), h16c, ls32}),
      Expr::seq({head(4), lit("::"), ls32}),
      Expr::seq({head(5), lit("::"), h16}),
      Expr::seq({head(6), lit("::")}),
  });
}

// Dot-atom local part "@" a domain of at least two letter-digit-hyphen labels.
Expr email_format() {
  Expr atext = cls("A-Za-z0-9!#$%&'*+/=?^_`{|}~-");
  Expr local = Expr::seq({Expr::plus(atext), Expr::star(Expr::seq({ch('.'), Expr::plus(atext)}))});
  Expr label =
      Expr::seq({Expr::plus(cls("A-Za-z0-9")),
                 Expr::star(Expr::seq({Expr::plus(ch('-')), Expr::plus(cls("A-Za-z0-9"))}))});
  return Expr::seq({std::move(local), ch('@'), label, Expr::plus(Expr::seq({ch('.'), label}))});
}

// RFC 1123 host names: labels of letters, digits and inner hyphens, the last one starting
// with a letter. At most 8 labels of at most 30 characters, so the whole stays under the
// 253-character limit without counting.
Expr hostname_format() {
  auto label = [](const char* first) {
    return Expr::seq(
        {cls(first), opt(Expr::seq({Expr::repeat(cls("A-Za-z0-9-"), 0, 28), cls("A-Za-z0-9")}))});
  };
  return Expr::seq({Expr::repeat(Expr::seq({label("A-Za-z0-9"), ch('.')}), 0, 7), label("A-Za-z")});
}

// RFC 3986 URI (absolute, with a scheme), except IP-literal hosts ("[...]").
Expr uri_format() {
  // '-' goes last in the class: in the middle ("~-!") it would read as a range.
  const std::string unreserved = "A-Za-z0-9._~", sub_delims = "!$&'()*+,;=";
  Expr pct = Expr::seq({ch('%'), hexdig(), hexdig()});
  auto chars = [&](const std::string& extra) {
    return Expr::alt({cls(unreserved + sub_delims + extra + "-"), pct});
  };
  Expr pchar = chars(":@");
  Expr scheme = Expr::seq({cls("A-Za-z"), Expr::star(cls("A-Za-z0-9+.-"))});
  Expr authority =
      Expr::seq({opt(Expr::seq({Expr::star(chars(":")), ch('@')})), Expr::star(chars("")),
                 opt(Expr::seq({ch(':'), Expr::star(digit())}))});
  Expr path_abempty = Expr::star(Expr::seq({ch('/'), Expr::star(pchar)}));
  Expr path_rootless = Expr::seq({Expr::plus(pchar), path_abempty});
  Expr hier = Expr::alt({Expr::seq({lit("//"), std::move(authority), path_abempty}),
                         Expr::seq({ch('/'), opt(path_rootless)}), path_rootless, Expr::empty()});
  Expr query = Expr::star(chars(":@/?"));
  return Expr::seq({std::move(scheme), ch(':'), std::move(hier), opt(Expr::seq({ch('?'), query})),
                    opt(Expr::seq({ch('#'), query}))});
}


}  // namespace

// The formats kiln enforces; others are annotations (JSON Schema's default) and ignored.
std::optional<Expr> format_expr(std::string_view name) {
  if (name == "date") return date_format();
  if (name == "time") return time_format();
  if (name == "date-time") return date_time_format();
  if (name == "duration") return duration_format();
  if (name == "uuid") return uuid_format(0);
  if (name.size() == 5 && name.starts_with("uuid") && name[4] >= '1' && name[4] <= '8')
    return uuid_format(name[4]);  // Pydantic's UUID1..UUID8
  if (name == "email") return email_format();
  if (name == "ipv4") return ipv4_format();
  if (name == "ipv6") return ipv6_format();
  if (name == "ipvanyaddress") return Expr::alt({ipv4_format(), ipv6_format()});
  if (name == "hostname") return hostname_format();
  if (name == "uri") return uri_format();
  return std::nullopt;
}

}  // namespace kiln::structured::json_schema
