#include "server/openai/completions.h"

#include "server/json_fields.h"
#include "server/openai/logprobs.h"
#include "server/openai/sampling.h"
#include "server/openai/structured_output.h"
#include "server/http/sse.h"

namespace kiln::server {
namespace {

bool is_token_list(const Json& v) {
  if (!v.is_array() || v.empty()) return false;
  for (const Json& t : v)
    if (!t.is_number_integer()) return false;
  return true;
}

std::vector<int32_t> token_list(const Json& v) {
  std::vector<int32_t> ids;
  for (const Json& t : v) {
    const int64_t id = t.get<int64_t>();
    // Out-of-range ids stay out of range, for the engine's message naming the vocabulary.
    ids.push_back(id < 0 || id > INT32_MAX ? -1 : (int32_t)id);
  }
  return ids;
}

// The prompts as token ids. Strings are tokenized as the model's tokenizer does by default:
// BOS added when the model wants it, special tokens written in the text parsed.
ApiResult<std::vector<std::vector<int32_t>>> read_prompts(const Json& prompt,
                                                          const Tokenizer& tokenizer) {
  const auto bad = [] {
    return ApiError::bad_request(
        "prompt must be a string, an array of strings, an array of token ids or an array of "
        "arrays of token ids",
        "prompt");
  };
  std::vector<std::vector<int32_t>> out;
  if (prompt.is_string()) {
    out.push_back(tokenizer.encode(prompt.get<std::string>(), true, true));
  } else if (is_token_list(prompt)) {
    out.push_back(token_list(prompt));
  } else if (prompt.is_array() && !prompt.empty()) {
    for (const Json& p : prompt) {
      if (p.is_string())
        out.push_back(tokenizer.encode(p.get<std::string>(), true, true));
      else if (is_token_list(p))
        out.push_back(token_list(p));
      else
        return bad();
    }
  } else {
    return bad();
  }
  return out;
}

class CompletionFormatterBase : public ResponseFormatter {
 protected:
  CompletionFormatterBase(const CompletionRequest& r, const Tokenizer& tokenizer, ResponseMeta meta)
      : tokenizer_(tokenizer),
        meta_(std::move(meta)),
        n_(r.generations.front().sampling.n),
        logprobs_(r.logprobs),
        prompt_tokens_(r.generations.size(), 0),
        cached_tokens_(r.generations.size(), 0),
        logprob_state_(r.generations.size() * (size_t)n_) {}

  Usage usage() const {
    Usage u;
    u.completion_tokens = completion_tokens_;
    for (size_t i = 0; i < prompt_tokens_.size(); ++i) {
      u.prompt_tokens += prompt_tokens_[i];
      u.cached_tokens += cached_tokens_[i];
    }
    return u;
  }
  Json base() const {
    return {{"id", meta_.id},
            {"object", "text_completion"},
            {"created", meta_.created},
            {"model", meta_.model}};
  }
  void note(size_t index, const RequestOutput& out) {
    prompt_tokens_[index] = out.num_prompt_tokens;
    cached_tokens_[index] = out.num_cached_tokens;
    for (const SampleOutput& s : out.samples) completion_tokens_ += (int64_t)s.token_ids.size();
  }

  const Tokenizer& tokenizer_;
  const ResponseMeta meta_;
  const int32_t n_;
  const int32_t logprobs_;
  std::vector<int64_t> prompt_tokens_, cached_tokens_;
  int64_t completion_tokens_ = 0;
  std::vector<CompletionLogprobs> logprob_state_;  // per choice
};

class CompletionStreamFormatter final : public CompletionFormatterBase {
 public:
  CompletionStreamFormatter(const CompletionRequest& r, const Tokenizer& t, ResponseMeta meta)
      : CompletionFormatterBase(r, t, std::move(meta)), include_usage_(r.include_usage) {}

  void on_output(size_t index, const RequestOutput& out, std::string& body) override {
    note(index, out);
    for (size_t i = 0; i < out.samples.size(); ++i) {
      const SampleOutput& s = out.samples[i];
      const bool has_logprobs = logprobs_ >= 0 && !s.logprobs.empty();
      if (s.text.empty() && !s.finish_reason && !has_logprobs) continue;
      const size_t choice = index * (size_t)n_ + i;
      Json logprobs;
      if (logprobs_ >= 0) {
        logprob_state_[choice].add(tokenizer_, s.logprobs);
        logprobs = logprob_state_[choice].take();
      }
      Json finish;
      if (s.finish_reason) finish = openai_finish_reason(*s.finish_reason);
      Json chunk = base();
      chunk["choices"] = Json::array({{{"index", choice},
                                       {"text", s.text},
                                       {"logprobs", std::move(logprobs)},
                                       {"finish_reason", std::move(finish)},
                                       {"stop_reason", openai_stop_reason(s.stop_cause)}}});
      if (include_usage_) chunk["usage"] = nullptr;
      append_sse_data(body, chunk);
    }
  }

  void on_finished(std::string& body) override {
    if (include_usage_) {
      Json chunk = base();
      chunk["choices"] = Json::array();
      chunk["usage"] = openai_usage_json(usage());
      append_sse_data(body, chunk);
    }
    body += kSseDone;
  }

  void on_stream_error(const ApiError& error, std::string& body) override {
    body += "data: " + error_body(error, ApiFlavor::kOpenAI) + "\n\n";
    body += kSseDone;
  }

 private:
  const bool include_usage_;
};

class CompletionBufferedFormatter final : public CompletionFormatterBase {
 public:
  CompletionBufferedFormatter(const CompletionRequest& r, const Tokenizer& t, ResponseMeta meta)
      : CompletionFormatterBase(r, t, std::move(meta)), collected_(r.generations.size()) {}

  void on_output(size_t index, const RequestOutput& out, std::string&) override {
    note(index, out);
    collected_[index].add(out);
  }

  void on_finished(std::string& body) override {
    Json choices = Json::array();
    for (size_t p = 0; p < collected_.size(); ++p) {
      for (size_t i = 0; i < collected_[p].samples.size(); ++i) {
        const CollectedSample& s = collected_[p].samples[i];
        const size_t choice = p * (size_t)n_ + i;
        Json logprobs;
        if (logprobs_ >= 0) {
          logprob_state_[choice].add(tokenizer_, s.logprobs);
          logprobs = logprob_state_[choice].take();
        }
        choices.push_back({{"index", choice},
                           {"text", s.text},
                           {"logprobs", std::move(logprobs)},
                           {"finish_reason",
                            openai_finish_reason(s.finish_reason.value_or(FinishReason::kAbort))},
                           {"stop_reason", openai_stop_reason(s.stop_cause)}});
      }
    }
    Json response = base();
    response["choices"] = std::move(choices);
    response["usage"] = openai_usage_json(usage());
    body = dump_json(response);
  }

  void on_stream_error(const ApiError&, std::string&) override {}

 private:
  std::vector<CollectedOutput> collected_;
};

}  // namespace

ApiResult<CompletionRequest> parse_completion_request(const Json& body, const ModelContext& model) {
  FieldReader f(body);
  CompletionRequest r;
  f.require("model");
  r.model = f.string("model").value_or("");
  f.require("prompt");
  if (!f.ok()) return f.error();
  if (!model.serves(r.model)) return ApiError::model_not_found(r.model);

  if (f.boolean("echo").value_or(false))
    f.fail("echo", "is not supported: kiln does not return the prompt with the completion");
  if (auto suffix = f.string("suffix"); suffix && !suffix->empty())
    f.fail("suffix", "is not supported: kiln does not do fill-in-the-middle completion");
  r.stream = f.boolean("stream").value_or(false);
  if (const Json* options = f.object("stream_options")) {
    if (!r.stream) {
      f.fail("stream_options", "is only allowed when stream is true");
    } else {
      FieldReader o(*options, "stream_options.");
      r.include_usage = o.boolean("include_usage").value_or(false);
      o.boolean("continuous_usage_stats");
      if (!o.ok()) f.fail(o.error());
    }
  }
  if (auto logprobs = f.integer("logprobs")) {
    if (*logprobs < 0 || *logprobs > SamplingParams::kMaxLogprobs)
      f.fail("logprobs", "must be in [0, " + std::to_string(SamplingParams::kMaxLogprobs) +
                             "], got " + std::to_string(*logprobs));
    else
      r.logprobs = (int32_t)*logprobs;
  }
  GenerationRequest base;
  read_openai_sampling(f, {kCompletionsDefaultMaxTokens}, base);
  base.sampling.logprobs = r.logprobs;
  if (!f.ok()) return f.error();
  read_structured_output(f, model, base);  // after the cheap checks: it may compile
  if (!f.ok()) return f.error();

  auto prompts = read_prompts(*f.any("prompt"), *model.tokenizer);
  if (!prompts.ok()) return prompts.error();
  for (auto& prompt : *prompts) {
    GenerationRequest g = base;
    g.prompt = std::move(prompt);
    r.generations.push_back(std::move(g));
  }
  return r;
}

std::unique_ptr<ResponseFormatter> make_completion_formatter(const CompletionRequest& request,
                                                             const Tokenizer& tokenizer,
                                                             ResponseMeta meta) {
  if (request.stream)
    return std::make_unique<CompletionStreamFormatter>(request, tokenizer, std::move(meta));
  return std::make_unique<CompletionBufferedFormatter>(request, tokenizer, std::move(meta));
}

}  // namespace kiln::server
