// The Python methods of str, dict and list that chat templates call, and the two string
// formatting mini-languages (str % args, str.format).
#include <algorithm>
#include <cmath>
#include <cstdio>

// NOTE: GCC 12 at -O3 reports false -Wrestrict errors inside std::string's operator+
// ("literal" + std::string); GCC bug 105329.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wrestrict"
#endif

#include "chat/builtins.h"
#include "chat/py_string.h"

namespace kiln::chat {
namespace {

using MethodFn = Value (*)(Interpreter&, const Value& self, CallArgs& args);

struct MethodEntry {
  std::string_view name;
  MethodFn fn;  // nullptr: Python has it, kiln does not implement it
};

const std::string& self_str(const Value& self) { return self.as_string(); }

std::string require_str(const Value& v, std::string_view what) {
  if (!v.is_string()) {
    throw TemplateError(std::string(what) + " must be str, not " + v.type_name());
  }
  return v.as_string();
}

// startswith/endswith accept a str or a tuple of str.
bool affix_match(const std::string& s, const Value& affix, bool prefix, std::string_view fn) {
  auto one = [&](const Value& a) {
    const std::string t = require_str(a, fn);
    if (t.size() > s.size()) return false;
    return prefix ? s.compare(0, t.size(), t) == 0
                  : s.compare(s.size() - t.size(), t.size(), t) == 0;
  };
  if (affix.is_list() && affix.list_kind() == ListKind::kTuple) {
    for (const Value& a : affix.items()) {
      if (one(a)) return true;
    }
    return false;
  }
  if (!affix.is_string()) {
    throw TemplateError(std::string(fn) + " first arg must be str or a tuple of str, not " +
                        affix.type_name());
  }
  return one(affix);
}

Value string_list(const std::vector<std::string>& parts) {
  std::vector<Value> items;
  items.reserve(parts.size());
  for (const auto& p : parts) items.push_back(Value::string(p));
  return Value::list(std::move(items));
}

std::optional<std::string> optional_sep(const BoundArgs& a, size_t i, std::string_view fn) {
  auto sep = a.get_string(i);
  if (sep && sep->empty()) throw TemplateError(std::string(fn) + ": empty separator");
  return sep;
}

bool is_alnum_char(char32_t c) { return py::is_alpha(c) || py::is_digit(c); }

template <bool (*Pred)(char32_t)>
Value all_chars(const Value& self) {
  const std::u32string cps = py::decode(self_str(self));
  return Value::boolean(!cps.empty() && std::all_of(cps.begin(), cps.end(), Pred));
}

Value pad(const Value& self, CallArgs& args, std::string_view fn, int align) {
  BoundArgs a(fn, args, {"width", "fillchar"}, 1);
  const int64_t width = a.get_int(0, 0);
  const std::string fill = a.get_string(1).value_or(" ");
  if (py::length(fill) != 1)
    throw TemplateError("The fill character must be exactly one character long");
  const std::string& s = self_str(self);
  const int64_t len = py::length(s);
  if (width <= len) return self;
  const int64_t marg = width - len;
  int64_t left = 0;
  if (align == 0) left = marg / 2 + (marg & width & 1);  // CPython's center()
  if (align > 0) left = marg;
  std::string out;
  for (int64_t i = 0; i < left; ++i) out += fill;
  out += s;
  for (int64_t i = 0; i < marg - left; ++i) out += fill;
  return Value::string(std::move(out));
}

// --- str.format ---

// The largest width or precision a format spec takes. Python takes any and then runs out
// of memory; a template gets an error (jinja_fuzz found the digits overflowing an int).
constexpr int64_t kMaxFormatField = 1 << 20;

// The decimal digits at text[i...], if any (0 if none), advancing i past them.
int64_t read_format_field(std::string_view text, size_t& i) {
  int64_t value = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    value = value * 10 + (text[i++] - '0');
    if (value > kMaxFormatField)
      throw TemplateError("format width or precision over " + std::to_string(kMaxFormatField));
  }
  return value;
}

// printf's %.*f (e, g, ...) of x, however long ("%.300f" of 1e300 fills any fixed buffer).
std::string printf_float(char type, int64_t precision, double x) {
  const char f[] = {'%', '.', '*', type, 0};
  const int digits = precision < 0 ? 6 : (int)precision;
  const int n = std::max(std::snprintf(nullptr, 0, f, digits, x), 0);
  std::string out((size_t)n + 1, '\0');
  std::snprintf(out.data(), out.size(), f, digits, x);
  out.resize((size_t)n);
  return out;
}

std::string format_with_spec(const Value& v, std::string_view spec) {
  if (spec.empty()) return to_str(v);
  // [[fill]align][sign][0][width][.precision][type]
  size_t i = 0;
  std::string fill = " ";
  char align = 0;
  auto is_align = [](char c) { return c == '<' || c == '>' || c == '^' || c == '='; };
  if (spec.size() >= 2 && is_align(spec[1])) {
    fill = std::string(1, spec[0]);
    align = spec[1];
    i = 2;
  } else if (!spec.empty() && is_align(spec[0])) {
    align = spec[0];
    i = 1;
  }
  char sign = 0;
  if (i < spec.size() && (spec[i] == '+' || spec[i] == '-' || spec[i] == ' ')) sign = spec[i++];
  if (i < spec.size() && spec[i] == '0') {
    if (!align) {
      fill = "0";
      align = '=';
    }
    ++i;
  }
  const int64_t width = read_format_field(spec, i);
  int64_t precision = -1;
  if (i < spec.size() && spec[i] == '.') {
    ++i;
    precision = read_format_field(spec, i);
  }
  char type = 0;
  if (i < spec.size()) type = spec[i++];
  if (i != spec.size())
    throw TemplateError("format spec '" + std::string(spec) + "' is not supported by kiln");
  std::string body;
  bool numeric = false;
  if (type == 0 || type == 's') {
    if (v.is_number() && type == 0) {
      numeric = true;
      body = to_str(v);
    } else {
      if (type == 's' && !v.is_string())
        throw TemplateError("Unknown format code 's' for object of type '" + v.type_name() + "'");
      body = to_str(v);
      if (precision >= 0) {
        const std::u32string cps = py::decode(body);
        if (static_cast<int64_t>(cps.size()) > precision)
          body = py::encode(cps.substr(0, precision));
      }
    }
  } else if (type == 'd') {
    if (!(v.is_int() || v.is_bool()))
      throw TemplateError("Unknown format code 'd' for object of type '" + v.type_name() + "'");
    numeric = true;
    body = std::to_string(v.as_int());
  } else if (type == 'f' || type == 'F' || type == '%') {
    if (!v.is_number())
      throw TemplateError(std::string("Unknown format code '") + type + "' for object of type '" +
                          v.type_name() + "'");
    numeric = true;
    body = printf_float('f', precision, type == '%' ? v.to_double() * 100 : v.to_double());
    if (type == '%') body += '%';
  } else {
    throw TemplateError(std::string("format code '") + type + "' is not supported by kiln");
  }
  if (numeric && sign && (body.empty() || body[0] != '-')) {
    if (sign == '+') body = "+" + body;
    if (sign == ' ') body = " " + body;
  }
  const int64_t len = py::length(body);
  if (width <= len) return body;
  if (!align) align = numeric ? '>' : '<';
  const int64_t marg = width - len;
  std::string out;
  auto fill_n = [&](int64_t n) {
    for (int64_t k = 0; k < n; ++k) out += fill;
  };
  switch (align) {
    case '<':
      out = body;
      fill_n(marg);
      break;
    case '>':
      fill_n(marg);
      out += body;
      break;
    case '^':
      fill_n(marg / 2);
      out += body;
      fill_n(marg - marg / 2);
      break;
    default: {  // '=': padding after the sign
      size_t sign_len =
          (!body.empty() && (body[0] == '-' || body[0] == '+' || body[0] == ' ')) ? 1 : 0;
      out = body.substr(0, sign_len);
      fill_n(marg);
      out += body.substr(sign_len);
    }
  }
  return out;
}

Value str_format(Interpreter& in, const Value& self, CallArgs& args) {
  const std::string& fmt = self_str(self);
  std::string out;
  size_t auto_index = 0;
  bool used_auto = false;
  bool used_manual = false;
  size_t i = 0;
  while (i < fmt.size()) {
    const char c = fmt[i];
    if (c == '}') {
      if (i + 1 < fmt.size() && fmt[i + 1] == '}') {
        out += '}';
        i += 2;
        continue;
      }
      throw TemplateError("Single '}' encountered in format string");
    }
    if (c != '{') {
      out += c;
      ++i;
      continue;
    }
    if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
      out += '{';
      i += 2;
      continue;
    }
    const size_t close = fmt.find('}', i);
    if (close == std::string::npos) throw TemplateError("Single '{' encountered in format string");
    std::string field = fmt.substr(i + 1, close - i - 1);
    i = close + 1;
    std::string spec;
    char conversion = 0;
    if (const size_t colon = field.find(':'); colon != std::string::npos) {
      spec = field.substr(colon + 1);
      field.resize(colon);
    }
    if (const size_t bang = field.find('!'); bang != std::string::npos) {
      if (bang + 2 != field.size()) throw TemplateError("invalid conversion in format string");
      conversion = field[bang + 1];
      field.resize(bang);
    }
    Value v;
    if (field.empty()) {
      if (used_manual)
        throw TemplateError(
            "cannot switch from manual field specification to automatic field numbering");
      used_auto = true;
      if (auto_index >= args.positional.size())
        throw TemplateError("Replacement index " + std::to_string(auto_index) +
                            " out of range for positional args tuple");
      v = args.positional[auto_index++];
    } else if (std::all_of(field.begin(), field.end(),
                           [](char ch) { return ch >= '0' && ch <= '9'; })) {
      if (used_auto)
        throw TemplateError(
            "cannot switch from automatic field numbering to manual field specification");
      used_manual = true;
      const size_t index = std::stoul(field);
      if (index >= args.positional.size())
        throw TemplateError("Replacement index " + field +
                            " out of range for positional args tuple");
      v = args.positional[index];
    } else if (py::is_identifier(field)) {
      bool found = false;
      for (const auto& [k, val] : args.keyword) {
        if (k == field) {
          v = val;
          found = true;
        }
      }
      if (!found) throw TemplateError("KeyError: '" + field + "'");
    } else {
      throw TemplateError("format field '{" + field + "}' is not supported by kiln");
    }
    if (conversion == 'r' || conversion == 'a') {
      v = Value::string(to_repr(v));
    } else if (conversion == 's') {
      v = Value::string(to_str(v));
    } else if (conversion != 0) {
      throw TemplateError(std::string("Unknown conversion specifier ") + conversion);
    }
    const std::string field_text = format_with_spec(v, spec);
    out += (self.is_markup() && !v.is_markup()) ? html_escape(field_text) : field_text;
    in.check_size(out.size());
  }
  return Value::string(std::move(out));
}

// --- str methods ---

Value m_strip_impl(const Value& self, CallArgs& args, std::string_view fn, bool l, bool r) {
  BoundArgs a(fn, args, {"chars"});
  return Value::string(py::strip(self_str(self), a.get_string(0), l, r));
}

Value m_split_impl(const Value& self, CallArgs& args, std::string_view fn, bool right) {
  BoundArgs a(fn, args, {"sep", "maxsplit"});
  const auto sep = optional_sep(a, 0, fn);
  const int64_t maxsplit = a.get_int(1, -1);
  return string_list(right ? py::rsplit(self_str(self), sep, maxsplit)
                           : py::split(self_str(self), sep, maxsplit));
}

Value m_find_impl(const Value& self, CallArgs& args, std::string_view fn, bool reverse,
                  bool raise) {
  BoundArgs a(fn, args, {"sub"}, 1);
  const std::string sub = require_str(a[0], fn);
  const int64_t at = reverse ? py::rfind(self_str(self), sub) : py::find(self_str(self), sub);
  if (at < 0 && raise) throw TemplateError("substring not found");
  return Value::integer(at);
}

Value m_partition_impl(const Value& self, CallArgs& args, std::string_view fn, bool reverse) {
  BoundArgs a(fn, args, {"sep"}, 1);
  const std::string sep = require_str(a[0], fn);
  if (sep.empty()) throw TemplateError("empty separator");
  const std::string& s = self_str(self);
  const size_t at = reverse ? s.rfind(sep) : s.find(sep);
  if (at == std::string::npos) {
    return reverse ? Value::tuple({Value::string(""), Value::string(""), self})
                   : Value::tuple({self, Value::string(""), Value::string("")});
  }
  return Value::tuple({Value::string(s.substr(0, at)), Value::string(sep),
                       Value::string(s.substr(at + sep.size()))});
}

Value m_noargs(std::string_view fn, CallArgs& args) {
  BoundArgs a(fn, args, {});
  return Value();
}

const MethodEntry kStrMethods[] = {
    {"capitalize",
     [](Interpreter&, const Value& s, CallArgs& a) {
       m_noargs("capitalize", a);
       return Value::string(py::capitalize(self_str(s)));
     }},
    {"casefold",
     [](Interpreter&, const Value& s, CallArgs& a) {
       m_noargs("casefold", a);
       return Value::string(py::lower(self_str(s)));
     }},
    {"center", [](Interpreter&, const Value& s, CallArgs& a) { return pad(s, a, "center", 0); }},
    {"count",
     [](Interpreter&, const Value& s, CallArgs& a) {
       BoundArgs b("count", a, {"sub"}, 1);
       return Value::integer(py::count(self_str(s), require_str(b[0], "count")));
     }},
    {"encode", nullptr},
    {"endswith",
     [](Interpreter&, const Value& s, CallArgs& a) {
       BoundArgs b("endswith", a, {"suffix"}, 1);
       return Value::boolean(affix_match(self_str(s), b[0], false, "endswith"));
     }},
    {"expandtabs", nullptr},
    {"find", [](Interpreter&, const Value& s,
                CallArgs& a) { return m_find_impl(s, a, "find", false, false); }},
    {"format", str_format},
    {"format_map", nullptr},
    {"index", [](Interpreter&, const Value& s,
                 CallArgs& a) { return m_find_impl(s, a, "index", false, true); }},
    {"isalnum",
     [](Interpreter&, const Value& s, CallArgs& a) {
       m_noargs("isalnum", a);
       return all_chars<is_alnum_char>(s);
     }},
    {"isalpha",
     [](Interpreter&, const Value& s, CallArgs& a) {
       m_noargs("isalpha", a);
       return all_chars<py::is_alpha>(s);
     }},
    {"isascii",
     [](Interpreter&, const Value& s, CallArgs& a) {
       m_noargs("isascii", a);
       return Value::boolean(py::is_ascii(self_str(s)));
     }},
    {"isdecimal",
     [](Interpreter&, const Value& s, CallArgs& a) {
       m_noargs("isdecimal", a);
       return all_chars<py::is_digit>(s);
     }},
    {"isdigit",
     [](Interpreter&, const Value& s, CallArgs& a) {
       m_noargs("isdigit", a);
       return all_chars<py::is_digit>(s);
     }},
    {"isidentifier", nullptr},
    {"islower",
     [](Interpreter&, const Value& s, CallArgs& a) {
       m_noargs("islower", a);
       const std::u32string cps = py::decode(self_str(s));
       bool cased = false;
       for (char32_t c : cps) {
         if (py::is_upper_char(c)) return Value::boolean(false);
         cased = cased || py::is_lower_char(c);
       }
       return Value::boolean(cased);
     }},
    {"isnumeric",
     [](Interpreter&, const Value& s, CallArgs& a) {
       m_noargs("isnumeric", a);
       return all_chars<py::is_digit>(s);
     }},
    {"isprintable", nullptr},
    {"isspace",
     [](Interpreter&, const Value& s, CallArgs& a) {
       m_noargs("isspace", a);
       return all_chars<py::is_space>(s);
     }},
    {"istitle", nullptr},
    {"isupper",
     [](Interpreter&, const Value& s, CallArgs& a) {
       m_noargs("isupper", a);
       const std::u32string cps = py::decode(self_str(s));
       bool cased = false;
       for (char32_t c : cps) {
         if (py::is_lower_char(c)) return Value::boolean(false);
         cased = cased || py::is_upper_char(c);
       }
       return Value::boolean(cased);
     }},
    {"join",
     [](Interpreter& in, const Value& s, CallArgs& a) {
       BoundArgs b("join", a, {"iterable"}, 1);
       std::string out;
       size_t i = 0;
       for (const Value& item : in.iterate(b[0])) {
         if (!item.is_string()) {
           throw TemplateError("sequence item " + std::to_string(i) + ": expected str instance, " +
                               item.type_name() + " found");
         }
         if (i++) out += self_str(s);
         out += item.as_string();
         in.check_size(out.size());
       }
       return Value::string(std::move(out));
     }},
    {"ljust", [](Interpreter&, const Value& s, CallArgs& a) { return pad(s, a, "ljust", -1); }},
    {"lower",
     [](Interpreter&, const Value& s, CallArgs& a) {
       m_noargs("lower", a);
       return Value::string(py::lower(self_str(s)));
     }},
    {"lstrip", [](Interpreter&, const Value& s,
                  CallArgs& a) { return m_strip_impl(s, a, "lstrip", true, false); }},
    {"maketrans", nullptr},
    {"partition", [](Interpreter&, const Value& s,
                     CallArgs& a) { return m_partition_impl(s, a, "partition", false); }},
    {"removeprefix",
     [](Interpreter&, const Value& s, CallArgs& a) {
       BoundArgs b("removeprefix", a, {"prefix"}, 1);
       const std::string p = require_str(b[0], "removeprefix");
       const std::string& str = self_str(s);
       return str.compare(0, p.size(), p) == 0 ? Value::string(str.substr(p.size())) : s;
     }},
    {"removesuffix",
     [](Interpreter&, const Value& s, CallArgs& a) {
       BoundArgs b("removesuffix", a, {"suffix"}, 1);
       const std::string p = require_str(b[0], "removesuffix");
       const std::string& str = self_str(s);
       if (!p.empty() && p.size() <= str.size() &&
           str.compare(str.size() - p.size(), p.size(), p) == 0) {
         return Value::string(str.substr(0, str.size() - p.size()));
       }
       return s;
     }},
    {"replace",
     [](Interpreter& in, const Value& s, CallArgs& a) {
       BoundArgs b("replace", a, {"old", "new", "count"}, 2);
       std::string out = py::replace(self_str(s), require_str(b[0], "replace"),
                                     require_str(b[1], "replace"), b.get_int(2, -1));
       in.check_size(out.size());
       return Value::string(std::move(out));
     }},
    {"rfind", [](Interpreter&, const Value& s,
                 CallArgs& a) { return m_find_impl(s, a, "rfind", true, false); }},
    {"rindex", [](Interpreter&, const Value& s,
                  CallArgs& a) { return m_find_impl(s, a, "rindex", true, true); }},
    {"rjust", [](Interpreter&, const Value& s, CallArgs& a) { return pad(s, a, "rjust", 1); }},
    {"rpartition", [](Interpreter&, const Value& s,
                      CallArgs& a) { return m_partition_impl(s, a, "rpartition", true); }},
    {"rsplit",
     [](Interpreter&, const Value& s, CallArgs& a) { return m_split_impl(s, a, "rsplit", true); }},
    {"rstrip", [](Interpreter&, const Value& s,
                  CallArgs& a) { return m_strip_impl(s, a, "rstrip", false, true); }},
    {"split",
     [](Interpreter&, const Value& s, CallArgs& a) { return m_split_impl(s, a, "split", false); }},
    {"splitlines",
     [](Interpreter&, const Value& s, CallArgs& a) {
       BoundArgs b("splitlines", a, {"keepends"});
       return string_list(py::splitlines(self_str(s), b.get_truthy(0, false)));
     }},
    {"startswith",
     [](Interpreter&, const Value& s, CallArgs& a) {
       BoundArgs b("startswith", a, {"prefix"}, 1);
       return Value::boolean(affix_match(self_str(s), b[0], true, "startswith"));
     }},
    {"strip", [](Interpreter&, const Value& s,
                 CallArgs& a) { return m_strip_impl(s, a, "strip", true, true); }},
    {"swapcase",
     [](Interpreter&, const Value& s, CallArgs& a) {
       m_noargs("swapcase", a);
       return Value::string(py::swapcase(self_str(s)));
     }},
    {"title",
     [](Interpreter&, const Value& s, CallArgs& a) {
       m_noargs("title", a);
       return Value::string(py::title(self_str(s)));
     }},
    {"translate", nullptr},
    {"upper",
     [](Interpreter&, const Value& s, CallArgs& a) {
       m_noargs("upper", a);
       return Value::string(py::upper(self_str(s)));
     }},
    {"zfill",
     [](Interpreter&, const Value& s, CallArgs& a) {
       BoundArgs b("zfill", a, {"width"}, 1);
       const std::string& str = self_str(s);
       const int64_t width = b.get_int(0, 0);
       const int64_t len = py::length(str);
       if (width <= len) return s;
       const size_t sign = (!str.empty() && (str[0] == '-' || str[0] == '+')) ? 1 : 0;
       return Value::string(str.substr(0, sign) + std::string(width - len, '0') + str.substr(sign));
     }},
};

// --- dict and list methods ---

const MethodEntry kDictMethods[] = {
    {"clear", nullptr},
    {"copy",
     [](Interpreter&, const Value& d, CallArgs& a) {
       m_noargs("copy", a);
       auto data = std::make_shared<DictData>(d.dict_data());
       data->is_namespace = false;
       return Value::dict(std::move(data));
     }},
    {"fromkeys", nullptr},
    {"get",
     [](Interpreter&, const Value& d, CallArgs& a) {
       BoundArgs b("get", a, {"key", "default"}, 1);
       if (b[0].is_list() || b[0].is_dict())
         throw TemplateError("unhashable type: '" + b[0].type_name() + "'");
       if (const Value* v = d.dict_data().find(b[0])) return *v;
       return b.get(1, Value::none());
     }},
    {"items",
     [](Interpreter&, const Value& d, CallArgs& a) {
       m_noargs("items", a);
       std::vector<Value> items;
       for (const auto& [k, v] : d.dict_data().entries) items.push_back(Value::tuple({k, v}));
       return Value::list(std::move(items), ListKind::kDictItems);
     }},
    {"keys",
     [](Interpreter&, const Value& d, CallArgs& a) {
       m_noargs("keys", a);
       std::vector<Value> items;
       for (const auto& [k, v] : d.dict_data().entries) items.push_back(k);
       return Value::list(std::move(items), ListKind::kDictKeys);
     }},
    {"pop", nullptr},
    {"popitem", nullptr},
    {"setdefault", nullptr},
    {"update", nullptr},
    {"values",
     [](Interpreter&, const Value& d, CallArgs& a) {
       m_noargs("values", a);
       std::vector<Value> items;
       for (const auto& [k, v] : d.dict_data().entries) items.push_back(v);
       return Value::list(std::move(items), ListKind::kDictValues);
     }},
};
constexpr std::string_view kUnsafeDictMethods[] = {"clear", "pop", "popitem", "setdefault",
                                                   "update"};

Value list_count(Interpreter&, const Value& l, CallArgs& a) {
  BoundArgs b("count", a, {"value"}, 1);
  int64_t n = 0;
  for (const Value& v : l.items()) n += equals(v, b[0]) ? 1 : 0;
  return Value::integer(n);
}

Value list_index(Interpreter&, const Value& l, CallArgs& a) {
  BoundArgs b("index", a, {"value"}, 1);
  const auto& items = l.items();
  for (size_t i = 0; i < items.size(); ++i) {
    if (equals(items[i], b[0])) return Value::integer(static_cast<int64_t>(i));
  }
  throw TemplateError(to_repr(b[0]) + " is not in " + l.type_name());
}

const MethodEntry kListMethods[] = {
    {"append", nullptr},
    {"clear", nullptr},
    {"copy",
     [](Interpreter&, const Value& l, CallArgs& a) {
       m_noargs("copy", a);
       return Value::list(l.items());
     }},
    {"count", list_count},
    {"extend", nullptr},
    {"index", list_index},
    {"insert", nullptr},
    {"pop", nullptr},
    {"remove", nullptr},
    {"reverse", nullptr},
    {"sort", nullptr},
};
constexpr std::string_view kUnsafeListMethods[] = {"append", "clear",  "extend",  "insert",
                                                   "pop",    "remove", "reverse", "sort"};

const MethodEntry kTupleMethods[] = {{"count", list_count}, {"index", list_index}};

template <size_t N>
const MethodEntry* find_entry(const MethodEntry (&table)[N], std::string_view name) {
  for (const auto& e : table) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

template <size_t N>
bool in_list(const std::string_view (&names)[N], std::string_view name) {
  return std::find(std::begin(names), std::end(names), name) != std::end(names);
}

// markupsafe.Markup's methods that return Markup (markupsafe 3).
constexpr std::string_view kMarkupMethods[] = {
    "capitalize", "casefold",  "center",    "expandtabs",   "format",       "join",    "ljust",
    "lower",      "lstrip",    "partition", "removeprefix", "removesuffix", "replace", "rjust",
    "rpartition", "rsplit",    "rstrip",    "split",        "splitlines",   "strip",   "swapcase",
    "title",      "translate", "upper",     "zfill"};

Value escaped(const Value& v) { return v.is_markup() ? v : Value::markup(html_escape(to_str(v))); }

Value to_markup(const Value& v) {
  if (v.is_string()) return Value::markup(v.as_string());
  if (v.is_list()) {
    std::vector<Value> items;
    for (const Value& item : v.items()) items.push_back(to_markup(item));
    return Value::list(std::move(items), v.list_kind());
  }
  return v;
}

Value call_markup_method(Interpreter& in, const Value& self, std::string_view name, MethodFn fn,
                         CallArgs& args) {
  if (name == "replace" && args.positional.size() >= 2) {
    args.positional[1] = escaped(args.positional[1]);
  } else if (name == "join" && args.positional.size() == 1) {
    std::vector<Value> items;
    for (const Value& item : in.iterate(args.positional[0])) items.push_back(escaped(item));
    args.positional[0] = Value::list(std::move(items));
  }
  return to_markup(fn(in, self, args));
}

Value bind(const Value& self, const MethodEntry& e, const std::string& type) {
  const std::string qualified = type + "." + std::string(e.name);
  if (!e.fn) {
    return Value::callable(qualified, [qualified](Interpreter&, CallArgs&) -> Value {
      throw TemplateError(qualified + "() is not supported by kiln's template interpreter");
    });
  }
  const MethodFn fn = e.fn;
  if (self.is_markup() && in_list(kMarkupMethods, e.name)) {
    const std::string_view name = e.name;
    return Value::callable(qualified, [self, fn, name](Interpreter& in, CallArgs& args) {
      return call_markup_method(in, self, name, fn, args);
    });
  }
  return Value::callable(
      qualified, [self, fn](Interpreter& in, CallArgs& args) { return fn(in, self, args); });
}

Value unsafe(std::string_view name, const std::string& type) {
  return Value::undefined("access to attribute '" + std::string(name) + "' of '" + type +
                          "' object is unsafe.");
}

// --- printf-style formatting ---

std::string percent_one(char type, const Value& v, std::string_view flags, int64_t width,
                        int64_t precision, bool markup) {
  std::string body;
  const bool left = flags.find('-') != std::string_view::npos;
  const bool zero = flags.find('0') != std::string_view::npos && !left;
  const bool plus = flags.find('+') != std::string_view::npos;
  const bool space = flags.find(' ') != std::string_view::npos;
  bool numeric = false;
  char buf[512];
  switch (type) {
    case 's':
      body = to_str(v);
      break;
    case 'r':
    case 'a':
      body = to_repr(v);
      break;
    case 'd':
    case 'i':
    case 'u': {
      if (!v.is_number())
        throw TemplateError(std::string("%") + type + " format: a real number is required, not " +
                            v.type_name());
      numeric = true;
      const int64_t n = v.is_float() ? static_cast<int64_t>(std::trunc(v.as_float())) : v.as_int();
      body = std::to_string(n);
      break;
    }
    case 'x':
    case 'X':
    case 'o': {
      if (!(v.is_int() || v.is_bool()))
        throw TemplateError(std::string("%") + type + " format: an integer is required, not " +
                            v.type_name());
      numeric = true;
      const int64_t n = v.as_int();
      std::snprintf(buf, sizeof(buf),
                    type == 'x'   ? "%llx"
                    : type == 'X' ? "%llX"
                                  : "%llo",
                    static_cast<unsigned long long>(n < 0 ? -n : n));
      body = (n < 0 ? "-" : "") + std::string(buf);
      break;
    }
    case 'f':
    case 'F':
    case 'e':
    case 'E':
    case 'g':
    case 'G': {
      if (!v.is_number())
        throw TemplateError(std::string("must be real number, not ") + v.type_name());
      numeric = true;
      body = printf_float(type, precision, v.to_double());
      break;
    }
    case 'c':
      if (v.is_string() && py::length(v.as_string()) == 1) {
        body = v.as_string();
      } else if (v.is_int()) {
        py::append_utf8(body, static_cast<char32_t>(v.as_int()));
      } else {
        throw TemplateError("%c requires int or char");
      }
      break;
    default:
      throw TemplateError(std::string("unsupported format character '") + type + "'");
  }
  if (!numeric && precision >= 0 && (type == 's' || type == 'r' || type == 'a')) {
    const std::u32string cps = py::decode(body);
    if (static_cast<int64_t>(cps.size()) > precision) body = py::encode(cps.substr(0, precision));
  }
  if (markup && !numeric && !(type == 's' && v.is_markup())) body = html_escape(body);
  if (numeric && body[0] != '-' && (plus || space)) body = (plus ? "+" : " ") + body;
  const int64_t len = py::length(body);
  if (width <= len) return body;
  if (left) return body + std::string(width - len, ' ');
  if (zero && numeric) {
    const size_t sign = (body[0] == '-' || body[0] == '+' || body[0] == ' ') ? 1 : 0;
    return body.substr(0, sign) + std::string(width - len, '0') + body.substr(sign);
  }
  return std::string(width - len, ' ') + body;
}

}  // namespace

std::optional<Value> method_of(const Value& obj, std::string_view name) {
  if (obj.is_string()) {
    if (const MethodEntry* e = find_entry(kStrMethods, name)) return bind(obj, *e, "str");
  } else if (obj.is_dict()) {
    if (in_list(kUnsafeDictMethods, name)) return unsafe(name, "dict");
    if (const MethodEntry* e = find_entry(kDictMethods, name)) return bind(obj, *e, "dict");
  } else if (obj.is_list()) {
    if (obj.list_kind() == ListKind::kList) {
      if (in_list(kUnsafeListMethods, name)) return unsafe(name, "list");
      if (const MethodEntry* e = find_entry(kListMethods, name)) return bind(obj, *e, "list");
    } else if (obj.list_kind() == ListKind::kTuple) {
      if (const MethodEntry* e = find_entry(kTupleMethods, name)) return bind(obj, *e, "tuple");
    }
  }
  return std::nullopt;
}

Value percent_format(const std::string& format, const Value& args, bool markup) {
  std::vector<Value> positional;
  const Value* mapping = nullptr;
  if (args.is_list() && args.list_kind() == ListKind::kTuple) {
    positional = args.items();
  } else {
    positional.push_back(args);
    if (args.is_dict()) mapping = &args;
  }
  size_t next = 0;
  bool used_mapping = false;
  std::string out;
  size_t i = 0;
  while (i < format.size()) {
    const char c = format[i++];
    if (c != '%') {
      out += c;
      continue;
    }
    if (i >= format.size()) throw TemplateError("incomplete format");
    const Value* arg = nullptr;
    if (format[i] == '(') {
      const size_t close = format.find(')', i);
      if (close == std::string::npos) throw TemplateError("incomplete format key");
      if (!mapping) throw TemplateError("format requires a mapping");
      const Value* v =
          mapping->dict_data().find(std::string_view(format).substr(i + 1, close - i - 1));
      if (!v) throw TemplateError("KeyError: '" + format.substr(i + 1, close - i - 1) + "'");
      arg = v;
      used_mapping = true;
      i = close + 1;
    }
    const size_t flags_start = i;
    while (i < format.size() && std::string_view("-+ #0").find(format[i]) != std::string_view::npos)
      ++i;
    const std::string_view flags = std::string_view(format).substr(flags_start, i - flags_start);
    const int64_t width = read_format_field(format, i);
    int64_t precision = -1;
    if (i < format.size() && format[i] == '.') {
      ++i;
      precision = read_format_field(format, i);
    }
    if (i >= format.size()) throw TemplateError("incomplete format");
    const char type = format[i++];
    if (type == '%') {
      out += '%';
      continue;
    }
    if (!arg) {
      if (next >= positional.size()) throw TemplateError("not enough arguments for format string");
      arg = &positional[next++];
    }
    out += percent_one(type, *arg, flags, width, precision, markup);
  }
  if (!used_mapping && next < positional.size() && !mapping) {
    throw TemplateError("not all arguments converted during string formatting");
  }
  return markup ? Value::markup(std::move(out)) : Value::string(std::move(out));
}

}  // namespace kiln::chat
