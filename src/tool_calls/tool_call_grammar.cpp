#include "tool_calls/tool_call_grammar.h"

#include <algorithm>
#include <set>
#include <string_view>

#include "structured/json_schema_compiler.h"
#include "structured/text_without.h"
#include "tool_calls/call_syntax.h"

namespace kiln::tool_calls {
namespace {

using structured::ByteSet;
using structured::Expr;
using structured::GrammarBuilder;
using Json = nlohmann::ordered_json;

std::string in_quotes(std::string_view name) {
  // (Appended, not "\"" + name: GCC 12 -O3 reports a false -Wrestrict there, bug 105329.)
  std::string s(1, '"');
  s += name;
  s += '"';
  return s;
}

bool is_v11_name_byte(uint8_t b) {
  return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b == '_' ||
         b == '-' || b == '.';
}

// The name as a JSON string token (what the wrapper formats write), or an error for a name
// that is not valid UTF-8 or too long for the parser to read back.
StatusOr<std::string> name_token(const ToolDefinition& tool, ToolCallFormat format) {
  if (format == ToolCallFormat::kMistralV11) {
    for (char c : tool.name) {
      if (!is_v11_name_byte((uint8_t)c))
        return Status::Error("tool " + in_quotes(tool.name) +
                             ": the mistral_v11 format writes names bare, so they may hold only "
                             "letters, digits, '_', '-' and '.'");
    }
    if (tool.name.size() > CallSyntax::kMaxName)
      return Status::Error("tool " + in_quotes(tool.name) + ": the name is longer than " +
                           std::to_string(CallSyntax::kMaxName) + " bytes");
    return tool.name;
  }
  std::string token;
  try {
    token = nlohmann::json(tool.name).dump();  // strict: throws on invalid UTF-8
  } catch (const nlohmann::json::exception&) {
    return Status::Error("tool names must be valid UTF-8");
  }
  if (token.size() > CallSyntax::kMaxName + 2)
    return Status::Error("tool " + in_quotes(tool.name) + ": the name is longer than " +
                         std::to_string(CallSyntax::kMaxName) + " bytes");
  return token;
}

// The schema of a tool's arguments object (see ToolDefinition::parameters).
StatusOr<Json> arguments_schema(const ToolDefinition& tool) {
  const Json& p = tool.parameters;
  if (p.is_null() || (p.is_boolean() && p.get<bool>())) return Json{{"type", "object"}};
  const std::string where = "tool " + in_quotes(tool.name) + ": ";
  if (!p.is_object()) return Status::Error(where + "parameters must be a JSON Schema object");
  auto type = p.find("type");
  if (type != p.end() && *type == "object") return p;
  const bool allows_object =
      type == p.end() ||
      (type->is_array() && std::find(type->begin(), type->end(), Json("object")) != type->end());
  if (!allows_object)
    return Status::Error(where + "parameters must describe an object (\"type\": \"object\")");
  // Arguments are an object whatever else the schema allows: the intersection.
  Json schema = {{"type", "object"}};
  for (auto it = p.begin(); it != p.end(); ++it) {
    if (it.key() != "type") schema[it.key()] = it.value();
  }
  return schema;
}

std::vector<const ToolDefinition*> tools_in_play(const ToolCallGrammarRequest& r) {
  std::vector<const ToolDefinition*> out;
  for (const ToolDefinition& t : r.tools) {
    if (r.choice.mode != ToolChoice::Mode::kNamed || t.name == r.choice.name) out.push_back(&t);
  }
  return out;
}

Expr alnum9() {
  ByteSet s = ByteSet::range('a', 'z');
  s.add_range('A', 'Z');
  s.add_range('0', '9');
  return Expr::repeat(Expr::byte_set(s), 9, 9);
}

// One call of one tool, `args` being its arguments object.
Expr call_expr(ToolCallFormat format, const std::string& name, Expr args) {
  switch (format) {
    case ToolCallFormat::kHermes:
      return Expr::seq({Expr::literal("<tool_call>\n{\"name\": " + name + ", \"arguments\": "),
                        std::move(args), Expr::literal("}\n</tool_call>")});
    case ToolCallFormat::kLlama3Json:
      return Expr::seq({Expr::literal("{\"name\": " + name + ", \"parameters\": "), std::move(args),
                        Expr::literal("}")});
    case ToolCallFormat::kMistral:  // an item of the array
      return Expr::seq({Expr::literal("{\"name\": " + name + ", \"arguments\": "), std::move(args),
                        Expr::optional(Expr::seq(
                            {Expr::literal(", \"id\": \""), alnum9(), Expr::literal("\"")})),
                        Expr::literal("}")});
    case ToolCallFormat::kMistralV11:
      return Expr::seq({Expr::literal("[TOOL_CALLS]" + name),
                        Expr::optional(Expr::seq({Expr::literal("[CALL_ID]"), alnum9()})),
                        Expr::literal("[ARGS]"), std::move(args)});
  }
  return Expr::nothing();
}

// One call, or with `parallel` one or more, in the format's block syntax.
Expr calls_expr(ToolCallFormat format, uint32_t call, bool parallel) {
  auto joined = [&](std::string_view separator) {
    if (!parallel) return Expr::ref(call);
    return Expr::seq(
        {Expr::ref(call), Expr::star(Expr::seq({Expr::literal(separator), Expr::ref(call)}))});
  };
  switch (format) {
    case ToolCallFormat::kHermes:
      return joined("\n");
    case ToolCallFormat::kLlama3Json:
      return joined("; ");
    case ToolCallFormat::kMistral:
      return Expr::seq({Expr::literal("[TOOL_CALLS]"), Expr::optional(Expr::literal(" ")),
                        Expr::literal("["), joined(", "), Expr::literal("]")});
    case ToolCallFormat::kMistralV11:
      return joined("");
  }
  return Expr::nothing();
}

// Strings that do not begin with `prefix`.
Expr not_starting_with(std::string_view prefix) {
  const Expr any = Expr::star(Expr::byte_set(ByteSet{}.complement()));
  std::vector<Expr> alts;
  for (size_t i = 0; i < prefix.size(); ++i) {
    const std::string head(prefix.substr(0, i));
    alts.push_back(Expr::literal(head));  // a proper prefix, then the end
    alts.push_back(
        Expr::seq({Expr::literal(head),
                   Expr::byte_set(ByteSet::single((uint8_t)prefix[i]).complement()), any}));
  }
  return Expr::alt(std::move(alts));
}

// Llama's text that is not a call: its first non-space byte opens neither a JSON object nor
// <|python_tag|> (the parser reads calls only at the start of the message).
Expr llama_text() {
  ByteSet space;
  for (uint8_t b : {' ', '\t', '\n', '\r'}) space.add(b);
  ByteSet first = space;
  first.add('{');
  first.add('<');
  return Expr::seq({Expr::star(Expr::byte_set(space)),
                    Expr::alt({Expr::empty(),
                               Expr::seq({Expr::byte_set(first.complement()),
                                          Expr::star(Expr::byte_set(ByteSet{}.complement()))}),
                               Expr::seq({Expr::byte('<'), not_starting_with("|python_tag|>")})})});
}

}  // namespace

Status check_tool_call_request(const ToolCallGrammarRequest& r) {
  std::set<std::string> names;
  for (size_t i = 0; i < r.tools.size(); ++i) {
    const ToolDefinition& t = r.tools[i];
    if (t.name.empty()) return Status::Error("tools[" + std::to_string(i) + "] has no name");
    if (!names.insert(t.name).second)
      return Status::Error("two tools are named " + in_quotes(t.name));
    auto token = name_token(t, r.format);
    if (!token.ok()) return token.status();
    auto schema = arguments_schema(t);
    if (!schema.ok()) return schema.status();
  }
  if (r.choice.mode == ToolChoice::Mode::kNamed && !names.count(r.choice.name))
    return Status::Error("tool_choice names " + in_quotes(r.choice.name) +
                         ", which is not among the tools");
  if (r.choice.mode == ToolChoice::Mode::kRequired && r.tools.empty())
    return Status::Error("tool_choice \"required\" needs at least one tool");
  return Status::Ok();
}

StatusOr<structured::Grammar> build_tool_call_grammar(const ToolCallGrammarRequest& r) {
  KILN_RETURN_IF_ERROR(check_tool_call_request(r));
  GrammarBuilder b;
  std::vector<Expr> alternatives;
  for (const ToolDefinition* tool : tools_in_play(r)) {
    const std::string name = name_token(*tool, r.format).value();
    auto args = structured::add_json_schema_rules(b, arguments_schema(*tool).value());
    if (!args.ok()) return Status::Error("tool " + in_quotes(tool->name) + ": " + args.message());
    alternatives.push_back(call_expr(r.format, name, Expr::ref(*args)));
  }

  Expr root;
  if (alternatives.empty()) {
    root = Expr::empty();  // auto without tools: only text, below
  } else {
    const uint32_t call = b.add("tool-call", Expr::alt(std::move(alternatives)));
    const bool parallel = r.parallel_tool_calls && r.choice.mode != ToolChoice::Mode::kNamed;
    root = calls_expr(r.format, call, parallel);
  }
  if (r.choice.mode == ToolChoice::Mode::kAuto) {
    if (r.format == ToolCallFormat::kLlama3Json) {
      root = Expr::alt({std::move(root), llama_text()});
    } else {
      const std::string_view marker =
          r.format == ToolCallFormat::kHermes ? "<tool_call>" : "[TOOL_CALLS]";
      root = Expr::seq({structured::text_without(b, marker), Expr::optional(std::move(root))});
    }
  }
  return b.build(b.add("root", std::move(root)));
}

}  // namespace kiln::tool_calls
