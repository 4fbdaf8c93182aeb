// jinja2's built-in filters, tests and global functions, Hugging Face's additions
// (tojson with json.dumps semantics, raise_exception, strftime_now, namespace, dict), and the
// Python methods of str, dict and list that templates call.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chat/interpreter.h"
#include "chat/value.h"

namespace kiln::chat {

// Python-style binding of a call's arguments to named parameters: positionals in order,
// then keywords by name. Throws TemplateError for too many, unknown or repeated arguments,
// or a missing required one.
class BoundArgs {
 public:
  BoundArgs(std::string_view function, const CallArgs& args,
            std::initializer_list<std::string_view> params, size_t required = 0);

  bool has(size_t i) const { return given_[i]; }
  // The argument, or an undefined Value when it was not given.
  const Value& operator[](size_t i) const { return values_[i]; }
  Value get(size_t i, Value fallback) const { return has(i) ? values_[i] : std::move(fallback); }
  int64_t get_int(size_t i, int64_t fallback) const;  // int or bool; else TypeError
  bool get_truthy(size_t i, bool fallback) const;
  // A str argument (TypeError otherwise); nullopt when not given or None.
  std::optional<std::string> get_string(size_t i) const;

 private:
  std::string function_;
  std::vector<std::string_view> names_;
  std::vector<Value> values_;
  std::vector<bool> given_;
};

bool is_filter_name(std::string_view name);
bool is_test_name(std::string_view name);
// Throw TemplateError("No filter named 'x'.") for an unknown name.
Value call_filter(Interpreter& in, std::string_view name, const Value& input, CallArgs& args);
bool call_test(Interpreter& in, std::string_view name, const Value& input, CallArgs& args);

// The bound method `obj.name` of a str, dict or list, if Python has that attribute: a
// callable, or for methods the sandbox forbids (list.append, dict.update, ...) an undefined
// value whose use raises the sandbox's error. nullopt when the type has no such attribute.
std::optional<Value> method_of(const Value& obj, std::string_view name);

// `format % args` for a str left operand (printf-style formatting). A Markup format
// escapes what %s and %r insert and gives a Markup.
Value percent_format(const std::string& format, const Value& args, bool markup = false);

// Adds range, dict, namespace, joiner, cycler, raise_exception and strftime_now.
void install_globals(Frame& globals);

}  // namespace kiln::chat
