#include "model/weights.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string_view>

#include "kernels/cpu/packed_weights.h"
#include "tensor/quants.h"

namespace kiln {

namespace {
std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}
bool huge_pages_requested() {
  const char* env = std::getenv("KILN_HUGE_PAGES");
  return env != nullptr && std::string_view(env) == "1";
}
}  // namespace

WeightLoader::WeightLoader(const gguf::File& file, ThreadPool* pool)
    : file_(file), pool_(pool), packed_(huge_pages_requested()) {}

StatusOr<cpu::WeightMatrix> WeightLoader::matrix(const std::string& name, int64_t rows,
                                                 int64_t cols) {
  const gguf::TensorInfo* t = file_.find_tensor(name);
  if (!t) return Status::Error(file_.path() + ": missing tensor '" + name + "'");
  if (t->shape.size() != 2 || t->shape[0] != cols || t->shape[1] != rows)
    return Status::Error(file_.path() + ": tensor '" + name + "' has shape " +
                         shape_string(t->shape) + ", expected [" + std::to_string(cols) + ", " +
                         std::to_string(rows) + "]");
  if (!cpu::matmul_supported(t->type))
    return Status::Error(file_.path() + ": tensor '" + name + "' has weight type " +
                         std::string(dtype_name(t->type)) + ", which kiln cannot compute with");
  cpu::WeightMatrix m{t->type, t->data, rows, cols};
  if (pool_ != nullptr && cpu::matmul_wants_packed(m.type, rows, cols))
    KILN_RETURN_IF_ERROR(pack(name, m));
  return m;
}

Status WeightLoader::pack(const std::string& name, cpu::WeightMatrix& m) {
  const auto bytes = (size_t)cpu::packed_weights_bytes(m.type, m.rows, m.cols);
  void* dst = packed_.allocate(bytes);
  if (dst == nullptr)
    return Status::Error(file_.path() + ": cannot allocate " + std::to_string(bytes) +
                         " bytes for the packed copy of tensor '" + name +
                         "' (out of memory; KILN_PACK=0 computes from the mapped file instead)");
  const int64_t groups = m.rows / cpu::kPackRows;
  const int64_t per_task = std::max<int64_t>(1, groups / (8 * pool_->num_threads()));
  const cpu::WeightMatrix src = m;
  pool_->parallel_for((groups + per_task - 1) / per_task,
                      [&src, dst, groups, per_task](int64_t task, int) {
                        const int64_t first = task * per_task;
                        cpu::pack_weight_groups(src.type, src.data, src.cols, first,
                                                std::min(per_task, groups - first), dst);
                      });
  m.packed = dst;
  // The kernels read the packed copy from now on; drop the file's pages from this
  // process's resident set (they are read back from the page cache if a lower ISA tier
  // is ever asked for).
  const auto page = (uintptr_t)sysconf(_SC_PAGESIZE);
  const auto begin = ((uintptr_t)m.data + page - 1) & ~(page - 1);
  const auto end =
      ((uintptr_t)m.data + (uintptr_t)(m.rows * dtype_row_bytes(m.type, m.cols))) & ~(page - 1);
  if (end > begin) ::madvise((void*)begin, end - begin, MADV_DONTNEED);
  return Status::Ok();
}

StatusOr<const float*> WeightLoader::vector(const std::string& name, int64_t n) {
  const gguf::TensorInfo* t = file_.find_tensor(name);
  if (!t) return Status::Error(file_.path() + ": missing tensor '" + name + "'");
  if (t->num_elements != n)
    return Status::Error(file_.path() + ": tensor '" + name + "' has " +
                         std::to_string(t->num_elements) + " elements, expected " +
                         std::to_string(n));
  // Mapped data is only guaranteed `alignment`-aligned, which is enough for float loads.
  if (t->type == DType::F32) return reinterpret_cast<const float*>(t->data);
  const QuantOps* ops = quant_ops(t->type);
  if (!ops)
    return Status::Error(file_.path() + ": tensor '" + name + "' has unsupported type " +
                         std::string(dtype_name(t->type)));
  auto& out = owned_.emplace_back(n);
  ops->dequantize(t->data, out.data(), n);
  return out.data();
}

}  // namespace kiln
