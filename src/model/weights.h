// Looks up a model's tensors by name and checks their shapes, handing out views into the
// mapped file. Vectors (norm weights) that are not stored as F32 are converted once and
// owned here.
#pragma once

#include <deque>
#include <string>
#include <vector>

#include "gguf/reader.h"
#include "kernels/cpu/matmul.h"
#include "util/status.h"

namespace kiln {

class WeightLoader {
 public:
  explicit WeightLoader(const gguf::File& file) : file_(file) {}

  bool has(const std::string& name) const { return file_.find_tensor(name) != nullptr; }
  // A [rows x cols] matrix (GGUF shape {cols, rows}) of a type kiln can multiply with.
  StatusOr<cpu::WeightMatrix> matrix(const std::string& name, int64_t rows, int64_t cols);
  // A vector of n floats (converted to F32 if stored otherwise).
  StatusOr<const float*> vector(const std::string& name, int64_t n);

  // Takes ownership of converted vectors (the model keeps the loader alive).
  WeightLoader(WeightLoader&&) = default;

 private:
  const gguf::File& file_;
  std::deque<std::vector<float>> owned_;
};

}  // namespace kiln
