// Splits a chat template into tokens exactly as jinja2's lexer does for Hugging Face's
// environment (trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False):
//   - "{%- ", " -%}", "{{- ", " -}}", "{#- ", " -#}" strip all whitespace on that side;
//   - a block or comment tag alone on its line (only spaces/tabs before it) takes that
//     indentation with it (lstrip_blocks), unless written "{%+";
//   - the first newline after "%}" or "#}" is dropped (trim_blocks), unless written "+%}";
//   - "\r\n" and "\r" become "\n", and one trailing newline of the template is dropped;
//   - {% raw %}...{% endraw %} is passed through as text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "chat/value.h"

namespace kiln::chat {

enum class TokenType : uint8_t {
  kData,           // template text (value)
  kVariableBegin,  // {{
  kVariableEnd,    // }}
  kBlockBegin,     // {%
  kBlockEnd,       // %}
  kName,           // identifier or keyword (value)
  kString,         // string literal, unescaped (value)
  kInteger,        // int_value
  kFloat,          // float_value
  kOperator,       // value: "+", "//", "==", "(", ...
  kEof,
};

struct Token {
  TokenType type = TokenType::kEof;
  std::string value;
  int64_t int_value = 0;
  double float_value = 0;
  SourcePos pos;
};

// Throws TemplateError (with the position) on malformed input: an unclosed comment, string
// or tag, an unexpected character, unbalanced brackets.
std::vector<Token> tokenize(std::string_view source);

}  // namespace kiln::chat
