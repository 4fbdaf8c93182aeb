// Each `kiln` subcommand registers itself on the CLI11 app from its own file.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "model/kv_storage.h"

namespace kiln::cli {

// `--kv-cache-dtype f32|f16|bf16` (default: dtype's initial value, f16 by convention) for
// the commands that hold a KV cache; a bad name is a usage error naming the valid ones.
inline CLI::Option* add_kv_cache_dtype_option(CLI::App* cmd, KvDType& dtype) {
  return cmd
      ->add_option_function<std::string>(
          "--kv-cache-dtype", [&dtype](const std::string& name) { dtype = parse_kv_dtype(name).value(); },
          "KV cache element type: f32, f16 (default) or bf16")
      ->check([](const std::string& name) {
        auto r = parse_kv_dtype(name);
        return r.ok() ? std::string() : r.message();
      });
}

// Each returns after adding its subcommand; the callback sets the process exit code.
void register_info_command(CLI::App& app, int& exit_code);
void register_quantize_command(CLI::App& app, int& exit_code);
void register_run_command(CLI::App& app, int& exit_code);
void register_logits_command(CLI::App& app, int& exit_code);
void register_bench_command(CLI::App& app, int& exit_code);
// `bench serve` and `bench sweep`, added under the `bench` subcommand.
void register_bench_serve_commands(CLI::App* bench, int& exit_code);
// `bench structured`: grammar compile and token-mask costs on a model's vocabulary.
void register_bench_structured_command(CLI::App* bench, int& exit_code);
void register_tokenize_command(CLI::App& app, int& exit_code);
void register_template_command(CLI::App& app, int& exit_code);
void register_serve_command(CLI::App& app, int& exit_code);
void register_batch_command(CLI::App& app, int& exit_code);
// `kiln mcp MODEL`: the model as an MCP server on stdin/stdout.
void register_mcp_command(CLI::App& app, int& exit_code);

// The model store (store/model_store.h): pull, list, show, rm, cp, create, and ps (asks
// a running server).
void register_pull_command(CLI::App& app, int& exit_code);
void register_list_command(CLI::App& app, int& exit_code);
void register_show_command(CLI::App& app, int& exit_code);
void register_rm_command(CLI::App& app, int& exit_code);
void register_cp_command(CLI::App& app, int& exit_code);
void register_create_command(CLI::App& app, int& exit_code);
void register_ps_command(CLI::App& app, int& exit_code);

}  // namespace kiln::cli
