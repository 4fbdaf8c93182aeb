#include "server/models/store_specs.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <filesystem>

#include "server/models/model_details.h"

namespace kiln::server {

Json defaults_json(const store::ModelDefaults& d) {
  Json out = Json::object();
  if (d.parameters.is_object() && !d.parameters.empty()) out["options"] = Json(d.parameters);
  if (d.system) out["system"] = *d.system;
  if (d.chat_template) out["template"] = *d.chat_template;
  return out;
}

store::ModelDefaults defaults_from_json(const Json& j) {
  store::ModelDefaults d;
  if (j.contains("options") && j["options"].is_object())
    d.parameters = nlohmann::json::parse(j["options"].dump());
  if (j.contains("system") && j["system"].is_string()) d.system = j["system"].get<std::string>();
  if (j.contains("template") && j["template"].is_string())
    d.chat_template = j["template"].get<std::string>();
  return d;
}

StatusOr<ModelSpec> spec_for_file(const std::string& path, double keep_alive_seconds) {
  ModelSpec spec;
  spec.path = path;
  spec.name = std::filesystem::path(path).stem().string();
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return Status::Error(path + ": no such file");
  spec.file_bytes = (int64_t)st.st_size;
  spec.modified = (int64_t)st.st_mtime;
  auto details = read_model_details(path);
  if (!details.ok()) return details.status();
  spec.details = ollama_details(*details);
  spec.keep_alive_seconds = keep_alive_seconds;
  return spec;
}

StatusOr<ModelSpec> spec_for_resolved(const store::ResolvedModel& model,
                                      double keep_alive_seconds) {
  auto spec = spec_for_file(model.gguf_path, keep_alive_seconds);
  if (!spec.ok() || !model.from_store) return spec;
  spec->name = model.manifest.name;
  spec->defaults = defaults_json(model.defaults);
  if (!model.weights_manifest.sha256.empty())
    spec->digest = "sha256:" + model.weights_manifest.sha256;
  return spec;
}

std::vector<ModelSpec> specs_for_store(const store::ModelStore& store,
                                       double keep_alive_seconds) {
  std::vector<ModelSpec> out;
  for (const store::Manifest& m : store.list()) {
    auto resolved = store.find(m.name);
    if (!resolved.ok()) {
      spdlog::warn("store: skipping '{}': {}", m.name, resolved.message());
      continue;
    }
    auto spec = spec_for_resolved(*resolved, keep_alive_seconds);
    if (!spec.ok()) {
      spdlog::warn("store: skipping '{}': {}", m.name, spec.message());
      continue;
    }
    out.push_back(std::move(spec).value());
  }
  return out;
}

}  // namespace kiln::server
