// SHA-256 of files and byte streams (OpenSSL's libcrypto), lowercase hex, as the hub
// publishes it for LFS files.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "util/status.h"

namespace kiln::store {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t size);
  std::string hex_digest();  // finishes; the object is spent afterwards

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Errors name the file.
StatusOr<std::string> sha256_file(const std::string& path);

}  // namespace kiln::store
