#include "server/openai/structured_output.h"

#include <optional>

#include "structured/ebnf_parser.h"
#include "structured/json_schema_compiler.h"
#include "structured/regex_compiler.h"

namespace kiln::server {
namespace {

// One requested constraint: the field it came from and its grammar (or the error).
struct Constraint {
  std::string param;
  StatusOr<structured::Grammar> grammar = Status::Error("unset");
};

// A schema given as an object, or as a string holding JSON (vLLM accepts both).
std::optional<Json> schema_value(FieldReader& f, std::string_view key) {
  const Json* v = f.any(key);
  if (!v) return std::nullopt;
  if (v->is_object() || v->is_boolean()) return *v;
  if (v->is_string()) {
    Json parsed = Json::parse(v->get<std::string>(), nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_discarded() && (parsed.is_object() || parsed.is_boolean())) return parsed;
    f.fail(key, "must be a JSON Schema (an object, or a string holding one)");
    return std::nullopt;
  }
  f.fail(key, "must be a JSON Schema object");
  return std::nullopt;
}

std::optional<std::vector<std::string>> choice_list(FieldReader& f, std::string_view key) {
  const Json* v = f.array(key);
  if (!v) return std::nullopt;
  std::vector<std::string> out;
  for (const Json& c : *v) {
    if (!c.is_string()) {
      f.fail(key, "must be an array of strings");
      return std::nullopt;
    }
    out.push_back(c.get<std::string>());
  }
  return out;
}

void read_response_format(FieldReader& fields, std::vector<Constraint>& out) {
  const Json* format = fields.object("response_format");
  if (!format) return;
  FieldReader f(*format, "response_format.");
  const std::string type = f.string("type").value_or("text");
  if (!f.ok()) return fields.fail(f.error());
  if (type == "text") return;
  if (type == "json_object") {
    out.push_back({"response_format", structured::grammar_any_json_object()});
    return;
  }
  if (type != "json_schema")
    return fields.fail(
        "response_format.type",
        "must be \"text\", \"json_object\" or \"json_schema\", got \"" + type + "\"");
  f.require("json_schema");
  const Json* js = f.object("json_schema");
  if (!f.ok()) return fields.fail(f.error());
  FieldReader s(*js, "response_format.json_schema.");
  s.string("name");
  s.boolean("strict");
  std::optional<Json> schema = schema_value(s, "schema");
  if (!s.ok()) return fields.fail(s.error());
  // OpenAI allows a json_schema without a schema (any JSON); it is rare, and "any JSON
  // object" is what such clients get from OpenAI in practice.
  if (!schema)
    out.push_back({"response_format.json_schema", structured::grammar_any_json_object()});
  else
    out.push_back(
        {"response_format.json_schema.schema", structured::grammar_from_json_schema(*schema)});
}

// The constraint keys of one object (vLLM's `structured_outputs`, or the request itself
// for the guided_* fields), `prefix` naming them.
void read_constraint_keys(FieldReader& f, const std::string& json_key, const std::string& regex_key,
                          const std::string& choice_key, const std::string& grammar_key,
                          std::vector<Constraint>& out) {
  if (std::optional<Json> schema = schema_value(f, json_key))
    out.push_back({f.name(json_key), structured::grammar_from_json_schema(*schema)});
  if (std::optional<std::string> regex = f.string(regex_key))
    out.push_back({f.name(regex_key), structured::grammar_from_regex(*regex)});
  if (std::optional<std::vector<std::string>> choices = choice_list(f, choice_key))
    out.push_back({f.name(choice_key), structured::grammar_from_choices(*choices)});
  if (std::optional<std::string> grammar = f.string(grammar_key))
    out.push_back({f.name(grammar_key), structured::grammar_from_ebnf(*grammar)});
}

void read_structured_outputs_object(FieldReader& fields, std::vector<Constraint>& out) {
  const Json* so = fields.object("structured_outputs");
  if (!so) return;
  FieldReader f(*so, "structured_outputs.");
  read_constraint_keys(f, "json", "regex", "choice", "grammar", out);
  if (f.boolean("json_object").value_or(false))
    out.push_back({"structured_outputs.json_object", structured::grammar_any_json_object()});
  for (const char* key : {"structural_tag", "whitespace_pattern"})
    if (f.has(key)) f.fail(key, "is not supported by kiln");
  if (!f.ok()) fields.fail(f.error());
}

}  // namespace

void attach_grammar(FieldReader& fields, std::string_view param, const ModelContext& model,
                    const structured::Grammar& grammar, GenerationRequest& request) {
  structured::GrammarCompiler* compiler = model.engine ? model.engine->grammar_compiler() : nullptr;
  if (!compiler)
    return fields.fail(ApiError::bad_request(
        "structured output needs the model's tokenizer, which this model does not have",
        std::string(param)));
  request.grammar = compiler->compile(grammar);
}

void read_structured_output(FieldReader& fields, const ModelContext& model,
                            GenerationRequest& request) {
  std::vector<Constraint> constraints;
  read_response_format(fields, constraints);
  read_structured_outputs_object(fields, constraints);
  read_constraint_keys(fields, "guided_json", "guided_regex", "guided_choice", "guided_grammar",
                       constraints);
  if (fields.has("guided_whitespace_pattern"))
    fields.fail("guided_whitespace_pattern", "is not supported by kiln");
  if (!fields.ok() || constraints.empty()) return;
  if (constraints.size() > 1)
    return fields.fail(
        ApiError::bad_request("only one structured output constraint may be given, got " +
                                  constraints[0].param + " and " + constraints[1].param,
                              constraints[1].param));
  Constraint& c = constraints[0];
  if (!c.grammar.ok())
    return fields.fail(ApiError::bad_request(c.param + ": " + c.grammar.message(), c.param));
  attach_grammar(fields, c.param, model, c.grammar.value(), request);
}

}  // namespace kiln::server
