#include "server/limits/key_file.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace kiln::server::limits {
namespace {

using Json = nlohmann::json;

StatusOr<std::optional<int64_t>> positive_limit(const Json& entry, const char* field,
                                                const std::string& where) {
  if (!entry.contains(field) || entry[field].is_null()) return std::optional<int64_t>();
  const Json& v = entry[field];
  if (!v.is_number_integer() || v.get<int64_t>() <= 0)
    return Status::Error(where + "." + field + " must be a positive integer");
  return std::optional<int64_t>(v.get<int64_t>());
}

}  // namespace

StatusOr<std::vector<KeyEntry>> parse_key_file(const std::string& text, const std::string& path) {
  Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Status::Error(path + ": not valid JSON");
  if (!doc.is_object() || !doc.contains("keys") || !doc["keys"].is_array())
    return Status::Error(path + ": expected an object with a \"keys\" array");
  static const std::set<std::string> kFields = {"name", "key", "requests_per_minute",
                                                "tokens_per_minute", "max_concurrent_requests",
                                                "models"};
  std::vector<KeyEntry> out;
  std::set<std::string> names, keys;
  for (size_t i = 0; i < doc["keys"].size(); ++i) {
    const Json& e = doc["keys"][i];
    const std::string where = path + ": keys[" + std::to_string(i) + "]";
    if (!e.is_object()) return Status::Error(where + " must be an object");
    for (const auto& [field, value] : e.items())
      if (!kFields.count(field)) return Status::Error(where + ": unknown field \"" + field + "\"");
    KeyEntry k;
    if (!e.contains("name") || !e["name"].is_string() || e["name"].get<std::string>().empty())
      return Status::Error(where + ".name must be a non-empty string");
    if (!e.contains("key") || !e["key"].is_string() || e["key"].get<std::string>().empty())
      return Status::Error(where + ".key must be a non-empty string");
    k.name = e["name"];
    k.key = e["key"];
    if (k.name == kCliKeyName)
      return Status::Error(where + ".name \"cli\" is reserved for the --api-key keys");
    if (!names.insert(k.name).second)
      return Status::Error(where + ".name \"" + k.name + "\" appears twice");
    if (!keys.insert(k.key).second)
      return Status::Error(where + ".key is the same as an earlier entry's");
    for (auto [field, slot] : {std::pair{"requests_per_minute", &k.limits.requests_per_minute},
                               std::pair{"tokens_per_minute", &k.limits.tokens_per_minute},
                               std::pair{"max_concurrent_requests",
                                         &k.limits.max_concurrent_requests}}) {
      auto v = positive_limit(e, field, where);
      if (!v.ok()) return v.status();
      *slot = *v;
    }
    if (e.contains("models") && !e["models"].is_null()) {
      if (!e["models"].is_array()) return Status::Error(where + ".models must be an array");
      for (const Json& m : e["models"]) {
        if (!m.is_string()) return Status::Error(where + ".models must hold strings");
        k.limits.models.push_back(m);
      }
    }
    out.push_back(std::move(k));
  }
  return out;
}

StatusOr<std::vector<KeyEntry>> load_key_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Error(path + ": cannot open");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_key_file(text.str(), path);
}

}  // namespace kiln::server::limits
