// `kiln quantize IN.gguf OUT.gguf --type TYPE`: rewrite a model with its weight matrices in
// another type. Every metadata key is copied (general.file_type updated); each tensor of two
// or more dimensions whose name ends in ".weight" is converted to TYPE (dequantize to F32,
// then quantize), falling back to the nearest type whose block fits the row length; 1-D
// tensors (norms, biases) are stored as F32; everything else is copied unchanged.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "gguf/file_type.h"
#include "gguf/reader.h"
#include "gguf/writer.h"
#include "tensor/quants.h"
#include "util/thread_pool.h"

namespace kiln::cli {
namespace {

struct QuantizeOptions {
  std::string input;
  std::string output;
  std::string type;
  int threads = 0;
  bool quiet = false;
};

// Weight types kiln computes with, and so the types a model can be quantized to.
constexpr DType kTargets[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q4_0, DType::Q4_1,
                              DType::Q5_0, DType::Q5_1, DType::Q8_0, DType::Q2_K, DType::Q3_K,
                              DType::Q4_K, DType::Q5_K, DType::Q6_K};

// Elements converted per task; bounds the scratch memory (one float buffer per thread).
constexpr int64_t kTaskElements = int64_t{1} << 18;

void report_error(const std::string& message) {
  std::fprintf(stderr, "kiln: %s\n", message.c_str());
}

std::optional<DType> parse_type(std::string name) {
  for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (DType t : kTargets) {
    if (dtype_name(t) == name) return t;
  }
  return std::nullopt;
}

std::string target_list() {
  std::string out;
  for (DType t : kTargets) out += (out.empty() ? "" : ", ") + std::string(dtype_name(t));
  return out;
}

// Types to try, nearest first, when `target`'s block does not divide a row. The k-quants
// fall back to the 32-element type of similar size (as llama.cpp does); F16 fits any row.
std::vector<DType> fallback_chain(DType target) {
  switch (target) {
    case DType::Q2_K:
    case DType::Q3_K:
      return {target, DType::Q4_0, DType::F16};
    case DType::Q4_K:
      return {target, DType::Q5_0, DType::F16};
    case DType::Q5_K:
      return {target, DType::Q5_1, DType::F16};
    case DType::Q6_K:
      return {target, DType::Q8_0, DType::F16};
    case DType::Q4_0:
    case DType::Q4_1:
    case DType::Q5_0:
    case DType::Q5_1:
    case DType::Q8_0:
      return {target, DType::F16};
    default:
      return {target};  // float types: block size 1
  }
}

struct TensorPlan {
  const gguf::TensorInfo* src;
  DType out_type;
  std::string note;  // why out_type is not the target, if it is not
};

TensorPlan plan_tensor(const gguf::TensorInfo& t, DType target) {
  TensorPlan p{&t, t.type, ""};
  const bool is_weight = t.name.size() > 7 && t.name.ends_with(".weight");
  if (t.shape.size() == 1) {
    // Norms and biases stay full precision; only float/quant sources can be converted.
    if (quant_ops(t.type)) p.out_type = DType::F32;
    return p;
  }
  if (!is_weight) return p;
  for (DType c : fallback_chain(target)) {
    if (t.shape[0] % dtype_block_size(c) == 0) {
      p.out_type = c;
      if (c != target) {
        p.note = "row length " + std::to_string(t.shape[0]) + " is not a multiple of the " +
                 std::string(dtype_name(target)) + " block size " +
                 std::to_string(dtype_block_size(target)) + "; using " + std::string(dtype_name(c));
      }
      return p;
    }
  }
  return p;  // unreachable: the chain ends with a type of block size 1
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s;
  for (size_t d = 0; d < shape.size(); ++d) s += (d ? " x " : "") + std::to_string(shape[d]);
  return s;
}

double mib(uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

// Converts one tensor row-chunk by row-chunk and streams it into the writer.
Status convert_tensor(const TensorPlan& p, ThreadPool& pool, gguf::Writer& writer,
                      std::vector<std::vector<float>>& scratch, std::vector<uint8_t>& out_buf) {
  const gguf::TensorInfo& t = *p.src;
  if (p.out_type == t.type) return writer.write_tensor_data(t.data, t.num_bytes);
  const QuantOps* from = quant_ops(t.type);
  const QuantOps* to = quant_ops(p.out_type);
  if (!from || !to || !from->dequantize || !to->quantize) {
    return Status::Error("tensor '" + t.name + "': cannot convert " +
                         std::string(dtype_name(t.type)) + " to " +
                         std::string(dtype_name(p.out_type)) + " (no conversion available)");
  }
  const int64_t row = t.row_length();
  const int64_t num_rows = t.num_rows();
  const int64_t in_row_bytes = dtype_row_bytes(t.type, row);
  const int64_t out_row_bytes = dtype_row_bytes(p.out_type, row);
  const int64_t rows_per_task = std::max<int64_t>(1, kTaskElements / row);
  const int64_t rows_per_wave = rows_per_task * pool.num_threads();
  out_buf.resize(static_cast<size_t>(std::min(rows_per_wave, num_rows) * out_row_bytes));
  for (int64_t wave = 0; wave < num_rows; wave += rows_per_wave) {
    const int64_t wave_rows = std::min(rows_per_wave, num_rows - wave);
    const int64_t num_tasks = (wave_rows + rows_per_task - 1) / rows_per_task;
    pool.parallel_for(num_tasks, [&](int64_t task, int thread) {
      std::vector<float>& buf = scratch[static_cast<size_t>(thread)];
      buf.resize(static_cast<size_t>(rows_per_task * row));
      const int64_t r0 = task * rows_per_task;
      const int64_t n_rows = std::min(rows_per_task, wave_rows - r0);
      const uint8_t* src = t.data + (wave + r0) * in_row_bytes;
      uint8_t* dst = out_buf.data() + r0 * out_row_bytes;
      from->dequantize(src, buf.data(), n_rows * row);
      to->quantize(buf.data(), dst, n_rows * row);
    });
    KILN_RETURN_IF_ERROR(
        writer.write_tensor_data(out_buf.data(), static_cast<uint64_t>(wave_rows * out_row_bytes)));
  }
  return Status::Ok();
}

int run_quantize(const QuantizeOptions& o) {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  const std::optional<DType> target = parse_type(o.type);
  if (!target) {
    report_error("unknown --type '" + o.type + "' (one of: " + target_list() + ")");
    return 1;
  }
  std::error_code ec;
  if (std::filesystem::equivalent(o.input, o.output, ec)) {
    report_error(o.output + ": the output must not be the input file");
    return 1;
  }
  StatusOr<gguf::File> in = gguf::File::open(o.input);
  if (!in.ok()) {
    report_error(in.message());
    return 1;
  }
  const gguf::File& file = *in;

  gguf::Writer writer;
  for (const gguf::MetadataEntry& e : file.metadata()) {
    // The output is one file: a split input's split.* keys would send readers looking for
    // parts that do not exist.
    if (e.key.starts_with("split.")) continue;
    writer.set(e.key, e.value.clone());
  }
  if (const std::optional<uint32_t> ft = gguf::file_type_for(*target)) {
    writer.set_uint32("general.file_type", *ft);
  }
  const bool quantized = dtype_block_size(*target) > 1;
  if (quantized && !writer.find("general.quantization_version")) {
    writer.set_uint32("general.quantization_version", 2);
  }

  std::vector<TensorPlan> plans;
  plans.reserve(file.tensors().size());
  for (const gguf::TensorInfo& t : file.tensors()) {
    plans.push_back(plan_tensor(t, *target));
    if (Status s = writer.add_tensor(t.name, plans.back().out_type, t.shape); !s.ok()) {
      report_error(o.output + ": " + s.message());
      return 1;
    }
  }
  if (Status s = writer.begin(o.output); !s.ok()) {
    report_error(s.message());
    return 1;
  }

  ThreadPool pool(o.threads);
  std::vector<std::vector<float>> scratch(static_cast<size_t>(pool.num_threads()));
  std::vector<uint8_t> out_buf;
  uint64_t in_bytes = 0;
  uint64_t out_bytes = 0;
  int num_fallbacks = 0;
  for (size_t i = 0; i < plans.size(); ++i) {
    const TensorPlan& p = plans[i];
    const gguf::TensorInfo& t = *p.src;
    if (Status s = convert_tensor(p, pool, writer, scratch, out_buf); !s.ok()) {
      report_error(o.input + ": " + s.message());
      return 1;
    }
    in_bytes += t.num_bytes;
    out_bytes += writer.tensor_bytes(i);
    if (!p.note.empty()) ++num_fallbacks;
    if (!o.quiet) {
      std::printf("[%4zu/%zu] %-36s %-16s %5s -> %-5s %9.2f -> %9.2f MiB%s%s\n", i + 1,
                  plans.size(), t.name.c_str(), shape_text(t.shape).c_str(),
                  std::string(dtype_name(t.type)).c_str(),
                  std::string(dtype_name(p.out_type)).c_str(), mib(t.num_bytes),
                  mib(writer.tensor_bytes(i)), p.note.empty() ? "" : "  NOTE: ", p.note.c_str());
    }
  }
  if (Status s = writer.finish(); !s.ok()) {
    report_error(s.message());
    return 1;
  }
  const double seconds = std::chrono::duration<double>(clock::now() - start).count();
  std::printf("wrote %s: %zu tensors as %s, %.2f MiB of tensor data (from %.2f MiB) in %.1f s",
              o.output.c_str(), plans.size(), std::string(dtype_name(*target)).c_str(),
              mib(out_bytes), mib(in_bytes), seconds);
  if (num_fallbacks > 0) {
    std::printf("; %d tensor%s used a fallback type (see NOTE)", num_fallbacks,
                num_fallbacks == 1 ? "" : "s");
  }
  std::printf("\n");
  return 0;
}

}  // namespace

void register_quantize_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<QuantizeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "quantize", "Write a copy of a GGUF model with its weight matrices in another type");
  cmd->add_option("IN", opts->input, "input GGUF file")->required();
  cmd->add_option("OUT", opts->output, "output GGUF file")->required();
  cmd->add_option("--type", opts->type, "target weight type: " + target_list())->required();
  cmd->add_option("-t,--threads", opts->threads, "threads (default: all cores)");
  cmd->add_flag("-q,--quiet", opts->quiet, "print only the summary");
  cmd->callback([opts, &exit_code] { exit_code = run_quantize(*opts); });
}

}  // namespace kiln::cli
