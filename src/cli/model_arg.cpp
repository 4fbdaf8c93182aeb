#include "cli/model_arg.h"

#include <cstdio>

#include "cli/loaded_model.h"
#include "store/resolver.h"

namespace kiln::cli {

std::optional<store::ResolvedModel> resolve_model_arg(std::string& model) {
  store::ModelStore models(store::ModelStore::default_root());
  auto resolved = store::resolve_model(model, models);
  if (!resolved.ok()) {
    print_error(resolved.message());
    return std::nullopt;
  }
  model = resolved->gguf_path;
  return std::move(*resolved);
}

std::string human_bytes(uint64_t bytes) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  double v = (double)bytes;
  int u = 0;
  while (v >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof buf, "%llu B", (unsigned long long)bytes);
  } else {
    std::snprintf(buf, sizeof buf, v < 10 ? "%.1f %s" : "%.0f %s", v, units[u]);
  }
  return buf;
}

}  // namespace kiln::cli
