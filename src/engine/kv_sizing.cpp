#include "engine/kv_sizing.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace kiln {

StatusOr<int64_t> parse_byte_size(std::string_view text) {
  const std::string s(text);
  size_t end = 0;
  double value = 0;
  try {
    value = std::stod(s, &end);
  } catch (...) {
    return Status::Error("'" + s + "' is not a size (examples: 4GiB, 512MiB, 2G)");
  }
  std::string unit = s.substr(end);
  while (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
  for (char& c : unit) c = (char)std::tolower((unsigned char)c);
  double scale;
  if (unit.empty() || unit == "b") scale = 1;
  else if (unit == "k" || unit == "kib") scale = 1024.0;
  else if (unit == "m" || unit == "mib") scale = 1024.0 * 1024;
  else if (unit == "g" || unit == "gib") scale = 1024.0 * 1024 * 1024;
  else if (unit == "t" || unit == "tib") scale = 1024.0 * 1024 * 1024 * 1024;
  else if (unit == "kb") scale = 1e3;
  else if (unit == "mb") scale = 1e6;
  else if (unit == "gb") scale = 1e9;
  else if (unit == "tb") scale = 1e12;
  else return Status::Error("'" + s + "': unknown size unit '" + unit + "' (use KiB, MiB, GiB, KB, MB, GB)");
  const double bytes = value * scale;
  if (!(bytes > 0) || !std::isfinite(bytes) || bytes > 9e18)
    return Status::Error("'" + s + "' is not a positive size");
  return (int64_t)bytes;
}

std::string format_bytes(int64_t bytes) {
  char buf[32];
  if (bytes >= (int64_t)1 << 30) std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / 1073741824.0);
  else std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / 1048576.0);
  return buf;
}

int64_t available_memory_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string line;
  while (std::getline(meminfo, line)) {
    if (line.rfind("MemAvailable:", 0) != 0) continue;
    std::istringstream in(line.substr(13));
    int64_t kib = 0;
    in >> kib;
    return kib * 1024;
  }
  return 0;
}

StatusOr<KvBudget> plan_kv_budget(int64_t requested_bytes, int64_t bytes_per_token,
                                  int32_t block_size, int64_t max_model_len,
                                  int64_t available_bytes) {
  const int64_t block_bytes = bytes_per_token * block_size;
  const int64_t min_blocks = (max_model_len + block_size - 1) / block_size;
  int64_t bytes = requested_bytes;
  if (bytes <= 0) {
    constexpr int64_t kDefaultCap = (int64_t)4 << 30;
    bytes = available_bytes > 0 ? std::min(available_bytes / 4, kDefaultCap) : kDefaultCap / 4;
    bytes = std::max(bytes, min_blocks * block_bytes);
    if (available_bytes > 0 && bytes > available_bytes)
      return Status::Error("one context of " + std::to_string(max_model_len) + " tokens needs " +
                           format_bytes(min_blocks * block_bytes) + " of KV cache but only " +
                           format_bytes(available_bytes) +
                           " of memory is available; lower --max-model-len");
  }
  if (requested_bytes > 0 && available_bytes > 0 && requested_bytes > available_bytes)
    return Status::Error("--kv-cache-memory " + format_bytes(requested_bytes) + " is more than the " +
                         format_bytes(available_bytes) + " of memory available");
  KvBudget b;
  b.num_blocks = (int32_t)std::min<int64_t>(bytes / block_bytes, INT32_MAX);
  if (b.num_blocks < min_blocks)
    return Status::Error("--kv-cache-memory " + format_bytes(bytes) + " holds " +
                         std::to_string((int64_t)b.num_blocks * block_size) +
                         " tokens, less than one context of " + std::to_string(max_model_len) +
                         " (needs " + format_bytes(min_blocks * block_bytes) +
                         "); raise it or lower --max-model-len");
  b.bytes = (int64_t)b.num_blocks * block_bytes;
  b.num_tokens = (int64_t)b.num_blocks * block_size;
  return b;
}

}  // namespace kiln
