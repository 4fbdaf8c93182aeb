#include "server/limits/key_registry.h"

#include <chrono>

#include "server/http/auth.h"
#include "server/metrics.h"

namespace kiln::server::limits {

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

KeyRegistry::KeyRegistry(std::vector<std::string> cli_keys, std::string keys_file,
                         MonotonicClock clock)
    : cli_keys_(std::move(cli_keys)), keys_file_(std::move(keys_file)), clock_(std::move(clock)) {
  table_ = build({});
}

std::shared_ptr<const KeyRegistry::Table> KeyRegistry::build(
    const std::vector<KeyEntry>& file_entries) const {
  auto table = std::make_shared<Table>();
  const double now = clock_();
  auto state_for = [&](const std::string& name, const KeyLimits& limits) {
    auto& slot = table->by_name[name];
    if (slot) return slot;
    std::shared_ptr<KeyState> old;
    if (table_)
      if (auto it = table_->by_name.find(name); it != table_->by_name.end()) old = it->second;
    if (old) {
      old->set_limits(limits, now);
      slot = old;
    } else {
      slot = std::make_shared<KeyState>(name, limits, now);
    }
    return slot;
  };
  for (const std::string& key : cli_keys_)
    table->by_key.emplace_back(key, state_for(kCliKeyName, KeyLimits{}));
  for (const KeyEntry& e : file_entries) table->by_key.emplace_back(e.key, state_for(e.name, e.limits));
  return table;
}

Status KeyRegistry::load() { return keys_file_.empty() ? Status::Ok() : reload(); }

Status KeyRegistry::reload() {
  if (keys_file_.empty()) return Status::Error("no --api-keys-file to reload");
  auto entries = load_key_file(keys_file_);
  if (!entries.ok()) return entries.status();
  std::lock_guard lock(mu_);
  table_ = build(*entries);
  return Status::Ok();
}

bool KeyRegistry::enabled() const {
  return !cli_keys_.empty() || !keys_file_.empty();
}

std::shared_ptr<KeyState> KeyRegistry::identify(const HttpRequest& request) const {
  const std::string_view offered = offered_key(request);
  if (offered.empty()) return nullptr;
  std::shared_ptr<const Table> table;
  {
    std::lock_guard lock(mu_);
    table = table_;
  }
  std::shared_ptr<KeyState> found;
  // Every key is compared in full (see equal_constant_time): timing tells nothing.
  for (const auto& [key, state] : table->by_key)
    if (equal_constant_time(offered, key)) found = state;
  return found;
}

std::string KeyRegistry::render_metrics(const std::string& prefix,
                                        std::string_view model_name) const {
  std::shared_ptr<const Table> table;
  {
    std::lock_guard lock(mu_);
    table = table_;
  }
  std::string out;
  auto family = [&](const char* name, const char* type, const char* help, auto value) {
    out += "# HELP " + prefix + ":" + name + " " + help + "\n# TYPE " + prefix + ":" + name +
           " " + type + "\n";
    for (const auto& [key_name, state] : table->by_name) value(key_name, *state);
  };
  auto line = [&](const char* name, const std::string& labels, int64_t v) {
    out += prefix + ":" + name + "{" + labels + "} " + std::to_string(v) + "\n";
  };
  // Every series of the exposition carries model_name (metrics.h); key_name is the key's
  // name from the file, never the key.
  const std::string model_label = "model_name=\"" + escape_label_value(model_name) + "\",";
  auto label = [&](const std::string& key_name) {
    return model_label + "key_name=\"" + escape_label_value(key_name) + "\"";
  };
  family("api_key_requests_total", "counter", "Generations admitted, per API key.",
         [&](const std::string& n, KeyState& s) {
           line("api_key_requests_total", label(n), s.counters().requests);
         });
  family("api_key_prompt_tokens_total", "counter", "Prompt tokens admitted, per API key.",
         [&](const std::string& n, KeyState& s) {
           line("api_key_prompt_tokens_total", label(n), s.counters().prompt_tokens);
         });
  family("api_key_generation_tokens_total", "counter", "Tokens generated, per API key.",
         [&](const std::string& n, KeyState& s) {
           line("api_key_generation_tokens_total", label(n), s.counters().completion_tokens);
         });
  family("api_key_rejections_total", "counter",
         "Requests refused by the key's limits, per API key and reason.",
         [&](const std::string& n, KeyState& s) {
           const KeyCounters c = s.counters();
           for (Rejection r : kAllRejections)
             line("api_key_rejections_total",
                  label(n) + ",reason=\"" + rejection_name(r) + "\"", c.rejections[(int)r]);
         });
  family("api_key_requests_running", "gauge", "Generations in flight, per API key.",
         [&](const std::string& n, KeyState& s) {
           line("api_key_requests_running", label(n), s.in_flight());
         });
  return out;
}

}  // namespace kiln::server::limits
