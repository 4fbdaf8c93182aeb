// `kiln create NAME -f Modelfile`: a named variant with default parameters, system prompt
// or chat template (store/modelfile.h), without copying the weights of a stored base.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "cli/commands.h"
#include "cli/loaded_model.h"
#include "store/model_store.h"

namespace kiln::cli {

void register_create_command(CLI::App& app, int& exit_code) {
  auto name = std::make_shared<std::string>();
  auto file = std::make_shared<std::string>("Modelfile");
  CLI::App* cmd = app.add_subcommand("create", "Create a model from a Modelfile");
  cmd->add_option("name", *name, "the new model's name")->required();
  cmd->add_option("-f,--file", *file, "the Modelfile")->capture_default_str();
  cmd->callback([name, file, &exit_code] {
    std::ifstream in(*file, std::ios::binary);
    if (!in) {
      print_error(*file + ": cannot open the Modelfile");
      exit_code = 1;
      return;
    }
    std::ostringstream text;
    text << in.rdbuf();
    const std::string base_dir = std::filesystem::absolute(*file).parent_path().string();
    store::ModelStore models(store::ModelStore::default_root());
    auto m = models.create(*name, text.str(), base_dir);
    if (!m.ok()) {
      // Modelfile errors read "Modelfile line L, column C: ..."; name the file.
      std::string message = m.message();
      if (message.starts_with("Modelfile ")) message = *file + ": " + message.substr(10);
      print_error(message);
      exit_code = 1;
      return;
    }
    std::printf("created '%s'%s\n", m->name.c_str(),
                m->base.empty() ? "" : (" from '" + m->base + "'").c_str());
    exit_code = 0;
  });
}

}  // namespace kiln::cli
