#include "tensor/quants.h"

namespace kiln {

const QuantOps* quant_ops(DType type) {
  if (const QuantOps* ops = float_quant_ops(type)) return ops;
  if (const QuantOps* ops = legacy_quant_ops(type)) return ops;
  return kquant_quant_ops(type);
}

}  // namespace kiln
