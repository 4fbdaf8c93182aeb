// What the server unit tests share: a tiny byte-level tokenizer (one token per byte, plus
// ChatML's two control tokens), a ModelContext around it without an engine, and builders
// for the engine outputs the formatters consume.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "engine/request.h"
#include "server/model_context.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace kiln::server::testing {

inline const Tokenizer& byte_tokenizer() {
  static const Tokenizer* tokenizer = [] {
    TokenizerData d;
    d.model = "gpt2";
    d.pre = "gpt2";
    for (int b = 0; b < 256; ++b) {
      std::string text;
      utf8_append(text, byte_to_unicode(static_cast<uint8_t>(b)));
      d.tokens.push_back(text);
    }
    d.token_types.assign(256, 1);
    for (const char* special : {"<|im_start|>", "<|im_end|>"}) {
      d.tokens.push_back(special);
      d.token_types.push_back(3);  // control
    }
    d.bos_id = 256;
    d.eos_id = 257;
    auto t = Tokenizer::from_data(std::move(d));
    if (!t.ok()) std::abort();
    return new Tokenizer(std::move(t).value());
  }();
  return *tokenizer;
}

inline ModelContext test_model() {
  ModelContext m;
  m.tokenizer = &byte_tokenizer();
  m.chat_template = chat::ChatTemplate::parse(chat::default_chatml_template()).value();
  m.bos_token = "<|im_start|>";
  m.eos_token = "<|im_end|>";
  m.served_names = {"tiny", "tiny-alias"};
  m.max_model_len = 256;
  m.max_num_seqs = 4;
  m.created = 1700000000;
  return m;
}

// One output with `texts[i]` (and that many byte tokens) for sample i.
inline RequestOutput output(const std::vector<std::string>& texts,
                            std::vector<std::optional<FinishReason>> finish = {},
                            int32_t prompt_tokens = 10, int32_t cached_tokens = 0) {
  RequestOutput out;
  out.num_prompt_tokens = prompt_tokens;
  out.num_cached_tokens = cached_tokens;
  out.finished = !finish.empty();
  for (size_t i = 0; i < texts.size(); ++i) {
    SampleOutput s;
    s.text = texts[i];
    for (unsigned char c : texts[i]) {
      s.token_ids.push_back(c);
      s.logprobs.push_back(SampledToken{c, -0.5f, {{c, -0.5f}, {'z', -1.5f}}});
    }
    s.num_generated = (int32_t)s.token_ids.size();
    if (i < finish.size()) s.finish_reason = finish[i];
    out.samples.push_back(std::move(s));
  }
  return out;
}

}  // namespace kiln::server::testing
