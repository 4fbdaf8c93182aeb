// The values a chat template computes with, modelled on the Python objects that jinja2 sees
// when Hugging Face renders a template: None, bool, int, float, str, list/tuple, dict, jinja2's
// Undefined, namespace() objects and callables (macros, built-in functions, bound methods).
//
// Lists and dicts are shared by reference like Python's: copying a Value copies a pointer.
// The template sandbox (jinja2's ImmutableSandboxedEnvironment) never mutates a list or dict
// in place, so sharing is unobservable except through namespace() objects, which are meant to
// be shared.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace kiln::chat {

// A 1-based position in the template source (column counts code points).
struct SourcePos {
  int line = 0;
  int column = 0;
};

// NOTE: the interpreter reports errors by throwing TemplateError internally, which keeps the
// deeply recursive evaluator readable; ChatTemplate catches it at the module's API and
// returns a Status, so no exception leaves src/chat/.
class TemplateError {
 public:
  explicit TemplateError(std::string message, SourcePos pos = {})
      : message_(std::move(message)), pos_(pos) {}
  const std::string& message() const { return message_; }
  SourcePos pos() const { return pos_; }
  void set_pos_if_unset(SourcePos pos) {
    if (pos_.line == 0) pos_ = pos;
  }
  // Set for errors raised by the template itself (raise_exception).
  bool raised_by_template = false;

 private:
  std::string message_;
  SourcePos pos_;
};

class Value;
class Interpreter;

enum class ValueKind : uint8_t {
  kUndefined,
  kNone,
  kBool,
  kInt,
  kFloat,
  kString,
  kList,
  kDict,
  kCallable,
};

// Which Python type a list-like value stands for; it decides repr(), len() and indexing.
enum class ListKind : uint8_t {
  kList,
  kTuple,
  kGenerator,  // what map/select/... return in jinja2: no len(), no indexing, always true
  kDictKeys,   // dict.keys() / values() / items() views
  kDictValues,
  kDictItems,
};

// Containers deeper than this are refused (by from_json and by the interpreter), so the
// recursive printers, comparisons and destructors stay within a small, fixed stack.
constexpr int kMaxValueDepth = 200;

struct ListData {
  std::vector<Value> items;
  ListKind kind = ListKind::kList;
  int depth = 1;  // 1 + the deepest item's depth
};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// An insertion-ordered dict (Python 3.7+); string keys are indexed for O(1) lookup, other
// keys (rare in templates) are found by a linear scan.
struct DictData {
  std::vector<std::pair<Value, Value>> entries;
  std::unordered_map<std::string, size_t, StringHash, std::equal_to<>> string_index;
  bool is_namespace = false;  // a namespace() object: attribute access only
  int depth = 1;              // 1 + the deepest value's depth (never lowered by set())

  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  void set(Value key, Value value);
};

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
  SourcePos pos;
};

struct CallableData {
  std::string name;  // for messages: "raise_exception", "str.split", "macro 'm'"
  std::function<Value(Interpreter&, CallArgs&)> fn;
};

class Value {
 public:
  Value() = default;  // undefined
  static Value undefined(std::string message = {});
  static Value none();
  static Value boolean(bool b);
  static Value integer(int64_t i);
  static Value number(double f);
  static Value string(std::string s);
  // A markupsafe.Markup string (what |safe and |escape return): it prints as itself, but
  // `markup + str` escapes the str, as jinja2 templates see it.
  static Value markup(std::string s);
  static Value list(std::vector<Value> items, ListKind kind = ListKind::kList);
  static Value tuple(std::vector<Value> items) { return list(std::move(items), ListKind::kTuple); }
  static Value dict(std::shared_ptr<DictData> data);
  static Value empty_dict();
  static Value callable(std::string name, std::function<Value(Interpreter&, CallArgs&)> fn);

  ValueKind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == ValueKind::kUndefined; }
  bool is_none() const { return kind_ == ValueKind::kNone; }
  bool is_bool() const { return kind_ == ValueKind::kBool; }
  bool is_int() const { return kind_ == ValueKind::kInt; }  // not bool
  bool is_float() const { return kind_ == ValueKind::kFloat; }
  bool is_number() const { return is_int() || is_float() || is_bool(); }  // Python Number
  bool is_string() const { return kind_ == ValueKind::kString; }
  bool is_markup() const { return kind_ == ValueKind::kString && markup_; }
  bool is_list() const { return kind_ == ValueKind::kList; }  // any ListKind
  bool is_dict() const { return kind_ == ValueKind::kDict && !dict_->is_namespace; }
  bool is_namespace() const { return kind_ == ValueKind::kDict && dict_->is_namespace; }
  bool is_callable() const { return kind_ == ValueKind::kCallable; }

  bool as_bool() const { return b_; }
  int64_t as_int() const { return i_; }  // kInt, or kBool as 0/1
  double as_float() const { return f_; }
  // kInt, kBool or kFloat as a double.
  double to_double() const;
  const std::string& as_string() const { return *str_; }
  // For kUndefined: the error raised when the value is used ("'x' is undefined").
  const std::string& undefined_message() const { return *str_; }
  ListData& list_data() const { return *list_; }
  const std::vector<Value>& items() const { return list_->items; }
  ListKind list_kind() const { return list_->kind; }
  DictData& dict_data() const { return *dict_; }
  const CallableData& callable_data() const { return *fn_; }

  // Python's type name: "str", "int", "list", "dict", "NoneType", ...
  std::string type_name() const;
  // Nesting depth: 0 for scalars, 1 for a container of scalars, ...
  int depth() const;

 private:
  ValueKind kind_ = ValueKind::kUndefined;
  bool b_ = false;
  bool markup_ = false;
  int64_t i_ = 0;
  double f_ = 0;
  // kString: the text; kUndefined: the message. Shared, so copying a Value is O(1) however
  // long its text (templates read the same message content many times).
  std::shared_ptr<const std::string> str_ = empty_string();
  static const std::shared_ptr<const std::string>& empty_string();
  std::shared_ptr<ListData> list_;
  std::shared_ptr<DictData> dict_;
  std::shared_ptr<CallableData> fn_;
};

// --- Python semantics -----------------------------------------------------------------------

bool truthy(const Value& v);
// ==, as Python compares (1 == 1.0 == True; lists and dicts by content).
bool equals(const Value& a, const Value& b);
// a < b for numbers, strings and lists; throws TemplateError("'<' not supported ...").
bool less_than(const Value& a, const Value& b, std::string_view op = "<");
// str(v) and repr(v). Undefined prints as "" (jinja2's default Undefined).
std::string to_str(const Value& v);
std::string to_repr(const Value& v);
void append_str(std::string& out, const Value& v);
// repr() of a float: the shortest string that reads back to the same double.
std::string float_repr(double f);

// markupsafe.escape() of a str: & < > ' " as HTML entities.
std::string html_escape(std::string_view s);

// json.dumps(v, ensure_ascii=..., indent=..., separators=..., sort_keys=...), as Hugging
// Face's tojson filter calls it. indent: nullopt for none, else the indent string.
struct JsonDumpOptions {
  bool ensure_ascii = false;
  std::optional<std::string> indent;
  std::string item_separator = ", ";
  std::string key_separator = ": ";
  bool sort_keys = false;
};
std::string json_dumps(const Value& v, const JsonDumpOptions& options);

// Converts parsed JSON (nlohmann::json or nlohmann::ordered_json) into template values.
// Throws TemplateError for input nested deeper than kMaxValueDepth.
template <typename Json>
Value from_json(const Json& j, int depth = 0) {
  if (depth >= kMaxValueDepth) {
    throw TemplateError("input JSON is nested more than " + std::to_string(kMaxValueDepth) +
                        " levels deep");
  }
  switch (j.type()) {
    case nlohmann::json::value_t::null:
      return Value::none();
    case nlohmann::json::value_t::boolean:
      return Value::boolean(j.template get<bool>());
    case nlohmann::json::value_t::number_integer:
      return Value::integer(j.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      const auto u = j.template get<uint64_t>();
      if (u <= static_cast<uint64_t>(INT64_MAX)) return Value::integer(static_cast<int64_t>(u));
      return Value::number(static_cast<double>(u));
    }
    case nlohmann::json::value_t::number_float:
      return Value::number(j.template get<double>());
    case nlohmann::json::value_t::string:
      return Value::string(j.template get_ref<const std::string&>());
    case nlohmann::json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(from_json(e, depth + 1));
      return Value::list(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      auto d = std::make_shared<DictData>();
      for (auto it = j.begin(); it != j.end(); ++it) {
        d->set(Value::string(it.key()), from_json(it.value(), depth + 1));
      }
      return Value::dict(std::move(d));
    }
    default:
      return Value::none();  // binary / discarded: not produced by JSON parsing
  }
}

}  // namespace kiln::chat
