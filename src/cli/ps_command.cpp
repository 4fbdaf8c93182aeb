// `kiln ps`: the models a running `kiln serve` has loaded, from its `GET /api/ps`
// (Ollama's shape: {"models": [{"name", "size", "size_vram", "expires_at", ...}]}).
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "cli/loaded_model.h"
#include "cli/model_arg.h"
#include "store/http_fetch.h"

namespace kiln::cli {
namespace {

struct PsOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
};

int ps(const PsOptions& o) {
  const std::string base = "http://" + o.host + ":" + std::to_string(o.port);
  auto reply = store::http_request(base + "/api/ps", "", /*head=*/false, 16 << 20);
  if (!reply.ok()) {
    print_error("no kiln server answers at " + base +
                " (is `kiln serve` running? --host/--port choose another): " + reply.message());
    return 1;
  }
  if (reply->status != 200) {
    print_error(base + "/api/ps: HTTP " + std::to_string(reply->status) + " " +
                reply->body.substr(0, 200));
    return 1;
  }
  auto j = nlohmann::json::parse(reply->body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("models") || !j["models"].is_array()) {
    print_error(base + "/api/ps: the reply is not Ollama's {\"models\": [...]}");
    return 1;
  }
  std::printf("%-40s %-9s %-12s %s\n", "NAME", "SIZE", "PROCESSOR", "UNTIL");
  for (const auto& m : j["models"]) {
    if (!m.is_object()) continue;
    const std::string name = m.value("name", m.value("model", std::string("?")));
    const uint64_t size = m.value("size", (uint64_t)0);
    const uint64_t vram = m.value("size_vram", (uint64_t)0);
    std::string processor = vram == 0 ? "100% CPU" : (vram >= size ? "100% GPU" : "CPU/GPU");
    std::printf("%-40s %-9s %-12s %s\n", name.c_str(), human_bytes(size).c_str(), processor.c_str(),
                m.value("expires_at", std::string("")).c_str());
  }
  return 0;
}

}  // namespace

void register_ps_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<PsOptions>();
  CLI::App* cmd = app.add_subcommand("ps", "List the models a running kiln server has loaded");
  cmd->add_option("--host", opts->host, "the server's address")->capture_default_str();
  cmd->add_option("--port", opts->port, "the server's port")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  cmd->callback([opts, &exit_code] { exit_code = ps(*opts); });
}

}  // namespace kiln::cli
