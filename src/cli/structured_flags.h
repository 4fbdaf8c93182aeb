// `--json-schema FILE`, `--regex PATTERN` and `--grammar FILE` for `kiln run` and
// `kiln batch`: constrain every answer, as the API's structured-output fields do.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "engine/engine.h"
#include "util/status.h"

namespace kiln::cli {

struct StructuredFlags {
  std::string json_schema_file;
  std::string regex;
  std::string grammar_file;  // GBNF or Lark EBNF
  bool any() const { return !json_schema_file.empty() || !regex.empty() || !grammar_file.empty(); }
};

void add_structured_options(CLI::App* cmd, StructuredFlags& flags);

// The grammar the flags ask for (precondition: any()). Errors name the file or flag.
StatusOr<structured::Grammar> grammar_from_structured_flags(const StructuredFlags& flags);

// The compiled constraint the flags ask for (null when none). Errors name the file or flag.
StatusOr<std::shared_ptr<const structured::CompiledGrammar>> compile_structured_flags(
    const StructuredFlags& flags, Engine& engine);

}  // namespace kiln::cli
