#include "cli/structured_flags.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "structured/ebnf_parser.h"
#include "structured/json_schema_compiler.h"
#include "structured/regex_compiler.h"

namespace kiln::cli {

void add_structured_options(CLI::App* cmd, StructuredFlags& flags) {
  auto* schema =
      cmd->add_option("--json-schema", flags.json_schema_file,
                      "constrain the output to JSON valid against this JSON Schema file");
  auto* regex = cmd->add_option("--regex", flags.regex,
                                "constrain the output to a full match of this regular expression");
  auto* grammar = cmd->add_option("--grammar", flags.grammar_file,
                                  "constrain the output to this grammar file (GBNF or Lark EBNF)");
  schema->excludes(regex)->excludes(grammar);
  regex->excludes(grammar);
}

namespace {

StatusOr<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Error(path + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

StatusOr<structured::Grammar> grammar_from_structured_flags(const StructuredFlags& flags) {
  if (!flags.regex.empty()) {
    auto g = structured::grammar_from_regex(flags.regex);
    if (!g.ok()) return Status::Error("--regex: " + g.message());
    return g;
  }
  const std::string& path =
      flags.json_schema_file.empty() ? flags.grammar_file : flags.json_schema_file;
  auto text = read_file(path);
  if (!text.ok()) return text.status();
  if (!flags.grammar_file.empty()) {
    auto g = structured::grammar_from_ebnf(*text);
    if (!g.ok()) return Status::Error(path + ": " + g.message());
    return g;
  }
  auto schema = nlohmann::ordered_json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (schema.is_discarded()) return Status::Error(path + ": not valid JSON");
  auto g = structured::grammar_from_json_schema(schema);
  if (!g.ok()) return Status::Error(path + ": " + g.message());
  return g;
}

StatusOr<std::shared_ptr<const structured::CompiledGrammar>> compile_structured_flags(
    const StructuredFlags& flags, Engine& engine) {
  if (!flags.any()) return std::shared_ptr<const structured::CompiledGrammar>();
  auto grammar = grammar_from_structured_flags(flags);
  if (!grammar.ok()) return grammar.status();
  structured::GrammarCompiler* compiler = engine.grammar_compiler();
  if (!compiler) return Status::Error("structured output needs the model's tokenizer");
  return compiler->compile(*grammar);
}

}  // namespace kiln::cli
