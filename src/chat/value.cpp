// NOTE: GCC 12 at -O3 reports false -Wrestrict errors inside std::string's operator+
// ("literal" + std::string); GCC bug 105329.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wrestrict"
#endif

#include "chat/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "chat/py_string.h"

namespace kiln::chat {
namespace {

[[noreturn]] void too_deep() {
  throw TemplateError("value is nested more than " + std::to_string(kMaxValueDepth) +
                      " levels deep");
}

void append_repr(std::string& out, const Value& v, int depth);

void append_items_repr(std::string& out, const std::vector<Value>& items, int depth) {
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    append_repr(out, items[i], depth);
  }
}

void append_dict_repr(std::string& out, const DictData& d, int depth) {
  out += '{';
  bool first = true;
  for (const auto& [k, v] : d.entries) {
    if (!first) out += ", ";
    first = false;
    append_repr(out, k, depth);
    out += ": ";
    append_repr(out, v, depth);
  }
  out += '}';
}

void append_repr(std::string& out, const Value& v, int depth) {
  if (depth > kMaxValueDepth) too_deep();
  switch (v.kind()) {
    case ValueKind::kUndefined:
      out += "Undefined";
      return;
    case ValueKind::kString:
      out += py::repr(v.as_string());
      return;
    case ValueKind::kList: {
      const auto& items = v.items();
      switch (v.list_kind()) {
        case ListKind::kList:
          out += '[';
          append_items_repr(out, items, depth + 1);
          out += ']';
          return;
        case ListKind::kTuple:
          out += '(';
          append_items_repr(out, items, depth + 1);
          if (items.size() == 1) out += ',';
          out += ')';
          return;
        case ListKind::kGenerator:
          out += "<generator object>";
          return;
        case ListKind::kDictKeys:
          out += "dict_keys([";
          break;
        case ListKind::kDictValues:
          out += "dict_values([";
          break;
        case ListKind::kDictItems:
          out += "dict_items([";
          break;
      }
      append_items_repr(out, items, depth + 1);
      out += "])";
      return;
    }
    case ValueKind::kDict:
      if (v.is_namespace()) out += "<Namespace ";
      append_dict_repr(out, v.dict_data(), depth + 1);
      if (v.is_namespace()) out += '>';
      return;
    default:
      append_str(out, v);
      return;
  }
}

bool equals_at(const Value& a, const Value& b, int depth) {
  if (depth > kMaxValueDepth) too_deep();
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.to_double() == b.to_double();
    return a.as_int() == b.as_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case ValueKind::kUndefined:
    case ValueKind::kNone:
      return true;
    case ValueKind::kString:
      return a.as_string() == b.as_string();
    case ValueKind::kList: {
      if (&a.list_data() == &b.list_data()) return true;
      const ListKind ka = a.list_kind();
      const ListKind kb = b.list_kind();
      if (ka != kb || ka == ListKind::kGenerator) return false;
      const auto& x = a.items();
      const auto& y = b.items();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!equals_at(x[i], y[i], depth + 1)) return false;
      }
      return true;
    }
    case ValueKind::kDict: {
      if (&a.dict_data() == &b.dict_data()) return true;
      if (a.is_namespace() || b.is_namespace()) return false;
      const DictData& x = a.dict_data();
      const DictData& y = b.dict_data();
      if (x.entries.size() != y.entries.size()) return false;
      for (const auto& [k, v] : x.entries) {
        const Value* other = y.find(k);
        if (!other || !equals_at(v, *other, depth + 1)) return false;
      }
      return true;
    }
    case ValueKind::kCallable:
      return &a.callable_data() == &b.callable_data();
    default:
      return false;
  }
}

bool less_at(const Value& a, const Value& b, std::string_view op, int depth) {
  if (depth > kMaxValueDepth) too_deep();
  if (a.is_undefined()) throw TemplateError(a.undefined_message());
  if (b.is_undefined()) throw TemplateError(b.undefined_message());
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.to_double() < b.to_double();
    return a.as_int() < b.as_int();
  }
  if (a.is_string() && b.is_string()) return a.as_string() < b.as_string();
  if (a.is_list() && b.is_list() && a.list_kind() == b.list_kind() &&
      (a.list_kind() == ListKind::kList || a.list_kind() == ListKind::kTuple)) {
    const auto& x = a.items();
    const auto& y = b.items();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!equals_at(x[i], y[i], depth + 1)) return less_at(x[i], y[i], op, depth + 1);
    }
    return x.size() < y.size();
  }
  throw TemplateError("'" + std::string(op) + "' not supported between instances of '" +
                      a.type_name() + "' and '" + b.type_name() + "'");
}

// --- json.dumps ---

void append_json_string(std::string& out, std::string_view s, bool ensure_ascii) {
  out += '"';
  char buf[16];
  if (!ensure_ascii) {
    for (char ch : s) {
      const auto c = static_cast<unsigned char>(ch);
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        default:
          if (c < 0x20) {
            std::snprintf(buf, sizeof(buf), "\\u%04x", c);
            out += buf;
          } else {
            out += ch;
          }
      }
    }
  } else {
    for (char32_t c : py::decode(s)) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        default:
          if (c >= 0x20 && c < 0x7F) {
            out += static_cast<char>(c);
          } else if (c < 0x10000) {
            std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
            out += buf;
          } else {
            const char32_t v = c - 0x10000;
            std::snprintf(buf, sizeof(buf), "\\u%04x\\u%04x",
                          static_cast<unsigned>(0xD800 + (v >> 10)),
                          static_cast<unsigned>(0xDC00 + (v & 0x3FF)));
            out += buf;
          }
      }
    }
  }
  out += '"';
}

void append_json_float(std::string& out, double f) {
  if (std::isnan(f)) {
    out += "NaN";
  } else if (std::isinf(f)) {
    out += f > 0 ? "Infinity" : "-Infinity";
  } else {
    out += float_repr(f);
  }
}

std::string json_key(const Value& k, bool ensure_ascii) {
  std::string out;
  switch (k.kind()) {
    case ValueKind::kString:
      append_json_string(out, k.as_string(), ensure_ascii);
      return out;
    case ValueKind::kBool:
      return k.as_bool() ? "\"true\"" : "\"false\"";
    case ValueKind::kNone:
      return "\"null\"";
    case ValueKind::kInt:
      return "\"" + std::to_string(k.as_int()) + "\"";
    case ValueKind::kFloat:
      out += '"';
      append_json_float(out, k.as_float());
      out += '"';
      return out;
    default:
      throw TemplateError("keys must be str, int, float, bool or None, not " + k.type_name());
  }
}

void dump(std::string& out, const Value& v, const JsonDumpOptions& o, int level) {
  if (level > kMaxValueDepth) too_deep();
  auto newline_indent = [&](int lvl) {
    out += '\n';
    for (int i = 0; i < lvl; ++i) out += *o.indent;
  };
  switch (v.kind()) {
    case ValueKind::kNone:
      out += "null";
      return;
    case ValueKind::kBool:
      out += v.as_bool() ? "true" : "false";
      return;
    case ValueKind::kInt:
      out += std::to_string(v.as_int());
      return;
    case ValueKind::kFloat:
      append_json_float(out, v.as_float());
      return;
    case ValueKind::kString:
      append_json_string(out, v.as_string(), o.ensure_ascii);
      return;
    case ValueKind::kList: {
      if (v.list_kind() != ListKind::kList && v.list_kind() != ListKind::kTuple) break;
      const auto& items = v.items();
      if (items.empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += o.item_separator;
        if (o.indent) newline_indent(level + 1);
        dump(out, items[i], o, level + 1);
      }
      if (o.indent) newline_indent(level);
      out += ']';
      return;
    }
    case ValueKind::kDict: {
      if (v.is_namespace()) break;
      const DictData& d = v.dict_data();
      if (d.entries.empty()) {
        out += "{}";
        return;
      }
      std::vector<const std::pair<Value, Value>*> entries;
      entries.reserve(d.entries.size());
      for (const auto& e : d.entries) entries.push_back(&e);
      if (o.sort_keys) {
        std::stable_sort(entries.begin(), entries.end(), [](const auto* a, const auto* b) {
          return less_than(a->first, b->first);
        });
      }
      out += '{';
      bool first = true;
      for (const auto* e : entries) {
        if (!first) out += o.item_separator;
        first = false;
        if (o.indent) newline_indent(level + 1);
        out += json_key(e->first, o.ensure_ascii);
        out += o.key_separator;
        dump(out, e->second, o, level + 1);
      }
      if (o.indent) newline_indent(level);
      out += '}';
      return;
    }
    default:
      break;
  }
  const std::string type = v.is_undefined() ? "Undefined" : v.type_name();
  throw TemplateError("Object of type " + type + " is not JSON serializable");
}

}  // namespace

// --- DictData ---

const Value* DictData::find(std::string_view key) const {
  const auto it = string_index.find(key);
  return it == string_index.end() ? nullptr : &entries[it->second].second;
}

const Value* DictData::find(const Value& key) const {
  if (key.is_string()) return find(std::string_view(key.as_string()));
  for (const auto& [k, v] : entries) {
    if (!k.is_string() && equals(k, key)) return &v;
  }
  return nullptr;
}

void DictData::set(Value key, Value value) {
  const int d = value.depth() + 1;
  if (d > kMaxValueDepth) too_deep();
  depth = std::max(depth, d);
  if (key.is_string()) {
    const auto it = string_index.find(std::string_view(key.as_string()));
    if (it != string_index.end()) {
      entries[it->second].second = std::move(value);
      return;
    }
    string_index.emplace(key.as_string(), entries.size());
  } else {
    for (auto& [k, v] : entries) {
      if (!k.is_string() && equals(k, key)) {
        v = std::move(value);
        return;
      }
    }
  }
  entries.emplace_back(std::move(key), std::move(value));
}

// --- Value ---

const std::shared_ptr<const std::string>& Value::empty_string() {
  static const auto* empty =
      new std::shared_ptr<const std::string>(std::make_shared<const std::string>());
  return *empty;
}

Value Value::undefined(std::string message) {
  Value v;
  if (!message.empty()) v.str_ = std::make_shared<const std::string>(std::move(message));
  return v;
}

Value Value::none() {
  Value v;
  v.kind_ = ValueKind::kNone;
  return v;
}

Value Value::boolean(bool b) {
  Value v;
  v.kind_ = ValueKind::kBool;
  v.b_ = b;
  v.i_ = b ? 1 : 0;
  return v;
}

Value Value::integer(int64_t i) {
  Value v;
  v.kind_ = ValueKind::kInt;
  v.i_ = i;
  return v;
}

Value Value::number(double f) {
  Value v;
  v.kind_ = ValueKind::kFloat;
  v.f_ = f;
  return v;
}

Value Value::string(std::string s) {
  Value v;
  v.kind_ = ValueKind::kString;
  if (!s.empty()) v.str_ = std::make_shared<const std::string>(std::move(s));
  return v;
}

Value Value::markup(std::string s) {
  Value v = string(std::move(s));
  v.markup_ = true;
  return v;
}

Value Value::list(std::vector<Value> items, ListKind kind) {
  int d = 1;
  for (const Value& item : items) d = std::max(d, item.depth() + 1);
  if (d > kMaxValueDepth) too_deep();
  Value v;
  v.kind_ = ValueKind::kList;
  v.list_ = std::make_shared<ListData>();
  v.list_->items = std::move(items);
  v.list_->kind = kind;
  v.list_->depth = d;
  return v;
}

Value Value::dict(std::shared_ptr<DictData> data) {
  Value v;
  v.kind_ = ValueKind::kDict;
  v.dict_ = std::move(data);
  return v;
}

Value Value::empty_dict() { return dict(std::make_shared<DictData>()); }

Value Value::callable(std::string name, std::function<Value(Interpreter&, CallArgs&)> fn) {
  Value v;
  v.kind_ = ValueKind::kCallable;
  v.fn_ = std::make_shared<CallableData>();
  v.fn_->name = std::move(name);
  v.fn_->fn = std::move(fn);
  return v;
}

double Value::to_double() const {
  if (kind_ == ValueKind::kFloat) return f_;
  return static_cast<double>(i_);
}

int Value::depth() const {
  if (kind_ == ValueKind::kList) return list_->depth;
  if (kind_ == ValueKind::kDict) return dict_->depth;
  return 0;
}

std::string Value::type_name() const {
  switch (kind_) {
    case ValueKind::kUndefined:
      return "Undefined";
    case ValueKind::kNone:
      return "NoneType";
    case ValueKind::kBool:
      return "bool";
    case ValueKind::kInt:
      return "int";
    case ValueKind::kFloat:
      return "float";
    case ValueKind::kString:
      return "str";
    case ValueKind::kList:
      switch (list_->kind) {
        case ListKind::kList:
          return "list";
        case ListKind::kTuple:
          return "tuple";
        case ListKind::kGenerator:
          return "generator";
        case ListKind::kDictKeys:
          return "dict_keys";
        case ListKind::kDictValues:
          return "dict_values";
        case ListKind::kDictItems:
          return "dict_items";
      }
      return "list";
    case ValueKind::kDict:
      return dict_->is_namespace ? "Namespace" : "dict";
    case ValueKind::kCallable:
      return "function";
  }
  return "object";
}

// --- Python semantics ---

bool truthy(const Value& v) {
  switch (v.kind()) {
    case ValueKind::kUndefined:
    case ValueKind::kNone:
      return false;
    case ValueKind::kBool:
      return v.as_bool();
    case ValueKind::kInt:
      return v.as_int() != 0;
    case ValueKind::kFloat:
      return v.as_float() != 0;
    case ValueKind::kString:
      return !v.as_string().empty();
    case ValueKind::kList:
      return v.list_kind() == ListKind::kGenerator || !v.items().empty();
    case ValueKind::kDict:
      return v.is_namespace() || !v.dict_data().entries.empty();
    case ValueKind::kCallable:
      return true;
  }
  return false;
}

bool equals(const Value& a, const Value& b) { return equals_at(a, b, 0); }

bool less_than(const Value& a, const Value& b, std::string_view op) { return less_at(a, b, op, 0); }

std::string float_repr(double f) {
  if (std::isnan(f)) return "nan";
  if (std::isinf(f)) return f > 0 ? "inf" : "-inf";
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof(buf), f, std::chars_format::scientific);
  std::string_view sci(buf, res.ptr - buf);
  std::string sign;
  if (!sci.empty() && sci[0] == '-') {
    sign = "-";
    sci.remove_prefix(1);
  }
  const size_t e_at = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e_at)) {
    if (c != '.') digits += c;
  }
  int exp10 = std::atoi(std::string(sci.substr(e_at + 1)).c_str());
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string out = sign;
  if (exp10 >= -4 && exp10 < 16) {
    if (exp10 >= 0) {
      const size_t int_len = static_cast<size_t>(exp10) + 1;
      if (digits.size() <= int_len) {
        out += digits + std::string(int_len - digits.size(), '0') + ".0";
      } else {
        out += digits.substr(0, int_len) + "." + digits.substr(int_len);
      }
    } else {
      out += "0." + std::string(static_cast<size_t>(-exp10 - 1), '0') + digits;
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  std::snprintf(buf, sizeof(buf), "e%c%02d", exp10 < 0 ? '-' : '+', std::abs(exp10));
  out += buf;
  return out;
}

void append_str(std::string& out, const Value& v) {
  switch (v.kind()) {
    case ValueKind::kUndefined:
      return;
    case ValueKind::kNone:
      out += "None";
      return;
    case ValueKind::kBool:
      out += v.as_bool() ? "True" : "False";
      return;
    case ValueKind::kInt:
      out += std::to_string(v.as_int());
      return;
    case ValueKind::kFloat:
      out += float_repr(v.as_float());
      return;
    case ValueKind::kString:
      out += v.as_string();
      return;
    case ValueKind::kCallable:
      out += "<function " + v.callable_data().name + ">";
      return;
    default:
      append_repr(out, v, 0);
      return;
  }
}

std::string to_str(const Value& v) {
  if (v.is_string()) return v.as_string();
  std::string out;
  append_str(out, v);
  return out;
}

std::string to_repr(const Value& v) {
  std::string out;
  append_repr(out, v, 0);
  return out;
}

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string json_dumps(const Value& v, const JsonDumpOptions& options) {
  std::string out;
  dump(out, v, options, 0);
  return out;
}

}  // namespace kiln::chat
