// Content keys for prefix caching. A full block's key covers everything that decides its
// KV rows: the key of the block before it (and so the whole prefix), its token ids, and
// an extra key for anything else (a cache salt; later an adapter id), so caches for
// different salts never mix.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace kiln {

// The parent key of a sequence's first block.
inline constexpr uint64_t kRootBlockHash = 0x6b696c6e2d6b7600ull;

uint64_t hash_block(uint64_t parent_hash, std::span<const int32_t> tokens, uint64_t extra_key);
// 0 for no salt, so unsalted requests share one cache.
uint64_t hash_extra_key(std::string_view cache_salt);

}  // namespace kiln
