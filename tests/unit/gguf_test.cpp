// GGUF reader and writer: round trips of every value type and tensors, and rejection (never a
// crash) of truncated and corrupted files, with messages that name the file.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "gguf/reader.h"
#include "gguf/writer.h"

namespace kiln::gguf {
namespace {

// A path in the test temp dir unique to the running test (CTest may run tests in parallel).
std::string temp_path(const std::string& suffix) {
  const auto* info = testing::UnitTest::GetInstance()->current_test_info();
  return testing::TempDir() + "kiln_gguf_" + info->test_suite_name() + "_" + info->name() + suffix +
         ".gguf";
}

void write_file(const std::string& path, const std::string& bytes) {
  // NOTE: unlink first: truncating a file that holds data makes ext4 flush it to disk
  // (auto_da_alloc), which costs milliseconds per call in the every-byte loops.
  std::remove(path.c_str());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good());
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Builds GGUF bytes field by field, so tests can write anything, valid or not.
struct Raw {
  std::string b;
  Raw& u8(uint8_t v) { return put(v); }
  Raw& u32(uint32_t v) { return put(v); }
  Raw& u64(uint64_t v) { return put(v); }
  Raw& str(std::string_view s) {
    u64(s.size());
    b.append(s);
    return *this;
  }
  Raw& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    b.append("GGUF");
    return u32(version).u64(n_tensors).u64(n_kv);
  }
  Raw& kv_u32(std::string_view key, uint32_t v) {
    return str(key).u32(static_cast<uint32_t>(ValueType::UINT32)).u32(v);
  }
  Raw& tensor(std::string_view name, const std::vector<uint64_t>& ne, DType type, uint64_t offset) {
    str(name).u32(static_cast<uint32_t>(ne.size()));
    for (uint64_t n : ne) u64(n);
    return u32(static_cast<uint32_t>(type)).u64(offset);
  }
  Raw& pad(size_t alignment = 32) {
    while (b.size() % alignment) b.push_back('\0');
    return *this;
  }
  Raw& zeros(size_t n) {
    b.append(n, '\0');
    return *this;
  }
  template <typename T>
  Raw& put(T v) {
    b.append(reinterpret_cast<const char*>(&v), sizeof v);
    return *this;
  }
};

// Writes `bytes` and opens them; the error message must name the file and contain `needle`.
void expect_error(const std::string& path, const std::string& bytes, const std::string& needle) {
  write_file(path, bytes);
  StatusOr<File> f = File::open(path);
  ASSERT_FALSE(f.ok()) << "expected an error containing '" << needle << "'";
  EXPECT_EQ(f.message().rfind(path + ": ", 0), 0u) << f.message();
  EXPECT_NE(f.message().find(needle), std::string::npos) << f.message();
}

TEST(GgufTest, RoundTripEveryValueType) {
  Writer w;
  w.set_uint8("t.u8", 200);
  w.set_int8("t.i8", -100);
  w.set_uint16("t.u16", 60000);
  w.set_int16("t.i16", -30000);
  w.set_uint32("t.u32", 4000000000u);
  w.set_int32("t.i32", -2000000000);
  w.set_uint64("t.u64", std::numeric_limits<uint64_t>::max());
  w.set_int64("t.i64", std::numeric_limits<int64_t>::min());
  w.set_float32("t.f32", 1.5f);
  w.set_float64("t.f64", -2.25e300);
  w.set_bool("t.true", true);
  w.set_bool("t.false", false);
  w.set_string("t.str", "hello \xe2\x9c\x93");
  w.set_string("t.empty", "");
  w.set_string_array("t.strs", {"a", "", "ccc"});
  w.set_float32_array("t.f32s", {1.0f, -2.5f, 3.25f});
  w.set_int32_array("t.i32s", {-1, 0, 7});
  const std::vector<uint8_t> bools = {1, 0, 1};
  w.set("t.bools", Value::make_array(ValueType::BOOL, bools.data(), bools.size()));
  const std::vector<uint64_t> u64s = {0, 1, std::numeric_limits<uint64_t>::max()};
  w.set("t.u64s", Value::make_array(ValueType::UINT64, u64s.data(), u64s.size()));
  const std::vector<double> f64s = {0.5, 1e-300};
  w.set("t.f64s", Value::make_array(ValueType::FLOAT64, f64s.data(), f64s.size()));
  w.set("t.none", Value::make_array(ValueType::INT16, nullptr, 0));
  std::vector<Value> inner;
  inner.push_back(Value::make_string_array(std::vector<std::string>{"x", "y"}));
  const std::vector<int8_t> i8s = {-5, 5};
  inner.push_back(Value::make_array(ValueType::INT8, i8s.data(), i8s.size()));
  std::vector<Value> deeper;
  deeper.push_back(Value::make_array(ValueType::UINT16, nullptr, 0));
  inner.push_back(Value::make_array_of_arrays(std::move(deeper)));
  w.set("t.nested", Value::make_array_of_arrays(std::move(inner)));
  w.set_uint32("t.replaced", 1);
  w.set_uint32("t.replaced", 2);  // replaces in place
  const std::string path = temp_path("");
  ASSERT_TRUE(w.write(path).ok());

  StatusOr<File> opened = File::open(path);
  ASSERT_TRUE(opened.ok()) << opened.message();
  const File& f = *opened;
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_EQ(f.path(), path);
  EXPECT_EQ(f.file_size(), read_file(path).size());
  EXPECT_EQ(f.metadata().size(), w.num_keys());
  EXPECT_EQ(f.metadata()[0].key, "t.u8");
  EXPECT_TRUE(f.tensors().empty());

  EXPECT_EQ(f.find("t.u8")->type, ValueType::UINT8);
  EXPECT_EQ(f.get_int("t.u8"), 200);
  EXPECT_EQ(f.get_int("t.i8"), -100);
  EXPECT_EQ(f.get_int("t.u16"), 60000);
  EXPECT_EQ(f.get_int("t.i16"), -30000);
  EXPECT_EQ(f.get_int("t.u32"), 4000000000LL);
  EXPECT_EQ(f.get_int("t.i32"), -2000000000);
  EXPECT_EQ(f.get_int("t.u64"), std::nullopt);  // does not fit in int64
  EXPECT_EQ(f.get_uint("t.u64"), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(f.get_int("t.i64"), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(f.get_uint("t.i8"), std::nullopt);  // negative
  EXPECT_EQ(f.get_float("t.f32"), 1.5);
  EXPECT_EQ(f.get_float("t.f64"), -2.25e300);
  EXPECT_EQ(f.get_float("t.i16"), -30000.0);  // integers convert to float
  EXPECT_EQ(f.get_bool("t.true"), true);
  EXPECT_EQ(f.get_bool("t.false"), false);
  EXPECT_EQ(f.get_string("t.str"), "hello \xe2\x9c\x93");
  EXPECT_EQ(f.get_string("t.empty"), "");
  EXPECT_EQ(f.get_int("t.replaced"), 2);

  // Wrong types and missing keys: nullopt, no crash.
  EXPECT_EQ(f.get_int("t.str"), std::nullopt);
  EXPECT_EQ(f.get_int("t.f32"), std::nullopt);
  EXPECT_EQ(f.get_int("t.true"), std::nullopt);
  EXPECT_EQ(f.get_bool("t.u8"), std::nullopt);
  EXPECT_EQ(f.get_string("t.u8"), std::nullopt);
  EXPECT_EQ(f.get_float("t.strs"), std::nullopt);
  EXPECT_EQ(f.get_int("missing"), std::nullopt);
  EXPECT_EQ(f.find("missing"), nullptr);

  auto strs = f.get_string_array("t.strs");
  ASSERT_TRUE(strs.ok());
  EXPECT_EQ(*strs, (std::vector<std::string_view>{"a", "", "ccc"}));
  auto f32s = f.get_float_array("t.f32s");
  ASSERT_TRUE(f32s.ok());
  EXPECT_EQ(*f32s, (std::vector<float>{1.0f, -2.5f, 3.25f}));
  auto i32s = f.get_int_array("t.i32s");
  ASSERT_TRUE(i32s.ok());
  EXPECT_EQ(*i32s, (std::vector<int64_t>{-1, 0, 7}));
  auto i32_as_float = f.get_float_array("t.i32s");
  ASSERT_TRUE(i32_as_float.ok());
  EXPECT_EQ(*i32_as_float, (std::vector<float>{-1, 0, 7}));
  auto f64_floats = f.get_float_array("t.f64s");
  ASSERT_TRUE(f64_floats.ok());
  EXPECT_EQ((*f64_floats)[0], 0.5f);
  auto none = f.get_int_array("t.none");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  const Value* b = f.find("t.bools");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->type_name(), "ARRAY[BOOL]");
  EXPECT_EQ(b->count, 3u);
  EXPECT_EQ(b->raw[0], 1);
  EXPECT_EQ(b->raw[1], 0);
  const Value* u = f.find("t.u64s");
  EXPECT_EQ(u->int_at(1), 1);
  EXPECT_EQ(u->int_at(2), std::nullopt);  // above INT64_MAX
  EXPECT_EQ(u->int_at(3), std::nullopt);  // out of range
  auto u_ints = f.get_int_array("t.u64s");
  ASSERT_FALSE(u_ints.ok());
  EXPECT_NE(u_ints.message().find("'t.u64s' element 2"), std::string::npos) << u_ints.message();

  // Array getters on the wrong type name the file, key and both types.
  auto bad = f.get_string_array("t.f32s");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.message(),
            path + ": metadata key 't.f32s' has type ARRAY[FLOAT32], expected ARRAY[STRING]");
  auto bad2 = f.get_float_array("t.str");
  ASSERT_FALSE(bad2.ok());
  EXPECT_NE(bad2.message().find("'t.str' has type STRING"), std::string::npos);
  auto bad3 = f.get_int_array("t.strs");
  ASSERT_FALSE(bad3.ok());
  auto missing = f.get_float_array("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.message(), path + ": missing metadata key 'nope'");
  EXPECT_FALSE(f.require_int("t.str").ok());
  EXPECT_FALSE(f.require_int("t.u64").ok());
  EXPECT_EQ(f.require_int("t.u16").value(), 60000);
  EXPECT_EQ(f.require_float("t.f32").value(), 1.5);
  EXPECT_EQ(f.require_string("t.str").value(), "hello \xe2\x9c\x93");

  const Value* nested = f.find("t.nested");
  ASSERT_NE(nested, nullptr);
  EXPECT_EQ(nested->elem_type, ValueType::ARRAY);
  ASSERT_EQ(nested->items.size(), 3u);
  EXPECT_EQ(nested->items[0].string_at(1), "y");
  EXPECT_EQ(nested->items[1].int_at(0), -5);
  EXPECT_EQ(nested->items[2].elem_type, ValueType::ARRAY);
  ASSERT_EQ(nested->items[2].items.size(), 1u);
  EXPECT_EQ(nested->items[2].items[0].elem_type, ValueType::UINT16);
  EXPECT_EQ(nested->items[2].items[0].count, 0u);
  EXPECT_EQ(nested->to_display_string(), "[[\"x\", \"y\"], [-5, 5], [[]]]");

  // A reader Value can be copied into a writer and survives a second round trip.
  Writer w2;
  for (const MetadataEntry& e : f.metadata()) w2.set(e.key, e.value.clone());
  const std::string path2 = temp_path("_copy");
  ASSERT_TRUE(w2.write(path2).ok());
  EXPECT_EQ(read_file(path2), read_file(path));
  std::remove(path.c_str());
  std::remove(path2.c_str());
}

// Found by gguf_model_fuzz: an empty FLOAT32 array (a tokenizer's scores) was read with a
// memcpy from and to null pointers, undefined even for 0 bytes (UBSan's nonnull-attribute).
TEST(GgufTest, EmptyNumberArraysRead) {
  Writer w;
  w.set("t.f32s", Value::make_array(ValueType::FLOAT32, nullptr, 0));
  w.set("t.i32s", Value::make_array(ValueType::INT32, nullptr, 0));
  const std::string path = temp_path("_empty");
  ASSERT_TRUE(w.write(path).ok());
  StatusOr<File> f = File::open(path);
  ASSERT_TRUE(f.ok()) << f.message();
  auto floats = f->get_float_array("t.f32s");
  ASSERT_TRUE(floats.ok()) << floats.message();
  EXPECT_TRUE(floats->empty());
  auto ints = f->get_int_array("t.i32s");
  ASSERT_TRUE(ints.ok()) << ints.message();
  EXPECT_TRUE(ints->empty());
  std::remove(path.c_str());
}

TEST(GgufTest, RoundTripTensors) {
  Writer w;
  ASSERT_TRUE(w.set_alignment(64).ok());
  w.set_string("general.architecture", "test");
  std::vector<float> norm(7);
  for (size_t i = 0; i < norm.size(); ++i) norm[i] = static_cast<float>(i) * 0.5f;
  std::vector<uint8_t> q4(2 * 3 * 18);  // Q4_0, 64 x 3: 2 blocks of 18 bytes per row
  for (size_t i = 0; i < q4.size(); ++i) q4[i] = static_cast<uint8_t>(i * 7);
  std::vector<uint16_t> f16(5 * 2 * 3);
  for (size_t i = 0; i < f16.size(); ++i) f16[i] = static_cast<uint16_t>(i + 1000);
  std::vector<uint8_t> i8(2 * 1 * 2 * 3, 9);
  ASSERT_TRUE(w.add_tensor("norm.weight", DType::F32, {7}, norm.data()).ok());
  ASSERT_TRUE(w.add_tensor("blk.0.attn_q.weight", DType::Q4_0, {64, 3}, q4.data()).ok());
  ASSERT_TRUE(w.add_tensor("t3", DType::F16, {5, 2, 3}, f16.data()).ok());
  ASSERT_TRUE(w.add_tensor("t4", DType::I8, {2, 1, 2, 3}, i8.data()).ok());
  // The writer refuses what the reader would reject.
  EXPECT_FALSE(w.add_tensor("norm.weight", DType::F32, {7}, norm.data()).ok());
  EXPECT_FALSE(w.add_tensor("odd", DType::Q4_0, {48, 2}, q4.data()).ok());
  EXPECT_FALSE(w.add_tensor("five", DType::F32, {1, 1, 1, 1, 1}, norm.data()).ok());
  EXPECT_FALSE(w.add_tensor("zero", DType::F32, {0}, norm.data()).ok());
  EXPECT_FALSE(w.add_tensor("none", DType::F32, {}, norm.data()).ok());
  EXPECT_FALSE(w.set_alignment(48).ok());
  const std::string path = temp_path("");
  ASSERT_TRUE(w.write(path).ok());

  StatusOr<File> opened = File::open(path);
  ASSERT_TRUE(opened.ok()) << opened.message();
  File f = std::move(opened).value();  // moving keeps every view valid
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.data_offset() % 64, 0u);
  ASSERT_EQ(f.tensors().size(), 4u);
  const TensorInfo* q = f.find_tensor("blk.0.attn_q.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->type, DType::Q4_0);
  EXPECT_EQ(q->shape, (std::vector<int64_t>{64, 3}));
  EXPECT_EQ(q->num_elements, 192);
  EXPECT_EQ(q->num_bytes, q4.size());
  EXPECT_EQ(q->row_length(), 64);
  EXPECT_EQ(q->num_rows(), 3);
  EXPECT_EQ(std::memcmp(q->data, q4.data(), q4.size()), 0);
  EXPECT_EQ(f.find_tensor("nope"), nullptr);
  for (const TensorInfo& t : f.tensors()) {
    EXPECT_EQ(t.offset % 64, 0u) << t.name;
    EXPECT_EQ(t.data, f.file_data() + f.data_offset() + t.offset);
  }
  const TensorInfo& n = f.tensors()[0];
  EXPECT_EQ(n.name, "norm.weight");
  EXPECT_EQ(n.num_bytes, 28u);
  EXPECT_EQ(std::memcmp(n.data, norm.data(), 28), 0);
  const TensorInfo* t3 = f.find_tensor("t3");
  EXPECT_EQ(t3->shape, (std::vector<int64_t>{5, 2, 3}));
  EXPECT_EQ(std::memcmp(t3->data, f16.data(), f16.size() * 2), 0);
  const TensorInfo* t4 = f.find_tensor("t4");
  EXPECT_EQ(t4->shape.size(), 4u);
  EXPECT_EQ(t4->num_elements, 12);
  EXPECT_EQ(f.get_string("general.architecture"), "test");
  std::remove(path.c_str());
}

TEST(GgufTest, StreamingWrite) {
  Writer w;
  std::vector<float> a(32, 1.0f), b(64, 2.0f);
  ASSERT_TRUE(w.add_tensor("a", DType::F32, {32}).ok());
  ASSERT_TRUE(w.add_tensor("b", DType::F32, {32, 2}).ok());
  const std::string path = temp_path("");
  EXPECT_FALSE(w.write(path).ok());  // no data for one-shot write
  ASSERT_TRUE(w.begin(path).ok());
  EXPECT_FALSE(w.write_tensor_data(b.data(), 256).ok());  // wrong size for 'a'
  // A failed stream leaves no file under the final name.
  EXPECT_FALSE(File::open(path).ok());
  Writer w3;
  ASSERT_TRUE(w3.add_tensor("a", DType::F32, {32}).ok());
  ASSERT_TRUE(w3.add_tensor("b", DType::F32, {32, 2}).ok());
  ASSERT_TRUE(w3.begin(path).ok());
  ASSERT_TRUE(w3.write_tensor_data(a.data(), 128).ok());
  EXPECT_FALSE(w3.finish().ok());  // 'b' missing
  EXPECT_FALSE(File::open(path).ok());

  Writer w2;
  ASSERT_TRUE(w2.add_tensor("a", DType::F32, {32}).ok());
  ASSERT_TRUE(w2.add_tensor("b", DType::F32, {32, 2}).ok());
  ASSERT_TRUE(w2.begin(path).ok());
  ASSERT_TRUE(w2.write_tensor_data(a.data(), 128).ok());
  ASSERT_TRUE(w2.write_tensor_data(b.data(), 100).ok());  // in pieces
  ASSERT_TRUE(w2.write_tensor_data(reinterpret_cast<const uint8_t*>(b.data()) + 100, 156).ok());
  EXPECT_FALSE(w2.write_tensor_data(b.data(), 1).ok());  // no tensor left
  ASSERT_TRUE(w2.finish().ok());
  StatusOr<File> f = File::open(path);
  ASSERT_TRUE(f.ok()) << f.message();
  EXPECT_EQ(std::memcmp(f->find_tensor("b")->data, b.data(), 256), 0);
  std::remove(path.c_str());
}

TEST(GgufTest, LargeStringArray) {
  std::vector<std::string> vocab(150000);
  for (size_t i = 0; i < vocab.size(); ++i) vocab[i] = "tok" + std::to_string(i);
  Writer w;
  w.set_string_array("tokenizer.ggml.tokens", vocab);
  const std::string path = temp_path("");
  ASSERT_TRUE(w.write(path).ok());
  StatusOr<File> f = File::open(path);
  ASSERT_TRUE(f.ok()) << f.message();
  auto tokens = f->get_string_array("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens.ok());
  ASSERT_EQ(tokens->size(), vocab.size());
  EXPECT_EQ((*tokens)[149999], "tok149999");
  std::remove(path.c_str());
}

TEST(GgufTest, Version2IsAccepted) {
  Raw r;
  r.header(1, 1, 2).kv_u32("general.alignment", 32);
  r.tensor("w", {4}, DType::F32, 0).pad().zeros(16);
  const std::string path = temp_path("");
  write_file(path, r.b);
  StatusOr<File> f = File::open(path);
  ASSERT_TRUE(f.ok()) << f.message();
  EXPECT_EQ(f->version(), 2u);
  std::remove(path.c_str());
}

// Every proper prefix of a valid file (up to the end of its last tensor's data) is an error.
TEST(GgufTest, TruncationAtEveryByte) {
  Writer w;
  w.set_string("general.architecture", "llama");
  w.set_uint32("llama.block_count", 2);
  w.set_float32("llama.rope.freq_base", 10000.0f);
  w.set_bool("flag", true);
  w.set_string_array("tokenizer.ggml.tokens", {"<s>", "</s>", "hello"});
  w.set_int32_array("ints", {1, 2, 3});
  std::vector<Value> inner;
  inner.push_back(Value::make_string_array(std::vector<std::string>{"p", "q"}));
  w.set("nested", Value::make_array_of_arrays(std::move(inner)));
  std::vector<float> a(8, 1.0f);
  std::vector<uint8_t> q(2 * 34, 3);
  ASSERT_TRUE(w.add_tensor("a", DType::F32, {8}, a.data()).ok());
  ASSERT_TRUE(w.add_tensor("q", DType::Q8_0, {32, 2}, q.data()).ok());
  const std::string full_path = temp_path("_full");
  ASSERT_TRUE(w.write(full_path).ok());
  const std::string full = read_file(full_path);

  StatusOr<File> f = File::open(full_path);
  ASSERT_TRUE(f.ok()) << f.message();
  uint64_t data_end = 0;
  for (const TensorInfo& t : f->tensors()) {
    data_end = std::max(data_end, f->data_offset() + t.offset + t.num_bytes);
  }
  ASSERT_LE(data_end, full.size());

  const std::string path = temp_path("_cut");
  for (size_t n = 0; n < data_end; ++n) {
    write_file(path, full.substr(0, n));
    StatusOr<File> cut = File::open(path);
    ASSERT_FALSE(cut.ok()) << "prefix of " << n << " bytes was accepted";
    ASSERT_EQ(cut.message().rfind(path + ": ", 0), 0u) << cut.message();
  }
  // Trailing padding after the last tensor is optional.
  write_file(path, full.substr(0, data_end));
  EXPECT_TRUE(File::open(path).ok());
  std::remove(path.c_str());
  std::remove(full_path.c_str());
}

// Random byte corruptions of a valid file: each open either fails with a message naming
// the file or yields a File whose every value and tensor byte can be read (run under ASan).
TEST(GgufTest, RandomCorruptionNeverCrashes) {
  Writer w;
  w.set_string("general.architecture", "llama");
  w.set_uint32("general.alignment", 32);
  w.set_string_array("tokenizer.ggml.tokens", {"<s>", "</s>", "a", "bc"});
  w.set_float32_array("scores", {0.0f, -1.0f, -2.0f, -3.0f});
  std::vector<Value> inner;
  inner.push_back(Value::make_string_array(std::vector<std::string>{"p"}));
  w.set("nested", Value::make_array_of_arrays(std::move(inner)));
  std::vector<float> a(8, 1.0f);
  std::vector<uint8_t> q(2 * 18, 3);
  ASSERT_TRUE(w.add_tensor("a", DType::F32, {8}, a.data()).ok());
  ASSERT_TRUE(w.add_tensor("q", DType::Q4_0, {32, 2}, q.data()).ok());
  const std::string full_path = temp_path("_full");
  ASSERT_TRUE(w.write(full_path).ok());
  const std::string full = read_file(full_path);
  const std::string path = temp_path("_bad");
  uint64_t rng = 0x9e3779b97f4a7c15ull;
  auto next = [&rng] {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
  };
  int accepted = 0;
  for (int iter = 0; iter < 1500; ++iter) {
    std::string bytes = full;
    const int flips = 1 + static_cast<int>(next() % 3);
    for (int k = 0; k < flips; ++k) {
      const size_t at = next() % bytes.size();
      // Mostly small changes; sometimes a byte that makes lengths and counts huge.
      bytes[at] = static_cast<char>(next() % 4 == 0 ? 0xff : bytes[at] ^ (1 << (next() % 8)));
    }
    write_file(path, bytes);
    StatusOr<File> f = File::open(path);
    if (!f.ok()) {
      ASSERT_EQ(f.message().rfind(path + ": ", 0), 0u) << f.message();
      continue;
    }
    ++accepted;
    size_t sum = 0;
    for (const MetadataEntry& e : f->metadata()) sum += e.value.to_display_string().size();
    for (const TensorInfo& t : f->tensors()) sum += t.data[0] + t.data[t.num_bytes - 1];
    EXPECT_GT(sum, 0u);
  }
  EXPECT_GT(accepted, 0);  // some flips (in string contents, data) are harmless
  std::remove(path.c_str());
  std::remove(full_path.c_str());
}

TEST(GgufTest, BadHeader) {
  const std::string path = temp_path("");
  expect_error(path, "", "not a GGUF file");
  expect_error(path, "GGUF", "not a GGUF file");
  expect_error(path, Raw().u32(0x46554746).u32(3).u64(0).u64(0).b, "not a GGUF file (magic");
  expect_error(path, Raw().header(0, 0, 1).b, "GGUF version 1 is not supported");
  expect_error(path, Raw().header(0, 0, 4).b, "unsupported GGUF version 4");
  expect_error(path, Raw().header(0, 0, 0x03000000).b, "big-endian");
  expect_error(path, Raw().header(0, 0).b.substr(0, 20), "truncated");
  expect_error(path, Raw().header(0, uint64_t{1} << 60).b, "metadata count 1152921504606846976");
  expect_error(path, Raw().header(~uint64_t{0}, 0).b, "tensor count");
  std::remove(path.c_str());
}

TEST(GgufTest, BadMetadata) {
  const std::string path = temp_path("");
  // Huge key length and huge string value length.
  expect_error(path, Raw().header(0, 1).u64(~uint64_t{0}).zeros(20).b, "extends past end");
  expect_error(path, Raw().header(0, 1).str("k").u32(8).u64(uint64_t{1} << 62).zeros(20).b,
               "metadata key 'k': string value of 4611686018427387904 bytes");
  expect_error(path, Raw().header(0, 1).str("").u32(4).u32(1).b, "key length 0");
  // Unknown value type ids.
  expect_error(path, Raw().header(0, 1).str("k").u32(13).u64(0).b,
               "metadata key 'k': unknown value type id 13");
  expect_error(path, Raw().header(0, 1).str("k").u32(9).u32(77).u64(0).b,
               "unknown array element type id 77");
  // Huge array counts, of every element size.
  expect_error(path, Raw().header(0, 1).str("k").u32(9).u32(0).u64(1000).zeros(10).b,
               "array of 1000 UINT8 elements");
  expect_error(path, Raw().header(0, 1).str("k").u32(9).u32(8).u64(~uint64_t{0}).zeros(64).b,
               "array of 18446744073709551615 STRING elements");
  expect_error(path, Raw().header(0, 1).str("k").u32(9).u32(10).u64(uint64_t{1} << 61).b,
               "extends past end");
  expect_error(path, Raw().header(0, 1).str("k").u32(9).u32(9).u64(uint64_t{1} << 61).b,
               "extends past end");
  // A string inside an array running past the end.
  expect_error(path, Raw().header(0, 1).str("k").u32(9).u32(8).u64(1).u64(1000).zeros(8).b,
               "array string of 1000 bytes");
  // BOOL must be 0 or 1.
  expect_error(path, Raw().header(0, 1).str("k").u32(7).u8(2).b, "BOOL value");
  expect_error(path, Raw().header(0, 1).str("k").u32(9).u32(7).u64(2).u8(1).u8(5).b,
               "BOOL array element 1 is 5");
  // Duplicate keys.
  expect_error(path, Raw().header(0, 2).kv_u32("a.b", 1).kv_u32("a.b", 2).b,
               "duplicate metadata key 'a.b'");
  // Arrays nested too deep.
  Raw deep;
  deep.header(0, 1).str("k").u32(9);
  for (int i = 0; i < 20; ++i) deep.u32(9).u64(1);
  deep.u32(0).u64(0);
  expect_error(path, deep.b, "nested more than");
  std::remove(path.c_str());
}

TEST(GgufTest, BadAlignment) {
  const std::string path = temp_path("");
  expect_error(path, Raw().header(0, 1).kv_u32("general.alignment", 3).b,
               "general.alignment = 3 is not a power of two");
  expect_error(path, Raw().header(0, 1).kv_u32("general.alignment", 0).b, "general.alignment = 0");
  expect_error(path, Raw().header(0, 1).str("general.alignment").u32(8).str("32").b,
               "general.alignment has type STRING");
  std::remove(path.c_str());
}

TEST(GgufTest, BadTensorInfo) {
  const std::string path = temp_path("");
  auto one = [](const std::vector<uint64_t>& ne, DType type, uint64_t offset, size_t data) {
    Raw r;
    r.header(1, 0).tensor("blk.0.attn_q.weight", ne, type, offset).pad().zeros(data);
    return r.b;
  };
  // A valid baseline, so the cases below fail for the stated reason only.
  write_file(path, one({32, 2}, DType::Q4_0, 0, 36));
  ASSERT_TRUE(File::open(path).ok());

  expect_error(path, one({48, 2}, DType::Q4_0, 0, 64),
               "tensor 'blk.0.attn_q.weight': row length 48 is not a multiple of the Q4_0 "
               "block size 32");
  expect_error(path, one({}, DType::F32, 0, 64), "has 0 dimensions");
  expect_error(path, one({1, 1, 1, 1, 1}, DType::F32, 0, 64), "has 5 dimensions");
  expect_error(path, one({4, 0}, DType::F32, 0, 64), "dimension 1 is 0");
  expect_error(path, one({~uint64_t{0}}, DType::F32, 0, 64), "dimension 0 is");
  expect_error(path, one({uint64_t{1} << 32, uint64_t{1} << 32}, DType::F32, 0, 64),
               "element count overflows");
  expect_error(path, one({uint64_t{1} << 62}, DType::F32, 0, 64), "data size overflows");
  expect_error(path, one({uint64_t{1} << 40}, DType::F32, 0, 64), "extends past end of file");
  expect_error(path, one({4}, static_cast<DType>(4), 0, 64), "unknown tensor type id 4");
  expect_error(path, one({4}, static_cast<DType>(1000), 0, 64), "unknown tensor type id 1000");
  expect_error(path, one({4}, DType::F32, 8, 64), "offset 8 is not a multiple of the alignment 32");
  expect_error(path, one({4}, DType::F32, 64, 16), "extends past end of file");
  expect_error(path, one({4}, DType::F32, ~uint64_t{0} - 31, 16), "extends past end of file");

  // The example from the brief: the message names the tensor, its range and the file size.
  Raw r;
  r.header(1, 0).tensor("blk.0.attn_q.weight", {32, 4}, DType::F32, 0).pad().zeros(100);
  write_file(path, r.b);
  StatusOr<File> f = File::open(path);
  ASSERT_FALSE(f.ok());
  const std::string data_at = std::to_string(r.b.size() - 100);
  EXPECT_EQ(f.message(), path + ": tensor 'blk.0.attn_q.weight' data [offset " + data_at +
                             ", 512 bytes] extends past end of file (" +
                             std::to_string(r.b.size()) + " bytes)");

  // Duplicate names and overlapping data.
  Raw dup;
  dup.header(2, 0).tensor("w", {8}, DType::F32, 0).tensor("w", {8}, DType::F32, 32).pad();
  dup.zeros(64);
  expect_error(path, dup.b, "duplicate tensor name 'w'");
  Raw overlap;
  overlap.header(2, 0).tensor("a", {16}, DType::F32, 0).tensor("b", {8}, DType::F32, 32).pad();
  overlap.zeros(64);
  expect_error(path, overlap.b, "tensors 'a' [offset 0, 64 bytes] and 'b' [offset 32] overlap");
  Raw empty_name;
  empty_name.header(1, 0).tensor("", {8}, DType::F32, 0).pad().zeros(32);
  expect_error(path, empty_name.b, "empty tensor name");
  // Tensor count far beyond what the file can hold.
  expect_error(path, Raw().header(1000, 0).tensor("a", {8}, DType::F32, 0).b, "tensor count");
  std::remove(path.c_str());
}

TEST(GgufTest, OpenMissingFile) {
  StatusOr<File> f = File::open("/nonexistent/dir/model.gguf");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.message().rfind("/nonexistent/dir/model.gguf: ", 0), 0u) << f.message();
}

TEST(GgufTest, ValueHelpers) {
  EXPECT_EQ(value_type_name(ValueType::FLOAT64), "FLOAT64");
  EXPECT_EQ(value_type_name(static_cast<ValueType>(99)), "type 99");
  EXPECT_EQ(value_type_size(ValueType::INT16), 2u);
  EXPECT_EQ(value_type_size(ValueType::STRING), 0u);
  EXPECT_EQ(Value::make_string("a\"b\n").to_display_string(), "\"a\\\"b\\n\"");
  EXPECT_EQ(Value::make_float32(0.5f).to_display_string(), "0.5");
  EXPECT_EQ(Value::make_int8(-3).to_display_string(), "-3");
  EXPECT_EQ(Value::make_bool(true).to_display_string(), "true");
  std::vector<int32_t> many(20, 1);
  EXPECT_EQ(Value::make_array(ValueType::INT32, many.data(), many.size()).to_display_string(2),
            "[1, 1, ... (20 items)]");
  Value s = Value::make_string("owned");
  Value c = s.clone();
  s = Value::make_uint8(1);
  EXPECT_EQ(c.as_string(), "owned");
}

}  // namespace
}  // namespace kiln::gguf
