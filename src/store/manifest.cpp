#include "store/manifest.h"

#include <ctime>

namespace kiln::store {

ModelDefaults ModelDefaults::merge(const ModelDefaults& base, const ModelDefaults& over) {
  ModelDefaults out = base;
  for (auto it = over.parameters.begin(); it != over.parameters.end(); ++it)
    out.parameters[it.key()] = it.value();
  if (over.system) out.system = over.system;
  if (over.chat_template) out.chat_template = over.chat_template;
  if (over.license) out.license = over.license;
  return out;
}

bool ModelDefaults::empty() const {
  return parameters.empty() && !system && !chat_template && !license;
}

nlohmann::json Manifest::to_json() const {
  nlohmann::json j = {
      {"version", kVersion},
      {"name", name},
      {"source", source},
      {"revision", revision},
      {"file", file},
      {"parts", parts},
      {"sha256", sha256},
      {"size", size_bytes},
      {"architecture", architecture},
      {"quantization", quantization},
      {"added", added},
      {"base", base},
      {"parameters", defaults.parameters},
  };
  if (defaults.system) j["system"] = *defaults.system;
  if (defaults.chat_template) j["template"] = *defaults.chat_template;
  if (defaults.license) j["license"] = *defaults.license;
  return j;
}

namespace {

Status read_string(const nlohmann::json& j, const char* key, std::string& out, bool required) {
  auto it = j.find(key);
  if (it == j.end()) {
    return required ? Status::Error(std::string("manifest: missing field '") + key + "'")
                    : Status::Ok();
  }
  if (!it->is_string())
    return Status::Error(std::string("manifest: '") + key + "' is not a string");
  out = it->get<std::string>();
  return Status::Ok();
}

Status read_optional(const nlohmann::json& j, const char* key, std::optional<std::string>& out) {
  std::string value;
  if (!j.contains(key)) return Status::Ok();
  KILN_RETURN_IF_ERROR(read_string(j, key, value, true));
  out = std::move(value);
  return Status::Ok();
}

}  // namespace

StatusOr<Manifest> Manifest::from_json(const nlohmann::json& j) {
  if (!j.is_object()) return Status::Error("manifest: not a JSON object");
  auto version = j.find("version");
  if (version == j.end() || !version->is_number_integer())
    return Status::Error("manifest: missing field 'version'");
  if (version->get<int64_t>() != kVersion)
    return Status::Error("manifest: version " + std::to_string(version->get<int64_t>()) +
                         " (this kiln reads version " + std::to_string(kVersion) + ")");
  Manifest m;
  KILN_RETURN_IF_ERROR(read_string(j, "name", m.name, true));
  KILN_RETURN_IF_ERROR(read_string(j, "source", m.source, false));
  KILN_RETURN_IF_ERROR(read_string(j, "revision", m.revision, false));
  KILN_RETURN_IF_ERROR(read_string(j, "file", m.file, false));
  KILN_RETURN_IF_ERROR(read_string(j, "sha256", m.sha256, false));
  KILN_RETURN_IF_ERROR(read_string(j, "architecture", m.architecture, false));
  KILN_RETURN_IF_ERROR(read_string(j, "quantization", m.quantization, false));
  KILN_RETURN_IF_ERROR(read_string(j, "added", m.added, false));
  KILN_RETURN_IF_ERROR(read_string(j, "base", m.base, false));
  if (auto it = j.find("parts"); it != j.end()) {
    if (!it->is_array()) return Status::Error("manifest: 'parts' is not an array");
    for (const auto& p : *it) {
      if (!p.is_string()) return Status::Error("manifest: 'parts' holds a non-string");
      m.parts.push_back(p.get<std::string>());
    }
  }
  if (auto it = j.find("size"); it != j.end()) {
    if (!it->is_number_unsigned() && !it->is_number_integer())
      return Status::Error("manifest: 'size' is not an integer");
    m.size_bytes = it->get<uint64_t>();
  }
  if (auto it = j.find("parameters"); it != j.end()) {
    if (!it->is_object()) return Status::Error("manifest: 'parameters' is not an object");
    m.defaults.parameters = *it;
  }
  KILN_RETURN_IF_ERROR(read_optional(j, "system", m.defaults.system));
  KILN_RETURN_IF_ERROR(read_optional(j, "template", m.defaults.chat_template));
  KILN_RETURN_IF_ERROR(read_optional(j, "license", m.defaults.license));
  if (m.file.empty() == m.base.empty())
    return Status::Error("manifest: a model has either a 'file' or a 'base', not " +
                         std::string(m.file.empty() ? "neither" : "both"));
  return m;
}

std::string utc_now_iso8601() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace kiln::store
