// `kiln batch MODEL -i requests.jsonl [-o outputs.jsonl]`: offline batch inference. Every
// line is one request; all of them go to the engine at once (or --concurrency at a time)
// and are answered with continuous batching, outputs written in input order. Each input
// line: {"id": any, "prompt": "text" | "prompt_token_ids": [ids], "max_tokens": 16,
// "temperature": 0, "top_p", "top_k", "min_p", "seed", "n", "stop": [..], "logprobs": k,
// "ignore_eos", "min_tokens", "presence_penalty", "frequency_penalty",
// "repetition_penalty"}. `--stats FILE` writes the engine's counters after the run, for
// tests that must see prefix-cache hits or preemptions.
#include <atomic>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "cli/model_arg.h"
#include "cli/structured_flags.h"
#include "cli/engine_setup.h"

namespace kiln::cli {
namespace {

using nlohmann::json;

struct BatchOptions {
  std::string model, input, output, stats;
  int threads = 0;
  int concurrency = 0;  // 0: every request at once
  EngineFlags engine;
  StructuredFlags structured;  // applies to every request
};

StatusOr<GenerationRequest> parse_fields(const json& j, const Tokenizer& tokenizer) {
  GenerationRequest r;
  if (j.contains("prompt_token_ids")) {
    r.prompt = j["prompt_token_ids"].get<std::vector<int32_t>>();
  } else if (j.contains("prompt") && j["prompt"].is_string()) {
    r.prompt = tokenizer.encode(j["prompt"].get<std::string>(), /*add_special=*/true,
                                /*parse_special=*/true);
  } else {
    return Status::Error("needs \"prompt\" (a string) or \"prompt_token_ids\"");
  }
  SamplingParams& p = r.sampling;
  p.temperature = j.value("temperature", 1.0f);
  p.top_p = j.value("top_p", 1.0f);
  p.top_k = j.value("top_k", 0);
  p.min_p = j.value("min_p", 0.0f);
  p.presence_penalty = j.value("presence_penalty", 0.0f);
  p.frequency_penalty = j.value("frequency_penalty", 0.0f);
  p.repetition_penalty = j.value("repetition_penalty", 1.0f);
  p.max_tokens = j.value("max_tokens", 16);
  p.min_tokens = j.value("min_tokens", 0);
  p.n = j.value("n", 1);
  p.logprobs = j.value("logprobs", -1);
  p.ignore_eos = j.value("ignore_eos", false);
  if (j.contains("seed")) p.seed = j["seed"].get<uint64_t>();
  if (j.contains("stop")) p.stop = j["stop"].get<std::vector<std::string>>();
  r.priority = j.value("priority", 0);
  return r;
}

StatusOr<GenerationRequest> parse_request(const json& j, const Tokenizer& tokenizer) {
  if (!j.is_object()) return Status::Error("a request must be a JSON object");
  try {
    return parse_fields(j, tokenizer);
  } catch (const json::exception& e) {
    return Status::Error(std::string("a field has the wrong type: ") + e.what());
  }
}

json sample_json(const std::vector<int32_t>& tokens,
                 const std::string& text, const std::vector<SampledToken>& logprobs,
                 const char* finish) {
  json out = {{"token_ids", tokens}, {"text", text}, {"finish_reason", finish}};
  if (!logprobs.empty()) {
    json lp = json::array();
    for (const SampledToken& t : logprobs) {
      json top = json::array();
      for (const TokenLogprob& e : t.top) top.push_back({e.token, e.logprob});
      lp.push_back({{"token", t.token}, {"logprob", t.logprob}, {"top", top}});
    }
    out["logprobs"] = lp;
  }
  return out;
}

int run_batch(const BatchOptions& o) {
  std::ifstream in(o.input);
  if (!in) {
    print_error(o.input + ": cannot open");
    return 1;
  }
  std::vector<json> lines;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
      print_error(o.input + ":" + std::to_string(number) + ": not valid JSON");
      return 1;
    }
    lines.push_back(std::move(j));
  }
  auto running = start_engine(o.model, o.threads, o.engine, /*log_kv=*/false);
  if (!running) return 1;
  auto grammar = compile_structured_flags(o.structured, *running->engine);
  if (!grammar.ok()) {
    print_error(grammar.message());
    return 1;
  }
  std::vector<GenerationRequest> requests;
  for (size_t i = 0; i < lines.size(); ++i) {
    auto r = parse_request(lines[i], *running->tokenizer);
    if (!r.ok()) {
      print_error(o.input + ": request " + std::to_string(i + 1) + ": " + r.message());
      return 1;
    }
    r->grammar = *grammar;
    requests.push_back(std::move(*r));
  }

  std::vector<json> results(requests.size());
  std::vector<int32_t> samples_of;  // n per request, kept before the requests move away
  for (const GenerationRequest& r : requests) samples_of.push_back(r.sampling.n);
  std::atomic<bool> failed{false};
  auto collect = [&](size_t i, StatusOr<std::shared_ptr<RequestStream>> stream) {
    if (!stream.ok()) {
      print_error(o.input + ": request " + std::to_string(i + 1) + ": " + stream.message());
      failed = true;
      return;
    }
    const int32_t n = samples_of[i];
    std::vector<std::vector<int32_t>> tokens(n);
    std::vector<std::string> text(n);
    std::vector<std::vector<SampledToken>> logprobs(n);
    std::vector<const char*> finish(n, "abort");
    json result = {{"id", lines[i].value("id", json(i))}};
    while (auto out = (*stream)->next()) {
      for (int32_t k = 0; k < n; ++k) {
        const SampleOutput& s = out->samples[k];
        tokens[k].insert(tokens[k].end(), s.token_ids.begin(), s.token_ids.end());
        text[k] += s.text;
        logprobs[k].insert(logprobs[k].end(), s.logprobs.begin(), s.logprobs.end());
        if (s.finish_reason) finish[k] = finish_reason_name(*s.finish_reason);
      }
      if (out->finished) {
        result["prompt_tokens"] = out->num_prompt_tokens;
        result["cached_tokens"] = out->num_cached_tokens;
        if (!out->error.ok()) result["error"] = out->error.message();
      }
    }
    json outputs = json::array();
    for (int32_t k = 0; k < n; ++k)
      outputs.push_back(sample_json(tokens[k], text[k], logprobs[k], finish[k]));
    result["outputs"] = outputs;
    results[i] = std::move(result);
  };
  std::vector<std::thread> threads;
  if (o.concurrency <= 0) {
    // One arrival for the whole file, so the engine's schedule (and whether it must
    // preempt) depends on the requests alone, not on how quickly threads start. Reading
    // the streams one after another is enough: a stream keeps what it has not handed out.
    auto streams = running->engine->submit_all(std::move(requests));
    for (size_t i = 0; i < streams.size(); ++i) collect(i, std::move(streams[i]));
  } else {
    std::atomic<size_t> next{0};
    auto client = [&] {
      for (size_t i; (i = next++) < requests.size();)
        collect(i, running->engine->submit(std::move(requests[i])));
    };
    for (size_t c = 0; c < std::min((size_t)o.concurrency, requests.size()); ++c)
      threads.emplace_back(client);
  }
  for (auto& t : threads) t.join();

  std::FILE* out = o.output.empty() ? stdout : std::fopen(o.output.c_str(), "w");
  if (!out) {
    print_error(o.output + ": cannot write");
    return 1;
  }
  for (const json& r : results) std::fprintf(out, "%s\n", r.dump().c_str());
  if (out != stdout) std::fclose(out);

  if (!o.stats.empty()) {
    running->engine->wait_until_idle();
    const EngineStats s = running->engine->stats();
    const json stats = {{"num_steps", s.num_steps},
                        {"max_step_tokens", s.max_step_tokens},
                        {"prompt_tokens_computed", s.prompt_tokens_computed},
                        {"generation_tokens", s.generation_tokens},
                        {"prefix_queried_tokens", s.prefix_queried_tokens},
                        {"prefix_hit_tokens", s.prefix_hit_tokens},
                        {"num_preemptions", s.num_preemptions},
                        {"kv_blocks_total", s.kv_blocks_total},
                        {"kv_blocks_used", s.kv_blocks_used},
                        {"structured_requests", s.structured_requests},
                        {"grammar_mask_seconds", s.grammar_mask_seconds},
                        {"grammar_forced_tokens", s.grammar_forced_tokens},
                        {"spec_drafts", s.spec_drafts},
                        {"spec_draft_tokens", s.spec_draft_tokens},
                        {"spec_accepted_tokens", s.spec_accepted_tokens},
                        {"spec_accepted_per_position", s.spec_accepted_per_position}};
    std::ofstream(o.stats) << stats.dump(2) << "\n";
  }
  return failed ? 1 : 0;
}

}  // namespace

void register_batch_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<BatchOptions>();
  CLI::App* cmd = app.add_subcommand("batch", "Run a JSONL file of requests through the engine");
  cmd->add_option("model", opts->model, "GGUF model file or model name in the store")->required();
  cmd->add_option("-i,--input", opts->input, "requests, one JSON object per line")->required();
  cmd->add_option("-o,--output", opts->output, "where to write the results (default: stdout)");
  cmd->add_option("--stats", opts->stats, "write the engine's counters here as JSON");
  cmd->add_option("--concurrency", opts->concurrency,
                  "requests in flight at once (default: all)")
      ->check(CLI::Range(0, 1 << 20));
  add_structured_options(cmd, opts->structured);
  cmd->add_option("-t,--threads", opts->threads, "compute threads (default: all cores)")
      ->check(CLI::Range(0, 1024));
  add_engine_flags(cmd, opts->engine);
  cmd->callback([opts, &exit_code] {
    if (!resolve_model_arg(opts->model)) {
      exit_code = 1;
      return;
    }
    exit_code = run_batch(*opts);
  });
}

}  // namespace kiln::cli
