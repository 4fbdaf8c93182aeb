#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"kiln: a self-hosted LLM serving engine"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "kiln 0.1.0");
  spdlog::set_pattern("%^%l%$: %v");
  int exit_code = 0;
  kiln::cli::register_run_command(app, exit_code);
  kiln::cli::register_info_command(app, exit_code);
  kiln::cli::register_quantize_command(app, exit_code);
  kiln::cli::register_bench_command(app, exit_code);
  kiln::cli::register_logits_command(app, exit_code);
  kiln::cli::register_tokenize_command(app, exit_code);
  kiln::cli::register_template_command(app, exit_code);
  kiln::cli::register_serve_command(app, exit_code);
  kiln::cli::register_batch_command(app, exit_code);
  kiln::cli::register_mcp_command(app, exit_code);
  kiln::cli::register_pull_command(app, exit_code);
  kiln::cli::register_list_command(app, exit_code);
  kiln::cli::register_show_command(app, exit_code);
  kiln::cli::register_rm_command(app, exit_code);
  kiln::cli::register_cp_command(app, exit_code);
  kiln::cli::register_create_command(app, exit_code);
  kiln::cli::register_ps_command(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return exit_code;
}
