// `kiln list`: the models in the store, one line each.
#include <cstdio>
#include <string>

#include "cli/commands.h"
#include "cli/model_arg.h"
#include "store/model_store.h"

namespace kiln::cli {

void register_list_command(CLI::App& app, int& exit_code) {
  CLI::App* cmd = app.add_subcommand("list", "List the models in the store");
  cmd->alias("ls");
  cmd->callback([&exit_code] {
    store::ModelStore models(store::ModelStore::default_root());
    std::printf("%-48s %-9s %-8s %-10s %s\n", "NAME", "SIZE", "QUANT", "ARCH", "MODIFIED");
    for (const store::Manifest& m : models.list()) {
      std::string added = m.added;
      if (added.size() >= 16) added = added.substr(0, 10) + " " + added.substr(11, 5);
      std::printf("%-48s %-9s %-8s %-10s %s\n", m.name.c_str(), human_bytes(m.size_bytes).c_str(),
                  m.quantization.c_str(), m.architecture.c_str(), added.c_str());
    }
    exit_code = 0;
  });
}

}  // namespace kiln::cli
