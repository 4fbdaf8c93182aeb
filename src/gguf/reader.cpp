#include "gguf/reader.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <numeric>

namespace kiln::gguf {
namespace {

static_assert(std::endian::native == std::endian::little,
              "GGUF is little-endian; the reader reads fields in place");

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian uint32
constexpr int kMaxArrayDepth = 8;        // nested arrays; bounds the parser's recursion
constexpr uint64_t kMaxKeyBytes = 65535;
constexpr uint32_t kMaxDims = 4;
// Smallest encodings, used to bound counts by the bytes left before allocating anything.
constexpr uint64_t kMinKvBytes = 8 + 1 + 4 + 1;                  // key len, 1-byte key, type, u8
constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8;  // name, n_dims, 1 dim, type, off
constexpr uint64_t kMinArrayBytes = 4 + 8;                       // elem type, count

bool checked_mul(uint64_t a, uint64_t b, uint64_t* out) {
  return !__builtin_mul_overflow(a, b, out);
}
bool checked_add(uint64_t a, uint64_t b, uint64_t* out) {
  return !__builtin_add_overflow(a, b, out);
}

bool valid_value_type(uint32_t t) { return t <= static_cast<uint32_t>(ValueType::FLOAT64); }

bool is_integer_type(ValueType t) {
  switch (t) {
    case ValueType::UINT8:
    case ValueType::INT8:
    case ValueType::UINT16:
    case ValueType::INT16:
    case ValueType::UINT32:
    case ValueType::INT32:
    case ValueType::UINT64:
    case ValueType::INT64:
      return true;
    default:
      return false;
  }
}

bool is_signed_type(ValueType t) {
  return t == ValueType::INT8 || t == ValueType::INT16 || t == ValueType::INT32 ||
         t == ValueType::INT64;
}

bool is_float_type(ValueType t) { return t == ValueType::FLOAT32 || t == ValueType::FLOAT64; }

template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// Decodes one fixed-size scalar of type t at p into the Value's scalar fields.
void decode_scalar(ValueType t, const uint8_t* p, Value* v) {
  switch (t) {
    case ValueType::UINT8:
      v->u64 = load<uint8_t>(p);
      break;
    case ValueType::INT8:
      v->i64 = load<int8_t>(p);
      break;
    case ValueType::UINT16:
      v->u64 = load<uint16_t>(p);
      break;
    case ValueType::INT16:
      v->i64 = load<int16_t>(p);
      break;
    case ValueType::UINT32:
      v->u64 = load<uint32_t>(p);
      break;
    case ValueType::INT32:
      v->i64 = load<int32_t>(p);
      break;
    case ValueType::UINT64:
      v->u64 = load<uint64_t>(p);
      break;
    case ValueType::INT64:
      v->i64 = load<int64_t>(p);
      break;
    case ValueType::FLOAT32:
      v->f64 = load<float>(p);
      break;
    case ValueType::FLOAT64:
      v->f64 = load<double>(p);
      break;
    case ValueType::BOOL:
      v->u64 = load<uint8_t>(p);
      break;
    case ValueType::STRING:
    case ValueType::ARRAY:
      break;
  }
}

std::optional<int64_t> scalar_int(const Value& v) {
  if (!is_integer_type(v.type)) return std::nullopt;
  if (is_signed_type(v.type)) return v.i64;
  if (v.u64 > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
  return static_cast<int64_t>(v.u64);
}

std::string quote(std::string_view s, size_t max_chars) {
  std::string out = "\"";
  size_t n = 0;
  for (char c : s) {
    if (n++ == max_chars) {
      out += "...";
      break;
    }
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::string format_double(double d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", d);
  return buf;
}

}  // namespace

std::string value_type_name(ValueType type) {
  switch (type) {
    case ValueType::UINT8:
      return "UINT8";
    case ValueType::INT8:
      return "INT8";
    case ValueType::UINT16:
      return "UINT16";
    case ValueType::INT16:
      return "INT16";
    case ValueType::UINT32:
      return "UINT32";
    case ValueType::INT32:
      return "INT32";
    case ValueType::FLOAT32:
      return "FLOAT32";
    case ValueType::BOOL:
      return "BOOL";
    case ValueType::STRING:
      return "STRING";
    case ValueType::ARRAY:
      return "ARRAY";
    case ValueType::UINT64:
      return "UINT64";
    case ValueType::INT64:
      return "INT64";
    case ValueType::FLOAT64:
      return "FLOAT64";
  }
  return "type " + std::to_string(static_cast<uint32_t>(type));
}

size_t value_type_size(ValueType type) {
  switch (type) {
    case ValueType::UINT8:
    case ValueType::INT8:
    case ValueType::BOOL:
      return 1;
    case ValueType::UINT16:
    case ValueType::INT16:
      return 2;
    case ValueType::UINT32:
    case ValueType::INT32:
    case ValueType::FLOAT32:
      return 4;
    case ValueType::UINT64:
    case ValueType::INT64:
    case ValueType::FLOAT64:
      return 8;
    case ValueType::STRING:
    case ValueType::ARRAY:
      return 0;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------
// Value

Value Value::clone() const {
  Value v;
  v.type = type;
  v.u64 = u64;
  v.i64 = i64;
  v.f64 = f64;
  v.str = str;
  v.elem_type = elem_type;
  v.count = count;
  v.raw = raw;
  v.strings = strings;
  v.items.reserve(items.size());
  for (const Value& item : items) v.items.push_back(item.clone());
  v.storage = storage;  // immutable bytes, shared
  return v;
}

bool Value::is_integer() const { return is_integer_type(type); }

std::optional<int64_t> Value::as_int() const { return scalar_int(*this); }

std::optional<uint64_t> Value::as_uint() const {
  if (!is_integer_type(type)) return std::nullopt;
  if (is_signed_type(type)) {
    if (i64 < 0) return std::nullopt;
    return static_cast<uint64_t>(i64);
  }
  return u64;
}

std::optional<double> Value::as_float() const {
  if (is_float_type(type)) return f64;
  if (!is_integer_type(type)) return std::nullopt;
  return is_signed_type(type) ? static_cast<double>(i64) : static_cast<double>(u64);
}

std::optional<bool> Value::as_bool() const {
  if (type != ValueType::BOOL) return std::nullopt;
  return u64 != 0;
}

std::optional<std::string_view> Value::as_string() const {
  if (type != ValueType::STRING) return std::nullopt;
  return str;
}

std::optional<int64_t> Value::int_at(uint64_t i) const {
  if (type != ValueType::ARRAY || i >= count || !is_integer_type(elem_type)) return std::nullopt;
  Value tmp;
  tmp.type = elem_type;
  decode_scalar(elem_type, raw + i * value_type_size(elem_type), &tmp);
  return scalar_int(tmp);
}

std::optional<double> Value::float_at(uint64_t i) const {
  if (type != ValueType::ARRAY || i >= count) return std::nullopt;
  if (!is_integer_type(elem_type) && !is_float_type(elem_type)) return std::nullopt;
  Value tmp;
  tmp.type = elem_type;
  decode_scalar(elem_type, raw + i * value_type_size(elem_type), &tmp);
  return tmp.as_float();
}

std::optional<std::string_view> Value::string_at(uint64_t i) const {
  if (type != ValueType::ARRAY || elem_type != ValueType::STRING || i >= strings.size()) {
    return std::nullopt;
  }
  return strings[i];
}

std::string Value::type_name() const {
  if (type != ValueType::ARRAY) return value_type_name(type);
  if (elem_type == ValueType::ARRAY) {
    std::string inner = items.empty() ? "ARRAY" : items[0].type_name();
    return "ARRAY[" + inner + "]";
  }
  return "ARRAY[" + value_type_name(elem_type) + "]";
}

std::string Value::to_display_string(size_t max_items) const {
  switch (type) {
    case ValueType::BOOL:
      return u64 ? "true" : "false";
    case ValueType::FLOAT32:
    case ValueType::FLOAT64:
      return format_double(f64);
    case ValueType::STRING:
      return quote(str, 200);
    case ValueType::ARRAY:
      break;
    default:
      return is_signed_type(type) ? std::to_string(i64) : std::to_string(u64);
  }
  std::string out = "[";
  const uint64_t shown = std::min<uint64_t>(count, max_items);
  for (uint64_t i = 0; i < shown; ++i) {
    if (i) out += ", ";
    if (elem_type == ValueType::STRING) {
      out += quote(strings[i], 40);
    } else if (elem_type == ValueType::ARRAY) {
      out += items[i].to_display_string(max_items);
    } else {
      Value tmp;
      tmp.type = elem_type;
      decode_scalar(elem_type, raw + i * value_type_size(elem_type), &tmp);
      out += tmp.to_display_string();
    }
  }
  if (shown < count) out += ", ... (" + std::to_string(count) + " items)";
  out += "]";
  return out;
}

namespace {
template <typename T>
Value make_scalar(ValueType t, T v) {
  Value out;
  out.type = t;
  decode_scalar(t, reinterpret_cast<const uint8_t*>(&v), &out);
  return out;
}
}  // namespace

Value Value::make_uint8(uint8_t v) { return make_scalar(ValueType::UINT8, v); }
Value Value::make_int8(int8_t v) { return make_scalar(ValueType::INT8, v); }
Value Value::make_uint16(uint16_t v) { return make_scalar(ValueType::UINT16, v); }
Value Value::make_int16(int16_t v) { return make_scalar(ValueType::INT16, v); }
Value Value::make_uint32(uint32_t v) { return make_scalar(ValueType::UINT32, v); }
Value Value::make_int32(int32_t v) { return make_scalar(ValueType::INT32, v); }
Value Value::make_uint64(uint64_t v) { return make_scalar(ValueType::UINT64, v); }
Value Value::make_int64(int64_t v) { return make_scalar(ValueType::INT64, v); }
Value Value::make_float32(float v) { return make_scalar(ValueType::FLOAT32, v); }
Value Value::make_float64(double v) { return make_scalar(ValueType::FLOAT64, v); }
Value Value::make_bool(bool v) { return make_scalar(ValueType::BOOL, static_cast<uint8_t>(v)); }

Value Value::make_string(std::string_view v) {
  Value out;
  out.type = ValueType::STRING;
  auto storage = std::make_shared<std::string>(v);
  out.str = *storage;
  out.storage = std::move(storage);
  return out;
}

Value Value::make_array(ValueType elem_type, const void* data, uint64_t count) {
  const size_t size = value_type_size(elem_type);
  KILN_CHECK(size > 0);
  Value out;
  out.type = ValueType::ARRAY;
  out.elem_type = elem_type;
  out.count = count;
  auto storage = std::make_shared<std::string>(static_cast<const char*>(data), count * size);
  out.raw = reinterpret_cast<const uint8_t*>(storage->data());
  out.storage = std::move(storage);
  return out;
}

namespace {
template <typename S>
Value make_strings(const std::vector<S>& v) {
  Value out;
  out.type = ValueType::ARRAY;
  out.elem_type = ValueType::STRING;
  out.count = v.size();
  size_t total = 0;
  for (const auto& s : v) total += s.size();
  auto storage = std::make_shared<std::string>();
  storage->reserve(total);
  for (const auto& s : v) storage->append(s.data(), s.size());
  out.strings.reserve(v.size());
  size_t pos = 0;
  for (const auto& s : v) {
    out.strings.emplace_back(storage->data() + pos, s.size());
    pos += s.size();
  }
  out.storage = std::move(storage);
  return out;
}
}  // namespace

Value Value::make_string_array(const std::vector<std::string>& v) { return make_strings(v); }
Value Value::make_string_array(const std::vector<std::string_view>& v) { return make_strings(v); }

Value Value::make_array_of_arrays(std::vector<Value> items) {
  for (const Value& item : items) KILN_CHECK(item.type == ValueType::ARRAY);
  Value out;
  out.type = ValueType::ARRAY;
  out.elem_type = ValueType::ARRAY;
  out.count = items.size();
  out.items = std::move(items);
  return out;
}

// ---------------------------------------------------------------------------------------
// Parser: walks the mapped bytes with a cursor; every read is bounds-checked first.

class Parser {
 public:
  Parser(const std::string& path, const uint8_t* data, uint64_t size)
      : path_(path), data_(data), size_(size) {}

  Status parse(File* file);

 private:
  Status error(const std::string& what) const { return Status::Error(path_ + ": " + what); }
  uint64_t left() const { return size_ - pos_; }

  // Checks that n more bytes exist; `what` describes the field for the error.
  Status need(uint64_t n, const char* what) const {
    if (n <= left()) return Status::Ok();
    return error("truncated: " + context_ + what + " needs " + std::to_string(n) +
                 " bytes at offset " + std::to_string(pos_) + " but the file is " +
                 std::to_string(size_) + " bytes");
  }
  template <typename T>
  Status read(T* out, const char* what) {
    KILN_RETURN_IF_ERROR(need(sizeof(T), what));
    std::memcpy(out, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::Ok();
  }
  Status read_string(std::string_view* out, const char* what);
  Status read_value(ValueType type, int depth, Value* out);
  Status read_array(int depth, Value* out);
  Status read_tensor_info(uint64_t index, TensorInfo* info, std::string_view* name);

  const std::string& path_;
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
  std::string context_;  // "metadata key 'x': " etc., prefixed to errors
};

Status Parser::read_string(std::string_view* out, const char* what) {
  uint64_t len = 0;
  KILN_RETURN_IF_ERROR(read(&len, what));
  if (len > left()) {
    return error(context_ + what + " of " + std::to_string(len) + " bytes at offset " +
                 std::to_string(pos_) + " extends past end of file (" + std::to_string(size_) +
                 " bytes)");
  }
  *out = std::string_view(reinterpret_cast<const char*>(data_ + pos_), len);
  pos_ += len;
  return Status::Ok();
}

Status Parser::read_value(ValueType type, int depth, Value* out) {
  out->type = type;
  if (type == ValueType::STRING) return read_string(&out->str, "string value");
  if (type == ValueType::ARRAY) return read_array(depth, out);
  const size_t size = value_type_size(type);
  KILN_RETURN_IF_ERROR(need(size, "value"));
  decode_scalar(type, data_ + pos_, out);
  if (type == ValueType::BOOL && out->u64 > 1) {
    return error(context_ + "BOOL value at offset " + std::to_string(pos_) + " is " +
                 std::to_string(out->u64) + " (must be 0 or 1)");
  }
  pos_ += size;
  return Status::Ok();
}

Status Parser::read_array(int depth, Value* out) {
  if (depth >= kMaxArrayDepth) {
    return error(context_ + "arrays nested more than " + std::to_string(kMaxArrayDepth) + " deep");
  }
  uint32_t elem = 0;
  KILN_RETURN_IF_ERROR(read(&elem, "array element type"));
  if (!valid_value_type(elem)) {
    return error(context_ + "unknown array element type id " + std::to_string(elem) +
                 " at offset " + std::to_string(pos_ - 4));
  }
  uint64_t count = 0;
  KILN_RETURN_IF_ERROR(read(&count, "array length"));
  out->elem_type = static_cast<ValueType>(elem);
  out->count = count;
  const uint64_t min_elem_bytes = out->elem_type == ValueType::STRING ? 8
                                  : out->elem_type == ValueType::ARRAY
                                      ? kMinArrayBytes
                                      : value_type_size(out->elem_type);
  // Bound the count by the bytes left before reserving anything.
  if (count > left() / min_elem_bytes) {
    return error(context_ + "array of " + std::to_string(count) + " " +
                 value_type_name(out->elem_type) + " elements at offset " + std::to_string(pos_) +
                 " extends past end of file (" + std::to_string(size_) + " bytes)");
  }
  switch (out->elem_type) {
    case ValueType::STRING:
      out->strings.resize(count);
      for (uint64_t i = 0; i < count; ++i) {
        KILN_RETURN_IF_ERROR(read_string(&out->strings[i], "array string"));
      }
      return Status::Ok();
    case ValueType::ARRAY:
      out->items.resize(count);
      for (uint64_t i = 0; i < count; ++i) {
        out->items[i].type = ValueType::ARRAY;
        KILN_RETURN_IF_ERROR(read_array(depth + 1, &out->items[i]));
      }
      return Status::Ok();
    default:
      break;
  }
  out->raw = data_ + pos_;
  const uint64_t bytes = count * min_elem_bytes;  // bounded by left() above
  if (out->elem_type == ValueType::BOOL) {
    for (uint64_t i = 0; i < count; ++i) {
      if (out->raw[i] > 1) {
        return error(context_ + "BOOL array element " + std::to_string(i) + " is " +
                     std::to_string(out->raw[i]) + " (must be 0 or 1)");
      }
    }
  }
  pos_ += bytes;
  return Status::Ok();
}

Status Parser::read_tensor_info(uint64_t index, TensorInfo* info, std::string_view* name) {
  context_ = "tensor info #" + std::to_string(index) + ": ";
  KILN_RETURN_IF_ERROR(read_string(name, "tensor name"));
  if (name->empty()) return error(context_ + "empty tensor name");
  info->name = std::string(*name);
  context_ = "tensor '" + info->name + "': ";
  uint32_t n_dims = 0;
  KILN_RETURN_IF_ERROR(read(&n_dims, "dimension count"));
  if (n_dims == 0 || n_dims > kMaxDims) {
    return error(context_ + "has " + std::to_string(n_dims) + " dimensions (must be 1 to " +
                 std::to_string(kMaxDims) + ")");
  }
  info->shape.resize(n_dims);
  uint64_t num_elements = 1;
  for (uint32_t d = 0; d < n_dims; ++d) {
    uint64_t ne = 0;
    KILN_RETURN_IF_ERROR(read(&ne, "dimension"));
    if (ne == 0 || ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return error(context_ + "dimension " + std::to_string(d) + " is " + std::to_string(ne) +
                   " (must be positive)");
    }
    if (!checked_mul(num_elements, ne, &num_elements) ||
        num_elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return error(context_ + "element count overflows (shape product too large)");
    }
    info->shape[d] = static_cast<int64_t>(ne);
  }
  uint32_t type_id = 0;
  KILN_RETURN_IF_ERROR(read(&type_id, "type"));
  const std::optional<DTypeInfo> dt = dtype_info(type_id);
  if (!dt) return error(context_ + "unknown tensor type id " + std::to_string(type_id));
  info->type = static_cast<DType>(type_id);
  KILN_RETURN_IF_ERROR(read(&info->offset, "data offset"));
  const uint64_t row = static_cast<uint64_t>(info->shape[0]);
  const uint64_t block = static_cast<uint64_t>(dt->block_size);
  if (row % block != 0) {
    return error(context_ + "row length " + std::to_string(row) + " is not a multiple of the " +
                 std::string(dt->name) + " block size " + std::to_string(block));
  }
  uint64_t row_bytes = 0;
  uint64_t num_bytes = 0;
  if (!checked_mul(row / block, static_cast<uint64_t>(dt->block_bytes), &row_bytes) ||
      !checked_mul(row_bytes, num_elements / row, &num_bytes)) {
    return error(context_ + "data size overflows");
  }
  info->num_elements = static_cast<int64_t>(num_elements);
  info->num_bytes = num_bytes;
  return Status::Ok();
}

Status Parser::parse(File* file) {
  if (size_ < 8) {
    return error("not a GGUF file: only " + std::to_string(size_) + " bytes");
  }
  uint32_t magic = 0;
  KILN_RETURN_IF_ERROR(read(&magic, "magic"));
  if (magic != kMagic) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "not a GGUF file (magic bytes %02x %02x %02x %02x)", data_[0],
                  data_[1], data_[2], data_[3]);
    return error(buf);
  }
  uint32_t version = 0;
  KILN_RETURN_IF_ERROR(read(&version, "version"));
  if (version == 1) {
    return error("GGUF version 1 is not supported (re-convert the model to GGUF v3)");
  }
  if (version != 2 && version != 3) {
    if ((version & 0xffff) == 0 && __builtin_bswap32(version) >= 1 &&
        __builtin_bswap32(version) <= 3) {
      return error("big-endian GGUF files are not supported");
    }
    return error("unsupported GGUF version " + std::to_string(version) + " (supported: 2, 3)");
  }
  file->version_ = version;

  uint64_t tensor_count = 0;
  uint64_t kv_count = 0;
  KILN_RETURN_IF_ERROR(read(&tensor_count, "tensor count"));
  KILN_RETURN_IF_ERROR(read(&kv_count, "metadata count"));
  if (kv_count > left() / kMinKvBytes) {
    return error("metadata count " + std::to_string(kv_count) + " is impossible for a file of " +
                 std::to_string(size_) + " bytes (truncated or corrupt?)");
  }
  if (tensor_count > left() / kMinTensorInfoBytes) {
    return error("tensor count " + std::to_string(tensor_count) + " is impossible for a file of " +
                 std::to_string(size_) + " bytes (truncated or corrupt?)");
  }

  // Metadata.
  file->metadata_.resize(kv_count);
  file->key_index_.reserve(kv_count);
  for (uint64_t i = 0; i < kv_count; ++i) {
    MetadataEntry& entry = file->metadata_[i];
    context_ = "metadata key #" + std::to_string(i) + ": ";
    KILN_RETURN_IF_ERROR(read_string(&entry.key, "key"));
    if (entry.key.empty() || entry.key.size() > kMaxKeyBytes) {
      return error(context_ + "key length " + std::to_string(entry.key.size()) + " (must be 1 to " +
                   std::to_string(kMaxKeyBytes) + ")");
    }
    context_ = "metadata key '" + std::string(entry.key) + "': ";
    if (!file->key_index_.emplace(entry.key, i).second) {
      return error("duplicate metadata key '" + std::string(entry.key) + "'");
    }
    uint32_t type = 0;
    KILN_RETURN_IF_ERROR(read(&type, "value type"));
    if (!valid_value_type(type)) {
      return error(context_ + "unknown value type id " + std::to_string(type) + " at offset " +
                   std::to_string(pos_ - 4));
    }
    KILN_RETURN_IF_ERROR(read_value(static_cast<ValueType>(type), 0, &entry.value));
  }

  // Alignment.
  if (const Value* a = file->find("general.alignment")) {
    const std::optional<uint64_t> v = a->as_uint();
    if (!v) {
      return error("general.alignment has type " + a->type_name() +
                   " (must be an unsigned integer)");
    }
    if (*v == 0 || (*v & (*v - 1)) != 0 || *v > (uint64_t{1} << 30)) {
      return error("general.alignment = " + std::to_string(*v) +
                   " is not a power of two (1 to 2^30)");
    }
    file->alignment_ = static_cast<uint32_t>(*v);
  }

  // Tensor infos.
  file->tensors_.resize(tensor_count);
  file->tensor_index_.reserve(tensor_count);
  for (uint64_t i = 0; i < tensor_count; ++i) {
    std::string_view name;
    KILN_RETURN_IF_ERROR(read_tensor_info(i, &file->tensors_[i], &name));
    if (!file->tensor_index_.emplace(name, i).second) {
      return error("duplicate tensor name '" + std::string(name) + "'");
    }
  }
  context_.clear();

  // Tensor data section: starts at the next multiple of the alignment.
  const uint64_t align = file->alignment_;
  uint64_t data_offset = 0;
  if (!checked_add(pos_, align - 1, &data_offset)) return error("data offset overflows");
  data_offset = data_offset / align * align;
  file->data_offset_ = data_offset;
  for (TensorInfo& t : file->tensors_) {
    if (t.offset % align != 0) {
      return error("tensor '" + t.name + "' data offset " + std::to_string(t.offset) +
                   " is not a multiple of the alignment " + std::to_string(align));
    }
    uint64_t begin = 0;
    uint64_t end = 0;
    const bool begin_ok = checked_add(data_offset, t.offset, &begin);
    if (!begin_ok || !checked_add(begin, t.num_bytes, &end) || end > size_) {
      const std::string where = begin_ok
                                    ? std::to_string(begin)
                                    : std::to_string(data_offset) + "+" + std::to_string(t.offset);
      return error("tensor '" + t.name + "' data [offset " + where + ", " +
                   std::to_string(t.num_bytes) + " bytes] extends past end of file (" +
                   std::to_string(size_) + " bytes)");
    }
    t.data = data_ + begin;
  }
  // No two tensors may share bytes.
  std::vector<size_t> order(file->tensors_.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return file->tensors_[a].offset < file->tensors_[b].offset;
  });
  for (size_t k = 1; k < order.size(); ++k) {
    const TensorInfo& prev = file->tensors_[order[k - 1]];
    const TensorInfo& cur = file->tensors_[order[k]];
    if (prev.offset + prev.num_bytes > cur.offset) {  // no overflow: both end inside the file
      return error("tensors '" + prev.name + "' [offset " + std::to_string(prev.offset) + ", " +
                   std::to_string(prev.num_bytes) + " bytes] and '" + cur.name + "' [offset " +
                   std::to_string(cur.offset) + "] overlap");
    }
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------
// File

StatusOr<File> File::open_one(const std::string& path) {
  StatusOr<MappedFile> map = MappedFile::open(path);
  if (!map.ok()) return map.status();
  File file(std::move(map).value());
  Parser parser(file.map_.path(), file.map_.data(), file.map_.size());
  KILN_RETURN_IF_ERROR(parser.parse(&file));
  return file;
}

StatusOr<File> File::open(const std::string& path) {
  StatusOr<File> file = open_one(path);
  if (!file.ok()) return file.status();
  KILN_RETURN_IF_ERROR(file->open_split_parts());
  return file;
}

namespace {

// gguf-split's name for part `no` (0-based) of `count`: "-00002-of-00003.gguf".
std::string split_suffix(uint64_t no, uint64_t count) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "-%05llu-of-%05llu.gguf", (unsigned long long)(no + 1),
                (unsigned long long)count);
  return buf;
}

}  // namespace

Status File::open_split_parts() {
  const Value* count_value = find("split.count");
  if (count_value == nullptr) return Status::Ok();
  const std::string& first = path();
  const std::optional<uint64_t> count = count_value->as_uint();
  const std::optional<uint64_t> no = get_uint("split.no");
  // gguf-split writes both as UINT16.
  if (!count || *count == 0 || *count > 65535 || !no || *no >= *count)
    return Status::Error(first + ": split.count and split.no do not describe a part of a split "
                                 "GGUF (split.count " +
                         count_value->to_display_string() + ", split.no " +
                         (find("split.no") ? find("split.no")->to_display_string() : "missing") +
                         ")");
  if (*count == 1) return Status::Ok();
  if (*no != 0)
    return Status::Error(first + ": part " + std::to_string(*no + 1) + " of a split GGUF of " +
                         std::to_string(*count) + " parts; open the first part (the file whose " +
                         "name ends in " + split_suffix(0, *count) + ")");
  const std::string suffix = split_suffix(0, *count);
  if (first.size() <= suffix.size() ||
      first.compare(first.size() - suffix.size(), suffix.size(), suffix) != 0)
    return Status::Error(first + ": the first part of a split GGUF of " + std::to_string(*count) +
                         " parts, but its name does not end in " + suffix +
                         ", so the other parts cannot be found");
  const std::string stem = first.substr(0, first.size() - suffix.size());
  for (uint64_t i = 1; i < *count; ++i) {
    const std::string where = first + ": part " + std::to_string(i + 1) + " of " +
                              std::to_string(*count) + ": ";
    StatusOr<File> part = open_one(stem + split_suffix(i, *count));
    if (!part.ok()) return Status::Error(where + part.status().message());
    if (part->get_uint("split.no") != i || part->get_uint("split.count") != *count)
      return Status::Error(where + part->path() + " does not say it is part " +
                           std::to_string(i + 1) + " of " + std::to_string(*count) +
                           " (its split.no and split.count)");
    // The index's keys are views into the part's map, which moves into part_maps_ intact.
    std::vector<std::string_view> names(part->tensors_.size());
    for (const auto& [name, index] : part->tensor_index_) names[index] = name;
    for (size_t k = 0; k < names.size(); ++k) {
      if (!tensor_index_.emplace(names[k], tensors_.size()).second)
        return Status::Error(where + "tensor '" + std::string(names[k]) +
                             "' is also in an earlier part");
      tensors_.push_back(std::move(part->tensors_[k]));
      tensors_.back().split_part = static_cast<int>(i);
    }
    part_maps_.push_back(std::move(part->map_));
  }
  if (auto total = get_uint("split.tensors.count"); total && *total != tensors_.size())
    return Status::Error(first + ": split.tensors.count says " + std::to_string(*total) +
                         " tensors, but the " + std::to_string(*count) + " parts hold " +
                         std::to_string(tensors_.size()));
  return Status::Ok();
}

uint64_t File::total_size() const {
  uint64_t total = map_.size();
  for (const MappedFile& m : part_maps_) total += m.size();
  return total;
}

const Value* File::find(std::string_view key) const {
  const auto it = key_index_.find(key);
  return it == key_index_.end() ? nullptr : &metadata_[it->second].value;
}

std::optional<int64_t> File::get_int(std::string_view key) const {
  const Value* v = find(key);
  return v ? v->as_int() : std::nullopt;
}

std::optional<uint64_t> File::get_uint(std::string_view key) const {
  const Value* v = find(key);
  return v ? v->as_uint() : std::nullopt;
}

std::optional<double> File::get_float(std::string_view key) const {
  const Value* v = find(key);
  return v ? v->as_float() : std::nullopt;
}

std::optional<bool> File::get_bool(std::string_view key) const {
  const Value* v = find(key);
  return v ? v->as_bool() : std::nullopt;
}

std::optional<std::string_view> File::get_string(std::string_view key) const {
  const Value* v = find(key);
  return v ? v->as_string() : std::nullopt;
}

namespace {
Status missing_key(const std::string& path, std::string_view key) {
  return Status::Error(path + ": missing metadata key '" + std::string(key) + "'");
}
Status wrong_type(const std::string& path, std::string_view key, const Value& v,
                  const char* expected) {
  return Status::Error(path + ": metadata key '" + std::string(key) + "' has type " +
                       v.type_name() + ", expected " + expected);
}
}  // namespace

StatusOr<int64_t> File::require_int(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return missing_key(path(), key);
  const std::optional<int64_t> i = v->as_int();
  if (!i) {
    if (v->is_integer()) {
      return Status::Error(path() + ": metadata key '" + std::string(key) + "' value " +
                           v->to_display_string() + " does not fit in int64");
    }
    return wrong_type(path(), key, *v, "an integer");
  }
  return *i;
}

StatusOr<double> File::require_float(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return missing_key(path(), key);
  const std::optional<double> f = v->as_float();
  if (!f) return wrong_type(path(), key, *v, "a number");
  return *f;
}

StatusOr<std::string_view> File::require_string(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return missing_key(path(), key);
  if (!v->is_string()) return wrong_type(path(), key, *v, "STRING");
  return v->str;
}

StatusOr<std::vector<std::string_view>> File::get_string_array(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return missing_key(path(), key);
  if (!v->is_array() || v->elem_type != ValueType::STRING) {
    return wrong_type(path(), key, *v, "ARRAY[STRING]");
  }
  return v->strings;
}

StatusOr<std::vector<float>> File::get_float_array(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return missing_key(path(), key);
  if (!v->is_array() || !(is_float_type(v->elem_type) || is_integer_type(v->elem_type))) {
    return wrong_type(path(), key, *v, "an array of numbers");
  }
  std::vector<float> out(v->count);
  // NOTE: an empty array has no bytes (raw and out.data() may be null, which memcpy may
  // not be given even for 0 bytes).
  if (v->elem_type == ValueType::FLOAT32 && v->count > 0) {
    std::memcpy(out.data(), v->raw, v->count * sizeof(float));
  } else {
    for (uint64_t i = 0; i < v->count; ++i) out[i] = static_cast<float>(*v->float_at(i));
  }
  return out;
}

StatusOr<std::vector<int64_t>> File::get_int_array(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return missing_key(path(), key);
  if (!v->is_array() || !is_integer_type(v->elem_type)) {
    return wrong_type(path(), key, *v, "an array of integers");
  }
  std::vector<int64_t> out(v->count);
  for (uint64_t i = 0; i < v->count; ++i) {
    const std::optional<int64_t> x = v->int_at(i);
    if (!x) {
      return Status::Error(path() + ": metadata key '" + std::string(key) + "' element " +
                           std::to_string(i) + " does not fit in int64");
    }
    out[i] = *x;
  }
  return out;
}

const TensorInfo* File::find_tensor(std::string_view name) const {
  const auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace kiln::gguf
