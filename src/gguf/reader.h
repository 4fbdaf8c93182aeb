// Reading GGUF files (versions 2 and 3). File::open maps the file, validates every field
// before use and indexes metadata and tensors; tensor data stays in the map, never copied.
// Every error names the file and what is wrong.
//
// Lifetime: string_views and data pointers handed out by a File (keys, string values,
// string-array entries, TensorInfo::data) point into its memory map and stay valid while
// that File (or the File it was moved into) lives. A File is immutable once opened, so
// any number of threads may read it at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tensor/dtype.h"
#include "util/mapped_file.h"
#include "util/status.h"

namespace kiln::gguf {

// Values are the GGUF metadata type ids.
enum class ValueType : uint32_t {
  UINT8 = 0,
  INT8,
  UINT16,
  INT16,
  UINT32,
  INT32,
  FLOAT32,
  BOOL,
  STRING,
  ARRAY,
  UINT64,
  INT64,
  FLOAT64
};

// "UINT32", "STRING", ...; "type 99" for an unknown id.
std::string value_type_name(ValueType type);
// Bytes of one element of a fixed-size type; 0 for STRING, ARRAY and unknown ids.
size_t value_type_size(ValueType type);

constexpr uint32_t kDefaultAlignment = 32;

// One metadata value: a scalar, a string or an array. Strings and numeric array elements
// are views of bytes held elsewhere (the File's map, or `storage` for Values built by the
// make_* factories for the writer), so a 150k-entry vocabulary costs one string_view per
// entry. Move-only: use clone() for a deep copy.
struct Value {
  ValueType type = ValueType::UINT8;

  // --- scalars (type is neither STRING nor ARRAY) ---
  // Integers and BOOL: exactly one of these is meaningful, by signedness of `type`.
  uint64_t u64 = 0;  // UINT8/16/32/64, BOOL (0 or 1)
  int64_t i64 = 0;   // INT8/16/32/64
  double f64 = 0;    // FLOAT32/64

  // --- STRING ---
  std::string_view str;

  // --- ARRAY ---
  ValueType elem_type = ValueType::UINT8;  // type of every element
  uint64_t count = 0;                      // number of elements
  const uint8_t* raw = nullptr;            // fixed-size elements: count * size, little-endian,
                                           // possibly unaligned (read with memcpy)
  std::vector<std::string_view> strings;   // elem_type == STRING
  std::vector<Value> items;                // elem_type == ARRAY (nested arrays)

  // Owns the bytes behind str/raw/strings for values built by the make_* factories.
  std::shared_ptr<const std::string> storage;

  Value() = default;
  Value(Value&&) noexcept = default;
  Value& operator=(Value&&) noexcept = default;
  Value(const Value&) = delete;
  Value& operator=(const Value&) = delete;
  Value clone() const;

  bool is_array() const { return type == ValueType::ARRAY; }
  bool is_string() const { return type == ValueType::STRING; }
  bool is_integer() const;  // any integer width (not BOOL)

  // Conversions; nullopt where the type does not fit (e.g. a UINT64 above INT64_MAX).
  std::optional<int64_t> as_int() const;              // any integer type
  std::optional<uint64_t> as_uint() const;            // any integer type, value >= 0
  std::optional<double> as_float() const;             // FLOAT32/64 or any integer type
  std::optional<bool> as_bool() const;                // BOOL only
  std::optional<std::string_view> as_string() const;  // STRING only

  // Element access for arrays; i < count and the element type must fit, else nullopt.
  std::optional<int64_t> int_at(uint64_t i) const;
  std::optional<double> float_at(uint64_t i) const;
  std::optional<std::string_view> string_at(uint64_t i) const;

  // "ARRAY[STRING]" etc. for messages.
  std::string type_name() const;
  // A short human-readable rendering; arrays show at most max_items elements.
  std::string to_display_string(size_t max_items = 8) const;

  // Factories for building values to write (the bytes are owned by the Value).
  static Value make_uint8(uint8_t v);
  static Value make_int8(int8_t v);
  static Value make_uint16(uint16_t v);
  static Value make_int16(int16_t v);
  static Value make_uint32(uint32_t v);
  static Value make_int32(int32_t v);
  static Value make_uint64(uint64_t v);
  static Value make_int64(int64_t v);
  static Value make_float32(float v);
  static Value make_float64(double v);
  static Value make_bool(bool v);
  static Value make_string(std::string_view v);
  // Fixed-size elements: `data` holds count elements of elem_type, little-endian.
  static Value make_array(ValueType elem_type, const void* data, uint64_t count);
  static Value make_string_array(const std::vector<std::string>& v);
  static Value make_string_array(const std::vector<std::string_view>& v);
  // Nested arrays: every item must be an ARRAY.
  static Value make_array_of_arrays(std::vector<Value> items);
};

struct MetadataEntry {
  std::string_view key;  // points into the File's map
  Value value;
};

struct TensorInfo {
  std::string name;
  DType type = DType::F32;
  std::vector<int64_t> shape;     // GGUF ne order: shape[0] is the contiguous (row) dimension
  uint64_t offset = 0;            // relative to the start of its part's tensor data section
  const uint8_t* data = nullptr;  // in the File's map (its part's, for a split GGUF)
  int split_part = 0;             // the part of a split GGUF holding the data: 0 = the first
  uint64_t num_bytes = 0;
  int64_t num_elements = 0;

  int64_t row_length() const { return shape.empty() ? 0 : shape[0]; }
  int64_t num_rows() const { return shape.empty() ? 0 : num_elements / shape[0]; }
};

class File {
 public:
  // Maps and validates `path`. Rejects GGUF v1, big-endian files and anything malformed.
  // A split GGUF (metadata split.count > 1, as llama.cpp's gguf-split writes it: parts named
  // NAME-00001-of-0000N.gguf, the metadata in the first): opening the first part opens and
  // validates the others beside it and adds their tensors, so the File reads as one model.
  static StatusOr<File> open(const std::string& path);

  File(File&&) noexcept = default;
  File& operator=(File&&) noexcept = default;
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  const std::string& path() const { return map_.path(); }
  uint32_t version() const { return version_; }
  uint64_t file_size() const { return map_.size(); }  // this file (the first part) only
  int num_parts() const { return 1 + static_cast<int>(part_maps_.size()); }
  uint64_t total_size() const;  // every part
  uint32_t alignment() const { return alignment_; }
  // Absolute file offset of the tensor data section (aligned).
  uint64_t data_offset() const { return data_offset_; }
  const uint8_t* file_data() const { return map_.data(); }

  // Metadata in file order.
  const std::vector<MetadataEntry>& metadata() const { return metadata_; }
  const Value* find(std::string_view key) const;

  // Typed getters: nullopt if the key is missing or its value does not convert.
  std::optional<int64_t> get_int(std::string_view key) const;    // any integer width
  std::optional<uint64_t> get_uint(std::string_view key) const;  // any integer width, >= 0
  std::optional<double> get_float(std::string_view key) const;   // float or integer
  std::optional<bool> get_bool(std::string_view key) const;
  std::optional<std::string_view> get_string(std::string_view key) const;

  // As above, but a missing key or wrong type is an error naming the file, key and types.
  StatusOr<int64_t> require_int(std::string_view key) const;
  StatusOr<double> require_float(std::string_view key) const;
  StatusOr<std::string_view> require_string(std::string_view key) const;

  // Array getters: error (naming file, key and types) if missing or of the wrong type.
  StatusOr<std::vector<std::string_view>> get_string_array(std::string_view key) const;
  StatusOr<std::vector<float>> get_float_array(std::string_view key) const;  // float or int elems
  StatusOr<std::vector<int64_t>> get_int_array(std::string_view key) const;  // integer elems

  // Tensors in file order.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;

 private:
  explicit File(MappedFile map) : map_(std::move(map)) {}
  friend class Parser;
  static StatusOr<File> open_one(const std::string& path);
  Status open_split_parts();

  MappedFile map_;
  std::vector<MappedFile> part_maps_;  // a split GGUF's other parts, in order
  uint32_t version_ = 0;
  uint32_t alignment_ = kDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<MetadataEntry> metadata_;
  std::vector<TensorInfo> tensors_;
  // Keys point into the map, whose address survives moves of the File.
  std::unordered_map<std::string_view, size_t> key_index_;
  std::unordered_map<std::string_view, size_t> tensor_index_;
};

}  // namespace kiln::gguf
