// Anonymous memory for data made once at load and read at memory speed afterwards (packed
// weights), in mmap'ed chunks that small allocations share.
//
// Huge pages are optional. 2 MiB pages keep TLB misses off the decode path, but where
// transparent huge pages are in "madvise" mode (Debian's default) asking for them makes the
// first touch compact memory synchronously. Measured on a 1.5B model
// (docs/architecture.md): decode 0-7% faster, but a cold start of 3-6 s instead of 1.0-1.1 s.
// So they are off unless asked for (KILN_HUGE_PAGES=1, for a long-running server).
#pragma once

#include <cstddef>
#include <vector>

namespace kiln {

class PageArena {
 public:
  explicit PageArena(bool huge_pages = false) : huge_pages_(huge_pages) {}
  PageArena(const PageArena&) = delete;
  PageArena& operator=(const PageArena&) = delete;
  PageArena(PageArena&& other) noexcept;
  PageArena& operator=(PageArena&& other) noexcept;
  ~PageArena();

  // 64-byte aligned, zero-filled, valid until the arena is destroyed; nullptr when the
  // system refuses the memory (the caller names what it was for).
  void* allocate(size_t bytes);

 private:
  struct Chunk {
    void* base;
    size_t size;
    size_t used;
  };
  void release();
  bool huge_pages_;
  std::vector<Chunk> chunks_;
};

}  // namespace kiln
