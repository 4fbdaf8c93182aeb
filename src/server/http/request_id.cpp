#include "server/http/request_id.h"

#include <random>

namespace kiln::server {

std::string request_id_for(const std::string* given) {
  if (given && !given->empty() && given->size() <= kMaxRequestIdLength) {
    bool printable = true;
    for (char c : *given) printable &= c > 0x20 && c < 0x7f;
    if (printable) return *given;
  }
  // 128 random bits as 32 hex digits (a UUID4's entropy, as vLLM's random_uuid()).
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  for (int half = 0; half < 2; ++half) {
    uint64_t bits = rng();
    for (int i = 0; i < 16; ++i, bits >>= 4) id[half * 16 + i] = kHex[bits & 15];
  }
  return id;
}

}  // namespace kiln::server
