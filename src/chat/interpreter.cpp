#include "chat/interpreter.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "chat/builtins.h"
#include "chat/py_string.h"

namespace kiln::chat {
namespace {

[[noreturn]] void raise_undefined(const Value& v) {
  throw TemplateError(v.undefined_message().empty() ? "undefined value" : v.undefined_message());
}

std::string object_type_repr(const Value& v) {
  if (v.is_none()) return "None";
  return v.type_name() + " object";
}

Value missing_attribute(const Value& obj, std::string_view name) {
  std::string message = "'";
  message.append(object_type_repr(obj)).append("' has no attribute '").append(name).append("'");
  return Value::undefined(std::move(message));
}

Value missing_element(const Value& obj, const Value& key) {
  if (key.is_string()) return missing_attribute(obj, key.as_string());
  return Value::undefined(object_type_repr(obj) + " has no element " + to_repr(key));
}

FramePtr child_frame(const FramePtr& parent) {
  auto f = std::make_shared<Frame>();
  f->parent = parent;
  return f;
}

std::string_view op_symbol(BinaryOp op) {
  switch (op) {
    case BinaryOp::kAdd:
      return "+";
    case BinaryOp::kSub:
      return "-";
    case BinaryOp::kMul:
      return "*";
    case BinaryOp::kDiv:
      return "/";
    case BinaryOp::kFloorDiv:
      return "//";
    case BinaryOp::kMod:
      return "%";
    case BinaryOp::kPow:
      return "** or pow()";
  }
  return "?";
}

[[noreturn]] void unsupported(BinaryOp op, const Value& a, const Value& b) {
  throw TemplateError("unsupported operand type(s) for " + std::string(op_symbol(op)) + ": '" +
                      a.type_name() + "' and '" + b.type_name() + "'");
}

[[noreturn]] void overflow() {
  throw TemplateError("integer overflow (kiln's template integers are 64-bit)");
}

// Python's float divmod (Objects/floatobject.c), so // and % agree with CPython.
std::pair<double, double> float_divmod(double vx, double wx) {
  if (wx == 0) throw TemplateError("float division by zero");
  double mod = std::fmod(vx, wx);
  double div = (vx - mod) / wx;
  if (mod != 0) {
    if ((wx < 0) != (mod < 0)) {
      mod += wx;
      div -= 1.0;
    }
  } else {
    mod = std::copysign(0.0, wx);
  }
  double floordiv;
  if (div != 0) {
    floordiv = std::floor(div);
    if (div - floordiv > 0.5) floordiv += 1.0;
  } else {
    floordiv = std::copysign(0.0, vx / wx);
  }
  return {floordiv, mod};
}

// Python slice bounds (PySlice_AdjustIndices): the indices a[start:stop:step] visits.
std::vector<int64_t> slice_indices(int64_t len, std::optional<int64_t> start,
                                   std::optional<int64_t> stop, int64_t step) {
  auto adjust = [&](std::optional<int64_t> v, int64_t dflt) {
    if (!v) return dflt;
    int64_t x = *v;
    if (x < 0) {
      x += len;
      if (x < 0) x = step < 0 ? -1 : 0;
    } else if (x >= len) {
      x = step < 0 ? len - 1 : len;
    }
    return x;
  };
  const int64_t b = adjust(start, step < 0 ? len - 1 : 0);
  const int64_t e = adjust(stop, step < 0 ? -1 : len);
  std::vector<int64_t> out;
  if (step > 0) {
    for (int64_t i = b; i < e; i += step) out.push_back(i);
  } else {
    for (int64_t i = b; i > e; i += step) out.push_back(i);
  }
  return out;
}

bool is_index(const Value& v) { return v.is_int() || v.is_bool(); }

}  // namespace

Value* Frame::find(std::string_view name) {
  for (Frame* f = this; f; f = f->parent.get()) {
    const auto it = f->vars.find(name);
    if (it != f->vars.end()) return &it->second;
  }
  return nullptr;
}

Interpreter::Interpreter(RenderLimits limits, std::optional<std::time_t> now)
    : limits_(limits),
      now_(now),
      deadline_(std::chrono::steady_clock::now() +
                std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                    std::chrono::duration<double>(limits.max_seconds))) {}

Interpreter::DepthGuard::DepthGuard(Interpreter& in) : interp(in) {
  if (++interp.depth_ > interp.limits_.max_depth) {
    --interp.depth_;
    throw TemplateError("template recursion is too deep (more than " +
                        std::to_string(interp.limits_.max_depth) + " nested levels)");
  }
}

void Interpreter::tick() {
  if (++steps_ > limits_.max_steps) {
    throw TemplateError("template evaluation exceeded " + std::to_string(limits_.max_steps) +
                        " steps");
  }
  if ((steps_ & 255) == 0 && std::chrono::steady_clock::now() > deadline_) {
    throw TemplateError("template evaluation exceeded the time limit of " +
                        std::to_string(limits_.max_seconds) + " s");
  }
}

void Interpreter::check_size(size_t bytes) const {
  if (bytes > limits_.max_output_bytes) {
    throw TemplateError("template output exceeds " + std::to_string(limits_.max_output_bytes) +
                        " bytes");
  }
}

std::string Interpreter::render(const Body& body, const FramePtr& globals) {
  struct Release {
    ~Release() { interp.release_cycles(); }
    Interpreter& interp;
  } release{*this};
  std::string out;
  exec_body(body, child_frame(globals), out);
  return out;
}

void Interpreter::release_cycles() {
  for (auto& weak : captured_frames_) {
    if (auto f = weak.lock()) f->vars.clear();
  }
  for (auto& weak : namespaces_) {
    if (auto ns = weak.lock()) {
      ns->entries.clear();
      ns->string_index.clear();
    }
  }
  captured_frames_.clear();
  namespaces_.clear();
}

// --- expressions ---

Value Interpreter::eval(const Expr& e, const FramePtr& frame) {
  DepthGuard guard(*this);
  tick();
  try {
    return eval_inner(e, frame);
  } catch (TemplateError& err) {
    err.set_pos_if_unset(e.pos);
    throw;
  }
}

void Interpreter::eval_args(const CallArgExprs& exprs, const FramePtr& frame, CallArgs& out) {
  out.positional.reserve(exprs.args.size());
  for (const auto& a : exprs.args) out.positional.push_back(eval(*a, frame));
  for (const auto& [k, v] : exprs.kwargs) out.keyword.emplace_back(k, eval(*v, frame));
}

Value Interpreter::eval_inner(const Expr& e, const FramePtr& frame) {
  switch (e.kind) {
    case ExprKind::kConst:
      return static_cast<const ConstExpr&>(e).value;
    case ExprKind::kName: {
      const auto& n = static_cast<const NameExpr&>(e);
      if (const Value* v = frame->find(n.name)) return *v;
      return Value::undefined("'" + n.name + "' is undefined");
    }
    case ExprKind::kGetattr:
    case ExprKind::kNSRef: {
      const auto& g = static_cast<const GetattrExpr&>(e);
      return getattr(eval(*g.object, frame), g.attr);
    }
    case ExprKind::kGetitem: {
      const auto& g = static_cast<const GetitemExpr&>(e);
      Value obj = eval(*g.object, frame);
      if (g.key->kind == ExprKind::kSlice) {
        return eval_slice(obj, static_cast<const SliceExpr&>(*g.key), frame);
      }
      return getitem(obj, eval(*g.key, frame));
    }
    case ExprKind::kSlice:
      throw TemplateError("a slice is only allowed inside [...]");
    case ExprKind::kList:
    case ExprKind::kTuple: {
      const auto& s = static_cast<const SequenceExpr&>(e);
      std::vector<Value> items;
      items.reserve(s.items.size());
      for (const auto& item : s.items) items.push_back(eval(*item, frame));
      return Value::list(std::move(items),
                         e.kind == ExprKind::kTuple ? ListKind::kTuple : ListKind::kList);
    }
    case ExprKind::kDict: {
      const auto& d = static_cast<const DictExpr&>(e);
      auto data = std::make_shared<DictData>();
      for (const auto& [k, v] : d.items) {
        Value key = eval(*k, frame);
        if (key.is_list() || key.is_dict() || key.is_undefined()) {
          throw TemplateError("unhashable type: '" + key.type_name() + "'", k->pos);
        }
        data->set(std::move(key), eval(*v, frame));
      }
      return Value::dict(std::move(data));
    }
    case ExprKind::kNeg:
    case ExprKind::kPos: {
      const Value v = eval(*static_cast<const UnaryExpr&>(e).operand, frame);
      if (v.is_undefined()) raise_undefined(v);
      const bool neg = e.kind == ExprKind::kNeg;
      if (v.is_float()) return Value::number(neg ? -v.as_float() : v.as_float());
      if (v.is_int() || v.is_bool()) {
        if (!neg) return Value::integer(v.as_int());
        if (v.as_int() == std::numeric_limits<int64_t>::min()) overflow();
        return Value::integer(-v.as_int());
      }
      throw TemplateError(std::string("bad operand type for unary ") + (neg ? "-" : "+") + ": '" +
                          v.type_name() + "'");
    }
    case ExprKind::kNot:
      return Value::boolean(!truthy(eval(*static_cast<const UnaryExpr&>(e).operand, frame)));
    case ExprKind::kBinary: {
      const auto& b = static_cast<const BinaryExpr&>(e);
      const Value left = eval(*b.left, frame);
      return binary(b.op, left, eval(*b.right, frame));
    }
    case ExprKind::kConcat: {
      std::string s;
      for (const auto& item : static_cast<const ConcatExpr&>(e).items) {
        append_str(s, eval(*item, frame));
        check_size(s.size());
      }
      return Value::string(std::move(s));
    }
    case ExprKind::kCompare: {
      const auto& c = static_cast<const CompareExpr&>(e);
      Value left = eval(*c.first, frame);
      for (const auto& [op, expr] : c.ops) {
        Value right = eval(*expr, frame);
        if (!compare(op, left, right)) return Value::boolean(false);
        left = std::move(right);
      }
      return Value::boolean(true);
    }
    case ExprKind::kAnd:
    case ExprKind::kOr: {
      const auto& l = static_cast<const LogicalExpr&>(e);
      Value left = eval(*l.left, frame);
      const bool t = truthy(left);
      if (e.kind == ExprKind::kAnd ? !t : t) return left;
      return eval(*l.right, frame);
    }
    case ExprKind::kCondExpr: {
      const auto& c = static_cast<const CondExpr&>(e);
      if (truthy(eval(*c.test, frame))) return eval(*c.then_expr, frame);
      if (c.else_expr) return eval(*c.else_expr, frame);
      return Value::undefined("the inline if-expression on line " + std::to_string(e.pos.line) +
                              " evaluated to false and no else section was defined.");
    }
    case ExprKind::kCall: {
      const auto& c = static_cast<const CallExpr&>(e);
      const Value callee = eval(*c.callee, frame);
      CallArgs args;
      args.pos = e.pos;
      eval_args(c.call, frame, args);
      return call(callee, args);
    }
    case ExprKind::kFilter: {
      const auto& f = static_cast<const FilterExpr&>(e);
      const Value input = eval(*f.input, frame);
      CallArgs args;
      args.pos = e.pos;
      eval_args(f.call, frame, args);
      return apply_filter(f.name, input, args);
    }
    case ExprKind::kTest: {
      const auto& f = static_cast<const FilterExpr&>(e);
      const Value input = eval(*f.input, frame);
      CallArgs args;
      args.pos = e.pos;
      eval_args(f.call, frame, args);
      return Value::boolean(apply_test(f.name, input, args));
    }
  }
  throw TemplateError("unknown expression");
}

Value Interpreter::eval_slice(const Value& obj, const SliceExpr& s, const FramePtr& frame) {
  auto bound = [&](const ExprPtr& e, bool& ok) -> std::optional<int64_t> {
    if (!e) return std::nullopt;
    const Value v = eval(*e, frame);
    if (v.is_none()) return std::nullopt;
    if (!is_index(v)) ok = false;
    return v.as_int();
  };
  bool ok = true;
  const auto start = bound(s.start, ok);
  const auto stop = bound(s.stop, ok);
  const auto step = bound(s.step, ok);
  // jinja2 compiles a slice to a plain Python subscript, so errors propagate.
  if (obj.is_undefined()) raise_undefined(obj);
  const bool sliceable =
      obj.is_string() || (obj.is_list() && (obj.list_kind() == ListKind::kList ||
                                            obj.list_kind() == ListKind::kTuple));
  if (obj.is_dict()) throw TemplateError("unhashable type: 'slice'");
  if (!sliceable) throw TemplateError("'" + obj.type_name() + "' object is not subscriptable");
  if (!ok)
    throw TemplateError("slice indices must be integers or None or have an __index__ method");
  if (step && *step == 0) throw TemplateError("slice step cannot be zero");
  const int64_t st = step.value_or(1);
  if (obj.is_string()) {
    const std::string& str = obj.as_string();
    std::string out;
    if (py::is_ascii(str)) {
      for (int64_t i : slice_indices(static_cast<int64_t>(str.size()), start, stop, st))
        out += str[i];
    } else {
      const std::u32string cps = py::decode(str);
      std::u32string sliced;
      for (int64_t i : slice_indices(static_cast<int64_t>(cps.size()), start, stop, st))
        sliced += cps[i];
      out = py::encode(sliced);
    }
    return obj.is_markup() ? Value::markup(std::move(out)) : Value::string(std::move(out));
  }
  if (obj.is_list() &&
      (obj.list_kind() == ListKind::kList || obj.list_kind() == ListKind::kTuple)) {
    const auto& items = obj.items();
    std::vector<Value> out;
    for (int64_t i : slice_indices(static_cast<int64_t>(items.size()), start, stop, st)) {
      out.push_back(items[i]);
    }
    return Value::list(std::move(out), obj.list_kind());
  }
  return Value();  // unreachable: sliceable covers the kinds above
}

bool Interpreter::compare(CompareOp op, const Value& a, const Value& b) {
  switch (op) {
    case CompareOp::kEq:
      return equals(a, b);
    case CompareOp::kNe:
      return !equals(a, b);
    case CompareOp::kIn:
      return contains(b, a);
    case CompareOp::kNotIn:
      return !contains(b, a);
    default:
      break;
  }
  const char* sym = op == CompareOp::kLt   ? "<"
                    : op == CompareOp::kLe ? "<="
                    : op == CompareOp::kGt ? ">"
                                           : ">=";
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) {
      const double x = a.to_double();
      const double y = b.to_double();
      switch (op) {
        case CompareOp::kLt:
          return x < y;
        case CompareOp::kLe:
          return x <= y;
        case CompareOp::kGt:
          return x > y;
        default:
          return x >= y;
      }
    }
    const int64_t x = a.as_int();
    const int64_t y = b.as_int();
    switch (op) {
      case CompareOp::kLt:
        return x < y;
      case CompareOp::kLe:
        return x <= y;
      case CompareOp::kGt:
        return x > y;
      default:
        return x >= y;
    }
  }
  if (a.is_undefined()) raise_undefined(a);
  if (b.is_undefined()) raise_undefined(b);
  const bool comparable = (a.is_string() && b.is_string()) ||
                          (a.is_list() && b.is_list() && a.list_kind() == b.list_kind() &&
                           (a.list_kind() == ListKind::kList || a.list_kind() == ListKind::kTuple));
  if (!comparable) {
    throw TemplateError(std::string("'") + sym + "' not supported between instances of '" +
                        a.type_name() + "' and '" + b.type_name() + "'");
  }
  switch (op) {
    case CompareOp::kLt:
      return less_than(a, b, sym);
    case CompareOp::kLe:
      return !less_than(b, a, sym);
    case CompareOp::kGt:
      return less_than(b, a, sym);
    default:
      return !less_than(a, b, sym);
  }
}

bool Interpreter::contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case ValueKind::kString:
      if (!item.is_string()) {
        throw TemplateError("'in <string>' requires string as left operand, not " +
                            item.type_name());
      }
      return container.as_string().find(item.as_string()) != std::string::npos;
    case ValueKind::kList:
      for (const Value& v : container.items()) {
        if (equals(v, item)) return true;
      }
      return false;
    case ValueKind::kDict:
      if (container.is_namespace()) break;
      if (item.is_list() || item.is_dict()) {
        throw TemplateError("unhashable type: '" + item.type_name() + "'");
      }
      return container.dict_data().find(item) != nullptr;
    case ValueKind::kUndefined:
      return false;
    default:
      break;
  }
  throw TemplateError("argument of type '" + container.type_name() + "' is not iterable");
}

std::vector<Value> Interpreter::iterate(const Value& v) {
  switch (v.kind()) {
    case ValueKind::kList:
      return v.items();
    case ValueKind::kUndefined:
      return {};
    case ValueKind::kString: {
      std::vector<Value> out;
      const std::string& s = v.as_string();
      if (py::is_ascii(s)) {
        for (char c : s) out.push_back(Value::string(std::string(1, c)));
      } else {
        for (char32_t c : py::decode(s))
          out.push_back(Value::string(py::encode(std::u32string(1, c))));
      }
      return out;
    }
    case ValueKind::kDict:
      if (!v.is_namespace()) {
        std::vector<Value> out;
        for (const auto& [k, val] : v.dict_data().entries) out.push_back(k);
        return out;
      }
      break;
    default:
      break;
  }
  throw TemplateError("'" + v.type_name() + "' object is not iterable");
}

Value Interpreter::binary(BinaryOp op, const Value& a, const Value& b) {
  if (a.is_undefined()) raise_undefined(a);
  if (b.is_undefined()) raise_undefined(b);
  const bool nums = a.is_number() && b.is_number();
  const bool any_float = a.is_float() || b.is_float();
  int64_t r = 0;
  switch (op) {
    case BinaryOp::kAdd:
      if (nums) {
        if (any_float) return Value::number(a.to_double() + b.to_double());
        if (__builtin_add_overflow(a.as_int(), b.as_int(), &r)) overflow();
        return Value::integer(r);
      }
      if (a.is_string() && b.is_string()) {
        check_size(a.as_string().size() + b.as_string().size());
        if (a.is_markup() || b.is_markup()) {  // Markup escapes the plain str it is added to
          const std::string x = a.is_markup() ? a.as_string() : html_escape(a.as_string());
          const std::string y = b.is_markup() ? b.as_string() : html_escape(b.as_string());
          return Value::markup(x + y);
        }
        return Value::string(a.as_string() + b.as_string());
      }
      if (a.is_list() && b.is_list() && a.list_kind() == b.list_kind() &&
          (a.list_kind() == ListKind::kList || a.list_kind() == ListKind::kTuple)) {
        std::vector<Value> items = a.items();
        items.insert(items.end(), b.items().begin(), b.items().end());
        return Value::list(std::move(items), a.list_kind());
      }
      if (a.is_string() || (a.is_list() && (a.list_kind() == ListKind::kList ||
                                            a.list_kind() == ListKind::kTuple))) {
        throw TemplateError("can only concatenate " + a.type_name() + " (not \"" + b.type_name() +
                            "\") to " + a.type_name());
      }
      unsupported(op, a, b);
    case BinaryOp::kSub:
      if (!nums) unsupported(op, a, b);
      if (any_float) return Value::number(a.to_double() - b.to_double());
      if (__builtin_sub_overflow(a.as_int(), b.as_int(), &r)) overflow();
      return Value::integer(r);
    case BinaryOp::kMul: {
      if (nums) {
        if (any_float) return Value::number(a.to_double() * b.to_double());
        if (__builtin_mul_overflow(a.as_int(), b.as_int(), &r)) overflow();
        return Value::integer(r);
      }
      const Value* seq = (a.is_string() || a.is_list())   ? &a
                         : (b.is_string() || b.is_list()) ? &b
                                                          : nullptr;
      const Value* count = seq == &a ? &b : &a;
      if (!seq || !(count->is_int() || count->is_bool())) {
        if (seq) {
          throw TemplateError("can't multiply sequence by non-int of type '" + count->type_name() +
                              "'");
        }
        unsupported(op, a, b);
      }
      const int64_t n = std::max<int64_t>(count->as_int(), 0);
      if (seq->is_string()) {
        const std::string& s = seq->as_string();
        if (n > 0 && s.size() > limits_.max_output_bytes / static_cast<uint64_t>(n)) {
          check_size(limits_.max_output_bytes + 1);
        }
        std::string out;
        out.reserve(s.size() * n);
        for (int64_t i = 0; i < n; ++i) out += s;
        return seq->is_markup() ? Value::markup(std::move(out)) : Value::string(std::move(out));
      }
      if (seq->list_kind() != ListKind::kList && seq->list_kind() != ListKind::kTuple)
        unsupported(op, a, b);
      const auto& items = seq->items();
      if (n > 0 && items.size() > limits_.max_output_bytes / 8 / static_cast<uint64_t>(n)) {
        throw TemplateError("list repetition is too large");
      }
      std::vector<Value> out;
      for (int64_t i = 0; i < n; ++i) out.insert(out.end(), items.begin(), items.end());
      return Value::list(std::move(out), seq->list_kind());
    }
    case BinaryOp::kDiv:
      if (!nums) unsupported(op, a, b);
      if (b.to_double() == 0) throw TemplateError("division by zero");
      return Value::number(a.to_double() / b.to_double());
    case BinaryOp::kFloorDiv:
    case BinaryOp::kMod: {
      if (op == BinaryOp::kMod && a.is_string())
        return percent_format(a.as_string(), b, a.is_markup());
      if (!nums) unsupported(op, a, b);
      if (any_float) {
        const auto [q, m] = float_divmod(a.to_double(), b.to_double());
        return Value::number(op == BinaryOp::kFloorDiv ? q : m);
      }
      const int64_t x = a.as_int();
      const int64_t y = b.as_int();
      if (y == 0) throw TemplateError("integer division or modulo by zero");
      if (x == std::numeric_limits<int64_t>::min() && y == -1) {
        if (op == BinaryOp::kMod) return Value::integer(0);
        overflow();
      }
      int64_t q = x / y;
      int64_t m = x % y;
      if (m != 0 && ((m < 0) != (y < 0))) {
        m += y;
        q -= 1;
      }
      return Value::integer(op == BinaryOp::kFloorDiv ? q : m);
    }
    case BinaryOp::kPow: {
      if (!nums) unsupported(op, a, b);
      if (!any_float && b.as_int() >= 0) {
        int64_t base = a.as_int();
        int64_t e = b.as_int();
        int64_t result = 1;
        while (e > 0) {
          if (e & 1) {
            if (__builtin_mul_overflow(result, base, &result)) overflow();
          }
          e >>= 1;
          if (e > 0 && __builtin_mul_overflow(base, base, &base)) overflow();
        }
        return Value::integer(result);
      }
      const double x = a.to_double();
      const double y = b.to_double();
      if (x == 0 && y < 0) throw TemplateError("0.0 cannot be raised to a negative power");
      if (x < 0 && y != std::floor(y)) {
        throw TemplateError("a negative number raised to a fractional power is complex");
      }
      return Value::number(std::pow(x, y));
    }
  }
  unsupported(op, a, b);
}

// --- lookups and calls ---

Value Interpreter::getattr(const Value& obj, std::string_view name) {
  switch (obj.kind()) {
    case ValueKind::kUndefined:
      raise_undefined(obj);
    case ValueKind::kDict:
      if (obj.is_namespace()) {
        if (const Value* v = obj.dict_data().find(name)) return *v;
        return missing_attribute(obj, name);
      } else {
        if (auto m = method_of(obj, name)) return *m;
        if (const Value* v = obj.dict_data().find(name)) return *v;
        return missing_attribute(obj, name);
      }
    case ValueKind::kString:
    case ValueKind::kList:
      if (auto m = method_of(obj, name)) return *m;
      return missing_attribute(obj, name);
    default:
      return missing_attribute(obj, name);
  }
}

Value Interpreter::getitem(const Value& obj, const Value& key) {
  switch (obj.kind()) {
    case ValueKind::kUndefined:
      raise_undefined(obj);
    case ValueKind::kDict:
      if (obj.is_namespace()) {
        if (key.is_string()) return getattr(obj, key.as_string());
        return missing_element(obj, key);
      }
      if (!key.is_list() && !key.is_dict()) {
        if (const Value* v = obj.dict_data().find(key)) return *v;
      }
      break;
    case ValueKind::kList:
      if (is_index(key) &&
          (obj.list_kind() == ListKind::kList || obj.list_kind() == ListKind::kTuple)) {
        const auto& items = obj.items();
        int64_t i = key.as_int();
        if (i < 0) i += static_cast<int64_t>(items.size());
        if (i >= 0 && i < static_cast<int64_t>(items.size())) return items[i];
        return missing_element(obj, key);
      }
      break;
    case ValueKind::kString:
      if (is_index(key)) {
        const std::string& s = obj.as_string();
        int64_t i = key.as_int();
        std::optional<std::string> ch;
        if (py::is_ascii(s)) {
          if (i < 0) i += static_cast<int64_t>(s.size());
          if (i >= 0 && i < static_cast<int64_t>(s.size())) ch = std::string(1, s[i]);
        } else {
          const std::u32string cps = py::decode(s);
          if (i < 0) i += static_cast<int64_t>(cps.size());
          if (i >= 0 && i < static_cast<int64_t>(cps.size()))
            ch = py::encode(std::u32string(1, cps[i]));
        }
        if (!ch) return missing_element(obj, key);
        return obj.is_markup() ? Value::markup(std::move(*ch)) : Value::string(std::move(*ch));
      }
      break;
    default:
      break;
  }
  // jinja2 falls back to an attribute of the same name (a method, for these types).
  if (key.is_string()) {
    if (auto m = method_of(obj, key.as_string())) return *m;
  }
  return missing_element(obj, key);
}

Value Interpreter::call(const Value& callee, CallArgs& args) {
  if (callee.is_undefined()) raise_undefined(callee);
  if (callee.is_callable()) {
    DepthGuard guard(*this);
    tick();
    return callee.callable_data().fn(*this, args);
  }
  if (callee.is_dict() || callee.is_namespace()) {
    if (const Value* fn = callee.dict_data().find(std::string_view("__call__")))
      return call(*fn, args);
  }
  throw TemplateError("'" + callee.type_name() + "' object is not callable");
}

Value Interpreter::apply_filter(std::string_view name, const Value& input, CallArgs& args) {
  return call_filter(*this, name, input, args);
}

bool Interpreter::apply_test(std::string_view name, const Value& input, CallArgs& args) {
  return call_test(*this, name, input, args);
}

Value Interpreter::apply_filter_chain(const Expr& filter, Value input, const FramePtr& frame) {
  const auto& f = static_cast<const FilterExpr&>(filter);
  if (f.input) input = apply_filter_chain(*f.input, std::move(input), frame);
  CallArgs args;
  args.pos = f.pos;
  eval_args(f.call, frame, args);
  try {
    return apply_filter(f.name, input, args);
  } catch (TemplateError& err) {
    err.set_pos_if_unset(f.pos);
    throw;
  }
}

// --- statements ---

Interpreter::Flow Interpreter::exec_body(const Body& body, const FramePtr& frame,
                                         std::string& out) {
  DepthGuard guard(*this);
  for (const auto& s : body) {
    const Flow flow = exec(*s, frame, out);
    if (flow != Flow::kNormal) return flow;
  }
  return Flow::kNormal;
}

Interpreter::Flow Interpreter::exec(const Stmt& s, const FramePtr& frame, std::string& out) {
  tick();
  try {
    switch (s.kind) {
      case StmtKind::kOutput:
        for (const auto& piece : static_cast<const OutputStmt&>(s).pieces) {
          if (piece.expr) {
            append_str(out, eval(*piece.expr, frame));
          } else {
            out += piece.text;
          }
          check_size(out.size());
        }
        return Flow::kNormal;
      case StmtKind::kIf: {
        const auto& i = static_cast<const IfStmt&>(s);
        for (const auto& [test, body] : i.branches) {
          if (truthy(eval(*test, frame))) return exec_body(body, frame, out);
        }
        return exec_body(i.else_body, frame, out);
      }
      case StmtKind::kFor: {
        const auto& f = static_cast<const ForStmt&>(s);
        exec_for(f, eval(*f.iter, frame), frame, out, 1);
        return Flow::kNormal;
      }
      case StmtKind::kSet: {
        const auto& st = static_cast<const SetStmt&>(s);
        assign(st.target, eval(*st.value, frame), frame);
        return Flow::kNormal;
      }
      case StmtKind::kSetBlock: {
        const auto& st = static_cast<const SetBlockStmt&>(s);
        std::string body;
        exec_body(st.body, child_frame(frame), body);
        Value v = Value::string(std::move(body));
        if (st.filter) v = apply_filter_chain(*st.filter, std::move(v), frame);
        assign(st.target, v, frame);
        return Flow::kNormal;
      }
      case StmtKind::kMacro: {
        const auto& m = static_cast<const MacroStmt&>(s);
        frame->vars[m.name] = make_macro(m, frame);
        return Flow::kNormal;
      }
      case StmtKind::kCallBlock: {
        const auto& c = static_cast<const CallBlockStmt&>(s);
        const Value callee = eval(*c.call->callee, frame);
        CallArgs args;
        args.pos = c.call->pos;
        eval_args(c.call->call, frame, args);
        args.keyword.emplace_back("caller", make_macro(*c.caller, frame));
        append_str(out, call(callee, args));
        check_size(out.size());
        return Flow::kNormal;
      }
      case StmtKind::kFilterBlock: {
        const auto& fb = static_cast<const FilterBlockStmt&>(s);
        std::string body;
        exec_body(fb.body, child_frame(frame), body);
        append_str(out, apply_filter_chain(*fb.filter, Value::string(std::move(body)), frame));
        check_size(out.size());
        return Flow::kNormal;
      }
      case StmtKind::kWith: {
        const auto& w = static_cast<const WithStmt&>(s);
        FramePtr inner = child_frame(frame);
        for (size_t i = 0; i < w.targets.size(); ++i) {
          assign(w.targets[i], eval(*w.values[i], frame), inner);
        }
        return exec_body(w.body, inner, out);
      }
      case StmtKind::kBreak:
        return Flow::kBreak;
      case StmtKind::kContinue:
        return Flow::kContinue;
      case StmtKind::kScope:
        exec_body(static_cast<const ScopeStmt&>(s).body, child_frame(frame), out);
        return Flow::kNormal;
    }
  } catch (TemplateError& err) {
    err.set_pos_if_unset(s.pos);
    throw;
  }
  return Flow::kNormal;
}

void Interpreter::exec_for(const ForStmt& s, const Value& iterable, const FramePtr& frame,
                           std::string& out, int loop_depth) {
  DepthGuard guard(*this);
  std::vector<Value> items = iterate(iterable);
  if (s.filter) {
    std::vector<Value> kept;
    for (Value& item : items) {
      tick();
      FramePtr f = child_frame(frame);
      assign(s.target, item, f);
      if (truthy(eval(*s.filter, f))) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) {
    if (!s.else_body.empty()) exec_body(s.else_body, child_frame(frame), out);
    return;
  }
  auto changed_last = std::make_shared<std::optional<Value>>();
  const auto n = static_cast<int64_t>(items.size());
  for (int64_t i = 0; i < n; ++i) {
    tick();
    FramePtr f = child_frame(frame);
    assign(s.target, items[i], f);
    if (!s.uses_loop) {
      if (exec_body(s.body, f, out) == Flow::kBreak) break;
      continue;
    }
    auto loop = std::make_shared<DictData>();
    auto set = [&](const char* k, Value v) { loop->set(Value::string(k), std::move(v)); };
    set("index", Value::integer(i + 1));
    set("index0", Value::integer(i));
    set("revindex", Value::integer(n - i));
    set("revindex0", Value::integer(n - i - 1));
    set("first", Value::boolean(i == 0));
    set("last", Value::boolean(i == n - 1));
    set("length", Value::integer(n));
    set("depth", Value::integer(loop_depth));
    set("depth0", Value::integer(loop_depth - 1));
    if (i > 0) set("previtem", items[i - 1]);
    if (i + 1 < n) set("nextitem", items[i + 1]);
    set("cycle", Value::callable("loop.cycle", [i](Interpreter&, CallArgs& args) {
          if (args.positional.empty()) throw TemplateError("no items for cycling given");
          return args.positional[i % static_cast<int64_t>(args.positional.size())];
        }));
    set("changed", Value::callable("loop.changed", [changed_last](Interpreter&, CallArgs& args) {
          Value now = Value::tuple(args.positional);
          if (*changed_last && equals(**changed_last, now)) return Value::boolean(false);
          *changed_last = std::move(now);
          return Value::boolean(true);
        }));
    if (s.recursive) {
      const ForStmt* stmt = &s;
      FramePtr outer = frame;
      captured_frames_.push_back(frame);
      set("__call__",
          Value::callable("loop", [stmt, outer, loop_depth](Interpreter& in, CallArgs& args) {
            if (args.positional.size() != 1 || !args.keyword.empty()) {
              throw TemplateError("loop() takes exactly one argument");
            }
            std::string sub;
            in.exec_for(*stmt, args.positional[0], outer, sub, loop_depth + 1);
            return Value::string(std::move(sub));
          }));
    }
    f->vars["loop"] = Value::dict(std::move(loop));
    if (exec_body(s.body, f, out) == Flow::kBreak) break;
  }
}

void Interpreter::assign(const Target& t, const Value& v, const FramePtr& frame) {
  switch (t.kind) {
    case Target::Kind::kName:
      frame->vars[t.name] = v;
      return;
    case Target::Kind::kTuple: {
      const std::vector<Value> items = iterate(v);
      if (items.size() < t.items.size()) {
        throw TemplateError("not enough values to unpack (expected " +
                                std::to_string(t.items.size()) + ", got " +
                                std::to_string(items.size()) + ")",
                            t.pos);
      }
      if (items.size() > t.items.size()) {
        throw TemplateError(
            "too many values to unpack (expected " + std::to_string(t.items.size()) + ")", t.pos);
      }
      for (size_t i = 0; i < items.size(); ++i) assign(t.items[i], items[i], frame);
      return;
    }
    case Target::Kind::kNamespaceAttr: {
      Value* ns = frame->find(t.name);
      if (!ns || !ns->is_namespace()) {
        throw TemplateError("cannot assign attribute on non-namespace object", t.pos);
      }
      if (!t.attr.empty() && t.attr[0] == '_') {
        throw TemplateError(
            "Chat templates cannot store underscore-prefixed attributes on a namespace, but got '" +
                t.attr + "'. Please rename the attribute.",
            t.pos);
      }
      if (v.is_namespace() && &v.dict_data() == &ns->dict_data()) {
        throw TemplateError("a namespace cannot contain itself", t.pos);
      }
      ns->dict_data().set(Value::string(t.attr), v);
      return;
    }
  }
}

Value Interpreter::make_macro(const MacroStmt& m, const FramePtr& closure) {
  const MacroStmt* macro = &m;
  FramePtr captured = closure;
  captured_frames_.push_back(closure);
  return Value::callable("macro '" + m.name + "'",
                         [macro, captured](Interpreter& in, CallArgs& args) {
                           return in.call_macro(*macro, captured, args);
                         });
}

Value Interpreter::call_macro(const MacroStmt& m, const FramePtr& closure, CallArgs& args) {
  FramePtr frame = child_frame(closure);
  const size_t num_params = m.params.size();
  std::vector<bool> bound(num_params, false);
  std::vector<Value> varargs;
  auto kwargs = std::make_shared<DictData>();
  const std::string who = "macro '" + m.name + "'";
  for (size_t i = 0; i < args.positional.size(); ++i) {
    if (i < num_params) {
      frame->vars[m.params[i]] = args.positional[i];
      bound[i] = true;
    } else if (m.uses_varargs) {
      varargs.push_back(args.positional[i]);
    } else {
      throw TemplateError(who + " takes not more than " + std::to_string(num_params) +
                          " argument(s)");
    }
  }
  bool caller_given = false;
  for (auto& [key, value] : args.keyword) {
    size_t i = 0;
    while (i < num_params && m.params[i] != key) ++i;
    if (i < num_params) {
      if (bound[i]) throw TemplateError(who + " got multiple values for argument '" + key + "'");
      frame->vars[key] = value;
      bound[i] = true;
    } else if (key == "caller") {
      frame->vars["caller"] = value;
      caller_given = true;
    } else if (m.uses_kwargs) {
      kwargs->set(Value::string(key), value);
    } else {
      throw TemplateError(who + " takes no keyword argument '" + key + "'");
    }
  }
  const size_t first_default = num_params - m.defaults.size();
  for (size_t i = 0; i < num_params; ++i) {
    if (bound[i]) continue;
    if (i >= first_default) {
      frame->vars[m.params[i]] = eval(*m.defaults[i - first_default], frame);
    } else {
      frame->vars[m.params[i]] =
          Value::undefined("parameter '" + m.params[i] + "' was not provided");
    }
  }
  if (m.uses_varargs) frame->vars["varargs"] = Value::tuple(std::move(varargs));
  if (m.uses_kwargs) frame->vars["kwargs"] = Value::dict(std::move(kwargs));
  if (m.uses_caller && !caller_given) frame->vars["caller"] = Value::undefined("No caller defined");
  std::string out;
  exec_body(m.body, frame, out);
  return Value::string(std::move(out));
}

}  // namespace kiln::chat
