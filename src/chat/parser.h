// Parses chat-template source into a syntax tree, following jinja2's grammar and operator
// precedence (jinja2/parser.py), with Hugging Face's extensions: {% break %}/{% continue %}
// (jinja2.ext.loopcontrols) and {% generation %}...{% endgeneration %}.
//
// Template inheritance and loading ({% extends %}, {% include %}, {% import %}, {% block %})
// have no meaning for a template stored in a model file and are rejected.
#pragma once

#include <string_view>

#include "chat/ast.h"

namespace kiln::chat {

// Nesting limits that keep parsing, evaluation and destruction of the tree on a small stack.
constexpr int kMaxParseDepth = 100;     // nested tags, brackets and sub-expressions
constexpr int kMaxOperatorChain = 256;  // operands in one chain: a + b + ..., x|f|g|...

// Throws TemplateError with the position of the offending token.
Body parse_template(std::string_view source);

}  // namespace kiln::chat
