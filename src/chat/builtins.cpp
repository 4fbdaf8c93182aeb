// jinja2's filters and tests (jinja2/filters.py, jinja2/tests.py) and the global functions
// of Hugging Face's template environment, each with the Python semantics chat templates see.
// NOTE: GCC 12 at -O3 reports false -Wrestrict errors inside std::string's operator+
// ("literal" + std::string); GCC bug 105329.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wrestrict"
#endif

#include "chat/builtins.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <unordered_set>

#include "chat/py_string.h"

namespace kiln::chat {
namespace {

[[noreturn]] void raise_undefined(const Value& v) {
  throw TemplateError(v.undefined_message().empty() ? "undefined value" : v.undefined_message());
}

using FilterFn = Value (*)(Interpreter&, const Value& input, CallArgs& args);

// --- helpers shared by the filters ---

// Python's int(str, base): optional sign, whitespace, '_' between digits, 0x/0o/0b prefixes.
std::optional<int64_t> parse_int(std::string_view text, int base) {
  std::string s = py::strip(text, std::nullopt, true, true);
  bool neg = false;
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  if (i + 1 < s.size() && s[i] == '0') {
    const char p = static_cast<char>(s[i + 1] | 0x20);
    const int prefixed = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
    if (prefixed && (base == prefixed || base == 0)) {
      base = prefixed;
      i += 2;
      if (i < s.size() && s[i] == '_') ++i;
    }
  }
  if (base == 0) base = 10;
  std::string digits;
  for (; i < s.size(); ++i) {
    if (s[i] == '_' && !digits.empty() && i + 1 < s.size() && s[i + 1] != '_') continue;
    digits += s[i];
  }
  if (digits.empty()) return std::nullopt;
  int64_t v = 0;
  const auto res = std::from_chars(digits.data(), digits.data() + digits.size(), v, base);
  if (res.ec != std::errc() || res.ptr != digits.data() + digits.size()) return std::nullopt;
  return neg ? -v : v;
}

// Python's float(str).
std::optional<double> parse_float(std::string_view text) {
  std::string s = py::strip(text, std::nullopt, true, true);
  std::string t;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_' && i > 0 && i + 1 < s.size() &&
        std::isdigit(static_cast<unsigned char>(s[i - 1])) &&
        std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
      continue;
    }
    t += s[i];
  }
  std::string lower = py::lower(t);
  size_t start = (!lower.empty() && (lower[0] == '+' || lower[0] == '-')) ? 1 : 0;
  const std::string_view word = std::string_view(lower).substr(start);
  const bool neg = start && lower[0] == '-';
  if (word == "inf" || word == "infinity") return neg ? -INFINITY : INFINITY;
  if (word == "nan") return NAN;
  if (t.empty() || !(std::isdigit(static_cast<unsigned char>(t[start])) || t[start] == '.'))
    return std::nullopt;
  double v = 0;
  const char* begin = t.data() + (t[0] == '+' ? 1 : 0);
  const auto res = std::from_chars(begin, t.data() + t.size(), v);
  if (res.ptr != t.data() + t.size()) return std::nullopt;
  if (res.ec == std::errc::result_out_of_range) {
    return std::strtod(t.c_str(), nullptr);  // Python: inf for overflow, 0 for underflow
  }
  if (res.ec != std::errc()) return std::nullopt;
  return v;
}

int64_t py_len(const Value& v) {
  switch (v.kind()) {
    case ValueKind::kUndefined:
      return 0;
    case ValueKind::kString:
      return py::length(v.as_string());
    case ValueKind::kList:
      if (v.list_kind() != ListKind::kGenerator) return static_cast<int64_t>(v.items().size());
      break;
    case ValueKind::kDict:
      if (!v.is_namespace()) return static_cast<int64_t>(v.dict_data().entries.size());
      break;
    default:
      break;
  }
  throw TemplateError("object of type '" + v.type_name() + "' has no len()");
}

// jinja2's _prepare_attribute_parts: "a.0.b" -> ["a", 0, "b"].
std::vector<Value> attribute_parts(const Value& attribute) {
  std::vector<Value> parts;
  if (attribute.is_none() || attribute.is_undefined()) return parts;
  if (!attribute.is_string()) {
    parts.push_back(attribute);
    return parts;
  }
  for (const std::string& p : py::split(attribute.as_string(), std::string("."), -1)) {
    if (!p.empty() &&
        std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      parts.push_back(Value::integer(std::stoll(p)));
    } else {
      parts.push_back(Value::string(p));
    }
  }
  return parts;
}

Value ignore_case(const Value& v) {
  return v.is_string() ? Value::string(py::lower(v.as_string())) : v;
}

// jinja2's make_attrgetter.
Value get_attribute(Interpreter& in, Value item, const std::vector<Value>& parts,
                    const Value* fallback = nullptr) {
  for (const Value& part : parts) {
    item = in.getitem(item, part);
    if (fallback && item.is_undefined()) item = *fallback;
  }
  return item;
}

Value generator(std::vector<Value> items) {
  return Value::list(std::move(items), ListKind::kGenerator);
}

CallArgs args_tail(const CallArgs& args, size_t skip) {
  CallArgs out;
  out.pos = args.pos;
  for (size_t i = skip; i < args.positional.size(); ++i)
    out.positional.push_back(args.positional[i]);
  out.keyword = args.keyword;
  return out;
}

void sort_values(std::vector<Value>& items, std::vector<Value>& keys, bool reverse) {
  std::vector<size_t> order(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return reverse ? less_than(keys[b], keys[a]) : less_than(keys[a], keys[b]);
  });
  std::vector<Value> sorted;
  sorted.reserve(items.size());
  for (size_t i : order) sorted.push_back(std::move(items[i]));
  items = std::move(sorted);
}

// --- filters ---

// Filters that call a str method on soft_str(value) keep a Markup's type.
Value same_kind(const Value& input, std::string s) {
  return input.is_markup() ? Value::markup(std::move(s)) : Value::string(std::move(s));
}

Value f_abs(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs a("abs", args, {});
  if (v.is_float()) return Value::number(std::fabs(v.as_float()));
  if (v.is_int() || v.is_bool()) {
    if (v.as_int() == INT64_MIN) throw TemplateError("integer overflow");
    return Value::integer(std::llabs(v.as_int()));
  }
  throw TemplateError("bad operand type for abs(): '" + v.type_name() + "'");
}

Value f_attr(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs a("attr", args, {"name"}, 1);
  const std::string name = to_str(a[0]);
  if (v.is_undefined()) raise_undefined(v);
  if (v.is_namespace()) {
    if (const Value* found = v.dict_data().find(name)) return *found;
  } else if (auto m = method_of(v, name)) {
    return *m;
  }
  return Value::undefined("'" + v.type_name() + " object' has no attribute '" + name + "'");
}

Value f_batch(Interpreter& in, const Value& v, CallArgs& args) {
  BoundArgs a("batch", args, {"linecount", "fill_with"}, 1);
  const int64_t n = a.get_int(0, 1);
  std::vector<Value> out;
  std::vector<Value> tmp;
  for (Value& item : in.iterate(v)) {
    if (static_cast<int64_t>(tmp.size()) == n) {
      out.push_back(Value::list(std::move(tmp)));
      tmp.clear();
    }
    tmp.push_back(std::move(item));
  }
  if (!tmp.empty()) {
    if (a.has(1) && !a[1].is_none()) {
      while (static_cast<int64_t>(tmp.size()) < n) tmp.push_back(a[1]);
    }
    out.push_back(Value::list(std::move(tmp)));
  }
  return generator(std::move(out));
}

Value f_capitalize(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs a("capitalize", args, {});
  return same_kind(v, py::capitalize(to_str(v)));
}

Value f_center(Interpreter& in, const Value& v, CallArgs& args) {
  BoundArgs a("center", args, {"width"});
  CallArgs pad_args;
  pad_args.positional.push_back(Value::integer(a.get_int(0, 80)));
  const Value s = same_kind(v, to_str(v));
  auto m = method_of(s, "center");
  return in.call(*m, pad_args);
}

Value f_default(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs a("default", args, {"default_value", "boolean"});
  if (v.is_undefined() || (a.get_truthy(1, false) && !truthy(v)))
    return a.get(0, Value::string(""));
  return v;
}

Value f_dictsort(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs a("dictsort", args, {"case_sensitive", "by", "reverse"});
  if (v.is_undefined()) raise_undefined(v);
  if (!v.is_dict()) throw TemplateError("'" + v.type_name() + "' object has no attribute 'items'");
  const std::string by = a.get_string(1).value_or("key");
  if (by != "key" && by != "value")
    throw TemplateError("You can only sort by either \"key\" or \"value\"");
  const bool case_sensitive = a.get_truthy(0, false);
  std::vector<Value> items;
  std::vector<Value> keys;
  for (const auto& [k, val] : v.dict_data().entries) {
    items.push_back(Value::tuple({k, val}));
    const Value& key = by == "key" ? k : val;
    keys.push_back(case_sensitive ? key : ignore_case(key));
  }
  std::vector<size_t> order(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  const bool reverse = a.get_truthy(2, false);
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    return reverse ? less_than(keys[y], keys[x]) : less_than(keys[x], keys[y]);
  });
  std::vector<Value> out;
  for (size_t i : order) out.push_back(items[i]);
  return Value::list(std::move(out));
}

Value f_escape(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs a("escape", args, {});
  if (v.is_markup()) return v;
  return Value::markup(html_escape(to_str(v)));
}

Value f_forceescape(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs a("forceescape", args, {});
  return Value::markup(html_escape(to_str(v)));
}

Value f_first(Interpreter& in, const Value& v, CallArgs& args) {
  BoundArgs a("first", args, {});
  if (v.is_list() && !v.items().empty()) return v.items().front();
  std::vector<Value> items = in.iterate(v);
  if (items.empty()) return Value::undefined("No first item, sequence was empty.");
  return items.front();
}

Value f_float(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs a("float", args, {"default"});
  if (v.is_undefined()) raise_undefined(v);
  if (v.is_number()) return Value::number(v.to_double());
  if (v.is_string()) {
    if (auto f = parse_float(v.as_string())) return Value::number(*f);
  }
  return a.get(0, Value::number(0.0));
}

Value f_format(Interpreter&, const Value& v, CallArgs& args) {
  if (!args.positional.empty() && !args.keyword.empty()) {
    throw TemplateError("can't handle positional and keyword arguments at the same time");
  }
  if (!args.keyword.empty()) {
    auto d = std::make_shared<DictData>();
    for (const auto& [k, val] : args.keyword) d->set(Value::string(k), val);
    return percent_format(to_str(v), Value::dict(std::move(d)));
  }
  return percent_format(to_str(v), Value::tuple(args.positional));
}

Value f_indent(Interpreter& in, const Value& v, CallArgs& args) {
  BoundArgs a("indent", args, {"width", "first", "blank"});
  if (v.is_undefined()) raise_undefined(v);
  if (!v.is_string()) {
    throw TemplateError("unsupported operand type(s) for +=: '" + v.type_name() + "' and 'str'");
  }
  std::string indention;
  if (a.has(0) && a[0].is_string()) {
    indention = a[0].as_string();
  } else {
    const int64_t width = a.get_int(0, 4);
    if (width > 0) indention.assign(static_cast<size_t>(std::min<int64_t>(width, 1 << 20)), ' ');
  }
  const std::vector<std::string> lines = py::splitlines(v.as_string() + "\n", false);
  std::string rv;
  if (a.get_truthy(2, false)) {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i) rv += "\n" + indention;
      rv += lines[i];
      in.check_size(rv.size());
    }
  } else {
    rv = lines.empty() ? std::string() : lines[0];
    for (size_t i = 1; i < lines.size(); ++i) {
      rv += "\n";
      if (!lines[i].empty()) rv += indention;
      rv += lines[i];
      in.check_size(rv.size());
    }
  }
  if (a.get_truthy(1, false)) rv = indention + rv;
  return same_kind(v, std::move(rv));
}

Value f_int(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs a("int", args, {"default", "base"});
  if (v.is_undefined()) raise_undefined(v);
  const Value fallback = a.get(0, Value::integer(0));
  if (v.is_int() || v.is_bool()) return Value::integer(v.as_int());
  auto from_double = [&](double d) {
    if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) return fallback;
    return Value::integer(static_cast<int64_t>(std::trunc(d)));
  };
  if (v.is_float()) return from_double(v.as_float());
  if (v.is_string()) {
    if (auto i = parse_int(v.as_string(), static_cast<int>(a.get_int(1, 10))))
      return Value::integer(*i);
    if (auto f = parse_float(v.as_string())) return from_double(*f);
  }
  return fallback;
}

Value f_items(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs a("items", args, {});
  if (v.is_undefined()) return generator({});
  if (!v.is_dict()) throw TemplateError("Can only get item pairs from a mapping.");
  std::vector<Value> out;
  for (const auto& [k, val] : v.dict_data().entries) out.push_back(Value::tuple({k, val}));
  return generator(std::move(out));
}

Value f_join(Interpreter& in, const Value& v, CallArgs& args) {
  BoundArgs a("join", args, {"d", "attribute"});
  const std::string sep = a.has(0) ? to_str(a[0]) : "";
  const std::vector<Value> parts = attribute_parts(a.get(1, Value::none()));
  std::string out;
  bool first = true;
  for (const Value& item : in.iterate(v)) {
    if (!first) out += sep;
    first = false;
    append_str(out, parts.empty() ? item : get_attribute(in, item, parts));
    in.check_size(out.size());
  }
  return Value::string(std::move(out));
}

Value f_last(Interpreter& in, const Value& v, CallArgs& args) {
  BoundArgs a("last", args, {});
  if (v.is_list() && v.list_kind() == ListKind::kGenerator) {
    throw TemplateError("'generator' object is not reversible");
  }
  std::vector<Value> items = in.iterate(v);
  if (items.empty()) return Value::undefined("No last item, sequence was empty.");
  return items.back();
}

Value f_length(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs a("length", args, {});
  return Value::integer(py_len(v));
}

Value f_list(Interpreter& in, const Value& v, CallArgs& args) {
  BoundArgs a("list", args, {});
  return Value::list(in.iterate(v));
}

Value f_lower(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs a("lower", args, {});
  return same_kind(v, py::lower(to_str(v)));
}

Value f_map(Interpreter& in, const Value& v, CallArgs& args) {
  std::vector<Value> out;
  if (!truthy(v)) return generator({});
  const std::vector<Value> items = in.iterate(v);
  if (args.positional.empty()) {
    const Value* attribute = nullptr;
    const Value* fallback = nullptr;
    for (const auto& [k, val] : args.keyword) {
      if (k == "attribute") {
        attribute = &val;
      } else if (k == "default") {
        fallback = &val;
      } else {
        throw TemplateError("Unexpected keyword argument '" + k + "'");
      }
    }
    if (!attribute) throw TemplateError("map requires a filter argument");
    const std::vector<Value> parts = attribute_parts(*attribute);
    const Value* fb = (fallback && !fallback->is_none()) ? fallback : nullptr;
    for (const Value& item : items) out.push_back(get_attribute(in, item, parts, fb));
    return generator(std::move(out));
  }
  if (!args.positional[0].is_string()) throw TemplateError("map: the filter name must be a string");
  const std::string name = args.positional[0].as_string();
  for (const Value& item : items) {
    CallArgs rest = args_tail(args, 1);
    out.push_back(in.apply_filter(name, item, rest));
  }
  return generator(std::move(out));
}

Value min_max(Interpreter& in, const Value& v, CallArgs& args, bool want_max) {
  BoundArgs a(want_max ? "max" : "min", args, {"case_sensitive", "attribute"});
  const std::vector<Value> items = in.iterate(v);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  const bool case_sensitive = a.get_truthy(0, false);
  const std::vector<Value> parts = attribute_parts(a.get(1, Value::none()));
  auto key = [&](const Value& item) {
    Value k = parts.empty() ? item : get_attribute(in, item, parts);
    return case_sensitive ? k : ignore_case(k);
  };
  size_t best = 0;
  Value best_key = key(items[0]);
  for (size_t i = 1; i < items.size(); ++i) {
    Value k = key(items[i]);
    if (want_max ? less_than(best_key, k) : less_than(k, best_key)) {
      best = i;
      best_key = std::move(k);
    }
  }
  return items[best];
}

Value f_max(Interpreter& in, const Value& v, CallArgs& args) { return min_max(in, v, args, true); }
Value f_min(Interpreter& in, const Value& v, CallArgs& args) { return min_max(in, v, args, false); }

Value select_or_reject(Interpreter& in, const Value& v, CallArgs& args, bool select,
                       bool lookup_attr) {
  if (!truthy(v)) return generator({});
  size_t off = 0;
  std::vector<Value> parts;
  if (lookup_attr) {
    if (args.positional.empty()) throw TemplateError("Missing parameter for attribute name");
    parts = attribute_parts(args.positional[0]);
    off = 1;
  }
  std::optional<std::string> test;
  if (args.positional.size() > off) {
    if (!args.positional[off].is_string()) throw TemplateError("the test name must be a string");
    test = args.positional[off].as_string();
  }
  std::vector<Value> out;
  for (const Value& item : in.iterate(v)) {
    const Value x = lookup_attr ? get_attribute(in, item, parts) : item;
    bool ok;
    if (test) {
      CallArgs rest = args_tail(args, off + 1);
      ok = in.apply_test(*test, x, rest);
    } else {
      ok = truthy(x);
    }
    if (ok == select) out.push_back(item);
  }
  return generator(std::move(out));
}

Value f_select(Interpreter& in, const Value& v, CallArgs& args) {
  return select_or_reject(in, v, args, true, false);
}
Value f_reject(Interpreter& in, const Value& v, CallArgs& args) {
  return select_or_reject(in, v, args, false, false);
}
Value f_selectattr(Interpreter& in, const Value& v, CallArgs& args) {
  return select_or_reject(in, v, args, true, true);
}
Value f_rejectattr(Interpreter& in, const Value& v, CallArgs& args) {
  return select_or_reject(in, v, args, false, true);
}

Value f_replace(Interpreter& in, const Value& v, CallArgs& args) {
  BoundArgs a("replace", args, {"old", "new", "count"}, 2);
  int64_t count = -1;
  if (a.has(2) && !a[2].is_none()) count = a.get_int(2, -1);
  std::string out = py::replace(to_str(v), to_str(a[0]), to_str(a[1]), count);
  in.check_size(out.size());
  return Value::string(std::move(out));
}

Value f_reverse(Interpreter& in, const Value& v, CallArgs& args) {
  BoundArgs a("reverse", args, {});
  if (v.is_string()) {
    std::u32string cps = py::decode(v.as_string());
    std::reverse(cps.begin(), cps.end());
    return Value::string(py::encode(cps));
  }
  std::vector<Value> items = in.iterate(v);
  std::reverse(items.begin(), items.end());
  if (v.is_list() && v.list_kind() == ListKind::kGenerator) return Value::list(std::move(items));
  return generator(std::move(items));
}

Value f_round(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs a("round", args, {"precision", "method"});
  const int64_t precision = a.get_int(0, 0);
  const std::string method = a.get_string(1).value_or("common");
  if (method != "common" && method != "ceil" && method != "floor") {
    throw TemplateError("method must be common, ceil or floor");
  }
  if (!v.is_number())
    throw TemplateError("type " + v.type_name() + " doesn't define __round__ method");
  if (method == "common") {
    if (v.is_int() || v.is_bool()) {
      if (precision >= 0) return Value::integer(v.as_int());
      // round(int, -n): to a multiple of 10**n, ties to even.
      int64_t m = 1;
      for (int64_t i = 0; i < -precision && m < INT64_MAX / 10; ++i) m *= 10;
      const int64_t x = v.as_int();
      int64_t q = x / m;
      int64_t r = x % m;
      if (r < 0) {
        r += m;
        q -= 1;
      }
      if (2 * r > m || (2 * r == m && (q % 2 != 0))) q += 1;
      return Value::integer(q * m);
    }
    const double x = v.as_float();
    if (!std::isfinite(x)) return Value::number(x);
    if (precision >= 0) {
      char buf[512];
      std::snprintf(buf, sizeof(buf), "%.*f", static_cast<int>(std::min<int64_t>(precision, 300)),
                    x);
      return Value::number(std::strtod(buf, nullptr));
    }
    const double m = std::pow(10.0, static_cast<double>(-precision));
    return Value::number(std::nearbyint(x / m) * m);
  }
  const double m = std::pow(10.0, static_cast<double>(precision));
  const double scaled = v.to_double() * m;
  return Value::number((method == "ceil" ? std::ceil(scaled) : std::floor(scaled)) / m);
}

Value f_safe(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs a("safe", args, {});
  return Value::markup(to_str(v));
}

Value f_sort(Interpreter& in, const Value& v, CallArgs& args) {
  BoundArgs a("sort", args, {"reverse", "case_sensitive", "attribute"});
  std::vector<Value> items = in.iterate(v);
  const bool case_sensitive = a.get_truthy(1, false);
  std::vector<std::vector<Value>> attr_parts;
  const Value attribute = a.get(2, Value::none());
  if (attribute.is_string()) {
    for (const std::string& piece : py::split(attribute.as_string(), std::string(","), -1)) {
      attr_parts.push_back(attribute_parts(Value::string(piece)));
    }
  } else {
    attr_parts.push_back(attribute_parts(attribute));
  }
  std::vector<Value> keys;
  keys.reserve(items.size());
  for (const Value& item : items) {
    std::vector<Value> key;
    for (const auto& parts : attr_parts) {
      Value k = get_attribute(in, item, parts);
      key.push_back(case_sensitive ? k : ignore_case(k));
    }
    keys.push_back(Value::list(std::move(key)));
  }
  sort_values(items, keys, a.get_truthy(0, false));
  return Value::list(std::move(items));
}

Value f_string(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs a("string", args, {});
  return same_kind(v, to_str(v));
}

Value f_sum(Interpreter& in, const Value& v, CallArgs& args) {
  BoundArgs a("sum", args, {"attribute", "start"});
  Value total = a.get(1, Value::integer(0));
  if (total.is_string()) throw TemplateError("sum() can't sum strings [use ''.join(seq) instead]");
  const std::vector<Value> parts = attribute_parts(a.get(0, Value::none()));
  for (const Value& item : in.iterate(v)) {
    total = in.binary(BinaryOp::kAdd, total, parts.empty() ? item : get_attribute(in, item, parts));
  }
  return total;
}

Value f_title(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs a("title", args, {});
  // jinja2 splits at runs of - whitespace ( { [ < and capitalizes each piece.
  const std::u32string text = py::decode(to_str(v));
  auto is_sep = [](char32_t c) {
    return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || py::is_space(c);
  };
  std::u32string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = i;
    const bool sep = is_sep(text[i]);
    while (j < text.size() && is_sep(text[j]) == sep) ++j;
    const std::u32string_view piece = std::u32string_view(text).substr(i, j - i);
    out += py::to_upper(piece.substr(0, 1));
    out += py::to_lower(piece.substr(1));
    i = j;
  }
  return Value::string(py::encode(out));
}

// Hugging Face's tojson: json.dumps(x, ensure_ascii=False, indent=None, separators=None,
// sort_keys=False), positional parameters in that order.
Value f_tojson(Interpreter& in, const Value& v, CallArgs& args) {
  BoundArgs a("tojson", args, {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonDumpOptions o;
  o.ensure_ascii = a.get_truthy(0, false);
  if (a.has(1) && !a[1].is_none()) {
    if (a[1].is_string()) {
      o.indent = a[1].as_string();
    } else {
      o.indent =
          std::string(static_cast<size_t>(std::clamp<int64_t>(a.get_int(1, 0), 0, 1 << 16)), ' ');
    }
    o.item_separator = ",";
  }
  if (a.has(2) && !a[2].is_none()) {
    const std::vector<Value> seps = in.iterate(a[2]);
    if (seps.size() != 2 || !seps[0].is_string() || !seps[1].is_string()) {
      throw TemplateError("tojson: separators must be a pair of strings");
    }
    o.item_separator = seps[0].as_string();
    o.key_separator = seps[1].as_string();
  }
  o.sort_keys = a.get_truthy(3, false);
  std::string out = json_dumps(v, o);
  in.check_size(out.size());
  return Value::string(std::move(out));
}

Value f_trim(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs a("trim", args, {"chars"});
  return same_kind(v, py::strip(to_str(v), a.get_string(0), true, true));
}

Value f_truncate(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs a("truncate", args, {"length", "killwords", "end", "leeway"});
  const int64_t length = a.get_int(0, 255);
  const std::string end = a.get_string(2).value_or("...");
  const int64_t leeway = a.has(3) && !a[3].is_none() ? a.get_int(3, 5) : 5;
  const int64_t end_len = py::length(end);
  if (length < end_len)
    throw TemplateError("expected length >= " + std::to_string(end_len) + ", got " +
                        std::to_string(length));
  if (leeway < 0) throw TemplateError("expected leeway >= 0, got " + std::to_string(leeway));
  const std::u32string s = py::decode(to_str(v));
  if (static_cast<int64_t>(s.size()) <= length + leeway) return Value::string(py::encode(s));
  std::u32string head = s.substr(0, static_cast<size_t>(length - end_len));
  if (!a.get_truthy(1, false)) {
    const size_t space = head.rfind(U' ');
    if (space != std::u32string::npos) head.resize(space);
  }
  return Value::string(py::encode(head) + end);
}

Value f_unique(Interpreter& in, const Value& v, CallArgs& args) {
  BoundArgs a("unique", args, {"case_sensitive", "attribute"});
  const bool case_sensitive = a.get_truthy(0, false);
  const std::vector<Value> parts = attribute_parts(a.get(1, Value::none()));
  std::vector<Value> out;
  std::unordered_set<std::string> seen_strings;
  std::vector<Value> seen_other;
  for (const Value& item : in.iterate(v)) {
    Value key = parts.empty() ? item : get_attribute(in, item, parts);
    if (!case_sensitive) key = ignore_case(key);
    if (key.is_list() || key.is_dict())
      throw TemplateError("unhashable type: '" + key.type_name() + "'");
    bool seen;
    if (key.is_string()) {
      seen = !seen_strings.insert(key.as_string()).second;
    } else {
      seen = std::any_of(seen_other.begin(), seen_other.end(),
                         [&](const Value& s) { return equals(s, key); });
      if (!seen) seen_other.push_back(key);
    }
    if (!seen) out.push_back(item);
  }
  return generator(std::move(out));
}

Value f_upper(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs a("upper", args, {});
  return same_kind(v, py::upper(to_str(v)));
}

Value f_wordcount(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs a("wordcount", args, {});
  int64_t n = 0;
  bool in_word = false;
  for (char32_t c : py::decode(to_str(v))) {
    const bool w = py::is_word_char(c);
    if (w && !in_word) ++n;
    in_word = w;
  }
  return Value::integer(n);
}

struct FilterEntry {
  std::string_view name;
  FilterFn fn;  // nullptr: a jinja2 filter kiln does not implement
};

constexpr FilterEntry kFilters[] = {
    {"abs", f_abs},
    {"attr", f_attr},
    {"batch", f_batch},
    {"capitalize", f_capitalize},
    {"center", f_center},
    {"count", f_length},
    {"d", f_default},
    {"default", f_default},
    {"dictsort", f_dictsort},
    {"e", f_escape},
    {"escape", f_escape},
    {"filesizeformat", nullptr},
    {"first", f_first},
    {"float", f_float},
    {"forceescape", f_forceescape},
    {"format", f_format},
    {"groupby", nullptr},
    {"indent", f_indent},
    {"int", f_int},
    {"items", f_items},
    {"join", f_join},
    {"last", f_last},
    {"length", f_length},
    {"list", f_list},
    {"lower", f_lower},
    {"map", f_map},
    {"max", f_max},
    {"min", f_min},
    {"pprint", nullptr},
    {"random", nullptr},
    {"reject", f_reject},
    {"rejectattr", f_rejectattr},
    {"replace", f_replace},
    {"reverse", f_reverse},
    {"round", f_round},
    {"safe", f_safe},
    {"select", f_select},
    {"selectattr", f_selectattr},
    {"slice", nullptr},
    {"sort", f_sort},
    {"string", f_string},
    {"striptags", nullptr},
    {"sum", f_sum},
    {"title", f_title},
    {"tojson", f_tojson},
    {"trim", f_trim},
    {"truncate", f_truncate},
    {"unique", f_unique},
    {"upper", f_upper},
    {"urlencode", nullptr},
    {"urlize", nullptr},
    {"wordcount", f_wordcount},
    {"wordwrap", nullptr},
    {"xmlattr", nullptr},
};

const FilterEntry* find_filter(std::string_view name) {
  for (const auto& e : kFilters) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

// --- tests ---

bool is_lower_str(const std::string& s) {
  bool cased = false;
  for (char32_t c : py::decode(s)) {
    if (py::is_upper_char(c)) return false;
    cased = cased || py::is_lower_char(c);
  }
  return cased;
}

bool is_upper_str(const std::string& s) {
  bool cased = false;
  for (char32_t c : py::decode(s)) {
    if (py::is_lower_char(c)) return false;
    cased = cased || py::is_upper_char(c);
  }
  return cased;
}

bool same_as(const Value& a, const Value& b) {
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case ValueKind::kNone:
    case ValueKind::kUndefined:
      return true;
    case ValueKind::kBool:
      return a.as_bool() == b.as_bool();
    case ValueKind::kInt:
      return a.as_int() == b.as_int() && a.as_int() >= -5 && a.as_int() <= 256;
    case ValueKind::kFloat:
      return false;
    case ValueKind::kString:
      return a.as_string() == b.as_string();
    case ValueKind::kList:
      return &a.list_data() == &b.list_data();
    case ValueKind::kDict:
      return &a.dict_data() == &b.dict_data();
    case ValueKind::kCallable:
      return &a.callable_data() == &b.callable_data();
  }
  return false;
}

}  // namespace

// --- BoundArgs ---

BoundArgs::BoundArgs(std::string_view function, const CallArgs& args,
                     std::initializer_list<std::string_view> params, size_t required)
    : function_(function), names_(params), values_(params.size()), given_(params.size(), false) {
  if (args.positional.size() > names_.size()) {
    throw TemplateError(function_ + "() takes at most " + std::to_string(names_.size()) +
                        " argument(s) (" + std::to_string(args.positional.size()) + " given)");
  }
  for (size_t i = 0; i < args.positional.size(); ++i) {
    values_[i] = args.positional[i];
    given_[i] = true;
  }
  for (const auto& [key, value] : args.keyword) {
    const auto it = std::find(names_.begin(), names_.end(), key);
    if (it == names_.end()) {
      throw TemplateError(function_ + "() got an unexpected keyword argument '" + key + "'");
    }
    const size_t i = static_cast<size_t>(it - names_.begin());
    if (given_[i])
      throw TemplateError(function_ + "() got multiple values for argument '" + key + "'");
    values_[i] = value;
    given_[i] = true;
  }
  for (size_t i = 0; i < required && i < names_.size(); ++i) {
    if (!given_[i]) {
      throw TemplateError(function_ + "() missing required argument '" + std::string(names_[i]) +
                          "'");
    }
  }
}

int64_t BoundArgs::get_int(size_t i, int64_t fallback) const {
  if (!has(i)) return fallback;
  const Value& v = values_[i];
  if (v.is_int() || v.is_bool()) return v.as_int();
  if (v.is_undefined()) raise_undefined(v);
  throw TemplateError(function_ + "(): '" + std::string(names_[i]) + "' must be an integer, not " +
                      v.type_name());
}

bool BoundArgs::get_truthy(size_t i, bool fallback) const {
  return has(i) ? truthy(values_[i]) : fallback;
}

std::optional<std::string> BoundArgs::get_string(size_t i) const {
  if (!has(i) || values_[i].is_none()) return std::nullopt;
  const Value& v = values_[i];
  if (v.is_string()) return v.as_string();
  if (v.is_undefined()) raise_undefined(v);
  throw TemplateError(function_ + "(): '" + std::string(names_[i]) + "' must be a string, not " +
                      v.type_name());
}

// --- filters and tests ---

bool is_filter_name(std::string_view name) { return find_filter(name) != nullptr; }

Value call_filter(Interpreter& in, std::string_view name, const Value& input, CallArgs& args) {
  const FilterEntry* e = find_filter(name);
  if (!e) throw TemplateError("No filter named '" + std::string(name) + "'.");
  if (!e->fn) {
    throw TemplateError("the '" + std::string(name) +
                        "' filter is not supported by kiln's template interpreter");
  }
  return e->fn(in, input, args);
}

namespace {
constexpr std::string_view kTestNames[] = {
    "odd",     "even",   "divisibleby", "defined",  "undefined", "filter", "test",    "none",
    "boolean", "false",  "true",        "integer",  "float",     "lower",  "upper",   "string",
    "mapping", "number", "sequence",    "iterable", "callable",  "sameas", "escaped", "in",
    "==",      "eq",     "equalto",     "!=",       "ne",        ">",      "gt",      "greaterthan",
    "ge",      ">=",     "<",           "lt",       "lessthan",  "<=",     "le",
};
}  // namespace

bool is_test_name(std::string_view name) {
  return std::find(std::begin(kTestNames), std::end(kTestNames), name) != std::end(kTestNames);
}

bool call_test(Interpreter& in, std::string_view name, const Value& v, CallArgs& args) {
  if (!is_test_name(name)) throw TemplateError("No test named '" + std::string(name) + "'.");
  const std::string fn(name);
  auto one_arg = [&](std::string_view param) {
    BoundArgs a(fn, args, {param}, 1);
    return a[0];
  };
  auto no_args = [&] { BoundArgs a(fn, args, {}); };
  if (name == "odd" || name == "even") {
    no_args();
    const Value r = in.binary(BinaryOp::kMod, v, Value::integer(2));
    return equals(r, Value::integer(name == "odd" ? 1 : 0));
  }
  if (name == "divisibleby") {
    return equals(in.binary(BinaryOp::kMod, v, one_arg("num")), Value::integer(0));
  }
  if (name == "defined") return no_args(), !v.is_undefined();
  if (name == "undefined") return no_args(), v.is_undefined();
  if (name == "filter") return no_args(), v.is_string() && is_filter_name(v.as_string());
  if (name == "test") return no_args(), v.is_string() && is_test_name(v.as_string());
  if (name == "none") return no_args(), v.is_none();
  if (name == "boolean") return no_args(), v.is_bool();
  if (name == "false") return no_args(), v.is_bool() && !v.as_bool();
  if (name == "true") return no_args(), v.is_bool() && v.as_bool();
  if (name == "integer") return no_args(), v.is_int();
  if (name == "float") return no_args(), v.is_float();
  if (name == "lower") return no_args(), is_lower_str(to_str(v));
  if (name == "upper") return no_args(), is_upper_str(to_str(v));
  if (name == "string") return no_args(), v.is_string();
  if (name == "mapping") return no_args(), v.is_dict();
  if (name == "number") return no_args(), v.is_number();
  if (name == "sequence") {
    no_args();
    return v.is_undefined() || v.is_string() || v.is_dict() ||
           (v.is_list() && (v.list_kind() == ListKind::kList || v.list_kind() == ListKind::kTuple));
  }
  if (name == "iterable") {
    no_args();
    return v.is_undefined() || v.is_string() || v.is_dict() || v.is_list();
  }
  if (name == "callable") return no_args(), v.is_callable();
  if (name == "sameas") return same_as(v, one_arg("other"));
  if (name == "escaped") return no_args(), v.is_markup();
  if (name == "in") return in.contains(one_arg("seq"), v);
  if (name == "==" || name == "eq" || name == "equalto") return equals(v, one_arg("b"));
  if (name == "!=" || name == "ne") return !equals(v, one_arg("b"));
  // Orderings: jinja2 uses operator.gt & co.
  const Value other = one_arg("b");
  if (name == ">" || name == "gt" || name == "greaterthan") return less_than(other, v, ">");
  if (name == ">=" || name == "ge") return !less_than(v, other, ">=");
  if (name == "<" || name == "lt" || name == "lessthan") return less_than(v, other, "<");
  return !less_than(other, v, "<=");  // <=, le
}

// --- globals ---

void install_globals(Frame& globals) {
  auto& g = globals.vars;
  g["range"] = Value::callable("range", [](Interpreter&, CallArgs& args) {
    if (!args.keyword.empty()) throw TemplateError("range() takes no keyword arguments");
    const auto& p = args.positional;
    if (p.empty() || p.size() > 3)
      throw TemplateError("range expected 1 to 3 arguments, got " + std::to_string(p.size()));
    for (const Value& v : p) {
      if (!(v.is_int() || v.is_bool())) {
        throw TemplateError("'" + v.type_name() + "' object cannot be interpreted as an integer");
      }
    }
    const int64_t start = p.size() == 1 ? 0 : p[0].as_int();
    const int64_t stop = p.size() == 1 ? p[0].as_int() : p[1].as_int();
    const int64_t step = p.size() == 3 ? p[2].as_int() : 1;
    if (step == 0) throw TemplateError("range() arg 3 must not be zero");
    constexpr int64_t kMaxRange = 100000;  // jinja2.sandbox.MAX_RANGE
    std::vector<Value> items;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
      if (static_cast<int64_t>(items.size()) >= kMaxRange) {
        throw TemplateError(
            "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
      }
      items.push_back(Value::integer(i));
    }
    return Value::list(std::move(items));
  });
  // dict(...) and namespace(...) take a mapping or pairs, then keyword arguments.
  auto build = [](Interpreter& in, CallArgs& args, std::string_view fn, bool is_namespace) {
    auto d = std::make_shared<DictData>();
    d->is_namespace = is_namespace;
    if (args.positional.size() > 1) {
      throw TemplateError(std::string(fn) + " expected at most 1 argument, got " +
                          std::to_string(args.positional.size()));
    }
    if (!args.positional.empty()) {
      const Value& src = args.positional[0];
      if (src.is_dict() || src.is_namespace()) {
        for (const auto& [k, v] : src.dict_data().entries) d->set(k, v);
      } else {
        for (const Value& pair : in.iterate(src)) {
          const std::vector<Value> kv = in.iterate(pair);
          if (kv.size() != 2)
            throw TemplateError("dictionary update sequence element has length " +
                                std::to_string(kv.size()) + "; 2 is required");
          d->set(kv[0], kv[1]);
        }
      }
    }
    for (const auto& [k, v] : args.keyword) d->set(Value::string(k), v);
    if (is_namespace) {
      for (const auto& [k, v] : d->entries) {
        if (k.is_string() && !k.as_string().empty() && k.as_string()[0] == '_') {
          throw TemplateError(
              "Chat templates cannot store underscore-prefixed attributes on a namespace, but got "
              "'" +
              k.as_string() + "'. Please rename the attribute.");
        }
      }
    }
    if (is_namespace) in.track_namespace(d);
    return Value::dict(std::move(d));
  };
  g["dict"] = Value::callable(
      "dict", [build](Interpreter& in, CallArgs& args) { return build(in, args, "dict", false); });
  g["namespace"] = Value::callable("namespace", [build](Interpreter& in, CallArgs& args) {
    return build(in, args, "namespace", true);
  });
  g["joiner"] = Value::callable("joiner", [](Interpreter&, CallArgs& args) {
    BoundArgs a("joiner", args, {"sep"});
    const std::string sep = a.has(0) ? to_str(a[0]) : ", ";
    auto used = std::make_shared<bool>(false);
    return Value::callable("joiner", [sep, used](Interpreter&, CallArgs&) {
      if (!*used) {
        *used = true;
        return Value::string("");
      }
      return Value::string(sep);
    });
  });
  g["cycler"] = Value::callable("cycler", [](Interpreter&, CallArgs& args) {
    if (args.positional.empty()) throw TemplateError("at least one item has to be provided");
    auto state = std::make_shared<DictData>();
    auto items = std::make_shared<std::vector<Value>>(args.positional);
    auto pos = std::make_shared<size_t>(0);
    std::weak_ptr<DictData> weak = state;
    state->set(Value::string("current"), (*items)[0]);
    state->set(Value::string("next"),
               Value::callable("cycler.next", [items, pos, weak](Interpreter&, CallArgs&) {
                 Value rv = (*items)[*pos];
                 *pos = (*pos + 1) % items->size();
                 if (auto s = weak.lock()) s->set(Value::string("current"), (*items)[*pos]);
                 return rv;
               }));
    state->set(Value::string("reset"),
               Value::callable("cycler.reset", [items, pos, weak](Interpreter&, CallArgs&) {
                 *pos = 0;
                 if (auto s = weak.lock()) s->set(Value::string("current"), (*items)[0]);
                 return Value::none();
               }));
    return Value::dict(std::move(state));
  });
  g["raise_exception"] =
      Value::callable("raise_exception", [](Interpreter&, CallArgs& args) -> Value {
        BoundArgs a("raise_exception", args, {"message"}, 1);
        TemplateError err(to_str(a[0]), args.pos);
        err.raised_by_template = true;
        throw err;
      });
  g["strftime_now"] = Value::callable("strftime_now", [](Interpreter& in, CallArgs& args) {
    BoundArgs a("strftime_now", args, {"format"}, 1);
    const std::optional<std::string> format = a.get_string(0);
    if (!format) throw TemplateError("strftime() argument 1 must be str, not None");
    if (format->size() > 1024) throw TemplateError("strftime_now: format is too long");
    std::tm tm{};
    if (const auto fixed = in.now()) {
      gmtime_r(&*fixed, &tm);
    } else {
      const std::time_t t = std::time(nullptr);
      localtime_r(&t, &tm);
    }
    if (format->empty()) return Value::string("");
    std::string buf(4096, '\0');
    const size_t n = std::strftime(buf.data(), buf.size(), format->c_str(), &tm);
    buf.resize(n);
    return Value::string(std::move(buf));
  });
}

}  // namespace kiln::chat
