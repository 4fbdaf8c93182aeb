// A conversation turned into prompt token ids through the model's chat template: OpenAI's
// messages are checked and flattened to what templates expect (content as one string),
// rendered as transformers' apply_chat_template would, and tokenized without adding BOS
// again (templates write it themselves). Anthropic's messages are converted to the same
// shape by anthropic/messages.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "server/errors.h"
#include "server/json_util.h"
#include "server/model_context.h"

namespace kiln::server {

// OpenAI chat messages (roles system, developer, user, assistant, tool; content a string, an
// array of text parts, or null beside tool_calls) flattened for a template: text parts are
// joined with "\n" (vLLM's rule for string-content templates) and "developer" becomes
// "system". Other part types (images, audio, files) are a 400 naming the part. As in vLLM,
// a null or absent content beside tool_calls becomes "", and an assistant's tool call
// arguments given as a JSON string become the object (templates render it with tojson).
ApiResult<Json> normalize_openai_messages(const Json& messages);

struct ChatPromptOptions {
  Json tools;  // null: none
  bool add_generation_prompt = true;
  // Render the final (assistant) message open, so generation continues it: the rendering is
  // cut right after that message's text (vLLM's continue_final_message; Anthropic's prefill).
  bool continue_final_message = false;
  Json template_kwargs = Json::object();  // extra template variables (chat_template_kwargs)
};

// The rendered prompt text. Template errors (e.g. a template's raise_exception about role
// order) are 400s naming `messages`.
ApiResult<std::string> render_chat_prompt(const ModelContext& model, const Json& messages,
                                          const ChatPromptOptions& options);

// The rendered text's token ids: special tokens written by the template are parsed, and no
// BOS is added (the template wrote it if the model wants one).
std::vector<int32_t> tokenize_chat_prompt(const ModelContext& model, const std::string& text);

}  // namespace kiln::server
