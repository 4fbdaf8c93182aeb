#include "engine/block_hash.h"

namespace kiln {
namespace {

// splitmix64's finaliser: every input bit affects every output bit.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

uint64_t hash_block(uint64_t parent_hash, std::span<const int32_t> tokens, uint64_t extra_key) {
  uint64_t h = mix(parent_hash ^ mix(extra_key));
  for (int32_t t : tokens) h = mix(h ^ (uint32_t)t);
  return mix(h ^ tokens.size());
}

uint64_t hash_extra_key(std::string_view cache_salt) {
  if (cache_salt.empty()) return 0;
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a, then mixed
  for (unsigned char c : cache_salt) h = (h ^ c) * 0x100000001b3ull;
  return mix(h) | 1;  // never 0, which means "no salt"
}

}  // namespace kiln
