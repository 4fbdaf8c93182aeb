// NOTE: GCC 12 at -O3 reports false -Wrestrict errors inside std::string's operator+
// ("literal" + std::string); GCC bug 105329.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wrestrict"
#endif

#include "chat/parser.h"

#include <algorithm>
#include <initializer_list>
#include <optional>
#include <unordered_set>

#include "chat/lexer.h"

namespace kiln::chat {
namespace {

std::string describe(const Token& t) {
  switch (t.type) {
    case TokenType::kData:
      return "template data";
    case TokenType::kVariableBegin:
      return "begin of print statement";
    case TokenType::kVariableEnd:
      return "end of print statement";
    case TokenType::kBlockBegin:
      return "begin of statement block";
    case TokenType::kBlockEnd:
      return "end of statement block";
    case TokenType::kName:
      return t.value;
    case TokenType::kString:
      return "string";
    case TokenType::kInteger:
      return "integer";
    case TokenType::kFloat:
      return "float";
    case TokenType::kOperator:
      return t.value;
    case TokenType::kEof:
      return "end of template";
  }
  return "token";
}

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  Body parse() {
    Body body = subparse({});
    if (cur().type != TokenType::kEof) fail("unexpected '" + describe(cur()) + "'");
    return body;
  }

 private:
  // --- token stream ---
  const Token& cur() const { return tokens_[pos_]; }
  const Token& look() const { return tokens_[std::min(pos_ + 1, tokens_.size() - 1)]; }
  const Token& next() {
    const Token& t = tokens_[pos_];
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return t;
  }
  bool is_op(std::string_view op) const {
    return cur().type == TokenType::kOperator && cur().value == op;
  }
  bool is_name(std::string_view name) const {
    return cur().type == TokenType::kName && cur().value == name;
  }
  bool skip_op(std::string_view op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  bool skip_name(std::string_view name) {
    if (!is_name(name)) return false;
    next();
    return true;
  }
  [[noreturn]] void fail(const std::string& message) const {
    throw TemplateError(message, cur().pos);
  }
  [[noreturn]] void fail_at(const std::string& message, SourcePos pos) const {
    throw TemplateError(message, pos);
  }
  const Token& expect(TokenType type, std::string_view what) {
    if (cur().type != type)
      fail("expected " + std::string(what) + ", got '" + describe(cur()) + "'");
    return next();
  }
  void expect_op(std::string_view op) {
    if (!is_op(op)) fail("expected '" + std::string(op) + "', got '" + describe(cur()) + "'");
    next();
  }
  const Token& expect_name(std::string_view name = {}) {
    if (cur().type != TokenType::kName || (!name.empty() && cur().value != name)) {
      fail("expected '" + std::string(name.empty() ? "name" : name) + "', got '" + describe(cur()) +
           "'");
    }
    return next();
  }

  struct DepthGuard {
    explicit DepthGuard(Parser& p) : parser(p) {
      if (++parser.depth_ > kMaxParseDepth) {
        parser.fail("template is nested too deeply (more than " + std::to_string(kMaxParseDepth) +
                    " levels)");
      }
    }
    ~DepthGuard() { --parser.depth_; }
    Parser& parser;
  };

  void count_chain(int& n) const {
    if (++n > kMaxOperatorChain) {
      fail("expression is too long (more than " + std::to_string(kMaxOperatorChain) +
           " chained operands)");
    }
  }

  // --- statements ---

  bool at_end_token(const std::vector<std::string_view>& end_tokens) const {
    if (cur().type != TokenType::kName) return false;
    for (auto e : end_tokens) {
      if (cur().value == e) return true;
    }
    return false;
  }

  static std::string describe_end_tokens(const std::vector<std::string_view>& end_tokens) {
    std::string s;
    for (size_t i = 0; i < end_tokens.size(); ++i) {
      if (i) s += i + 1 == end_tokens.size() ? " or " : ", ";
      s += "'" + std::string(end_tokens[i]) + "'";
    }
    return s;
  }

  Body subparse(const std::vector<std::string_view>& end_tokens) {
    DepthGuard guard(*this);
    Body body;
    std::unique_ptr<OutputStmt> output;
    auto flush = [&] {
      if (output) body.push_back(std::move(output));
      output.reset();
    };
    auto add_piece = [&](OutputStmt::Piece piece, SourcePos pos) {
      if (!output) output = std::make_unique<OutputStmt>(pos);
      output->pieces.push_back(std::move(piece));
    };
    while (cur().type != TokenType::kEof) {
      const Token& t = cur();
      if (t.type == TokenType::kData) {
        add_piece(OutputStmt::Piece{t.value, nullptr}, t.pos);
        next();
      } else if (t.type == TokenType::kVariableBegin) {
        const SourcePos pos = t.pos;
        next();
        ExprPtr e = parse_tuple(false, true, {}, false);
        expect(TokenType::kVariableEnd, "'end of print statement'");
        add_piece(OutputStmt::Piece{{}, std::move(e)}, pos);
      } else if (t.type == TokenType::kBlockBegin) {
        flush();
        next();
        if (!end_tokens.empty() && at_end_token(end_tokens)) return body;
        parse_statement(body);
        expect(TokenType::kBlockEnd, "'end of statement block'");
      } else {
        fail("unexpected '" + describe(t) + "'");
      }
    }
    flush();
    if (!end_tokens.empty()) {
      fail("unexpected end of template: expected " + describe_end_tokens(end_tokens) +
           " to close the '" + open_tags_.back().first + "' tag at " +
           std::to_string(open_tags_.back().second.line) + ":" +
           std::to_string(open_tags_.back().second.column));
    }
    return body;
  }

  Body parse_statements(const std::vector<std::string_view>& end_tokens, bool drop_needle) {
    skip_op(":");
    expect(TokenType::kBlockEnd, "'end of statement block'");
    Body body = subparse(end_tokens);
    if (drop_needle) next();
    return body;
  }

  struct TagScope {
    TagScope(Parser& p, const Token& t) : parser(p) {
      parser.open_tags_.emplace_back(t.value, t.pos);
    }
    ~TagScope() { parser.open_tags_.pop_back(); }
    Parser& parser;
  };

  void parse_statement(Body& body) {
    const Token& t = cur();
    if (t.type != TokenType::kName) fail("tag name expected");
    const std::string tag = t.value;
    TagScope scope(*this, t);
    if (tag == "for") {
      body.push_back(parse_for());
    } else if (tag == "if") {
      body.push_back(parse_if());
    } else if (tag == "set") {
      body.push_back(parse_set());
    } else if (tag == "macro") {
      body.push_back(parse_macro());
    } else if (tag == "call") {
      body.push_back(parse_call_block());
    } else if (tag == "filter") {
      body.push_back(parse_filter_block());
    } else if (tag == "with") {
      body.push_back(parse_with());
    } else if (tag == "print") {
      body.push_back(parse_print());
    } else if (tag == "break" || tag == "continue") {
      if (loop_depth_ == 0) fail("'" + tag + "' is only allowed inside a for loop");
      const SourcePos pos = next().pos;
      body.push_back(std::make_unique<ScopeStmt>(
          tag == "break" ? StmtKind::kBreak : StmtKind::kContinue, pos));
    } else if (tag == "generation") {
      const SourcePos pos = next().pos;
      auto s = std::make_unique<ScopeStmt>(StmtKind::kScope, pos);
      s->body = parse_statements({"endgeneration"}, true);
      body.push_back(std::move(s));
    } else if (tag == "block" || tag == "extends" || tag == "include" || tag == "import" ||
               tag == "from" || tag == "autoescape") {
      fail("the '" + tag + "' tag is not supported in chat templates");
    } else {
      fail("Encountered unknown tag '" + tag + "'.");
    }
  }

  StmtPtr parse_for() {
    auto s = std::make_unique<ForStmt>(next().pos);
    s->target = parse_assign_target(true, false, {"in"}, false);
    expect_name("in");
    s->iter = parse_tuple(false, false, {"recursive"}, false);
    if (skip_name("if")) s->filter = parse_expression(true);
    s->recursive = skip_name("recursive");
    ++loop_depth_;
    names_.emplace_back();
    s->body = parse_statements({"endfor", "else"}, false);
    s->uses_loop = pop_names().count("loop") > 0;
    --loop_depth_;
    if (next().value != "endfor") {
      s->else_body = parse_statements({"endfor"}, true);
    }
    return s;
  }

  StmtPtr parse_if() {
    auto s = std::make_unique<IfStmt>(next().pos);
    while (true) {
      ExprPtr test = parse_tuple(false, false, {}, false);
      Body body = parse_statements({"elif", "else", "endif"}, false);
      s->branches.emplace_back(std::move(test), std::move(body));
      const Token& t = next();
      if (t.value == "elif") continue;
      if (t.value == "else") s->else_body = parse_statements({"endif"}, true);
      break;
    }
    return s;
  }

  StmtPtr parse_set() {
    const SourcePos pos = next().pos;
    Target target = parse_assign_target(true, false, {}, true);
    if (skip_op("=")) {
      auto s = std::make_unique<SetStmt>(pos);
      s->target = std::move(target);
      s->value = parse_tuple(false, true, {}, false);
      return s;
    }
    auto s = std::make_unique<SetBlockStmt>(pos);
    s->target = std::move(target);
    if (is_op("|")) s->filter = parse_filter(nullptr, false);
    s->body = parse_statements({"endset"}, true);
    return s;
  }

  void parse_signature(MacroStmt& m) {
    expect_op("(");
    while (!is_op(")")) {
      if (!m.params.empty()) expect_op(",");
      const Token& name = expect(TokenType::kName, "a parameter name");
      m.params.push_back(name.value);
      if (skip_op("=")) {
        m.defaults.push_back(parse_expression(true));
      } else if (!m.defaults.empty()) {
        fail("non-default argument follows default argument");
      }
    }
    expect_op(")");
  }

  // Parses a macro-like body, recording which of caller/varargs/kwargs it refers to.
  void parse_macro_body(MacroStmt& m, std::string_view end_tag) {
    names_.emplace_back();
    const int saved_loop_depth = loop_depth_;
    loop_depth_ = 0;
    m.body = parse_statements({end_tag}, true);
    loop_depth_ = saved_loop_depth;
    const std::unordered_set<std::string> names = pop_names();
    m.uses_caller = names.count("caller") > 0;
    m.uses_varargs = names.count("varargs") > 0;
    m.uses_kwargs = names.count("kwargs") > 0;
  }

  // Ends a scope of recorded names, passing them on to the enclosing scope.
  std::unordered_set<std::string> pop_names() {
    std::unordered_set<std::string> names = std::move(names_.back());
    names_.pop_back();
    if (!names_.empty()) names_.back().insert(names.begin(), names.end());
    return names;
  }

  StmtPtr parse_macro() {
    auto m = std::make_unique<MacroStmt>(next().pos);
    m->name = expect(TokenType::kName, "a macro name").value;
    parse_signature(*m);
    parse_macro_body(*m, "endmacro");
    return m;
  }

  StmtPtr parse_call_block() {
    const SourcePos pos = next().pos;
    auto s = std::make_unique<CallBlockStmt>(pos);
    s->caller = std::make_unique<MacroStmt>(pos);
    s->caller->name = "caller";
    if (is_op("(")) parse_signature(*s->caller);
    ExprPtr call = parse_expression(true);
    if (call->kind != ExprKind::kCall) fail_at("expected call", pos);
    s->call.reset(static_cast<CallExpr*>(call.release()));
    parse_macro_body(*s->caller, "endcall");
    return s;
  }

  StmtPtr parse_filter_block() {
    auto s = std::make_unique<FilterBlockStmt>(next().pos);
    s->filter = parse_filter(nullptr, true);
    s->body = parse_statements({"endfilter"}, true);
    return s;
  }

  StmtPtr parse_with() {
    auto s = std::make_unique<WithStmt>(next().pos);
    while (cur().type != TokenType::kBlockEnd) {
      if (!s->targets.empty()) expect_op(",");
      s->targets.push_back(parse_assign_target(true, false, {}, false));
      expect_op("=");
      s->values.push_back(parse_expression(true));
    }
    s->body = parse_statements({"endwith"}, true);
    return s;
  }

  StmtPtr parse_print() {
    auto s = std::make_unique<OutputStmt>(next().pos);
    while (cur().type != TokenType::kBlockEnd) {
      if (!s->pieces.empty()) expect_op(",");
      s->pieces.push_back(OutputStmt::Piece{{}, parse_expression(true)});
    }
    return s;
  }

  Target to_target(const Expr& e) {
    Target t;
    t.pos = e.pos;
    switch (e.kind) {
      case ExprKind::kName:
        t.kind = Target::Kind::kName;
        t.name = static_cast<const NameExpr&>(e).name;
        return t;
      case ExprKind::kNSRef: {
        const auto& g = static_cast<const GetattrExpr&>(e);
        t.kind = Target::Kind::kNamespaceAttr;
        t.name = static_cast<const NameExpr&>(*g.object).name;
        t.attr = g.attr;
        return t;
      }
      case ExprKind::kTuple:
        t.kind = Target::Kind::kTuple;
        for (const auto& item : static_cast<const SequenceExpr&>(e).items) {
          t.items.push_back(to_target(*item));
        }
        return t;
      default:
        fail_at("can't assign to this expression", e.pos);
    }
  }

  Target parse_assign_target(bool with_tuple, bool name_only,
                             const std::vector<std::string_view>& extra_end_rules,
                             bool with_namespace) {
    if (name_only) {
      const Token& t = expect(TokenType::kName, "a name");
      Target target;
      target.name = t.value;
      target.pos = t.pos;
      return target;
    }
    ExprPtr e = with_tuple ? parse_tuple(true, true, extra_end_rules, false, with_namespace)
                           : parse_primary(with_namespace);
    return to_target(*e);
  }

  // --- expressions ---

  ExprPtr parse_expression(bool with_condexpr) {
    DepthGuard guard(*this);
    return with_condexpr ? parse_condexpr() : parse_or();
  }

  ExprPtr parse_condexpr() {
    SourcePos pos = cur().pos;
    ExprPtr expr1 = parse_or();
    int chain = 0;
    while (skip_name("if")) {
      count_chain(chain);
      auto c = std::make_unique<CondExpr>(pos);
      c->test = parse_or();
      if (skip_name("else")) c->else_expr = parse_condexpr();
      c->then_expr = std::move(expr1);
      expr1 = std::move(c);
      pos = cur().pos;
    }
    return expr1;
  }

  ExprPtr parse_or() {
    SourcePos pos = cur().pos;
    ExprPtr left = parse_and();
    int chain = 0;
    while (skip_name("or")) {
      count_chain(chain);
      left = std::make_unique<LogicalExpr>(ExprKind::kOr, pos, std::move(left), parse_and());
      pos = cur().pos;
    }
    return left;
  }

  ExprPtr parse_and() {
    SourcePos pos = cur().pos;
    ExprPtr left = parse_not();
    int chain = 0;
    while (skip_name("and")) {
      count_chain(chain);
      left = std::make_unique<LogicalExpr>(ExprKind::kAnd, pos, std::move(left), parse_not());
      pos = cur().pos;
    }
    return left;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      DepthGuard guard(*this);
      const SourcePos pos = next().pos;
      return std::make_unique<UnaryExpr>(ExprKind::kNot, pos, parse_not());
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const SourcePos pos = cur().pos;
    ExprPtr expr = parse_math1();
    std::unique_ptr<CompareExpr> cmp;
    int chain = 0;
    while (true) {
      std::optional<CompareOp> op;
      if (cur().type == TokenType::kOperator) {
        const std::string& v = cur().value;
        if (v == "==")
          op = CompareOp::kEq;
        else if (v == "!=")
          op = CompareOp::kNe;
        else if (v == "<")
          op = CompareOp::kLt;
        else if (v == "<=")
          op = CompareOp::kLe;
        else if (v == ">")
          op = CompareOp::kGt;
        else if (v == ">=")
          op = CompareOp::kGe;
        if (op) next();
      } else if (is_name("in")) {
        next();
        op = CompareOp::kIn;
      } else if (is_name("not") && look().type == TokenType::kName && look().value == "in") {
        next();
        next();
        op = CompareOp::kNotIn;
      }
      if (!op) break;
      count_chain(chain);
      if (!cmp) cmp = std::make_unique<CompareExpr>(pos, std::move(expr));
      cmp->ops.emplace_back(*op, parse_math1());
    }
    if (cmp) return cmp;
    return expr;
  }

  template <typename Sub>
  ExprPtr parse_binary_chain(Sub sub,
                             std::initializer_list<std::pair<std::string_view, BinaryOp>> ops) {
    SourcePos pos = cur().pos;
    ExprPtr left = (this->*sub)();
    int chain = 0;
    while (cur().type == TokenType::kOperator) {
      const BinaryOp* op = nullptr;
      for (const auto& [text, o] : ops) {
        if (cur().value == text) op = &o;
      }
      if (!op) break;
      count_chain(chain);
      next();
      ExprPtr right = (this->*sub)();
      left = std::make_unique<BinaryExpr>(pos, *op, std::move(left), std::move(right));
      pos = cur().pos;
    }
    return left;
  }

  ExprPtr parse_math1() {
    return parse_binary_chain(&Parser::parse_concat,
                              {{"+", BinaryOp::kAdd}, {"-", BinaryOp::kSub}});
  }

  ExprPtr parse_concat() {
    const SourcePos pos = cur().pos;
    ExprPtr first = parse_math2();
    if (!is_op("~")) return first;
    auto c = std::make_unique<ConcatExpr>(pos);
    c->items.push_back(std::move(first));
    int chain = 0;
    while (skip_op("~")) {
      count_chain(chain);
      c->items.push_back(parse_math2());
    }
    return c;
  }

  ExprPtr parse_math2() {
    return parse_binary_chain(&Parser::parse_pow, {{"*", BinaryOp::kMul},
                                                   {"/", BinaryOp::kDiv},
                                                   {"//", BinaryOp::kFloorDiv},
                                                   {"%", BinaryOp::kMod}});
  }

  ExprPtr parse_pow() {
    return parse_binary_chain(&Parser::parse_unary_filtered, {{"**", BinaryOp::kPow}});
  }

  ExprPtr parse_unary_filtered() { return parse_unary(true); }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(*this);
    const SourcePos pos = cur().pos;
    ExprPtr node;
    if (is_op("-")) {
      next();
      node = std::make_unique<UnaryExpr>(ExprKind::kNeg, pos, parse_unary(false));
    } else if (is_op("+")) {
      next();
      node = std::make_unique<UnaryExpr>(ExprKind::kPos, pos, parse_unary(false));
    } else {
      node = parse_primary(false);
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprPtr parse_primary(bool with_namespace) {
    DepthGuard guard(*this);
    const Token& t = cur();
    const SourcePos pos = t.pos;
    switch (t.type) {
      case TokenType::kName: {
        const std::string name = next().value;
        if (name == "true" || name == "True")
          return std::make_unique<ConstExpr>(pos, Value::boolean(true));
        if (name == "false" || name == "False")
          return std::make_unique<ConstExpr>(pos, Value::boolean(false));
        if (name == "none" || name == "None")
          return std::make_unique<ConstExpr>(pos, Value::none());
        if (with_namespace && is_op(".")) {
          next();
          const std::string attr = expect(TokenType::kName, "an attribute name").value;
          return std::make_unique<GetattrExpr>(pos, std::make_unique<NameExpr>(pos, name), attr,
                                               ExprKind::kNSRef);
        }
        if (!names_.empty()) names_.back().insert(name);
        return std::make_unique<NameExpr>(pos, name);
      }
      case TokenType::kString: {
        std::string s = next().value;
        while (cur().type == TokenType::kString) s += next().value;
        return std::make_unique<ConstExpr>(pos, Value::string(std::move(s)));
      }
      case TokenType::kInteger:
        return std::make_unique<ConstExpr>(pos, Value::integer(next().int_value));
      case TokenType::kFloat:
        return std::make_unique<ConstExpr>(pos, Value::number(next().float_value));
      case TokenType::kOperator:
        if (t.value == "(") {
          next();
          ExprPtr e = parse_tuple(false, true, {}, true);
          expect_op(")");
          return e;
        }
        if (t.value == "[") return parse_list();
        if (t.value == "{") return parse_dict();
        break;
      default:
        break;
    }
    fail("unexpected '" + describe(t) + "'");
  }

  bool is_tuple_end(const std::vector<std::string_view>& extra_end_rules) const {
    if (cur().type == TokenType::kVariableEnd || cur().type == TokenType::kBlockEnd || is_op(")"))
      return true;
    return at_end_token(extra_end_rules);
  }

  ExprPtr parse_tuple(bool simplified, bool with_condexpr,
                      const std::vector<std::string_view>& extra_end_rules,
                      bool explicit_parentheses, bool with_namespace = false) {
    const SourcePos pos = cur().pos;
    std::vector<ExprPtr> args;
    bool is_tuple = false;
    while (true) {
      if (!args.empty()) expect_op(",");
      if (is_tuple_end(extra_end_rules)) break;
      if (static_cast<int>(args.size()) >= kMaxOperatorChain) fail("tuple is too long");
      args.push_back(simplified ? parse_primary(with_namespace) : parse_expression(with_condexpr));
      if (is_op(",")) {
        is_tuple = true;
      } else {
        break;
      }
    }
    if (!is_tuple) {
      if (!args.empty()) return std::move(args[0]);
      if (!explicit_parentheses) fail("expected an expression, got '" + describe(cur()) + "'");
    }
    auto t = std::make_unique<SequenceExpr>(ExprKind::kTuple, pos);
    t->items = std::move(args);
    return t;
  }

  ExprPtr parse_list() {
    auto l = std::make_unique<SequenceExpr>(ExprKind::kList, cur().pos);
    expect_op("[");
    while (!is_op("]")) {
      if (!l->items.empty()) expect_op(",");
      if (is_op("]")) break;
      l->items.push_back(parse_expression(true));
    }
    expect_op("]");
    return l;
  }

  ExprPtr parse_dict() {
    auto d = std::make_unique<DictExpr>(cur().pos);
    expect_op("{");
    while (!is_op("}")) {
      if (!d->items.empty()) expect_op(",");
      if (is_op("}")) break;
      ExprPtr key = parse_expression(true);
      expect_op(":");
      ExprPtr value = parse_expression(true);
      d->items.emplace_back(std::move(key), std::move(value));
    }
    expect_op("}");
    return d;
  }

  ExprPtr parse_postfix(ExprPtr node) {
    int chain = 0;
    while (true) {
      if (is_op(".") || is_op("[")) {
        count_chain(chain);
        node = parse_subscript(std::move(node));
      } else if (is_op("(")) {
        count_chain(chain);
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    int chain = 0;
    while (true) {
      if (is_op("|")) {
        count_chain(chain);
        node = parse_filter(std::move(node), false);
      } else if (is_name("is")) {
        count_chain(chain);
        node = parse_test(std::move(node));
      } else if (is_op("(")) {
        count_chain(chain);
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  // Getattr, Getitem and Call nodes take the position of the expression they apply to, so
  // errors point at the start of `x.y`, `x[0]` or `f(...)`.
  ExprPtr parse_subscript(ExprPtr node) {
    const Token& t = next();
    const SourcePos pos = node->pos;
    if (t.type == TokenType::kOperator && t.value == ".") {
      const Token& attr = cur();
      if (attr.type == TokenType::kName) {
        next();
        return std::make_unique<GetattrExpr>(pos, std::move(node), attr.value);
      }
      if (attr.type != TokenType::kInteger) fail("expected name or number");
      next();
      return std::make_unique<GetitemExpr>(
          pos, std::move(node),
          std::make_unique<ConstExpr>(attr.pos, Value::integer(attr.int_value)));
    }
    DepthGuard guard(*this);
    std::vector<ExprPtr> args;
    while (!is_op("]")) {
      if (!args.empty()) expect_op(",");
      args.push_back(parse_subscribed());
    }
    expect_op("]");
    if (args.size() == 1)
      return std::make_unique<GetitemExpr>(pos, std::move(node), std::move(args[0]));
    auto tuple = std::make_unique<SequenceExpr>(ExprKind::kTuple, pos);
    tuple->items = std::move(args);
    return std::make_unique<GetitemExpr>(pos, std::move(node), std::move(tuple));
  }

  ExprPtr parse_subscribed() {
    const SourcePos pos = cur().pos;
    auto slice = std::make_unique<SliceExpr>(pos);
    if (is_op(":")) {
      next();
    } else {
      ExprPtr node = parse_expression(true);
      if (!is_op(":")) return node;
      next();
      slice->start = std::move(node);
    }
    if (!is_op(":") && !is_op("]") && !is_op(",")) slice->stop = parse_expression(true);
    if (is_op(":")) {
      next();
      if (!is_op("]") && !is_op(",")) slice->step = parse_expression(true);
    }
    return slice;
  }

  CallArgExprs parse_call_args() {
    DepthGuard guard(*this);
    const SourcePos pos = cur().pos;
    expect_op("(");
    CallArgExprs call;
    bool require_comma = false;
    while (!is_op(")")) {
      if (require_comma) {
        expect_op(",");
        if (is_op(")")) break;
      }
      if (is_op("*") || is_op("**")) fail("kiln does not support *args or **kwargs in calls");
      if (cur().type == TokenType::kName && look().type == TokenType::kOperator &&
          look().value == "=") {
        std::string key = next().value;
        next();
        call.kwargs.emplace_back(std::move(key), parse_expression(true));
      } else {
        if (!call.kwargs.empty()) fail_at("invalid syntax for function call expression", pos);
        call.args.push_back(parse_expression(true));
      }
      if (call.args.size() + call.kwargs.size() > static_cast<size_t>(kMaxOperatorChain)) {
        fail("too many call arguments");
      }
      require_comma = true;
    }
    expect_op(")");
    return call;
  }

  ExprPtr parse_call(ExprPtr node) {
    auto c = std::make_unique<CallExpr>(node->pos);
    c->call = parse_call_args();
    c->callee = std::move(node);
    return c;
  }

  std::string parse_dotted_name() {
    std::string name = expect(TokenType::kName, "a name").value;
    while (is_op(".")) {
      next();
      name += "." + expect(TokenType::kName, "a name").value;
    }
    return name;
  }

  ExprPtr parse_filter(ExprPtr node, bool start_inline) {
    int chain = 0;
    while (is_op("|") || start_inline) {
      count_chain(chain);
      if (!start_inline) next();
      auto f = std::make_unique<FilterExpr>(ExprKind::kFilter, cur().pos);
      f->name = parse_dotted_name();
      if (is_op("(")) f->call = parse_call_args();
      f->input = std::move(node);
      node = std::move(f);
      start_inline = false;
    }
    return node;
  }

  ExprPtr parse_test(ExprPtr node) {
    const SourcePos pos = next().pos;  // 'is'
    const bool negated = skip_name("not");
    auto t = std::make_unique<FilterExpr>(ExprKind::kTest, pos);
    t->name = parse_dotted_name();
    const Token& c = cur();
    if (is_op("(")) {
      t->call = parse_call_args();
    } else if ((c.type == TokenType::kName || c.type == TokenType::kString ||
                c.type == TokenType::kInteger || c.type == TokenType::kFloat || is_op("[") ||
                is_op("{")) &&
               !is_name("else") && !is_name("or") && !is_name("and")) {
      if (is_name("is")) fail("You cannot chain multiple tests with is");
      ExprPtr arg = parse_postfix(parse_primary(false));
      t->call.args.push_back(std::move(arg));
    }
    t->input = std::move(node);
    if (negated) return std::make_unique<UnaryExpr>(ExprKind::kNot, pos, std::move(t));
    return t;
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
  std::vector<std::pair<std::string, SourcePos>> open_tags_;
  std::vector<std::unordered_set<std::string>> names_;  // names referenced, per macro/for body
};

}  // namespace

Body parse_template(std::string_view source) { return Parser(tokenize(source)).parse(); }

}  // namespace kiln::chat
