#include "gguf/writer.h"

#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

namespace kiln::gguf {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF"
constexpr uint32_t kVersion = 3;

template <typename T>
void put(std::string* out, T v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof(T));
}

void put_string(std::string* out, std::string_view s) {
  put<uint64_t>(out, s.size());
  out->append(s.data(), s.size());
}

void put_array_body(std::string* out, const Value& v);

void put_value(std::string* out, const Value& v) {
  switch (v.type) {
    case ValueType::UINT8:
      put<uint8_t>(out, static_cast<uint8_t>(v.u64));
      break;
    case ValueType::INT8:
      put<int8_t>(out, static_cast<int8_t>(v.i64));
      break;
    case ValueType::UINT16:
      put<uint16_t>(out, static_cast<uint16_t>(v.u64));
      break;
    case ValueType::INT16:
      put<int16_t>(out, static_cast<int16_t>(v.i64));
      break;
    case ValueType::UINT32:
      put<uint32_t>(out, static_cast<uint32_t>(v.u64));
      break;
    case ValueType::INT32:
      put<int32_t>(out, static_cast<int32_t>(v.i64));
      break;
    case ValueType::UINT64:
      put<uint64_t>(out, v.u64);
      break;
    case ValueType::INT64:
      put<int64_t>(out, v.i64);
      break;
    case ValueType::FLOAT32:
      put<float>(out, static_cast<float>(v.f64));
      break;
    case ValueType::FLOAT64:
      put<double>(out, v.f64);
      break;
    case ValueType::BOOL:
      put<uint8_t>(out, v.u64 ? 1 : 0);
      break;
    case ValueType::STRING:
      put_string(out, v.str);
      break;
    case ValueType::ARRAY:
      put_array_body(out, v);
      break;
  }
}

// Element type, count, elements.
void put_array_body(std::string* out, const Value& v) {
  put<uint32_t>(out, static_cast<uint32_t>(v.elem_type));
  put<uint64_t>(out, v.count);
  if (v.elem_type == ValueType::STRING) {
    KILN_CHECK(v.strings.size() == v.count);
    for (std::string_view s : v.strings) put_string(out, s);
  } else if (v.elem_type == ValueType::ARRAY) {
    KILN_CHECK(v.items.size() == v.count);
    for (const Value& item : v.items) put_array_body(out, item);
  } else {
    const size_t bytes = v.count * value_type_size(v.elem_type);
    if (bytes) out->append(reinterpret_cast<const char*>(v.raw), bytes);
  }
}

uint64_t align_up(uint64_t n, uint64_t alignment) {
  return (n + alignment - 1) / alignment * alignment;
}

}  // namespace

Writer::Writer(Writer&& other) noexcept { *this = std::move(other); }

Writer& Writer::operator=(Writer&& other) noexcept {
  if (this != &other) {
    close_file();
    metadata_ = std::move(other.metadata_);
    tensors_ = std::move(other.tensors_);
    alignment_ = other.alignment_;
    data_bytes_ = other.data_bytes_;
    out_ = std::exchange(other.out_, nullptr);
    out_path_ = std::move(other.out_path_);
    written_ = other.written_;
    next_tensor_ = other.next_tensor_;
    tensor_written_ = other.tensor_written_;
  }
  return *this;
}

Writer::~Writer() { close_file(); }

void Writer::close_file() {
  if (out_) {
    std::fclose(out_);
    out_ = nullptr;
    std::remove((out_path_ + ".tmp").c_str());  // an unfinished stream leaves no file
  }
}

void Writer::set(std::string_view key, Value value) {
  for (Entry& e : metadata_) {
    if (e.key == key) {
      e.value = std::move(value);
      return;
    }
  }
  metadata_.push_back(Entry{std::string(key), std::move(value)});
}

bool Writer::remove(std::string_view key) {
  for (auto it = metadata_.begin(); it != metadata_.end(); ++it) {
    if (it->key == key) {
      metadata_.erase(it);
      return true;
    }
  }
  return false;
}

const Value* Writer::find(std::string_view key) const {
  for (const Entry& e : metadata_) {
    if (e.key == key) return &e.value;
  }
  return nullptr;
}

Status Writer::set_alignment(uint32_t alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    return Status::Error("gguf writer: alignment " + std::to_string(alignment) +
                         " is not a power of two");
  }
  alignment_ = alignment;
  set_uint32("general.alignment", alignment);
  return Status::Ok();
}

Status Writer::add_tensor(std::string_view name, DType type, const std::vector<int64_t>& shape,
                          const void* data) {
  const std::string prefix = "gguf writer: tensor '" + std::string(name) + "': ";
  if (name.empty()) return Status::Error("gguf writer: empty tensor name");
  for (const PendingTensor& t : tensors_) {
    if (t.name == name) return Status::Error(prefix + "duplicate name");
  }
  const std::optional<DTypeInfo> info = dtype_info(static_cast<uint32_t>(type));
  if (!info) return Status::Error(prefix + "unknown type");
  if (shape.empty() || shape.size() > 4) {
    return Status::Error(prefix + std::to_string(shape.size()) + " dimensions (must be 1 to 4)");
  }
  uint64_t num_elements = 1;
  for (int64_t ne : shape) {
    if (ne <= 0) return Status::Error(prefix + "dimension " + std::to_string(ne) + " <= 0");
    if (__builtin_mul_overflow(num_elements, static_cast<uint64_t>(ne), &num_elements) ||
        num_elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Status::Error(prefix + "element count overflows");
    }
  }
  if (shape[0] % info->block_size != 0) {
    return Status::Error(prefix + "row length " + std::to_string(shape[0]) +
                         " is not a multiple of the " + std::string(info->name) + " block size " +
                         std::to_string(info->block_size));
  }
  uint64_t num_bytes = 0;
  if (__builtin_mul_overflow(num_elements / static_cast<uint64_t>(info->block_size),
                             static_cast<uint64_t>(info->block_bytes), &num_bytes)) {
    return Status::Error(prefix + "size overflows");
  }
  tensors_.push_back(PendingTensor{std::string(name), type, shape, data, num_bytes, 0});
  return Status::Ok();
}

Status Writer::write_bytes(const void* p, size_t n) {
  if (n == 0) return Status::Ok();
  if (std::fwrite(p, 1, n, out_) != n) {
    const int err = errno;
    close_file();
    return Status::Error(out_path_ + ": write failed: " + std::strerror(err));
  }
  written_ += n;
  return Status::Ok();
}

Status Writer::pad_to(uint64_t alignment) {
  static const char kZeros[4096] = {};
  uint64_t pad = align_up(written_, alignment) - written_;
  while (pad > 0) {
    const size_t n = pad < sizeof kZeros ? static_cast<size_t>(pad) : sizeof kZeros;
    KILN_RETURN_IF_ERROR(write_bytes(kZeros, n));
    pad -= n;
  }
  return Status::Ok();
}

Status Writer::begin(const std::string& path) {
  if (out_) return Status::Error(path + ": gguf writer: already writing " + out_path_);
  // general.alignment, however it was set, decides the padding.
  if (const Value* a = find("general.alignment")) {
    const std::optional<uint64_t> v = a->as_uint();
    if (!v || *v == 0 || (*v & (*v - 1)) != 0 || *v > (uint64_t{1} << 30)) {
      return Status::Error(path + ": general.alignment must be a power of two");
    }
    alignment_ = static_cast<uint32_t>(*v);
  }
  data_bytes_ = 0;
  for (PendingTensor& t : tensors_) {
    t.offset = data_bytes_;
    data_bytes_ = align_up(data_bytes_ + t.num_bytes, alignment_);
  }

  std::string head;
  put<uint32_t>(&head, kMagic);
  put<uint32_t>(&head, kVersion);
  put<uint64_t>(&head, tensors_.size());
  put<uint64_t>(&head, metadata_.size());
  for (const Entry& e : metadata_) {
    put_string(&head, e.key);
    put<uint32_t>(&head, static_cast<uint32_t>(e.value.type));
    put_value(&head, e.value);
  }
  for (const PendingTensor& t : tensors_) {
    put_string(&head, t.name);
    put<uint32_t>(&head, static_cast<uint32_t>(t.shape.size()));
    for (int64_t ne : t.shape) put<uint64_t>(&head, static_cast<uint64_t>(ne));
    put<uint32_t>(&head, static_cast<uint32_t>(t.type));
    put<uint64_t>(&head, t.offset);
  }

  // NOTE: written to PATH.tmp and renamed by finish(), so a failed run never leaves a
  // truncated file under the final name.
  out_path_ = path;
  out_ = std::fopen((path + ".tmp").c_str(), "wb");
  if (!out_) return Status::Error(path + ".tmp: cannot create: " + std::strerror(errno));
  written_ = 0;
  next_tensor_ = 0;
  tensor_written_ = 0;
  KILN_RETURN_IF_ERROR(write_bytes(head.data(), head.size()));
  return pad_to(alignment_);
}

Status Writer::write_tensor_data(const void* data, uint64_t num_bytes) {
  if (!out_) return Status::Error("gguf writer: write_tensor_data before begin");
  if (next_tensor_ >= tensors_.size()) {
    return Status::Error(out_path_ + ": more tensor data than tensors");
  }
  const PendingTensor& t = tensors_[next_tensor_];
  if (num_bytes > t.num_bytes - tensor_written_) {
    return Status::Error(out_path_ + ": tensor '" + t.name + "' expects " +
                         std::to_string(t.num_bytes) + " bytes, got " +
                         std::to_string(tensor_written_ + num_bytes));
  }
  KILN_RETURN_IF_ERROR(write_bytes(data, static_cast<size_t>(num_bytes)));
  tensor_written_ += num_bytes;
  if (tensor_written_ < t.num_bytes) return Status::Ok();
  ++next_tensor_;
  tensor_written_ = 0;
  return pad_to(alignment_);
}

Status Writer::finish() {
  if (!out_) return Status::Error("gguf writer: finish before begin");
  if (next_tensor_ != tensors_.size()) {  // also catches a partly written last tensor
    const std::string path = out_path_;
    close_file();
    return Status::Error(path + ": only " + std::to_string(next_tensor_) + " of " +
                         std::to_string(tensors_.size()) + " tensors written");
  }
  const bool flushed = std::fflush(out_) == 0;
  const int err = errno;
  const bool closed = std::fclose(out_) == 0;
  out_ = nullptr;
  const std::string tmp = out_path_ + ".tmp";
  if (!flushed || !closed) {
    std::remove(tmp.c_str());
    return Status::Error(out_path_ + ": write failed: " + std::strerror(err));
  }
  if (std::rename(tmp.c_str(), out_path_.c_str()) != 0) {
    const int rerr = errno;
    std::remove(tmp.c_str());
    return Status::Error(out_path_ + ": cannot rename from " + tmp + ": " + std::strerror(rerr));
  }
  return Status::Ok();
}

Status Writer::write(const std::string& path) {
  for (const PendingTensor& t : tensors_) {
    if (!t.data) return Status::Error(path + ": tensor '" + t.name + "' was added without data");
  }
  KILN_RETURN_IF_ERROR(begin(path));
  for (const PendingTensor& t : tensors_) {
    KILN_RETURN_IF_ERROR(write_tensor_data(t.data, t.num_bytes));
  }
  return finish();
}

}  // namespace kiln::gguf
