#include "structured/text_without.h"

#include <string>
#include <vector>

namespace kiln::structured {

Expr text_without(GrammarBuilder& builder, std::string_view marker) {
  KILN_CHECK(!marker.empty());
  const size_t m = marker.size();

  // fail[k]: the length of the longest proper border of marker[0, k).
  std::vector<size_t> fail(m + 1, 0);
  for (size_t k = 2; k <= m; ++k) {
    size_t j = fail[k - 1];
    while (j > 0 && marker[j] != marker[k - 1]) j = fail[j];
    if (marker[j] == marker[k - 1]) ++j;
    fail[k] = j;
  }
  // The KMP transition from state k (k < m) on byte b.
  auto next = [&](size_t k, uint8_t b) {
    while (k > 0 && (uint8_t)marker[k] != b) k = fail[k];
    return (uint8_t)marker[k] == b ? k + 1 : 0;
  };

  std::vector<uint32_t> state(m);
  for (size_t k = 0; k < m; ++k) state[k] = builder.declare("text-without-" + std::to_string(k));
  for (size_t k = 0; k < m; ++k) {
    // Group the bytes by the state they lead to; reaching state m (a whole marker) is the
    // one transition left out.
    std::vector<ByteSet> to(m);
    for (int b = 0; b < 256; ++b) {
      const size_t t = next(k, (uint8_t)b);
      if (t < m) to[t].add((uint8_t)b);
    }
    std::vector<Expr> alts{Expr::empty()};
    for (size_t t = 0; t < m; ++t) {
      if (!to[t].empty()) alts.push_back(Expr::seq({Expr::byte_set(to[t]), Expr::ref(state[t])}));
    }
    builder.define(state[k], Expr::alt(std::move(alts)));
  }
  return Expr::ref(state[0]);
}

}  // namespace kiln::structured
