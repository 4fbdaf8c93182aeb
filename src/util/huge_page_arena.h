// Anonymous memory for data made once at load and read at memory speed afterwards (packed
// weights). Chunks are mmap'ed and marked MADV_HUGEPAGE: 2 MiB pages keep TLB misses off
// the decode path and let the hardware prefetchers run across whole pages, which the
// 4 KiB page-cache pages of a mapped file do not.
#pragma once

#include <cstddef>
#include <vector>

namespace kiln {

class HugePageArena {
 public:
  HugePageArena() = default;
  HugePageArena(const HugePageArena&) = delete;
  HugePageArena& operator=(const HugePageArena&) = delete;
  HugePageArena(HugePageArena&& other) noexcept;
  HugePageArena& operator=(HugePageArena&& other) noexcept;
  ~HugePageArena();

  // 64-byte aligned, zero-filled, valid until the arena is destroyed. Aborts when the
  // system has no memory left (as std::vector would).
  void* allocate(size_t bytes);
  size_t bytes_mapped() const;

 private:
  struct Chunk {
    void* base;
    size_t size;
    size_t used;
  };
  void release();
  std::vector<Chunk> chunks_;
};

}  // namespace kiln
