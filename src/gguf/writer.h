// Writing GGUF v3 files: metadata of every type and tensors with alignment padding. Used by
// tests and by `kiln quantize`.
//
// Two ways to write:
//   - one shot: add every tensor with its data, then write(path);
//   - streaming (tensors too large to hold at once): add every tensor with data == nullptr,
//     begin(path), then write_tensor_data() for each tensor in the order added (in one call
//     or in pieces that add up to its size), then finish(). The file is written as PATH.tmp
//     and renamed by finish(), so a failed or abandoned write leaves nothing under PATH.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/reader.h"
#include "tensor/dtype.h"
#include "util/status.h"

namespace kiln::gguf {

class Writer {
 public:
  Writer() = default;
  Writer(Writer&&) noexcept;
  Writer& operator=(Writer&&) noexcept;
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
  ~Writer();

  // Sets a metadata key: replaces the value in place if the key exists, else appends.
  // A Value cloned from a gguf::File views that File's map: keep the File open until
  // begin() (or write()) has returned.
  void set(std::string_view key, Value value);
  void set_uint8(std::string_view key, uint8_t v) { set(key, Value::make_uint8(v)); }
  void set_int8(std::string_view key, int8_t v) { set(key, Value::make_int8(v)); }
  void set_uint16(std::string_view key, uint16_t v) { set(key, Value::make_uint16(v)); }
  void set_int16(std::string_view key, int16_t v) { set(key, Value::make_int16(v)); }
  void set_uint32(std::string_view key, uint32_t v) { set(key, Value::make_uint32(v)); }
  void set_int32(std::string_view key, int32_t v) { set(key, Value::make_int32(v)); }
  void set_uint64(std::string_view key, uint64_t v) { set(key, Value::make_uint64(v)); }
  void set_int64(std::string_view key, int64_t v) { set(key, Value::make_int64(v)); }
  void set_float32(std::string_view key, float v) { set(key, Value::make_float32(v)); }
  void set_float64(std::string_view key, double v) { set(key, Value::make_float64(v)); }
  void set_bool(std::string_view key, bool v) { set(key, Value::make_bool(v)); }
  void set_string(std::string_view key, std::string_view v) { set(key, Value::make_string(v)); }
  void set_string_array(std::string_view key, const std::vector<std::string>& v) {
    set(key, Value::make_string_array(v));
  }
  void set_float32_array(std::string_view key, const std::vector<float>& v) {
    set(key, Value::make_array(ValueType::FLOAT32, v.data(), v.size()));
  }
  void set_int32_array(std::string_view key, const std::vector<int32_t>& v) {
    set(key, Value::make_array(ValueType::INT32, v.data(), v.size()));
  }
  // Removes a key; false if it was not set.
  bool remove(std::string_view key);
  const Value* find(std::string_view key) const;
  size_t num_keys() const { return metadata_.size(); }

  // Sets general.alignment (UINT32) and pads tensor data to it. Must be a power of two.
  [[nodiscard]] Status set_alignment(uint32_t alignment);
  uint32_t alignment() const { return alignment_; }

  // Declares a tensor (shape in GGUF ne order). `data`, if not null, holds its bytes and
  // must stay valid until write() returns; pass nullptr to stream the data later.
  // Errors: duplicate name, 0 or more than 4 dims, a dim <= 0, ne[0] not a multiple of
  // the type's block size, or a size that overflows.
  [[nodiscard]] Status add_tensor(std::string_view name, DType type,
                                  const std::vector<int64_t>& shape, const void* data = nullptr);
  size_t num_tensors() const { return tensors_.size(); }
  // Bytes of tensor i's data.
  uint64_t tensor_bytes(size_t i) const { return tensors_[i].num_bytes; }

  // One shot: every tensor must have been added with data.
  [[nodiscard]] Status write(const std::string& path);

  // Streaming: the header, metadata and tensor infos go out in begin(); the data of each
  // tensor then follows, in the order the tensors were added, whole or in pieces; padding
  // is inserted once a tensor's bytes are complete.
  [[nodiscard]] Status begin(const std::string& path);
  [[nodiscard]] Status write_tensor_data(const void* data, uint64_t num_bytes);
  [[nodiscard]] Status finish();

 private:
  struct PendingTensor {
    std::string name;
    DType type;
    std::vector<int64_t> shape;
    const void* data;
    uint64_t num_bytes;
    uint64_t offset;  // relative to the data section
  };
  struct Entry {
    std::string key;
    Value value;
  };

  Status write_bytes(const void* p, size_t n);
  Status pad_to(uint64_t alignment);
  void close_file();

  std::vector<Entry> metadata_;
  std::vector<PendingTensor> tensors_;
  uint32_t alignment_ = kDefaultAlignment;
  uint64_t data_bytes_ = 0;  // data section size so far (offset of the next tensor)

  // Streaming state.
  std::FILE* out_ = nullptr;
  std::string out_path_;
  uint64_t written_ = 0;  // bytes written to out_
  size_t next_tensor_ = 0;
  uint64_t tensor_written_ = 0;  // bytes of tensors_[next_tensor_] written so far
};

}  // namespace kiln::gguf
