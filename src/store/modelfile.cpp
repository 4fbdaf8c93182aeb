#include "store/modelfile.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <optional>

namespace kiln::store {
namespace {

enum class ParamKind { kFloat, kInt, kStringList };

struct ParamSpec {
  std::string_view name;
  ParamKind kind;
  double min;
  double max;
};

// Ollama's option names that map onto kiln's sampling and context settings.
constexpr ParamSpec kParams[] = {
    {"temperature", ParamKind::kFloat, 0, 100},
    {"top_k", ParamKind::kInt, 0, 1 << 24},
    {"top_p", ParamKind::kFloat, 0, 1},
    {"min_p", ParamKind::kFloat, 0, 1},
    {"num_predict", ParamKind::kInt, -2, 1 << 24},
    {"stop", ParamKind::kStringList, 0, 0},
    {"seed", ParamKind::kInt, -9.2e18, 9.2e18},
    {"repeat_penalty", ParamKind::kFloat, 1e-6, 100},
    {"presence_penalty", ParamKind::kFloat, -2, 2},
    {"frequency_penalty", ParamKind::kFloat, -2, 2},
    {"num_ctx", ParamKind::kInt, 16, 1 << 22},
};

std::string where(int line, int col) {
  return "line " + std::to_string(line) + ", column " + std::to_string(col) + ": ";
}

// A cursor over the text that tracks line and column.
class Cursor {
 public:
  explicit Cursor(std::string_view text) : text_(text) {}
  bool done() const { return pos_ >= text_.size(); }
  char peek() const { return text_[pos_]; }
  bool starts_with(std::string_view s) const { return text_.substr(pos_).starts_with(s); }
  void advance() {
    if (text_[pos_] == '\n') {
      ++line_;
      col_ = 1;
    } else {
      ++col_;
    }
    ++pos_;
  }
  void skip_blanks() {
    while (!done() && (peek() == ' ' || peek() == '\t' || peek() == '\r')) advance();
  }
  int line() const { return line_; }
  int col() const { return col_; }

 private:
  std::string_view text_;
  size_t pos_ = 0;
  int line_ = 1;
  int col_ = 1;
};

struct Argument {
  std::string text;
  int line = 0;
  int col = 0;
};

// One argument: a quoted string or the rest of the line (trimmed). The cursor ends on
// the line's newline (or the end).
StatusOr<Argument> read_argument(Cursor& c, std::string_view instruction) {
  c.skip_blanks();
  Argument arg{"", c.line(), c.col()};
  if (c.done() || c.peek() == '\n')
    return Status::Error(where(arg.line, arg.col) + std::string(instruction) +
                         " needs an argument");
  if (c.starts_with("\"\"\"")) {
    for (int i = 0; i < 3; ++i) c.advance();
    while (!c.starts_with("\"\"\"")) {
      if (c.done())
        return Status::Error(where(arg.line, arg.col) + "unterminated \"\"\" (no closing \"\"\")");
      arg.text += c.peek();
      c.advance();
    }
    for (int i = 0; i < 3; ++i) c.advance();
  } else if (c.peek() == '"') {
    c.advance();
    while (true) {
      if (c.done() || c.peek() == '\n')
        return Status::Error(where(arg.line, arg.col) +
                             "unterminated \" (no closing \" on this line)");
      char ch = c.peek();
      c.advance();
      if (ch == '"') break;
      if (ch == '\\' && !c.done() && (c.peek() == '"' || c.peek() == '\\')) {
        ch = c.peek();
        c.advance();
      }
      arg.text += ch;
    }
  } else {
    while (!c.done() && c.peek() != '\n') {
      arg.text += c.peek();
      c.advance();
    }
    while (!arg.text.empty() && std::isspace((unsigned char)arg.text.back())) arg.text.pop_back();
    return arg;
  }
  c.skip_blanks();
  if (!c.done() && c.peek() != '\n')
    return Status::Error(where(c.line(), c.col()) + "unexpected text after the closing quote");
  return arg;
}

Status parse_parameter(Cursor& c, ModelDefaults& defaults) {
  c.skip_blanks();
  const int key_line = c.line(), key_col = c.col();
  std::string key;
  while (!c.done() && !std::isspace((unsigned char)c.peek())) {
    key += (char)std::tolower((unsigned char)c.peek());
    c.advance();
  }
  if (key.empty())
    return Status::Error(where(key_line, key_col) + "PARAMETER needs a name and a value");
  const ParamSpec* spec = nullptr;
  for (const ParamSpec& p : kParams) {
    if (p.name == key) spec = &p;
  }
  if (!spec)
    return Status::Error(where(key_line, key_col) + "unknown parameter '" + key +
                         "' (kiln knows: " + modelfile_parameter_names() + ")");
  auto value = read_argument(c, "PARAMETER " + key);
  if (!value.ok()) return value.status();
  const std::string& v = value->text;
  const std::string at = where(value->line, value->col);
  switch (spec->kind) {
    case ParamKind::kStringList:
      if (v.empty()) return Status::Error(at + "stop needs a non-empty string");
      defaults.parameters["stop"].push_back(v);
      return Status::Ok();
    case ParamKind::kInt: {
      int64_t n = 0;
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc() || end != v.data() + v.size())
        return Status::Error(at + key + " expects an integer, got '" + v + "'");
      if ((double)n < spec->min || (double)n > spec->max)
        return Status::Error(at + key + " must be in [" + std::to_string((int64_t)spec->min) +
                             ", " + std::to_string((int64_t)spec->max) + "], got " + v);
      defaults.parameters[key] = n;
      return Status::Ok();
    }
    case ParamKind::kFloat: {
      char* end = nullptr;
      double x = v.empty() ? NAN : std::strtod(v.c_str(), &end);
      if (v.empty() || end != v.c_str() + v.size() || !std::isfinite(x))
        return Status::Error(at + key + " expects a number, got '" + v + "'");
      if (x < spec->min || x > spec->max) {
        char range[96];
        std::snprintf(range, sizeof range, " must be in [%g, %g], got ", spec->min, spec->max);
        return Status::Error(at + key + range + v);
      }
      defaults.parameters[key] = x;
      return Status::Ok();
    }
  }
  return Status::Ok();
}

}  // namespace

std::string modelfile_parameter_names() {
  std::string out;
  for (const ParamSpec& p : kParams) out += (out.empty() ? "" : ", ") + std::string(p.name);
  return out;
}

StatusOr<Modelfile> parse_modelfile(std::string_view text) {
  Modelfile mf;
  Cursor c(text);
  bool have_from = false;
  while (true) {
    c.skip_blanks();
    if (c.done()) break;
    if (c.peek() == '\n') {
      c.advance();
      continue;
    }
    if (c.peek() == '#') {
      while (!c.done() && c.peek() != '\n') c.advance();
      continue;
    }
    const int line = c.line(), col = c.col();
    std::string word;
    while (!c.done() && !std::isspace((unsigned char)c.peek())) {
      word += (char)std::toupper((unsigned char)c.peek());
      c.advance();
    }
    if (word == "FROM") {
      if (have_from) return Status::Error(where(line, col) + "a second FROM (one is allowed)");
      auto arg = read_argument(c, word);
      if (!arg.ok()) return arg.status();
      mf.from = arg->text;
      have_from = true;
    } else if (word == "PARAMETER") {
      KILN_RETURN_IF_ERROR(parse_parameter(c, mf.defaults));
    } else if (word == "SYSTEM" || word == "TEMPLATE" || word == "LICENSE") {
      auto arg = read_argument(c, word);
      if (!arg.ok()) return arg.status();
      if (word == "SYSTEM") mf.defaults.system = arg->text;
      if (word == "TEMPLATE") mf.defaults.chat_template = arg->text;
      if (word == "LICENSE") mf.defaults.license = arg->text;
    } else if (word == "ADAPTER" || word == "MESSAGE" || word == "REQUIRES") {
      return Status::Error(where(line, col) + word +
                           " is not supported by kiln (FROM, PARAMETER, "
                           "SYSTEM, TEMPLATE and LICENSE are)");
    } else {
      return Status::Error(where(line, col) + "unknown instruction '" + word +
                           "' (expected FROM, PARAMETER, SYSTEM, TEMPLATE or LICENSE)");
    }
  }
  if (!have_from) return Status::Error(where(c.line(), c.col()) + "no FROM instruction");
  return mf;
}

std::string quote_modelfile_value(const std::string& s) {
  if (s.find('\n') == std::string::npos && s.find("\"\"\"") == std::string::npos) {
    std::string out = "\"";
    for (char ch : s) {
      if (ch == '"' || ch == '\\') out += '\\';
      out += ch;
    }
    return out + "\"";
  }
  return "\"\"\"" + s + "\"\"\"";
}

std::string format_modelfile(const std::string& from, const ModelDefaults& d) {
  std::string out = "FROM " + from + "\n";
  for (const ParamSpec& p : kParams) {
    auto it = d.parameters.find(std::string(p.name));
    if (it == d.parameters.end()) continue;
    if (it->is_array()) {
      for (const auto& s : *it)
        out += "PARAMETER " + std::string(p.name) + " " + quote_modelfile_value(s.get<std::string>()) + "\n";
    } else if (it->is_number_float()) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.9g", it->get<double>());
      out += "PARAMETER " + std::string(p.name) + " " + buf + "\n";
    } else {
      out += "PARAMETER " + std::string(p.name) + " " + it->dump() + "\n";
    }
  }
  if (d.system) out += "SYSTEM " + quote_modelfile_value(*d.system) + "\n";
  if (d.chat_template) out += "TEMPLATE " + quote_modelfile_value(*d.chat_template) + "\n";
  if (d.license) out += "LICENSE " + quote_modelfile_value(*d.license) + "\n";
  return out;
}

}  // namespace kiln::store
