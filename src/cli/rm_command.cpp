// `kiln rm NAME...`: remove models from the store.
#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/loaded_model.h"
#include "store/model_store.h"

namespace kiln::cli {

void register_rm_command(CLI::App& app, int& exit_code) {
  auto names = std::make_shared<std::vector<std::string>>();
  CLI::App* cmd = app.add_subcommand("rm", "Remove models from the store");
  cmd->add_option("names", *names, "model names")->required();
  cmd->callback([names, &exit_code] {
    store::ModelStore models(store::ModelStore::default_root());
    exit_code = 0;
    for (const std::string& name : *names) {
      if (Status s = models.remove(name); !s.ok()) {
        print_error(s.message());
        exit_code = 1;
      } else {
        std::printf("deleted '%s'\n", name.c_str());
      }
    }
  });
}

}  // namespace kiln::cli
