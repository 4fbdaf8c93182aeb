// A large zero-filled buffer taken straight from the OS as anonymous pages. Unlike a
// std::vector it is not written at construction: pages are mapped on first touch, so a
// multi-GiB KV pool costs neither start-up time nor resident memory until it is used.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kiln {

class PageBuffer {
 public:
  PageBuffer() = default;
  explicit PageBuffer(size_t bytes);  // aborts if the address space cannot be reserved
  ~PageBuffer();
  PageBuffer(PageBuffer&& other) noexcept;
  PageBuffer& operator=(PageBuffer&& other) noexcept;
  PageBuffer(const PageBuffer&) = delete;
  PageBuffer& operator=(const PageBuffer&) = delete;

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace kiln
