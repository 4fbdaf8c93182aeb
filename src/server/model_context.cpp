#include "server/model_context.h"

#include <algorithm>

namespace kiln::server {
namespace {

constexpr std::string_view kLatest = ":latest";

// The name without a ":latest" tag (the tag Ollama assumes when there is none).
std::string_view without_latest(std::string_view name) {
  return name.ends_with(kLatest) ? name.substr(0, name.size() - kLatest.size()) : name;
}

}  // namespace

bool model_names_match(std::string_view a, std::string_view b) {
  return a == b || (!a.empty() && without_latest(a) == without_latest(b));
}

bool ModelContext::serves(std::string_view name) const {
  return std::any_of(served_names.begin(), served_names.end(),
                     [&](const std::string& served) { return model_names_match(served, name); });
}

}  // namespace kiln::server
