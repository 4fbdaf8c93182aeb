// The GGUF reader plus everything that trusts what it validated: model-config validation,
// the tokenizer and chat template read from the metadata, and the weight loader. A file
// that opens must then load or fail with a message; one that loads must run a forward pass
// of two tokens without reading outside its tensors (the promise "passes validation, never
// crashes later"). Seeds: tiny models written by fuzz/make_corpus.py (llama, qwen2, qwen3,
// gemma3 shapes, F32/F16/Q8_0 weights, with vocabularies).
//
// File::open takes a path, so each input is written to a per-process file under $TMPDIR.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "engine/session.h"
#include "fuzz/fuzz_util.h"
#include "gguf/reader.h"
#include "model/model.h"
#include "model/model_config.h"
#include "tokenizer/tokenizer.h"
#include "util/thread_pool.h"

namespace {

const std::string& input_path() {
  static const std::string* path = [] {
    const char* dir = std::getenv("TMPDIR");
    return new std::string(std::string(dir && *dir ? dir : "/tmp") + "/kiln_gguf_fuzz_" +
                           std::to_string(getpid()) + ".gguf");
  }();
  return *path;
}

void write_file(const uint8_t* data, size_t size) {
  FILE* f = std::fopen(input_path().c_str(), "wb");
  if (!f) kiln::fuzz::fail("cannot write " + input_path());
  if (size && std::fwrite(data, 1, size, f) != size) kiln::fuzz::fail("short write");
  std::fclose(f);
}

void check_status(const kiln::Status& s, const char* what) {
  if (!s.ok()) kiln::fuzz::check(!s.message().empty(), std::string(what) + ": error without message");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  write_file(data, size);
  auto opened = kiln::gguf::File::open(input_path());
  if (!opened.ok()) {
    check_status(opened.status(), "open");
    return 0;
  }
  const kiln::gguf::File& file = opened.value();
  // Every accessor on every entry, as `kiln info` shows them.
  for (const auto& entry : file.metadata()) {
    (void)entry.value.to_display_string();
    (void)file.get_string_array(entry.key);
    (void)file.get_float_array(entry.key);
    (void)file.get_int_array(entry.key);
  }
  for (const auto& t : file.tensors()) {
    kiln::fuzz::check(t.data >= file.file_data() &&
                          t.data + t.num_bytes <= file.file_data() + file.file_size(),
                      "tensor " + t.name + " lies outside the file");
  }

  auto tokenizer = kiln::Tokenizer::from_gguf(file);
  check_status(tokenizer.status(), "tokenizer");
  if (tokenizer.ok()) {
    const auto ids = tokenizer.value().encode("Hello, wörld! <|im_end|>", true, true);
    (void)tokenizer.value().decode(ids);
  }
  if (auto source = file.get_string("tokenizer.chat_template")) {
    auto tmpl = kiln::chat::ChatTemplate::parse(*source);
    check_status(tmpl.status(), "chat template");
  }

  auto config = kiln::ModelConfig::from_gguf(file);
  check_status(config.status(), "config");
  if (!config.ok()) return 0;
  static kiln::ThreadPool pool(1);
  kiln::ModelOptions options;
  options.max_batch_tokens = 4;
  auto model = kiln::Model::load(file, pool, options);
  check_status(model.status(), "load");
  if (!model.ok()) return 0;
  kiln::Session session(*model.value(), 8, kiln::KvDType::kF32);
  const int32_t vocab = (int32_t)model.value()->config().vocab_size;
  const std::vector<int32_t> ids = {0, vocab - 1};
  auto s = session.append(ids);
  check_status(s, "forward");
  return 0;
}
