// Each `kiln` subcommand registers itself on the CLI11 app from its own file.
#pragma once

#include <CLI/CLI.hpp>

namespace kiln::cli {

// Each returns after adding its subcommand; the callback sets the process exit code.
void register_info_command(CLI::App& app, int& exit_code);
void register_quantize_command(CLI::App& app, int& exit_code);
void register_run_command(CLI::App& app, int& exit_code);
void register_logits_command(CLI::App& app, int& exit_code);
void register_bench_command(CLI::App& app, int& exit_code);
void register_tokenize_command(CLI::App& app, int& exit_code);
void register_template_command(CLI::App& app, int& exit_code);

}  // namespace kiln::cli
