// Ollama's POST /api/chat and /api/generate bodies read into a GenerationRequest.
//
// Sampling starts from Ollama's defaults (temperature 0.8, top_k 40, top_p 0.9,
// repeat_penalty 1.1, num_predict -1), then the model's Modelfile PARAMETERs (kiln create),
// then the request's `options`. Options that tune Ollama's runner rather than sampling
// (num_gpu, num_thread, use_mmap, ...) are accepted and have no effect, as Ollama itself
// ignores options a runner does not use. What kiln cannot do is a 400 in Ollama's shape:
// images, Go `template`s, `suffix` (fill-in-the-middle), `think`.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "engine/request.h"
#include "server/errors.h"
#include "server/json_util.h"
#include "server/model_context.h"
#include "server/openai/tools.h"

namespace kiln::server::ollama {

struct OllamaRequest {
  std::string model;  // as the client named it
  bool chat = false;  // /api/chat (a message) or /api/generate (a response string)
  bool stream = true;
  std::optional<double> keep_alive;  // seconds; < 0 forever
  // No prompt (generate) or no messages (chat): only load the model, or unload it when
  // keep_alive is 0 (Ollama's way of managing models through these routes).
  bool load_only = false;
  // num_predict 0: answer at once with nothing generated.
  bool nothing_to_generate = false;
  // generate: echo the conversation's tokens back as `context` (not in raw mode).
  bool return_context = false;
  GenerationRequest generation;
  OpenAIToolSettings tools;  // chat: calls parsed out of the output
};

// `defaults` are the model's Modelfile defaults ({"options", "system"}; may be empty).
ApiResult<OllamaRequest> parse_ollama_request(const Json& body, bool chat,
                                              const ModelContext& model, const Json& defaults);

}  // namespace kiln::server::ollama
