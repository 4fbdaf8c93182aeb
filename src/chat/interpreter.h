// Evaluates a parsed chat template the way jinja2's ImmutableSandboxedEnvironment does for
// Hugging Face: scoping (a fresh scope per loop iteration, macros see their defining scope),
// Undefined semantics (printing an undefined value gives "", using one raises), Python
// operators and truthiness, and the sandbox's refusals (no list.append, no dict.update).
//
// One Interpreter renders once; it is not thread-safe, but any number of Interpreters may
// render the same (immutable) tree at once.
#pragma once

#include <chrono>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "chat/ast.h"
#include "chat/value.h"

namespace kiln::chat {

// Bounds that keep a hostile template from hanging the process or exhausting its stack.
// NOTE: no legitimate chat template comes near these: a 20,000-message conversation renders
// in well under a second and a few hundred thousand steps.
struct RenderLimits {
  size_t max_output_bytes = size_t{64} << 20;  // also the cap on any one string
  int max_depth = 600;                         // nested expressions, blocks and calls
  uint64_t max_steps = 10'000'000;             // expressions and statements evaluated
  // Wall-clock bound, for work the step count does not see (each step over strings of up to
  // max_output_bytes). Checked every few hundred steps.
  double max_seconds = 5.0;
};

struct Frame {
  std::unordered_map<std::string, Value, StringHash, std::equal_to<>> vars;
  std::shared_ptr<Frame> parent;

  // The variable in this frame or the nearest enclosing one; nullptr if none.
  Value* find(std::string_view name);
};
using FramePtr = std::shared_ptr<Frame>;

class Interpreter {
 public:
  // now: the time strftime_now() formats (as UTC); unset: the current local time.
  Interpreter(RenderLimits limits, std::optional<std::time_t> now);

  // Renders `body` in a new top-level scope inside `globals`. Throws TemplateError.
  std::string render(const Body& body, const FramePtr& globals);

  // --- for the built-in filters, tests and functions ---
  Value call(const Value& callee, CallArgs& args);
  // `obj.name` and `obj[key]`, with jinja2's sandboxed lookup rules.
  Value getattr(const Value& obj, std::string_view name);
  Value getitem(const Value& obj, const Value& key);
  Value apply_filter(std::string_view name, const Value& input, CallArgs& args);
  bool apply_test(std::string_view name, const Value& input, CallArgs& args);
  Value binary(BinaryOp op, const Value& a, const Value& b);
  bool contains(const Value& container, const Value& item);
  // The items a for loop over `v` visits (a str's characters, a dict's keys, ...).
  std::vector<Value> iterate(const Value& v);
  // Throws when a string of `bytes` would exceed the output cap.
  void check_size(size_t bytes) const;
  std::optional<std::time_t> now() const { return now_; }
  // namespace() objects are mutable and may end up holding each other; render() empties
  // them when it ends so reference cycles cannot leak.
  void track_namespace(const std::shared_ptr<DictData>& ns) { namespaces_.push_back(ns); }

 private:
  enum class Flow { kNormal, kBreak, kContinue };

  struct DepthGuard {
    explicit DepthGuard(Interpreter& in);
    ~DepthGuard() { --interp.depth_; }
    Interpreter& interp;
  };

  Value eval(const Expr& e, const FramePtr& frame);
  Value eval_inner(const Expr& e, const FramePtr& frame);
  void eval_args(const CallArgExprs& exprs, const FramePtr& frame, CallArgs& out);
  Value eval_slice(const Value& obj, const SliceExpr& s, const FramePtr& frame);
  bool compare(CompareOp op, const Value& a, const Value& b);
  Value apply_filter_chain(const Expr& filter, Value input, const FramePtr& frame);

  Flow exec_body(const Body& body, const FramePtr& frame, std::string& out);
  Flow exec(const Stmt& s, const FramePtr& frame, std::string& out);
  void exec_for(const ForStmt& s, const Value& iterable, const FramePtr& frame, std::string& out,
                int loop_depth);
  void assign(const Target& t, const Value& v, const FramePtr& frame);
  Value make_macro(const MacroStmt& m, const FramePtr& closure);
  Value call_macro(const MacroStmt& m, const FramePtr& closure, CallArgs& args);
  void tick();

  RenderLimits limits_;
  std::optional<std::time_t> now_;
  void release_cycles();

  int depth_ = 0;
  uint64_t steps_ = 0;
  // Scopes captured by macros (which are themselves stored in scopes) and namespace objects:
  // the only ways a render can build a reference cycle.
  std::vector<std::weak_ptr<Frame>> captured_frames_;
  std::vector<std::weak_ptr<DictData>> namespaces_;
  std::chrono::steady_clock::time_point deadline_;
};

}  // namespace kiln::chat
