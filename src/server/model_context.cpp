#include "server/model_context.h"

#include <algorithm>

namespace kiln::server {

bool ModelContext::serves(std::string_view name) const {
  return std::find(served_names.begin(), served_names.end(), name) != served_names.end();
}

}  // namespace kiln::server
