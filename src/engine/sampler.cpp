#include "engine/sampler.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <functional>

namespace kiln {
namespace {

// Best first; equal weights by lower id, so the order never depends on the sort's whims.
bool better(float wa, int32_t ta, float wb, int32_t tb) { return wa > wb || (wa == wb && ta < tb); }

// [0, 1) from the top 53 bits: the same doubles from the same seed with any standard
// library (std::uniform_real_distribution's algorithm is unspecified).
double uniform01(std::mt19937_64& rng) { return (double)(rng() >> 11) * 0x1.0p-53; }

// NOTE: the loops below run over the whole vocabulary for every sequence at every step, so
// they are written for the compiler to vectorize at the baseline ISA: independent lanes
// instead of one running sum (float reductions are not reassociated without -ffast-math),
// and integer masks instead of float compares (not if-converted under -ftrapping-math).
// The max stays scalar (NaN rules), but its lanes pipeline where std::max_element branches.
constexpr size_t kLanes = 16;

float max_value(std::span<const float> x) {
  const float* p = x.data();
  const size_t n = x.size();
  float m[kLanes];
  for (size_t j = 0; j < kLanes; ++j) m[j] = -INFINITY;
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (size_t j = 0; j < kLanes; ++j) m[j] = p[i + j] > m[j] ? p[i + j] : m[j];
  for (; i < n; ++i) m[0] = p[i] > m[0] ? p[i] : m[0];
  float r = m[0];
  for (size_t j = 1; j < kLanes; ++j) r = m[j] > r ? m[j] : r;
  return r;
}

// Sums are taken in float lanes over blocks of kBlock and the blocks added in double:
// ~1e-7 relative error.
constexpr size_t kBlock = 1024;

double block_sum(std::span<const float> x) {
  float acc[kLanes] = {};
  size_t i = 0;
  for (; i + kLanes <= x.size(); i += kLanes)
    for (size_t j = 0; j < kLanes; ++j) acc[j] += x[i + j];
  for (; i < x.size(); ++i) acc[0] += x[i];
  double total = 0;
  for (float a : acc) total += a;
  return total;
}

double sum(std::span<const float> x) {
  double total = 0;
  for (size_t b = 0; b < x.size(); b += kBlock)
    total += block_sum(x.subspan(b, std::min(kBlock, x.size() - b)));
  return total;
}

// exp(x) for x <= 0 within 1e-7 relative (Cephes' expf polynomial); 0 below -87 and for
// -inf (suppressed tokens). For x <= 0, "x < -87" is an unsigned compare of the bits.
inline float exp_nonpositive(float x) {
  constexpr uint32_t kFloorBits = 0xC2AE0000u;  // -87.0f
  const uint32_t bits = std::bit_cast<uint32_t>(x);
  const uint32_t keep = bits > kFloorBits ? 0u : ~0u;
  const float c = std::bit_cast<float>((bits & keep) | (kFloorBits & ~keep));
  const float n = (c * 1.44269504f + 12582912.0f) - 12582912.0f;  // round to nearest
  const float r = (c - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const float v = p * std::bit_cast<float>(((int32_t)n + 127) << 23);
  return std::bit_cast<float>(std::bit_cast<uint32_t>(v) & keep);
}

}  // namespace

int32_t argmax(std::span<const float> logits) {
  const float m = max_value(logits);
  const auto it = std::find(logits.begin(), logits.end(), m);
  return it == logits.end() ? 0 : (int32_t)(it - logits.begin());  // not found: all NaN
}

TokenCounts::Slot& TokenCounts::find_or_insert(int32_t token) {
  const size_t mask = slots_.size() - 1;
  size_t i = (size_t)(((uint64_t)(uint32_t)token * 0x9E3779B97F4A7C15ull) >> 32) & mask;
  while (slots_[i].token >= 0 && slots_[i].token != token) i = (i + 1) & mask;
  if (slots_[i].token < 0) {
    slots_[i].token = token;
    ++size_;
  }
  return slots_[i];
}

void TokenCounts::add(int32_t token) {
  if ((size_ + 1) * 2 > slots_.size()) {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(std::max<size_t>(64, old.size() * 2), Slot{});
    size_ = 0;
    for (const Slot& s : old)
      if (s.token >= 0) find_or_insert(s.token).count = s.count;
  }
  ++find_or_insert(token).count;
}

// The tokens sampling may choose from: every token with a non-zero weight (all_vocab: the
// weights sit in the logits row, in id order), or candidates_[0, size), whose first
// min(size, logprobs) entries are in best-first order.
struct SequenceSampler::Kept {
  bool all_vocab = false;
  size_t size = 0;
  double total = 0;  // the kept weights' sum
};

SequenceSampler::SequenceSampler(const SamplingParams& params, uint64_t seed,
                                 std::span<const int32_t> prompt, int64_t vocab_size)
    : temperature_(params.temperature),
      top_p_(params.top_p),
      min_p_(params.min_p),
      top_k_(params.top_k),
      presence_penalty_(params.presence_penalty),
      frequency_penalty_(params.frequency_penalty),
      repetition_penalty_(params.repetition_penalty),
      logit_bias_(params.logit_bias),
      num_logprobs_(params.logprobs),
      vocab_size_(vocab_size),
      rng_(seed) {
  if (params.greedy()) temperature_ = 0.0f;
  if (repetition_penalty_ != 1.0f)
    for (int32_t t : prompt) {
      KILN_DCHECK(t >= 0 && t < vocab_size_);
      seen_.add(t);
    }
}

void SequenceSampler::accept(int32_t token) {
  KILN_DCHECK(token >= 0 && token < vocab_size_);
  if (frequency_penalty_ != 0.0f || presence_penalty_ != 0.0f) output_counts_.add(token);
  if (repetition_penalty_ != 1.0f) seen_.add(token);
}

void SequenceSampler::apply_bias_and_penalties(std::span<float> logits,
                                               std::span<const int32_t> suppressed) {
  for (const auto& [token, bias] : logit_bias_) logits[token] += bias;
  const float rep = repetition_penalty_;
  seen_.for_each([&](int32_t token, int32_t) {
    float& l = logits[token];
    l = l > 0 ? l / rep : l * rep;
  });
  output_counts_.for_each([&](int32_t token, int32_t count) {
    logits[token] -= frequency_penalty_ * (float)count + presence_penalty_;
  });
  for (int32_t token : suppressed) logits[token] = -INFINITY;
}

SequenceSampler::Kept SequenceSampler::truncate(std::span<float> logits, float inv_temperature,
                                                float max_logit) {
  const int64_t vocab = (int64_t)logits.size();
  const bool use_top_k = top_k_ > 0 && top_k_ < vocab;
  double set_total = 0;  // over the top-k set: the distribution top-p measures
  candidates_.clear();
  if (use_top_k) {
    // The k-th largest logit through a min-heap of k: one pass, no vocabulary-sized buffer.
    // Every logit equal to it is kept too, as vLLM does.
    heap_.assign(logits.begin(), logits.begin() + top_k_);
    std::make_heap(heap_.begin(), heap_.end(), std::greater<>());
    for (int64_t i = top_k_; i < vocab; ++i) {
      if (logits[i] <= heap_.front()) continue;
      std::pop_heap(heap_.begin(), heap_.end(), std::greater<>());
      heap_.back() = logits[i];
      std::push_heap(heap_.begin(), heap_.end(), std::greater<>());
    }
    const float kth = heap_.front();
    for (int64_t i = 0; i < vocab; ++i) {
      if (logits[i] < kth) continue;
      const float w = exp_nonpositive((logits[i] - max_logit) * inv_temperature);
      if (w > 0) candidates_.push_back({w, (int32_t)i});
      set_total += w;
    }
  } else {
    for (float& x : logits) x = exp_nonpositive((x - max_logit) * inv_temperature);
    set_total = sum(logits);
  }
  // No weight below `threshold` can be kept. min-p keeps weights >= min_p (the largest is
  // 1). For top-p: the tokens below t = (1 - top_p) * total / n together weigh less than
  // (1 - top_p) * total, so the tokens ranked above any of them already reach top_p and it
  // is outside the nucleus. For a language model's peaked distribution this leaves a few
  // hundred candidates of the vocabulary.
  const size_t set_size = use_top_k ? candidates_.size() : (size_t)vocab;
  float threshold = min_p_;
  if (top_p_ < 1.0f)
    threshold = std::max(threshold, (float)((1.0 - top_p_) * set_total / (double)set_size));
  Kept kept;
  if (!use_top_k) {
    if (threshold <= 0) return {.all_vocab = true, .size = (size_t)vocab, .total = set_total};
    // Weights are >= 0, where float order is the order of the bits as integers: count the
    // block's survivors with integer compares (vectorized), and look closer only at blocks
    // that have any.
    const int32_t threshold_bits = std::bit_cast<int32_t>(threshold);
    for (size_t b = 0; b < (size_t)vocab; b += 256) {
      const std::span<const float> block = logits.subspan(b, std::min<size_t>(256, vocab - b));
      int32_t survivors = 0;
      for (float w : block) survivors += std::bit_cast<int32_t>(w) >= threshold_bits;
      for (size_t i = 0; survivors > 0; ++i) {
        if (std::bit_cast<int32_t>(block[i]) < threshold_bits) continue;
        candidates_.push_back({block[i], (int32_t)(b + i)});
        --survivors;
      }
    }
  } else if (threshold > 0) {
    std::erase_if(candidates_, [&](const Candidate& c) { return c.weight < threshold; });
  }
  auto by_weight = [](const Candidate& a, const Candidate& b) {
    return better(a.weight, a.token, b.weight, b.token);
  };
  const auto first = candidates_.begin();
  const size_t n = candidates_.size();
  kept.size = n;
  if (top_p_ < 1.0f) {
    // The smallest best-first prefix whose weight reaches top_p of the set's, by quickselect
    // on weight: each round splits the undecided range at its median and keeps or drops a
    // whole half, so even a nucleus of thousands costs O(n) rather than a sort.
    const double target = top_p_ * set_total;
    double cum = 0;         // the weight of candidates_[0, lo), all kept
    size_t lo = 0, hi = n;  // the prefix ends in (lo, hi]
    while (hi - lo > 32) {
      const size_t mid = lo + (hi - lo) / 2;
      std::nth_element(first + lo, first + mid, first + hi, by_weight);
      double half = 0;
      for (size_t i = lo; i < mid; ++i) half += candidates_[i].weight;
      if (cum + half >= target) {
        hi = mid;
      } else {
        cum += half;
        lo = mid;
      }
    }
    std::sort(first + lo, first + hi, by_weight);
    while (lo < hi && cum < target) cum += candidates_[lo++].weight;
    kept.size = lo;
    kept.total = cum;
  } else {
    for (const Candidate& c : candidates_) kept.total += c.weight;
  }
  if (num_logprobs_ > 0) {
    const size_t num_top = std::min(kept.size, (size_t)num_logprobs_);
    std::partial_sort(first, first + num_top, first + kept.size, by_weight);
  }
  return kept;
}

// A draw in proportion to the kept weights; returns the index into the kept set.
int32_t SequenceSampler::draw(std::span<const float> weights, const Kept& kept) {
  const double u = uniform01(rng_) * kept.total;
  double cum = 0;
  if (kept.all_vocab) {
    // Skip whole blocks by their (vectorized) sums, then walk the block u falls in.
    const size_t n = weights.size();
    for (size_t b = 0; b < n; b += kBlock) {
      const size_t end = std::min(n, b + kBlock);
      const double block = block_sum(weights.subspan(b, end - b));
      if (cum + block <= u) {
        cum += block;
        continue;
      }
      for (size_t i = b; i < end; ++i)
        if ((cum += weights[i]) > u) return (int32_t)i;
    }
    // Rounding left u unreached: the last token with a weight (the argmax has weight 1).
    size_t i = n;
    while (!(weights[i - 1] > 0)) --i;
    return (int32_t)(i - 1);
  }
  for (size_t i = 0; i < kept.size; ++i) {
    cum += candidates_[i].weight;
    if (cum > u) return (int32_t)i;
  }
  return (int32_t)kept.size - 1;
}

void SequenceSampler::fill_logprobs(std::span<const float> weights, const Kept& kept,
                                    SampledToken& out) {
  const double log_total = std::log(kept.total);
  auto logprob = [&](float w) { return (float)(std::log((double)w) - log_total); };
  const size_t num_top = std::min(kept.size, (size_t)std::max(num_logprobs_, 0));
  out.top.clear();
  out.top.reserve(num_top);
  if (!kept.all_vocab) {
    for (size_t i = 0; i < num_top; ++i)
      out.top.push_back({candidates_[i].token, logprob(candidates_[i].weight)});
    return;
  }
  // One pass keeping the best num_top in a small sorted array.
  Candidate best[SamplingParams::kMaxLogprobs];
  size_t num_best = 0;
  for (size_t i = 0; i < weights.size() && num_top > 0; ++i) {
    const float w = weights[i];
    if (w <= 0 || (num_best == num_top && w <= best[num_best - 1].weight)) continue;
    size_t j = num_best < num_top ? num_best++ : num_top - 1;
    for (; j > 0 && best[j - 1].weight < w; --j) best[j] = best[j - 1];
    best[j] = {w, (int32_t)i};
  }
  for (size_t i = 0; i < num_best; ++i) out.top.push_back({best[i].token, logprob(best[i].weight)});
}

SampledToken SequenceSampler::forced(int32_t token) {
  SampledToken out;
  out.token = token;
  if (temperature_ != 0.0f) (void)uniform01(rng_);  // draw() takes exactly one
  if (num_logprobs_ > 0) out.top.push_back({token, 0.0f});
  return out;
}

SampledToken SequenceSampler::verify(std::span<float> logits, std::span<const int32_t> suppressed,
                                     int32_t draft, bool& accepted) {
  if (temperature_ == 0.0f) {
    SampledToken out = sample(logits, suppressed);
    accepted = out.token == draft;
    return out;
  }
  KILN_DCHECK((int64_t)logits.size() == vocab_size_ && draft >= 0 && draft < vocab_size_);
  apply_bias_and_penalties(logits, suppressed);
  const float max_logit = logits[argmax(logits)];
  KILN_CHECK(max_logit > -INFINITY);
  Kept kept = truncate(logits, 1.0f / temperature_, max_logit);
  // The draft's weight in the kept set (0 when truncation dropped it).
  float* draft_weight = nullptr;
  if (kept.all_vocab) {
    draft_weight = &logits[draft];
  } else {
    for (size_t i = 0; i < kept.size; ++i)
      if (candidates_[i].token == draft) draft_weight = &candidates_[i].weight;
  }
  SampledToken out;
  if (num_logprobs_ >= 0) fill_logprobs(logits, kept, out);  // before the draft is removed
  const double total = kept.total;
  const float w_draft = draft_weight ? *draft_weight : 0.0f;
  float weight = w_draft;
  accepted = uniform01(rng_) * total < (double)w_draft;
  if (accepted) {
    out.token = draft;
  } else {
    // The residual max(0, p - q) for a point-mass q: p without the draft.
    if (draft_weight) *draft_weight = 0.0f;
    kept.total -= w_draft;
    const int32_t i = draw(logits, kept);
    out.token = kept.all_vocab ? i : candidates_[i].token;
    weight = kept.all_vocab ? logits[i] : candidates_[i].weight;
    if (!(weight > 0)) {
      // Rounding ran past the last weight onto the removed draft: the best other token.
      out.token = draft;
      weight = 0;
      if (kept.all_vocab) {
        for (size_t t = 0; t < logits.size(); ++t)
          if (logits[t] > weight) weight = logits[t], out.token = (int32_t)t;
      } else {
        for (size_t c = 0; c < kept.size; ++c)
          if (candidates_[c].weight > weight)
            weight = candidates_[c].weight, out.token = candidates_[c].token;
      }
      // Only the draft had weight, so p(draft) = 1 and it was the token after all.
      if (out.token == draft) accepted = true, weight = w_draft;
    }
  }
  if (num_logprobs_ >= 0) out.logprob = (float)(std::log((double)weight) - std::log(total));
  return out;
}

SampledToken SequenceSampler::sample(std::span<float> logits, std::span<const int32_t> suppressed) {
  KILN_DCHECK((int64_t)logits.size() == vocab_size_);
  apply_bias_and_penalties(logits, suppressed);
  const int32_t best = argmax(logits);
  const float max_logit = logits[best];
  KILN_CHECK(max_logit > -INFINITY);  // some token must remain allowed (and none be NaN)
  SampledToken out;
  out.token = best;
  const bool greedy = temperature_ == 0.0f;
  if (greedy && num_logprobs_ < 0) return out;
  const Kept kept = truncate(logits, greedy ? 1.0f : 1.0f / temperature_, max_logit);
  float weight = 1.0f;  // the argmax's
  if (!greedy) {
    const int32_t i = draw(logits, kept);
    out.token = kept.all_vocab ? i : candidates_[i].token;
    weight = kept.all_vocab ? logits[i] : candidates_[i].weight;
  }
  if (num_logprobs_ >= 0) {
    out.logprob = (float)(std::log((double)weight) - std::log(kept.total));
    fill_logprobs(logits, kept, out);
  }
  return out;
}

}  // namespace kiln
