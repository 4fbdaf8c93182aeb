// Ollama's Modelfile, the subset kiln keeps: `FROM` (a store name or a GGUF path),
// `PARAMETER key value` (sampling and context defaults; `stop` repeats), `SYSTEM`,
// `TEMPLATE` (a Jinja2 chat template: kiln renders the templates GGUF files carry, not
// Go templates) and `LICENSE`. Instructions are case-insensitive, `#` starts a comment
// line, and an argument may be quoted: "one line" (with \" and \\ escapes) or
// """any number of lines""". Every error carries its line and column (1-based).
#pragma once

#include <string>
#include <string_view>

#include "store/manifest.h"
#include "util/status.h"

namespace kiln::store {

struct Modelfile {
  std::string from;  // as written: a store name or a path
  ModelDefaults defaults;
};

// Errors read "line L, column C: <problem>".
StatusOr<Modelfile> parse_modelfile(std::string_view text);

// The parameter names PARAMETER accepts, comma-separated, for messages and help.
std::string modelfile_parameter_names();

// A value as a Modelfile writes it: "quoted" with \" and \\ escaped, or in """triple
// quotes""" when it spans lines.
std::string quote_modelfile_value(const std::string& value);

// A Modelfile that recreates `defaults` over FROM `from` (what `kiln show --modelfile`
// prints); parse_modelfile of it gives the same defaults back.
std::string format_modelfile(const std::string& from, const ModelDefaults& defaults);

}  // namespace kiln::store
