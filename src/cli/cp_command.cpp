// `kiln cp SRC DST`: a second name for a model (the weights are hard-linked, not copied).
#include <cstdio>
#include <string>

#include "cli/commands.h"
#include "cli/loaded_model.h"
#include "store/model_store.h"

namespace kiln::cli {

void register_cp_command(CLI::App& app, int& exit_code) {
  auto src = std::make_shared<std::string>();
  auto dst = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("cp", "Copy a model in the store to a new name");
  cmd->add_option("source", *src, "existing model name")->required();
  cmd->add_option("destination", *dst, "new model name")->required();
  cmd->callback([src, dst, &exit_code] {
    store::ModelStore models(store::ModelStore::default_root());
    if (Status s = models.copy(*src, *dst); !s.ok()) {
      print_error(s.message());
      exit_code = 1;
      return;
    }
    std::printf("copied '%s' to '%s'\n", src->c_str(), dst->c_str());
    exit_code = 0;
  });
}

}  // namespace kiln::cli
