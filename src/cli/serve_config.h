// `kiln serve --config FILE`: any serve flag from a file, named as on the command line
// without the dashes (flags given on the command line win). Three formats, by content:
//   JSON   {"port": 8000, "api-key": ["a", "b"], "enable-prefix-caching": true}
//   YAML   the flat mapping vLLM's --config takes: "port: 8000", lists as [a, b] or "- a"
//          lines, comments with #; nesting is not supported (no serve flag needs it)
//   TOML   CLI11's native format ("port = 8000"), also its INI dialect
// Underscores in names are read as dashes (max_num_seqs = max-num-seqs).
#pragma once

#include <CLI/CLI.hpp>
#include <istream>
#include <vector>

namespace kiln::cli {

class ServeConfigFormat : public CLI::ConfigTOML {
 public:
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override;
};

}  // namespace kiln::cli
