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

// Gives each option of `cmd` not set on the command line (or by its environment variable)
// its value from the file at `path`, validated as on the command line; throws a CLI11 error
// naming the file for an unknown flag or an unreadable file. Called from the subcommand's
// callback.
// NOTE: CLI11 2.1 reads a --config only for the top-level app, not for a subcommand's own
// set_config, hence this.
void apply_config_file(CLI::App& cmd, const std::string& path);

}  // namespace kiln::cli
