// `kiln logits MODEL --ids 1,2,3 [-n N]`: the final-position logits of a prompt and a
// greedy continuation as one JSON object — the interface the reference tests compare
// against an independent forward pass.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/model_arg.h"
#include "cli/loaded_model.h"
#include "engine/sampler.h"
#include "engine/session.h"

namespace kiln::cli {

void register_logits_command(CLI::App& app, int& exit_code) {
  struct Options {
    std::string model;
    std::vector<int32_t> ids;
    int num_generate = 0;
    int threads = 0;
    int batch = 512;
    KvDType kv_dtype = KvDType::kF16;
  };
  auto opts = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "logits", "Print a prompt's final logits and a greedy continuation as JSON (for testing)");
  cmd->add_option("model", opts->model, "GGUF model file or model name in the store")->required();
  cmd->add_option("--ids", opts->ids, "prompt token ids")->delimiter(',')->required();
  cmd->add_option("-n,--n-predict", opts->num_generate, "greedy tokens to generate")
      ->check(CLI::Range(0, 100000));
  cmd->add_option("-t,--threads", opts->threads, "compute threads (default: all cores)");
  cmd->add_option("--batch", opts->batch, "max tokens per forward pass")->check(CLI::Range(1, 65536));
  add_kv_cache_dtype_option(cmd, opts->kv_dtype);
  cmd->callback([opts, &exit_code] {
    if (!resolve_model_arg(opts->model)) {
      exit_code = 1;
      return;
    }
    auto loaded = load_model(opts->model, opts->threads, opts->batch);
    if (!loaded) {
      exit_code = 1;
      return;
    }
    Session session(*loaded->model, (int64_t)opts->ids.size() + opts->num_generate,
                    opts->kv_dtype);
    if (Status s = session.append(opts->ids); !s.ok()) {
      print_error(opts->model + ": " + s.message());
      exit_code = 1;
      return;
    }
    nlohmann::json out;
    out["prompt_ids"] = opts->ids;
    const auto logits = session.last_logits();
    out["logits"] = std::vector<float>(logits.begin(), logits.end());
    std::vector<int32_t> generated;
    for (int i = 0; i < opts->num_generate; ++i) {
      const int32_t next = argmax(session.last_logits());
      generated.push_back(next);
      if (i + 1 == opts->num_generate) break;
      if (Status s = session.append(std::span<const int32_t>(&next, 1)); !s.ok()) {
        print_error(s.message());
        exit_code = 1;
        return;
      }
    }
    out["generated"] = generated;
    std::puts(out.dump().c_str());
  });
}

}  // namespace kiln::cli
