// Looks up a model's tensors by name and checks their shapes, handing out views into the
// mapped file. Vectors (norm weights) that are not stored as F32 are converted once and
// owned here, and so are the packed copies of the matrices the best kernels read in a
// layout of their own (kernels/cpu/packed_weights.h), made in parallel on the pool.
#pragma once

#include <deque>
#include <string>
#include <vector>

#include "gguf/reader.h"
#include "kernels/cpu/matmul.h"
#include "util/page_arena.h"
#include "util/status.h"
#include "util/thread_pool.h"

namespace kiln {

class WeightLoader {
 public:
  // pool: packs matrices at load when set (nullptr: views into the file only).
  // KILN_HUGE_PAGES=1 puts the packed copies in huge pages (util/page_arena.h says why
  // that is not the default).
  explicit WeightLoader(const gguf::File& file, ThreadPool* pool = nullptr);

  bool has(const std::string& name) const { return file_.find_tensor(name) != nullptr; }
  // A [rows x cols] matrix (GGUF shape {cols, rows}) of a type kiln can multiply with.
  StatusOr<cpu::WeightMatrix> matrix(const std::string& name, int64_t rows, int64_t cols);
  // A vector of n floats (converted to F32 if stored otherwise).
  StatusOr<const float*> vector(const std::string& name, int64_t n);

  // Takes ownership of converted vectors (the model keeps the loader alive).
  WeightLoader(WeightLoader&&) = default;

 private:
  Status pack(const std::string& name, cpu::WeightMatrix& m);

  const gguf::File& file_;
  ThreadPool* pool_;
  std::deque<std::vector<float>> owned_;
  PageArena packed_;
};

}  // namespace kiln
