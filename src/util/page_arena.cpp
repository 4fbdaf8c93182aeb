#include "util/page_arena.h"

#include <sys/mman.h>

#include <algorithm>
#include <utility>

namespace kiln {
namespace {
constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kChunk = size_t{64} << 20;  // small matrices share chunks
size_t round_up(size_t a, size_t b) { return (a + b - 1) / b * b; }
}  // namespace

PageArena::PageArena(PageArena&& other) noexcept
    : huge_pages_(other.huge_pages_), chunks_(std::exchange(other.chunks_, {})) {}

PageArena& PageArena::operator=(PageArena&& other) noexcept {
  if (this != &other) {
    release();
    huge_pages_ = other.huge_pages_;
    chunks_ = std::exchange(other.chunks_, {});
  }
  return *this;
}

PageArena::~PageArena() { release(); }

void PageArena::release() {
  for (const Chunk& c : chunks_) ::munmap(c.base, c.size);
  chunks_.clear();
}

void* PageArena::allocate(size_t bytes) {
  bytes = round_up(bytes == 0 ? 1 : bytes, 64);
  for (Chunk& c : chunks_) {
    if (c.size - c.used >= bytes) {
      void* p = static_cast<char*>(c.base) + c.used;
      c.used += bytes;
      return p;
    }
  }
  const size_t size = round_up(std::max(bytes, kChunk), kHugePage);
  void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) return nullptr;
  // Advice only: where transparent huge pages are off this is plain memory.
  if (huge_pages_) ::madvise(base, size, MADV_HUGEPAGE);
  chunks_.push_back({base, size, bytes});
  return base;
}

}  // namespace kiln
