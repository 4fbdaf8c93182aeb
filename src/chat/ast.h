// The syntax tree of a parsed chat template: the node types of jinja2 that chat templates
// use. Nodes are immutable after parsing; one tree is shared by every render.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/value.h"

namespace kiln::chat {

enum class ExprKind : uint8_t {
  kConst,
  kName,
  kGetattr,
  kNSRef,  // `ns.attr` as a {% set %} target (a GetattrExpr)
  kGetitem,
  kSlice,  // only as a Getitem key
  kList,
  kTuple,
  kDict,
  kNeg,
  kPos,
  kNot,
  kBinary,
  kConcat,
  kCompare,
  kAnd,
  kOr,
  kCondExpr,
  kCall,
  kFilter,
  kTest,
};

struct Expr {
  Expr(ExprKind k, SourcePos p) : kind(k), pos(p) {}
  virtual ~Expr() = default;
  ExprKind kind;
  SourcePos pos;
};
using ExprPtr = std::unique_ptr<Expr>;

struct ConstExpr : Expr {
  ConstExpr(SourcePos p, Value v) : Expr(ExprKind::kConst, p), value(std::move(v)) {}
  Value value;
};

struct NameExpr : Expr {
  NameExpr(SourcePos p, std::string n) : Expr(ExprKind::kName, p), name(std::move(n)) {}
  std::string name;
};

// kGetattr and kNSRef.
struct GetattrExpr : Expr {
  GetattrExpr(SourcePos p, ExprPtr o, std::string a, ExprKind k = ExprKind::kGetattr)
      : Expr(k, p), object(std::move(o)), attr(std::move(a)) {}
  ExprPtr object;
  std::string attr;
};

struct GetitemExpr : Expr {
  GetitemExpr(SourcePos p, ExprPtr o, ExprPtr k)
      : Expr(ExprKind::kGetitem, p), object(std::move(o)), key(std::move(k)) {}
  ExprPtr object;
  ExprPtr key;  // may be a SliceExpr
};

struct SliceExpr : Expr {
  explicit SliceExpr(SourcePos p) : Expr(ExprKind::kSlice, p) {}
  ExprPtr start, stop, step;  // each may be null
};

// kList and kTuple.
struct SequenceExpr : Expr {
  SequenceExpr(ExprKind k, SourcePos p) : Expr(k, p) {}
  std::vector<ExprPtr> items;
};

struct DictExpr : Expr {
  explicit DictExpr(SourcePos p) : Expr(ExprKind::kDict, p) {}
  std::vector<std::pair<ExprPtr, ExprPtr>> items;
};

// kNeg, kPos, kNot.
struct UnaryExpr : Expr {
  UnaryExpr(ExprKind k, SourcePos p, ExprPtr o) : Expr(k, p), operand(std::move(o)) {}
  ExprPtr operand;
};

enum class BinaryOp : uint8_t { kAdd, kSub, kMul, kDiv, kFloorDiv, kMod, kPow };

struct BinaryExpr : Expr {
  BinaryExpr(SourcePos p, BinaryOp o, ExprPtr l, ExprPtr r)
      : Expr(ExprKind::kBinary, p), op(o), left(std::move(l)), right(std::move(r)) {}
  BinaryOp op;
  ExprPtr left, right;
};

struct ConcatExpr : Expr {
  explicit ConcatExpr(SourcePos p) : Expr(ExprKind::kConcat, p) {}
  std::vector<ExprPtr> items;
};

enum class CompareOp : uint8_t { kEq, kNe, kLt, kLe, kGt, kGe, kIn, kNotIn };

struct CompareExpr : Expr {
  CompareExpr(SourcePos p, ExprPtr f) : Expr(ExprKind::kCompare, p), first(std::move(f)) {}
  ExprPtr first;
  std::vector<std::pair<CompareOp, ExprPtr>> ops;
};

// kAnd, kOr.
struct LogicalExpr : Expr {
  LogicalExpr(ExprKind k, SourcePos p, ExprPtr l, ExprPtr r)
      : Expr(k, p), left(std::move(l)), right(std::move(r)) {}
  ExprPtr left, right;
};

struct CondExpr : Expr {
  explicit CondExpr(SourcePos p) : Expr(ExprKind::kCondExpr, p) {}
  ExprPtr test, then_expr, else_expr;  // else_expr may be null
};

struct CallArgExprs {
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
};

struct CallExpr : Expr {
  explicit CallExpr(SourcePos p) : Expr(ExprKind::kCall, p) {}
  ExprPtr callee;
  CallArgExprs call;
};

// kFilter and kTest. A filter's input is null at the bottom of a {% filter %} or block-set
// filter chain, where the rendered body is the input.
struct FilterExpr : Expr {
  FilterExpr(ExprKind k, SourcePos p) : Expr(k, p) {}
  ExprPtr input;
  std::string name;
  CallArgExprs call;
};

// --- statements ---

struct Target {
  enum class Kind : uint8_t { kName, kTuple, kNamespaceAttr };
  Kind kind = Kind::kName;
  std::string name;           // kName, kNamespaceAttr (the namespace variable)
  std::string attr;           // kNamespaceAttr
  std::vector<Target> items;  // kTuple
  SourcePos pos;
};

enum class StmtKind : uint8_t {
  kOutput,
  kIf,
  kFor,
  kSet,
  kSetBlock,
  kMacro,
  kCallBlock,
  kFilterBlock,
  kWith,
  kBreak,
  kContinue,
  kScope,  // {% generation %} (Hugging Face's assistant-mask tag): renders its body
};

struct Stmt {
  Stmt(StmtKind k, SourcePos p) : kind(k), pos(p) {}
  virtual ~Stmt() = default;
  StmtKind kind;
  SourcePos pos;
};
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct OutputStmt : Stmt {
  explicit OutputStmt(SourcePos p) : Stmt(StmtKind::kOutput, p) {}
  struct Piece {
    std::string text;  // used when expr is null
    ExprPtr expr;
  };
  std::vector<Piece> pieces;
};

struct IfStmt : Stmt {
  explicit IfStmt(SourcePos p) : Stmt(StmtKind::kIf, p) {}
  std::vector<std::pair<ExprPtr, Body>> branches;  // if, elif...
  Body else_body;
};

struct ForStmt : Stmt {
  explicit ForStmt(SourcePos p) : Stmt(StmtKind::kFor, p) {}
  Target target;
  ExprPtr iter;
  ExprPtr filter;  // may be null
  bool recursive = false;
  bool uses_loop = false;  // the body refers to `loop` (else no loop object is built)
  Body body;
  Body else_body;
};

struct SetStmt : Stmt {
  explicit SetStmt(SourcePos p) : Stmt(StmtKind::kSet, p) {}
  Target target;
  ExprPtr value;
};

struct SetBlockStmt : Stmt {
  explicit SetBlockStmt(SourcePos p) : Stmt(StmtKind::kSetBlock, p) {}
  Target target;
  ExprPtr filter;  // may be null
  Body body;
};

// A macro, or the anonymous `caller` of a {% call %} block.
struct MacroStmt : Stmt {
  explicit MacroStmt(SourcePos p) : Stmt(StmtKind::kMacro, p) {}
  std::string name;
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;  // for the last defaults.size() params
  Body body;
  bool uses_caller = false;
  bool uses_varargs = false;
  bool uses_kwargs = false;
};

struct CallBlockStmt : Stmt {
  explicit CallBlockStmt(SourcePos p) : Stmt(StmtKind::kCallBlock, p) {}
  std::unique_ptr<CallExpr> call;
  std::unique_ptr<MacroStmt> caller;  // the block's body, as the macro `caller`
};

struct FilterBlockStmt : Stmt {
  explicit FilterBlockStmt(SourcePos p) : Stmt(StmtKind::kFilterBlock, p) {}
  ExprPtr filter;
  Body body;
};

struct WithStmt : Stmt {
  explicit WithStmt(SourcePos p) : Stmt(StmtKind::kWith, p) {}
  std::vector<Target> targets;
  std::vector<ExprPtr> values;
  Body body;
};

struct ScopeStmt : Stmt {
  ScopeStmt(StmtKind k, SourcePos p) : Stmt(k, p) {}
  Body body;  // empty for kBreak / kContinue
};

}  // namespace kiln::chat
