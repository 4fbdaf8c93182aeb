#include "model/weights.h"

#include "tensor/quants.h"

namespace kiln {

namespace {
std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}
}  // namespace

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
  return cpu::WeightMatrix{t->type, t->data, rows, cols};
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
  if (!ops) return Status::Error(file_.path() + ": tensor '" + name + "' has unsupported type " +
                                 std::string(dtype_name(t->type)));
  auto& out = owned_.emplace_back(n);
  ops->dequantize(t->data, out.data(), n);
  return out.data();
}

}  // namespace kiln
