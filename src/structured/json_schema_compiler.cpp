// JSON Schema -> byte-level grammar.
//
// How a schema is compiled (and why):
//
// * Correct by construction. Every string the grammar completes is a JSON text that
//   validates against the schema. Where the valid space cannot be expressed exactly, the
//   grammar takes a documented subset of it (canonical escapes in patterns and extra keys,
//   bounded numbers without exponents, ...) or the schema is refused with an error that
//   names the keyword and its JSON pointer. It never accepts more than the schema does,
//   with one documented exception: oneOf is compiled as anyOf unless strict_one_of (a
//   value matching two overlapping branches would be accepted).
//
// * Flat schemas. Composition ($ref with siblings, allOf, anyOf, oneOf) is distributed
//   first: a schema becomes a list of alternatives, each the merge ("both must hold") of
//   composition-free schemas (Flat). A flat schema is compiled type by type, each keyword
//   applying only to the values of its type, as JSON Schema specifies.
//
// * Rules where sharing or recursion needs them: one rule per $ref target (compiled from a
//   worklist, so long chains of references do not deepen the C++ stack), one per distinct
//   composed schema that holds a $ref (so a recursive schema reached through allOf still
//   terminates), and shared rules for the building blocks (a JSON string, a number, any
//   JSON value, whitespace).
//
// * Hostile input fails with an error: nesting depth, total work, alternatives, repetition
//   counts and automaton sizes are all capped.
#include "structured/json_schema_compiler.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "structured/compile_util.h"
#include "structured/json_schema_exprs.h"
#include "structured/json_schema_formats.h"
#include "structured/json_schema_keywords.h"
#include "structured/json_schema_numbers.h"
#include "structured/matcher.h"
#include "structured/regex_compiler.h"

namespace kiln::structured {

namespace {

// The Expr shorthands, number grammars, string formats, keyword checks and JSON helpers
// (and `json`, nlohmann::ordered_json).
using namespace json_schema;

// ---- Limits (hostile or accidental blow-ups become errors) ----

constexpr int kMaxDepth = 64;                // nested subschemas below one rule
constexpr size_t kMaxJsonNesting = 512;      // arrays and objects in the schema document
constexpr int64_t kMaxWork = 200000;         // compile steps for one schema
constexpr size_t kMaxAlternatives = 256;     // flat schemas after distributing anyOf
constexpr int64_t kMaxItems = 1000;          // minItems / maxItems that must be unrolled
constexpr int64_t kMaxStringLength = 10000;  // minLength / maxLength that must be unrolled
constexpr size_t kMaxNfaStates = 4096;       // pattern automaton with a length bound
constexpr size_t kMaxLengthStates = 8192;    // (automaton state, length) rules
constexpr uint32_t kMaxKeyLength = 1000;     // property names excluded from extra keys
constexpr int kMaxWhitespace = 64;

// ---- JSON string content ----

// Bytes a JSON string cannot hold raw: control characters, the quote and the backslash.
ByteSet needs_escape() {
  ByteSet s = ByteSet::range(0x00, 0x1F);
  s.add('"');
  s.add('\\');
  return s;
}

ByteSet minus(const ByteSet& a, const ByteSet& b) {
  ByteSet r;
  for (int i = 0; i < 4; ++i) r.words[i] = a.words[i] & ~b.words[i];
  return r;
}

ByteSet intersect(const ByteSet& a, const ByteSet& b) {
  ByteSet r;
  for (int i = 0; i < 4; ++i) r.words[i] = a.words[i] & b.words[i];
  return r;
}

char short_escape(uint8_t b) {
  switch (b) {
    case '"':
      return '"';
    case '\\':
      return '\\';
    case '\b':
      return 'b';
    case '\f':
      return 'f';
    case '\n':
      return 'n';
    case '\r':
      return 'r';
    case '\t':
      return 't';
    default:
      return 0;
  }
}

// The canonical escapes (as nlohmann's dump writes them: \" \\ \b \f \n \r \t, else
// \u00xx in lower case) of the escape-needing bytes in `set`, as one alternative each
// for the short forms and the two \u00 rows.
Expr canonical_escapes(const ByteSet& set) {
  const ByteSet escaped = intersect(set, needs_escape());
  ByteSet letters, row0, row1;
  for (int b = 0; b < 0x80; ++b) {
    if (!escaped.contains((uint8_t)b)) continue;
    if (char c = short_escape((uint8_t)b)) {
      letters.add((uint8_t)c);
      continue;
    }
    const char hex = "0123456789abcdef"[b & 15];
    (b < 16 ? row0 : row1).add((uint8_t)hex);
  }
  return Expr::alt({Expr::seq({ch('\\'), Expr::byte_set(letters)}),
                    Expr::seq({lit("\\u000"), Expr::byte_set(row0)}),
                    Expr::seq({lit("\\u001"), Expr::byte_set(row1)})});
}

// One byte of decoded string content as JSON string content: itself, or its escape.
Expr encode_bytes(const ByteSet& set) {
  const ByteSet escaped = intersect(set, needs_escape());
  if (escaped.empty()) return Expr::byte_set(set);
  return Expr::alt({Expr::byte_set(minus(set, needs_escape())), canonical_escapes(escaped)});
}

// A language of decoded strings (UTF-8 bytes) as JSON string content. Only ASCII bytes
// need escapes and an ASCII byte is a whole character, so replacing byte classes is exact.
Expr encode_tree(const Expr& e) {
  switch (e.kind) {
    case Expr::Kind::kBytes:
      return encode_bytes(e.bytes);
    case Expr::Kind::kSeq:
    case Expr::Kind::kAlt: {
      std::vector<Expr> parts;
      for (const Expr& c : e.children) parts.push_back(encode_tree(c));
      return e.kind == Expr::Kind::kSeq ? Expr::seq(std::move(parts)) : Expr::alt(std::move(parts));
    }
    case Expr::Kind::kRepeat:
      return Expr::repeat(encode_tree(e.children[0]), e.min, e.max);
    default:
      return e;
  }
}

// The canonical JSON string content of one code point.
std::string canonical_char(uint32_t cp) {
  std::string out;
  if (cp < 0x80 && needs_escape().contains((uint8_t)cp)) {
    if (char c = short_escape((uint8_t)cp)) return std::string("\\") + c;
    const char* hex = "0123456789abcdef";
    return std::string("\\u00") + hex[cp >> 4] + hex[cp & 15];
  }
  append_utf8(cp, out);
  return out;
}

// Lengths in code points of the strings an Expr over UTF-8 bytes matches (a continuation
// byte adds nothing, any other byte one). `known` is false where a byte class mixes
// both kinds or a rule is referenced; `none` where the Expr matches nothing.
struct LengthRange {
  bool known = true;
  bool none = false;
  int64_t min = 0;
  int64_t max = 0;  // < 0: unbounded
};

constexpr int64_t kBig = int64_t{1} << 40;
int64_t sat_add(int64_t a, int64_t b) { return std::min(a + b, kBig); }
int64_t sat_mul(int64_t a, int64_t b) {
  return a == 0 || b == 0 ? 0 : std::min(a, kBig / b + 1) * b;
}

LengthRange code_point_lengths(const Expr& e) {
  LengthRange r;
  switch (e.kind) {
    case Expr::Kind::kEmpty:
      return r;
    case Expr::Kind::kNothing:
      r.none = true;
      return r;
    case Expr::Kind::kRule:
      r.known = false;
      return r;
    case Expr::Kind::kBytes: {
      const ByteSet cont = intersect(e.bytes, ByteSet::range(0x80, 0xBF));
      if (cont == e.bytes) return r;
      r.known = cont.empty();
      r.min = r.max = 1;
      return r;
    }
    case Expr::Kind::kSeq:
      for (const Expr& c : e.children) {
        const LengthRange s = code_point_lengths(c);
        r.known &= s.known;
        r.none |= s.none;
        r.min = sat_add(r.min, s.min);
        r.max = (r.max < 0 || s.max < 0) ? -1 : sat_add(r.max, s.max);
      }
      return r;
    case Expr::Kind::kAlt: {
      r.none = true;
      for (const Expr& c : e.children) {
        const LengthRange s = code_point_lengths(c);
        r.known &= s.known;
        if (s.none) continue;
        r.min = r.none ? s.min : std::min(r.min, s.min);
        r.max = r.none ? s.max : ((r.max < 0 || s.max < 0) ? -1 : std::max(r.max, s.max));
        r.none = false;
      }
      return r;
    }
    case Expr::Kind::kRepeat: {
      const LengthRange b = code_point_lengths(e.children[0]);
      r.known = b.known;
      if (b.none) {
        r.none = e.min > 0;
        return r;
      }
      r.min = sat_mul(b.min, e.min);
      r.max = b.max == 0 ? 0 : (e.max < 0 || b.max < 0) ? -1 : sat_mul(b.max, e.max);
      return r;
    }
  }
  return r;
}

// `e` with every unbounded repetition {m,} made {m, m+k}: a subset of its language.
Expr cap_stars(const Expr& e, int32_t k) {
  switch (e.kind) {
    case Expr::Kind::kSeq:
    case Expr::Kind::kAlt: {
      std::vector<Expr> parts;
      for (const Expr& c : e.children) parts.push_back(cap_stars(c, k));
      return e.kind == Expr::Kind::kSeq ? Expr::seq(std::move(parts)) : Expr::alt(std::move(parts));
    }
    case Expr::Kind::kRepeat:
      return Expr::repeat(cap_stars(e.children[0], k), e.min, e.max < 0 ? e.min + k : e.max);
    default:
      return e;
  }
}

// A Thompson automaton of a rule-free Expr over bytes.
class Nfa {
 public:
  struct State {
    std::vector<std::pair<ByteSet, int>> edges;
    std::vector<int> eps;
  };

  // False when the Expr refers to a rule or the automaton grows too large.
  bool build(const Expr& e) {
    start_ = add();
    accept_ = add();
    const int end = fragment(e, start_);
    if (!ok_) return false;
    states_[(size_t)end].eps.push_back(accept_);
    return ok_;
  }
  int start() const { return start_; }
  int accept() const { return accept_; }
  const State& state(int s) const { return states_[(size_t)s]; }

  // States reachable from s without consuming a byte (s included).
  const std::vector<int>& closure(int s) {
    auto it = closures_.find(s);
    if (it != closures_.end()) return it->second;
    std::vector<int> out;
    std::vector<bool> seen(states_.size());
    std::vector<int> stack = {s};
    seen[(size_t)s] = true;
    while (!stack.empty()) {
      const int q = stack.back();
      stack.pop_back();
      out.push_back(q);
      for (int r : states_[(size_t)q].eps)
        if (!seen[(size_t)r]) {
          seen[(size_t)r] = true;
          stack.push_back(r);
        }
    }
    return closures_[s] = std::move(out);
  }

 private:
  int add() {
    if (states_.size() >= kMaxNfaStates) {
      ok_ = false;
      return 0;
    }
    states_.emplace_back();
    return (int)states_.size() - 1;
  }
  void eps(int from, int to) { states_[(size_t)from].eps.push_back(to); }

  // Adds e's automaton starting at `from`; returns its end state.
  int fragment(const Expr& e, int from) {
    if (!ok_) return from;
    switch (e.kind) {
      case Expr::Kind::kEmpty:
        return from;
      case Expr::Kind::kNothing:
        return add();  // unreachable
      case Expr::Kind::kRule:
        ok_ = false;
        return from;
      case Expr::Kind::kBytes: {
        const int to = add();
        if (ok_) states_[(size_t)from].edges.push_back({e.bytes, to});
        return to;
      }
      case Expr::Kind::kSeq:
        for (const Expr& c : e.children) from = fragment(c, from);
        return from;
      case Expr::Kind::kAlt: {
        const int to = add();
        for (const Expr& c : e.children) {
          const int in = add();
          if (!ok_) return to;
          eps(from, in);
          const int out = fragment(c, in);
          if (ok_) eps(out, to);
        }
        return to;
      }
      case Expr::Kind::kRepeat:
        return repeat(e, from);
    }
    return from;
  }

  int repeat(const Expr& e, int from) {
    const Expr& body = e.children[0];
    for (int32_t i = 0; i < e.min && ok_; ++i) from = fragment(body, from);
    if (e.max < 0) {
      const int loop = add();
      if (!ok_) return loop;
      eps(from, loop);
      const int out = fragment(body, loop);
      if (ok_) eps(out, loop);
      return loop;
    }
    for (int32_t i = e.min; i < e.max && ok_; ++i) {
      const int skip = add();
      if (!ok_) return skip;
      eps(from, skip);
      const int out = fragment(body, from);
      if (ok_) eps(out, skip);
      from = skip;
    }
    return from;
  }

  std::vector<State> states_;
  std::map<int, std::vector<int>> closures_;
  int start_ = 0, accept_ = 0;
  bool ok_ = true;
};

// ---- Patterns ----

// One top-level alternative of a pattern and whether it is anchored at either end.
struct PatternBranch {
  std::string text;
  bool starts = false, ends = false;
};

// Splits a pattern at its top-level '|' and strips the anchors at each branch's ends
// (JSON Schema patterns search; only an anchor makes a branch match at an end). Anchors
// anywhere else cannot be expressed and are an error.
StatusOr<std::vector<PatternBranch>> split_pattern(std::string_view p) {
  struct Anchor {
    size_t pos, len;
    bool start;
  };
  std::vector<PatternBranch> out;
  std::vector<Anchor> anchors;
  size_t begin = 0, class_first = 0;
  int depth = 0;
  bool in_class = false;
  auto finish = [&](size_t end) -> Status {
    PatternBranch b;
    size_t s = begin, e = end;
    for (const Anchor& a : anchors) {
      if (a.start && a.pos == s && !b.starts) {
        b.starts = true;
        s += a.len;
      } else if (!a.start && a.pos + a.len == e && !b.ends) {
        b.ends = true;
      } else {
        return Status::Error(
            "anchors (^ $ \\A \\Z) are only supported at the ends of the "
            "pattern or of its top-level alternatives");
      }
    }
    if (b.ends) {
      for (const Anchor& a : anchors)
        if (!a.start && a.pos + a.len == e) e = a.pos;
    }
    b.text = std::string(p.substr(s, e > s ? e - s : 0));
    out.push_back(std::move(b));
    anchors.clear();
    return Status::Ok();
  };
  for (size_t i = 0; i < p.size();) {
    const char c = p[i];
    if (c == '\\') {
      const char d = i + 1 < p.size() ? p[i + 1] : '\0';
      if (!in_class && (d == 'A' || d == 'Z' || d == 'z')) anchors.push_back({i, 2, d == 'A'});
      i += 2;
      continue;
    }
    if (in_class) {
      if (c == ']' && i != class_first) in_class = false;
      ++i;
      continue;
    }
    if (c == '[') {
      in_class = true;
      class_first = i + 1 < p.size() && p[i + 1] == '^' ? i + 2 : i + 1;
      i = class_first;
      continue;
    }
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == '^' || c == '$') anchors.push_back({i, 1, c == '^'});
    if (c == '|' && depth == 0) {
      KILN_RETURN_IF_ERROR(finish(i));
      begin = i + 1;
    }
    ++i;
  }
  KILN_RETURN_IF_ERROR(finish(p.size()));
  return out;
}

// ---- Flat schemas ----

// A composition-free schema: only flat keywords, in canonical forms (type as an array,
// const as a one-value enum, tuples as prefixItems, numeric exclusive bounds).
struct Flat {
  json schema;
  std::string ptr;  // where it came from, for messages
};

json normalize(const json& s) {
  json f = json::object();
  for (const auto& [key, v] : s.items())
    if (is_flat_key(key)) f[key] = v;
  if (field(f, "type")) {
    uint8_t mask = type_mask(f);
    const json* nullable = field(f, "nullable");  // OpenAPI 3.0
    if (nullable && nullable->get<bool>()) mask |= kNull;
    f["type"] = type_names(mask);
  }
  f.erase("nullable");
  if (const json* c = field(f, "const")) {
    json values = json::array();
    if (const json* e = field(f, "enum")) {
      for (const json& v : *e)
        if (same_value(v, *c)) values.push_back(v);
    } else {
      values.push_back(*c);
    }
    f.erase("const");
    f["enum"] = std::move(values);
  }
  if (const json* items = field(f, "items"); items && items->is_array()) {  // draft 4-2019 tuples
    json prefix = *items;
    const json* more = field(f, "additionalItems");
    json rest = more ? *more : json();
    f["prefixItems"] = std::move(prefix);
    if (more)
      f["items"] = std::move(rest);
    else
      f.erase("items");
  }
  f.erase("additionalItems");
  for (const auto& [excl, incl] :
       {std::pair{"exclusiveMinimum", "minimum"}, {"exclusiveMaximum", "maximum"}}) {
    const json* e = field(f, excl);
    if (!e || !e->is_boolean()) continue;  // draft 4: a flag on minimum / maximum
    const json* bound = field(f, incl);
    if (e->get<bool>() && bound) {
      json value = *bound;
      f[excl] = std::move(value);
      f.erase(incl);
    } else {
      f.erase(excl);
    }
  }
  return f;
}

// Both subschemas must hold (absent means true).
json both(const json* x, const json* y) {
  if (is_true_schema(x)) return y ? *y : json(true);
  if (is_true_schema(y)) return *x;
  if (x->is_boolean() || y->is_boolean()) return json(false);  // one of them is false
  if (*x == *y) return *x;
  return json{{"allOf", json::array({*x, *y})}};
}

void merge_objects(const json& a, const json& b, json& out) {
  const json* pa = field(a, "properties");
  const json* pb = field(b, "properties");
  const json* aa = field(a, "additionalProperties");
  const json* ab = field(b, "additionalProperties");
  if (pa || pb) {
    // A property one side declares is an additional property of the other.
    json props = json::object();
    if (pa)
      for (const auto& [name, sa] : pa->items()) {
        const json* sb = pb ? field(*pb, name) : nullptr;
        props[name] = both(&sa, sb ? sb : ab);
      }
    if (pb)
      for (const auto& [name, sb] : pb->items())
        if (!pa || !field(*pa, name)) props[name] = both(&sb, aa);
    out["properties"] = std::move(props);
  }
  if (aa || ab) {
    json extra = both(aa, ab);
    if (!is_true_schema(&extra)) out["additionalProperties"] = std::move(extra);
  }
  std::vector<std::string> required;
  for (const json* side : {&a, &b})
    if (const json* r = field(*side, "required"))
      for (const json& name : *r)
        if (std::find(required.begin(), required.end(), name.get<std::string>()) == required.end())
          required.push_back(name.get<std::string>());
  if (!required.empty()) out["required"] = required;
}

void merge_arrays(const json& a, const json& b, json& out) {
  const json* pa = field(a, "prefixItems");
  const json* pb = field(b, "prefixItems");
  const json* ia = field(a, "items");
  const json* ib = field(b, "items");
  if (pa || pb) {
    const size_t n = std::max(pa ? pa->size() : 0, pb ? pb->size() : 0);
    json prefix = json::array();
    for (size_t i = 0; i < n; ++i) {
      const json* x = pa && i < pa->size() ? &(*pa)[i] : ia;
      const json* y = pb && i < pb->size() ? &(*pb)[i] : ib;
      prefix.push_back(both(x, y));
    }
    out["prefixItems"] = std::move(prefix);
  }
  if (ia || ib) {
    json items = both(ia, ib);
    if (!is_true_schema(&items)) out["items"] = std::move(items);
  }
}

// The flat schema both a and b describe, nullopt (with *why) when no value can satisfy
// both, an error when kiln cannot express the combination.
StatusOr<std::optional<json>> merge_flats(const json& a, const json& b, const std::string& ptr,
                                          std::string* why) {
  json out = json::object();
  const uint8_t mask = type_mask(a) & type_mask(b);
  if (!mask) {
    *why = "the combined schemas at " + where(ptr) + " allow no common type";
    return std::optional<json>();
  }
  if (field(a, "type") || field(b, "type")) out["type"] = type_names(mask);
  const json* ea = field(a, "enum");
  const json* eb = field(b, "enum");
  if (ea || eb) {
    json values = json::array();
    for (const json& v : ea ? *ea : *eb) {
      const json* other = ea ? eb : nullptr;
      bool in_other = !other;
      if (other)
        for (const json& w : *other) in_other |= same_value(v, w);
      if (in_other) values.push_back(v);
    }
    if (values.empty()) {
      *why = "the combined 'enum'/'const' values at " + where(ptr) + " have nothing in common";
      return std::optional<json>();
    }
    out["enum"] = std::move(values);
  }
  // The tighter of each limit.
  for (const char* key :
       {"minLength", "minItems", "minProperties", "minimum", "exclusiveMinimum", "maxLength",
        "maxItems", "maxProperties", "maximum", "exclusiveMaximum"}) {
    const json* x = field(a, key);
    const json* y = field(b, key);
    if (!x || !y) {
      if (x || y) out[key] = x ? *x : *y;
      continue;
    }
    const bool lower =
        std::string_view(key).starts_with("min") || std::string_view(key) == "exclusiveMinimum";
    const bool y_tighter = lower ? compare_decimals(*to_decimal(*y), *to_decimal(*x)) > 0
                                 : compare_decimals(*to_decimal(*y), *to_decimal(*x)) < 0;
    out[key] = y_tighter ? *y : *x;
  }
  for (const char* key : {"pattern", "format"}) {
    const json* x = field(a, key);
    const json* y = field(b, key);
    if (x && y && *x != *y)
      return unsupported(
          key, ptr, "combining two different '" + std::string(key) + "' values is not supported");
    if (x || y) out[key] = x ? *x : *y;
  }
  merge_objects(a, b, out);
  merge_arrays(a, b, out);
  return std::optional<json>(std::move(out));
}

// ---- The compiler ----

struct Member {
  std::string name;
  Expr value;
  bool required;
};

class Compiler {
 public:
  Compiler(GrammarBuilder& builder, const json& root, const JsonSchemaOptions& options,
           int64_t* work, int base_depth)
      : b_(builder), root_(root), opts_(options), work_(work), base_depth_(base_depth) {}

  // The values `s` (found at `ptr`) accepts.
  StatusOr<Expr> compile(const json& s, const std::string& ptr, int depth);
  // Compiles the $ref targets that compile() queued.
  Status finish();
  const std::string& unsat_reason() const { return unsat_reason_; }

  Expr any_value();
  Expr any_object();

 private:
  struct Target {
    const json* schema;
    std::string ptr;
  };
  struct Pending {
    uint32_t rule;
    const json* schema;
    std::string ptr;
  };

  Status step(const std::string& ptr, int depth);
  Expr unsat(const std::string& why);
  std::string fresh(std::string_view base) {
    return std::string(base) + "-" + std::to_string(++names_);
  }
  uint32_t shared(const std::string& name, const std::function<Expr()>& make);
  Expr share(Expr e, std::string_view name);

  // Building blocks.
  Expr ws();
  Expr sep() { return Expr::seq({ws(), ch(','), ws()}); }
  Expr colon() { return Expr::seq({ws(), ch(':'), ws()}); }
  Expr string_char();
  Expr nonascii_char();
  Expr json_string();
  Expr any_array();
  Expr canonical_char_except(const std::vector<uint32_t>& cps);
  Expr key_tail();

  // Composition.
  StatusOr<Target> resolve(const std::string& ref, const std::string& ptr) const;
  StatusOr<Expr> reference(const std::string& ref, const std::string& ptr);
  StatusOr<Expr> compile_union(const json& branches, const std::string& key, const std::string& ptr,
                               int depth);
  StatusOr<Expr> compile_memoized(const json& s, const std::string& ptr, int depth);
  StatusOr<Expr> compile_flats(const json& s, const std::string& ptr, int depth);
  StatusOr<std::vector<Flat>> expand(const json& s, const std::string& ptr, int depth);
  StatusOr<std::vector<Flat>> expand_ref(const std::string& ref, const std::string& ptr, int depth);
  StatusOr<std::vector<Flat>> expand_branches(const json& branches, const std::string& key,
                                              const std::string& ptr, int depth);
  Status cross(std::vector<Flat>& acc, const std::vector<Flat>& other, const std::string& ptr);
  Status check_one_of(const std::vector<std::vector<Flat>>& branches, const std::string& ptr,
                      int depth);
  bool disjoint(const Flat& x, const Flat& y, int depth);
  std::optional<std::vector<json>> constant_values(const Flat& f, const std::string& name,
                                                   int depth);

  // Flat schemas, by type.
  StatusOr<Expr> compile_flat(const Flat& f, int depth);
  StatusOr<Expr> compile_enum(const Flat& f, uint8_t mask, int depth);
  StatusOr<Grammar> standalone(const json& schema, const std::string& ptr, int depth);
  StatusOr<Expr> compile_number(const Flat& f, uint8_t mask);
  StatusOr<Expr> integer_range(const Flat& f);
  StatusOr<Expr> compile_string(const Flat& f);
  StatusOr<Expr> plain_string(int64_t min, int64_t max, const std::string& ptr);
  StatusOr<Expr> pattern_expr(const std::string& pattern, const std::string& ptr);
  StatusOr<Expr> string_content(const Expr& raw, int64_t min, int64_t max, const std::string& ptr);
  std::optional<Expr> length_limited(const Expr& raw, int64_t min, int64_t max);
  StatusOr<Expr> compile_array(const Flat& f, int depth);
  StatusOr<Expr> compile_object(const Flat& f, int depth);
  StatusOr<std::optional<Expr>> extra_value(const Flat& f, int depth);
  StatusOr<std::optional<std::vector<Member>>> members_of(const Flat& f,
                                                          const std::optional<Expr>& extra,
                                                          int depth,
                                                          std::vector<std::string>& declared);
  Expr object_members(const std::vector<Member>& members, const std::optional<Expr>& extra);
  StatusOr<Expr> excluded_keys(const std::vector<std::string>& names, const std::string& ptr);

  GrammarBuilder& b_;
  const json& root_;
  JsonSchemaOptions opts_;
  int64_t* work_;
  int base_depth_;
  std::map<std::string, uint32_t> shared_;
  std::map<std::string, uint32_t> ref_rules_;  // by canonical JSON pointer
  std::map<std::string, uint32_t> memo_;       // composed schemas, by their text
  std::vector<Pending> pending_;
  std::vector<std::string> expanding_;  // $ref targets being expanded inline (cycles)
  std::string unsat_reason_;
  int names_ = 0;
};

Status Compiler::step(const std::string& ptr, int depth) {
  if (depth > kMaxDepth)
    return Status::Error("JSON Schema nested more than " + std::to_string(kMaxDepth) +
                         " levels deep at " + where(ptr));
  if (++*work_ > kMaxWork)
    return Status::Error("JSON Schema too large or complex to compile (stopped at " + where(ptr) +
                         ")");
  return Status::Ok();
}

Expr Compiler::unsat(const std::string& why) {
  if (unsat_reason_.empty()) unsat_reason_ = why;
  return Expr::nothing();
}

uint32_t Compiler::shared(const std::string& name, const std::function<Expr()>& make) {
  auto it = shared_.find(name);
  if (it != shared_.end()) return it->second;
  const uint32_t id = b_.declare(name);
  shared_[name] = id;  // before make(): the body may refer to itself
  b_.define(id, make());
  return id;
}

// A rule for an Expr that would otherwise be copied (each copy lowers separately).
Expr Compiler::share(Expr e, std::string_view name) {
  switch (e.kind) {
    case Expr::Kind::kEmpty:
    case Expr::Kind::kNothing:
    case Expr::Kind::kBytes:
    case Expr::Kind::kRule:
      return e;
    default:
      return Expr::ref(b_.add(fresh(name), std::move(e)));
  }
}

Expr Compiler::ws() {
  const int n = std::min(opts_.max_whitespace, kMaxWhitespace);
  if (opts_.compact_whitespace || n <= 0) return Expr::empty();
  return Expr::ref(shared("ws", [&] { return Expr::repeat(cls(" \t\n"), 0, n); }));
}

ByteSet plain_ascii() { return minus(ByteSet::range(0x20, 0x7F), needs_escape()); }

Expr Compiler::nonascii_char() {
  return Expr::ref(shared("nonascii-char", [] { return utf8_class({{0x80, 0x10FFFF}}); }));
}

// One character of a JSON string: a raw code point or any escape (\uXXXX only as a
// valid code point or surrogate pair, since strict parsers refuse lone surrogates).
Expr Compiler::string_char() {
  return Expr::ref(shared("json-char", [&] {
    Expr hex4 = Expr::alt({
        Expr::seq({cls("0-9a-cA-Ce-fE-F"), times(hexdig(), 3)}),
        Expr::seq({cls("dD"), cls("0-7"), times(hexdig(), 2)}),
        Expr::seq({cls("dD"), cls("89abAB"), times(hexdig(), 2), lit("\\u"), cls("dD"),
                   cls("c-fC-F"), times(hexdig(), 2)}),
    });
    Expr escape = Expr::seq(
        {ch('\\'), Expr::alt({cls("\"\\/bfnrt"), Expr::seq({ch('u'), std::move(hex4)})})});
    return Expr::alt({Expr::byte_set(plain_ascii()), nonascii_char(), std::move(escape)});
  }));
}

Expr Compiler::json_string() {
  return Expr::ref(shared("json-string", [&] {
    return Expr::seq({ch('"'), Expr::star(string_char()), ch('"')});
  }));
}

Expr Compiler::any_value() {
  return Expr::ref(shared("json-value", [&] {
    return Expr::alt({any_object(), any_array(), json_string(),
                      Expr::ref(shared("json-number", unbounded_number)), lit("true"), lit("false"),
                      lit("null")});
  }));
}

Expr Compiler::any_object() {
  return Expr::ref(shared("json-object", [&] {
    Expr member = Expr::ref(shared("json-member", [&] {
      return Expr::seq({json_string(), colon(), any_value()});
    }));
    return Expr::seq({ch('{'), ws(),
                      opt(Expr::seq({member, Expr::star(Expr::seq({sep(), member})), ws()})),
                      ch('}')});
  }));
}

Expr Compiler::any_array() {
  return Expr::ref(shared("json-array", [&] {
    Expr v = any_value();
    return Expr::seq(
        {ch('['), ws(), opt(Expr::seq({v, Expr::star(Expr::seq({sep(), v})), ws()})), ch(']')});
  }));
}

// One canonically written character (see canonical_char) other than `cps`.
Expr Compiler::canonical_char_except(const std::vector<uint32_t>& cps) {
  ByteSet ascii, escaped;
  std::vector<uint32_t> high;
  for (uint32_t cp : cps) {
    if (cp >= 0x80)
      high.push_back(cp);
    else
      (needs_escape().contains((uint8_t)cp) ? escaped : ascii).add((uint8_t)cp);
  }
  std::vector<Expr> alts = {Expr::byte_set(minus(plain_ascii(), ascii))};
  if (high.empty()) {
    alts.push_back(nonascii_char());
  } else {
    std::sort(high.begin(), high.end());
    CodepointRanges ranges;
    uint32_t next = 0x80;
    for (uint32_t cp : high) {
      if (cp > next) ranges.push_back({next, cp - 1});
      next = cp + 1;
    }
    if (next <= 0x10FFFF) ranges.push_back({next, 0x10FFFF});
    alts.push_back(utf8_class(ranges));
  }
  if (escaped.empty())
    alts.push_back(
        Expr::ref(shared("canonical-escape", [] { return canonical_escapes(needs_escape()); })));
  else
    alts.push_back(canonical_escapes(minus(needs_escape(), escaped)));
  return Expr::alt(std::move(alts));
}

// The rest of a canonically written key, through its closing quote.
Expr Compiler::key_tail() {
  return Expr::ref(shared("key-tail", [&] {
    Expr any_char = Expr::ref(shared("canonical-char", [&] { return canonical_char_except({}); }));
    return Expr::seq({Expr::star(std::move(any_char)), ch('"')});
  }));
}

// ---- Composition ----

// Percent-decoding of a URI fragment (%24defs is $defs).
std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size() || detail::hex_digit(s[i + 1]) < 0 || detail::hex_digit(s[i + 2]) < 0)
      return std::nullopt;
    out += (char)(detail::hex_digit(s[i + 1]) * 16 + detail::hex_digit(s[i + 2]));
    i += 2;
  }
  return out;
}

StatusOr<Compiler::Target> Compiler::resolve(const std::string& ref, const std::string& ptr) const {
  std::string local = ref;
  // "<the root's $id>#..." is a reference into this document too.
  if (const json* id = field(root_, "$id"); id && id->is_string()) {
    const std::string base = id->get<std::string>().substr(0, id->get<std::string>().find('#'));
    if (!base.empty() && local.starts_with(base)) local = local.substr(base.size());
    if (local.empty()) local = "#";
  }
  if (local.empty() || local[0] != '#')
    return unsupported("$ref", ptr,
                       "'" + ref + "' is not a reference within this document ('#...')");
  const std::optional<std::string> fragment = percent_decode(std::string_view(local).substr(1));
  if (!fragment) return malformed("$ref", ptr, "'" + ref + "' has a bad %-escape");
  if (!fragment->empty() && (*fragment)[0] != '/')
    return unsupported("$ref", ptr,
                       "'" + ref + "' names an anchor; only JSON pointers ('#/...') are supported");
  const json* at = &root_;
  std::string canonical;
  for (size_t pos = 1; pos <= fragment->size() && !fragment->empty();) {
    size_t end = fragment->find('/', pos);
    if (end == std::string::npos) end = fragment->size();
    std::string token = fragment->substr(pos, end - pos);
    for (size_t i = 0; (i = token.find("~1", i)) != std::string::npos; ++i)
      token.replace(i, 2, "/");
    for (size_t i = 0; (i = token.find("~0", i)) != std::string::npos; ++i)
      token.replace(i, 2, "~");
    pos = end + 1;
    if (at->is_object() && field(*at, token)) {
      at = field(*at, token);
    } else if (at->is_array() && !token.empty() && token.size() < 10 &&
               token.find_first_not_of("0123456789") == std::string::npos &&
               (token == "0" || token[0] != '0') && std::stoul(token) < at->size()) {
      at = &(*at)[std::stoul(token)];
    } else {
      return Status::Error("unresolved $ref '" + ref + "' at " + where(ptr));
    }
    canonical = child(canonical, token);
  }
  if (!is_schema(*at)) return malformed("$ref", ptr, "'" + ref + "' does not point to a schema");
  return Target{at, canonical};
}

// A rule per referenced schema: shared by every reference, and recursion goes through it.
StatusOr<Expr> Compiler::reference(const std::string& ref, const std::string& ptr) {
  StatusOr<Target> t = resolve(ref, ptr);
  if (!t.ok()) return t.status();
  auto it = ref_rules_.find(t->ptr);
  if (it != ref_rules_.end()) return Expr::ref(it->second);
  std::string name = t->ptr.substr(t->ptr.rfind('/') + 1);
  for (char& c : name)
    if (!std::isalnum((unsigned char)c) && c != '_' && c != '-') c = '_';
  const uint32_t id = b_.declare(name.empty() ? "root-schema" : name);
  ref_rules_[t->ptr] = id;
  pending_.push_back({id, t->schema, t->ptr});
  return Expr::ref(id);
}

Status Compiler::finish() {
  while (!pending_.empty()) {
    const Pending p = pending_.back();
    pending_.pop_back();
    StatusOr<Expr> body = compile(*p.schema, p.ptr, base_depth_);
    if (!body.ok()) return body.status();
    b_.define(p.rule, std::move(*body));
  }
  return Status::Ok();
}

StatusOr<Expr> Compiler::compile(const json& s, const std::string& ptr, int depth) {
  KILN_RETURN_IF_ERROR(step(ptr, depth));
  if (s.is_boolean())
    return s.get<bool>() ? any_value() : unsat("the schema at " + where(ptr) + " is false");
  if (!s.is_object())
    return Status::Error("malformed JSON Schema at " + where(ptr) +
                         ": a schema must be an object or a boolean");
  KILN_RETURN_IF_ERROR(check_keywords(s, ptr));
  std::vector<std::string> keys;
  bool composed = false;
  for (const auto& [key, v] : s.items()) {
    if (is_flat_key(key) || is_composition_key(key)) keys.push_back(key);
    composed |= is_composition_key(key);
  }
  // The forms that keep references as rules: {$ref}, {allOf: [one]}, {anyOf / oneOf}.
  if (keys.size() == 1) {
    const std::string& key = keys[0];
    const json& v = *field(s, key);
    if (key == "$ref") return reference(v.get<std::string>(), ptr);
    if (key == "allOf" && v.size() == 1) return compile(v[0], child(ptr, key, 0), depth + 1);
    if (key == "anyOf" || key == "oneOf") return compile_union(v, key, ptr, depth);
  }
  return composed ? compile_memoized(s, ptr, depth) : compile_flats(s, ptr, depth);
}

StatusOr<Expr> Compiler::compile_union(const json& branches, const std::string& key,
                                       const std::string& ptr, int depth) {
  if (key == "oneOf" && opts_.strict_one_of) {
    StatusOr<std::vector<Flat>> checked = expand_branches(branches, key, ptr, depth);
    if (!checked.ok()) return checked.status();
  }
  std::vector<Expr> alts;
  for (size_t i = 0; i < branches.size(); ++i) {
    StatusOr<Expr> e = compile(branches[i], child(ptr, key, i), depth + 1);
    if (!e.ok()) return e.status();
    alts.push_back(std::move(*e));
  }
  return Expr::alt(std::move(alts));
}

// Composed schemas are expanded inline, so a recursive one (a property that is
// allOf [{$ref: "#"}, ...]) would expand forever: a rule per distinct composed schema
// makes the second encounter a reference.
StatusOr<Expr> Compiler::compile_memoized(const json& s, const std::string& ptr, int depth) {
  const std::string key = dump(s);
  auto it = memo_.find(key);
  if (it != memo_.end()) return Expr::ref(it->second);
  const uint32_t id = b_.declare(fresh("composed"));
  memo_[key] = id;
  StatusOr<Expr> body = compile_flats(s, ptr, depth);
  if (!body.ok()) return body.status();
  const bool none = is_nothing(*body);
  b_.define(id, std::move(*body));
  return none ? Expr::nothing() : Expr::ref(id);
}

StatusOr<Expr> Compiler::compile_flats(const json& s, const std::string& ptr, int depth) {
  StatusOr<std::vector<Flat>> flats = expand(s, ptr, depth);
  if (!flats.ok()) return flats.status();
  std::vector<Expr> alts;
  for (const Flat& f : *flats) {
    StatusOr<Expr> e = compile_flat(f, depth);
    if (!e.ok()) return e.status();
    alts.push_back(std::move(*e));
  }
  return Expr::alt(std::move(alts));
}

// The schema as alternatives of flat schemas: $ref and allOf merge into each
// alternative, anyOf / oneOf multiply them.
StatusOr<std::vector<Flat>> Compiler::expand(const json& s, const std::string& ptr, int depth) {
  KILN_RETURN_IF_ERROR(step(ptr, depth));
  if (s.is_boolean()) {
    if (s.get<bool>()) return std::vector<Flat>{{json::object(), ptr}};
    unsat("the schema at " + where(ptr) + " is false");
    return std::vector<Flat>{};
  }
  if (!s.is_object())
    return Status::Error("malformed JSON Schema at " + where(ptr) +
                         ": a schema must be an object or a boolean");
  KILN_RETURN_IF_ERROR(check_keywords(s, ptr));
  std::vector<Flat> out = {{normalize(s), ptr}};
  if (const json* ref = field(s, "$ref")) {
    StatusOr<std::vector<Flat>> target = expand_ref(ref->get<std::string>(), ptr, depth);
    if (!target.ok()) return target.status();
    KILN_RETURN_IF_ERROR(cross(out, *target, ptr));
  }
  if (const json* all = field(s, "allOf")) {
    for (size_t i = 0; i < all->size(); ++i) {
      StatusOr<std::vector<Flat>> sub = expand((*all)[i], child(ptr, "allOf", i), depth + 1);
      if (!sub.ok()) return sub.status();
      KILN_RETURN_IF_ERROR(cross(out, *sub, ptr));
    }
  }
  for (const char* key : {"anyOf", "oneOf"}) {
    const json* branches = field(s, key);
    if (!branches) continue;
    StatusOr<std::vector<Flat>> any = expand_branches(*branches, key, ptr, depth);
    if (!any.ok()) return any.status();
    KILN_RETURN_IF_ERROR(cross(out, *any, ptr));
  }
  return out;
}

// A $ref beside other keywords: its target, expanded inline.
StatusOr<std::vector<Flat>> Compiler::expand_ref(const std::string& ref, const std::string& ptr,
                                                 int depth) {
  StatusOr<Target> t = resolve(ref, ptr);
  if (!t.ok()) return t.status();
  if (std::find(expanding_.begin(), expanding_.end(), t->ptr) != expanding_.end())
    return Status::Error("circular $ref '" + ref + "' at " + where(ptr) +
                         ": the schema contains itself without nesting");
  expanding_.push_back(t->ptr);
  StatusOr<std::vector<Flat>> sub = expand(*t->schema, t->ptr, depth + 1);
  expanding_.pop_back();
  return sub;
}

// The flat alternatives of all anyOf / oneOf branches (oneOf checked if strict_one_of).
StatusOr<std::vector<Flat>> Compiler::expand_branches(const json& branches, const std::string& key,
                                                      const std::string& ptr, int depth) {
  std::vector<std::vector<Flat>> each;
  std::vector<Flat> all;
  for (size_t i = 0; i < branches.size(); ++i) {
    StatusOr<std::vector<Flat>> sub = expand(branches[i], child(ptr, key, i), depth + 1);
    if (!sub.ok()) return sub.status();
    all.insert(all.end(), sub->begin(), sub->end());
    each.push_back(std::move(*sub));
  }
  if (key == "oneOf" && opts_.strict_one_of) KILN_RETURN_IF_ERROR(check_one_of(each, ptr, depth));
  return all;
}

Status Compiler::cross(std::vector<Flat>& acc, const std::vector<Flat>& other,
                       const std::string& ptr) {
  std::vector<Flat> out;
  for (const Flat& x : acc) {
    for (const Flat& y : other) {
      KILN_RETURN_IF_ERROR(step(ptr, 0));
      std::string why;
      StatusOr<std::optional<json>> m = merge_flats(x.schema, y.schema, ptr, &why);
      if (!m.ok()) return m.status();
      if (!*m) {
        unsat(why);
        continue;
      }
      out.push_back({std::move(**m), x.ptr});
      if (out.size() > kMaxAlternatives)
        return Status::Error("JSON Schema at " + where(ptr) + " has more than " +
                             std::to_string(kMaxAlternatives) +
                             " alternatives once anyOf/oneOf are distributed");
    }
  }
  acc = std::move(out);
  return Status::Ok();
}

// oneOf means exactly one branch matches; the grammar can only say "one or more", which is
// the same when no value can match two branches. This proves that for the usual shapes:
// different types, different constants, or objects with a required discriminator property.
Status Compiler::check_one_of(const std::vector<std::vector<Flat>>& branches,
                              const std::string& ptr, int depth) {
  for (size_t i = 0; i < branches.size(); ++i)
    for (size_t j = i + 1; j < branches.size(); ++j)
      for (const Flat& x : branches[i])
        for (const Flat& y : branches[j])
          if (!disjoint(x, y, depth))
            return unsupported(
                "oneOf", ptr,
                "branches " + std::to_string(i) + " and " + std::to_string(j) +
                    " may both match a value, and kiln cannot enforce 'exactly one' "
                    "(use anyOf, or make the branches distinct by type or by a constant property)");
  return Status::Ok();
}

bool Compiler::disjoint(const Flat& x, const Flat& y, int depth) {
  const uint8_t mx = type_mask(x.schema), my = type_mask(y.schema);
  const json* ex = field(x.schema, "enum");
  const json* ey = field(y.schema, "enum");
  if (ex || ey) {
    // Each constant one side allows must be impossible for the other.
    for (const json& v : ex ? *ex : *ey) {
      if (!(value_type(v) & (ex ? mx : my))) continue;
      if (ex && ey) {
        for (const json& w : *ey)
          if ((value_type(w) & my) && same_value(v, w)) return false;
      } else if (value_type(v) & (ex ? my : mx)) {
        return false;
      }
    }
    return true;
  }
  const uint8_t common = mx & my;
  if (!common) return true;
  if (common != kObject) return false;
  const json* rx = field(x.schema, "required");
  const json* ry = field(y.schema, "required");
  if (!rx || !ry) return false;
  for (const json& name : *rx) {
    if (std::find(ry->begin(), ry->end(), name) == ry->end()) continue;
    const auto vx = constant_values(x, name.get<std::string>(), depth);
    const auto vy = constant_values(y, name.get<std::string>(), depth);
    if (!vx || !vy) continue;
    bool overlap = false;
    for (const json& a : *vx)
      for (const json& b : *vy) overlap |= same_value(a, b);
    if (!overlap) return true;
  }
  return false;
}

// The constants property `name` of an object schema is limited to, if it is.
std::optional<std::vector<json>> Compiler::constant_values(const Flat& f, const std::string& name,
                                                           int depth) {
  const json* props = field(f.schema, "properties");
  const json* sub = props ? field(*props, name) : nullptr;
  if (!sub) return std::nullopt;
  StatusOr<std::vector<Flat>> flats =
      expand(*sub, child(child(f.ptr, "properties"), name), depth + 1);
  if (!flats.ok()) return std::nullopt;
  std::vector<json> values;
  for (const Flat& g : *flats) {
    const json* e = field(g.schema, "enum");
    if (!e) return std::nullopt;
    for (const json& v : *e)
      if (value_type(v) & type_mask(g.schema)) values.push_back(v);
  }
  return values;
}

// ---- Flat schemas ----

StatusOr<Expr> Compiler::compile_flat(const Flat& f, int depth) {
  const uint8_t mask = type_mask(f.schema);
  if (field(f.schema, "enum")) return compile_enum(f, mask, depth);
  std::vector<Expr> alts;
  if (mask & kNull) alts.push_back(lit("null"));
  if (mask & kBoolean) alts.push_back(Expr::alt({lit("true"), lit("false")}));
  std::vector<StatusOr<Expr>> typed;
  if (mask & (kInteger | kNumber)) typed.push_back(compile_number(f, mask));
  if (mask & kString) typed.push_back(compile_string(f));
  if (mask & kArray) typed.push_back(compile_array(f, depth));
  if (mask & kObject) typed.push_back(compile_object(f, depth));
  for (StatusOr<Expr>& e : typed) {
    if (!e.ok()) return e.status();
    alts.push_back(std::move(*e));
  }
  return Expr::alt(std::move(alts));
}

// enum / const: the values themselves (compactly serialized), those that the rest of the
// schema also accepts. The rest is checked by compiling it on its own and matching each
// value, so any combination the compiler handles is exact.
StatusOr<Expr> Compiler::compile_enum(const Flat& f, uint8_t mask, int depth) {
  json rest = f.schema;
  rest.erase("enum");
  bool only_type = true;
  for (const auto& [key, v] : rest.items()) only_type &= key == "type";
  std::optional<Grammar> check;
  if (!only_type) {
    StatusOr<Grammar> g = standalone(rest, f.ptr, depth + 1);
    if (!g.ok()) return g.status();
    check = std::move(*g);
  }
  std::set<std::string> seen;
  std::vector<Expr> alts;
  for (const json& v : *field(f.schema, "enum")) {
    if (!(value_type(v) & mask)) continue;
    const std::string text = dump(v);
    if (check && !grammar_accepts(*check, text)) continue;
    if (seen.insert(text).second) alts.push_back(lit(text));
  }
  if (alts.empty())
    return unsat("no 'enum'/'const' value at " + where(f.ptr) +
                 " satisfies the rest of its schema");
  return Expr::alt(std::move(alts));
}

StatusOr<Grammar> Compiler::standalone(const json& schema, const std::string& ptr, int depth) {
  GrammarBuilder builder;
  JsonSchemaOptions options = opts_;
  options.compact_whitespace = true;  // the values are matched in their compact form
  Compiler sub(builder, root_, options, work_, depth);
  StatusOr<Expr> e = sub.compile(schema, ptr, depth);
  if (!e.ok()) return e.status();
  KILN_RETURN_IF_ERROR(sub.finish());
  return builder.build(builder.add("root", std::move(*e)));
}

StatusOr<Expr> Compiler::integer_range(const Flat& f) {
  std::optional<int64_t> lo, hi;
  for (const char* key : {"minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"}) {
    const json* v = field(f.schema, key);
    if (!v) continue;
    const bool lower = std::string_view(key).find("inimum") != std::string_view::npos;
    const std::optional<int64_t> b =
        integer_bound(*to_decimal(*v), lower, std::string_view(key).starts_with("exclusive"));
    if (!b) return unsupported(key, f.ptr, "integer bounds beyond +-10^18 are not supported");
    if (lower) lo = lo ? std::max(*lo, *b) : *b;
    if (!lower) hi = hi ? std::min(*hi, *b) : *b;
  }
  if (lo && hi && *lo > *hi) return unsat("no integer lies within the bounds at " + where(f.ptr));
  return integers(lo, hi);
}

StatusOr<Expr> Compiler::compile_number(const Flat& f, uint8_t mask) {
  const bool bounded = field(f.schema, "minimum") || field(f.schema, "maximum") ||
                       field(f.schema, "exclusiveMinimum") || field(f.schema, "exclusiveMaximum");
  if (!(mask & kNumber))
    return bounded ? integer_range(f) : Expr::ref(shared("json-integer", unbounded_integer));
  if (!bounded) return Expr::ref(shared("json-number", unbounded_number));
  // The tightest limit on each side (an exclusive one wins a tie).
  std::optional<Limit> lo, hi;
  for (const char* key : {"minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"}) {
    const json* v = field(f.schema, key);
    if (!v) continue;
    const Limit l{*to_decimal(*v), !std::string_view(key).starts_with("exclusive")};
    const bool lower = std::string_view(key).find("inimum") != std::string_view::npos;
    std::optional<Limit>& side = lower ? lo : hi;
    const int c = side ? compare_decimals(l.value, side->value) : 0;
    if (!side || (lower ? c > 0 : c < 0) || (c == 0 && !l.inclusive)) side = l;
  }
  Expr e = bounded_number(lo, hi);
  if (is_nothing(e)) return unsat("no number lies within the bounds at " + where(f.ptr));
  return e;
}

StatusOr<Expr> Compiler::compile_string(const Flat& f) {
  const int64_t min = count_or(f.schema, "minLength", 0);
  const int64_t max = count_or(f.schema, "maxLength", -1);
  if (max >= 0 && min > max) return unsat("minLength is greater than maxLength at " + where(f.ptr));
  std::optional<Expr> raw;
  if (const json* p = field(f.schema, "pattern")) {
    StatusOr<Expr> e = pattern_expr(p->get<std::string>(), f.ptr);
    if (!e.ok()) return e.status();
    raw = std::move(*e);
  }
  if (const json* name = field(f.schema, "format")) {
    std::optional<Expr> e = format_expr(name->get<std::string>());
    if (e && raw)
      return unsupported("format", f.ptr, "'format' together with 'pattern' is not supported");
    if (e) raw = std::move(*e);
  }
  if (!raw) return plain_string(min, max, f.ptr);
  StatusOr<Expr> content = string_content(*raw, min, max, f.ptr);
  if (!content.ok()) return content.status();
  return Expr::seq({ch('"'), std::move(*content), ch('"')});
}

StatusOr<Expr> Compiler::plain_string(int64_t min, int64_t max, const std::string& ptr) {
  if (min == 0 && max < 0) return json_string();
  const std::string limit = "above kiln's limit of " + std::to_string(kMaxStringLength);
  if (min > kMaxStringLength)
    return unsupported("minLength", ptr, std::to_string(min) + " is " + limit);
  if (max > kMaxStringLength)
    return unsupported("maxLength", ptr, std::to_string(max) + " is " + limit);
  return Expr::seq({ch('"'), Expr::repeat(string_char(), (int32_t)min, (int32_t)max), ch('"')});
}

// The decoded strings a pattern accepts. JSON Schema patterns search (they are not
// anchored), so an unanchored side may be preceded or followed by anything.
StatusOr<Expr> Compiler::pattern_expr(const std::string& pattern, const std::string& ptr) {
  StatusOr<Expr> whole = compile_regex(pattern, b_);  // the error positions refer to it
  if (!whole.ok()) return unsupported("pattern", ptr, whole.message());
  StatusOr<std::vector<PatternBranch>> branches = split_pattern(pattern);
  if (!branches.ok()) return unsupported("pattern", ptr, branches.message());
  std::vector<Expr> alts;
  for (const PatternBranch& b : *branches) {
    StatusOr<Expr> e = branches->size() == 1 ? std::move(whole) : compile_regex(b.text, b_);
    if (!e.ok()) return unsupported("pattern", ptr, e.message());
    alts.push_back(Expr::seq({b.starts ? Expr::empty() : Expr::star(utf8_any()), std::move(*e),
                              b.ends ? Expr::empty() : Expr::star(utf8_any())}));
  }
  return Expr::alt(std::move(alts));
}

// JSON string content for a language of decoded strings (`raw`, from a pattern or a
// format) with a length in code points within [min, max].
StatusOr<Expr> Compiler::string_content(const Expr& raw, int64_t min, int64_t max,
                                        const std::string& ptr) {
  const LengthRange len = code_point_lengths(raw);
  const bool min_implied = len.none || (len.known && len.min >= min);
  const bool max_implied = max < 0 || len.none || (len.known && len.max >= 0 && len.max <= max);
  if (min_implied && max_implied) return encode_tree(raw);
  // Exact: the pattern's automaton times a counter.
  if (std::optional<Expr> exact = length_limited(raw, min, max)) return std::move(*exact);
  // Too large for that: bound every unbounded repetition instead (a subset).
  if (min_implied && max >= 0 && len.known) {
    auto max_len = [&](int32_t k) { return code_point_lengths(cap_stars(raw, k)).max; };
    int32_t lo = 0, hi = 1024;
    if (max_len(0) <= max) {
      while (lo < hi) {
        const int32_t mid = (lo + hi + 1) / 2;
        if (max_len(mid) <= max)
          lo = mid;
        else
          hi = mid - 1;
      }
      return encode_tree(cap_stars(raw, lo));
    }
  }
  return unsupported(min_implied ? "maxLength" : "minLength", ptr,
                     "too large to combine with the 'pattern' or 'format'");
}

// The pattern's automaton times a code point counter: states (automaton state, count so
// far), byte edges between them, and the states where a string may end.
struct CountedAutomaton {
  std::vector<std::map<size_t, ByteSet>> edges;  // per state: target state -> bytes
  std::vector<bool> accepting;
  std::vector<bool> live;  // an accepting state is reachable from it
};

// Explores the states reachable from (start, 0); nullopt when there are too many. A lead
// or ASCII byte counts one code point, a continuation byte none; without a maximum the
// count stops at min.
std::optional<CountedAutomaton> count_lengths(Nfa& nfa, int64_t min, int64_t max) {
  using Key = std::pair<int, int64_t>;
  std::map<Key, size_t> index;
  std::vector<Key> states;
  auto visit = [&](Key k) {
    auto [it, added] = index.try_emplace(k, states.size());
    if (added) states.push_back(k);
    return it->second;
  };
  const ByteSet cont = ByteSet::range(0x80, 0xBF);
  CountedAutomaton a;
  visit({nfa.start(), 0});
  for (size_t i = 0; i < states.size(); ++i) {
    if (states.size() > kMaxLengthStates) return std::nullopt;
    const auto [q, count] = states[i];
    a.edges.emplace_back();
    bool accepts = false;
    for (int p : nfa.closure(q)) {
      accepts |= p == nfa.accept();
      for (const auto& [set, to] : nfa.state(p).edges) {
        const ByteSet same = intersect(set, cont), next = minus(set, cont);
        if (!same.empty()) a.edges[i][visit({to, count})].add_all(same);
        const int64_t c = max < 0 ? std::min(count + 1, min) : count + 1;
        if (!next.empty() && (max < 0 || c <= max)) a.edges[i][visit({to, c})].add_all(next);
      }
    }
    a.accepting.push_back(accepts && count >= min);
  }
  return a;
}

void mark_live(CountedAutomaton& a) {
  const size_t n = a.accepting.size();
  std::vector<std::vector<size_t>> back(n);
  for (size_t i = 0; i < n; ++i)
    for (const auto& [to, set] : a.edges[i]) back[to].push_back(i);
  a.live = a.accepting;
  std::vector<size_t> stack;
  for (size_t i = 0; i < n; ++i)
    if (a.live[i]) stack.push_back(i);
  while (!stack.empty()) {
    const size_t s = stack.back();
    stack.pop_back();
    for (size_t from : back[s])
      if (!a.live[from]) {
        a.live[from] = true;
        stack.push_back(from);
      }
  }
}

// Exact length limits on a pattern: one rule per live state of the counted automaton.
// nullopt when that would be too large.
std::optional<Expr> Compiler::length_limited(const Expr& raw, int64_t min, int64_t max) {
  Nfa nfa;
  if (!nfa.build(raw)) return std::nullopt;
  std::optional<CountedAutomaton> a = count_lengths(nfa, min, max);
  if (!a) return std::nullopt;
  mark_live(*a);
  if (!a->live[0]) return Expr::nothing();
  std::vector<uint32_t> ids(a->live.size());
  for (size_t i = 0; i < ids.size(); ++i)
    if (a->live[i]) ids[i] = b_.declare(fresh("pattern-length"));
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!a->live[i]) continue;
    std::vector<Expr> alts;
    if (a->accepting[i]) alts.push_back(Expr::empty());
    for (const auto& [to, set] : a->edges[i])
      if (a->live[to]) alts.push_back(Expr::seq({encode_bytes(set), Expr::ref(ids[to])}));
    b_.define(ids[i], Expr::alt(std::move(alts)));
  }
  return Expr::ref(ids[0]);
}

StatusOr<Expr> Compiler::compile_array(const Flat& f, int depth) {
  const json* prefix = field(f.schema, "prefixItems");
  const json* items = field(f.schema, "items");
  const int64_t min = count_or(f.schema, "minItems", 0);
  int64_t max = count_or(f.schema, "maxItems", -1);
  if (!prefix && !items && min == 0 && max < 0) return any_array();
  const size_t k = prefix ? prefix->size() : 0;
  const bool closed = items && items->is_boolean() && !items->get<bool>();
  if (closed) max = max < 0 ? (int64_t)k : std::min(max, (int64_t)k);
  if (max >= 0 && min > max)
    return unsat("the array at " + where(f.ptr) +
                 " cannot have between minItems and maxItems items");
  const std::string limit = "above kiln's limit of " + std::to_string(kMaxItems);
  if (min > kMaxItems) return unsupported("minItems", f.ptr, std::to_string(min) + " is " + limit);
  if (max > kMaxItems) return unsupported("maxItems", f.ptr, std::to_string(max) + " is " + limit);
  // Positions 0..used-1 follow prefixItems, the rest `items`.
  const size_t used = max < 0 ? k : std::min(k, (size_t)max);
  std::vector<Expr> pre;
  for (size_t i = 0; i < used; ++i) {
    StatusOr<Expr> e = compile((*prefix)[i], child(f.ptr, "prefixItems", i), depth + 1);
    if (!e.ok()) return e.status();
    pre.push_back(std::move(*e));
  }
  Expr rest = Expr::nothing();
  if (!closed) {
    StatusOr<Expr> e = items ? compile(*items, child(f.ptr, "items"), depth + 1) : any_value();
    if (!e.ok()) return e.status();
    rest = share(std::move(*e), "item");
  }
  Expr empty_array = Expr::seq({ch('['), ws(), ch(']')});
  if (max == 0) return empty_array;
  // tail: what follows once i items are written, built from the back.
  const int64_t from = std::max<int64_t>((int64_t)used, 1);
  Expr tail = Expr::repeat(Expr::seq({sep(), rest}), (int32_t)std::max<int64_t>(0, min - from),
                           max < 0 ? -1 : (int32_t)(max - from));
  for (int64_t i = from - 1; i >= 1; --i)
    tail = Expr::alt({i >= min ? Expr::empty() : Expr::nothing(),
                      Expr::seq({sep(), pre[(size_t)i], std::move(tail)})});
  Expr first = used > 0 ? pre[0] : rest;
  return Expr::alt({min == 0 ? std::move(empty_array) : Expr::nothing(),
                    Expr::seq({ch('['), ws(), std::move(first), std::move(tail), ws(), ch(']')})});
}

std::vector<std::string> required_names(const json& s) {
  std::vector<std::string> names;
  if (const json* req = field(s, "required"))
    for (const json& name : *req)
      if (std::find(names.begin(), names.end(), name.get<std::string>()) == names.end())
        names.push_back(name.get<std::string>());
  return names;
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// The schema of the properties not in `properties`; nullopt when there may be none.
StatusOr<std::optional<Expr>> Compiler::extra_value(const Flat& f, int depth) {
  const json* addl = field(f.schema, "additionalProperties");
  if (!addl) {
    const bool declares = field(f.schema, "properties") || field(f.schema, "required");
    if (opts_.strict_additional_properties && declares) return std::optional<Expr>();
    return std::optional<Expr>(any_value());
  }
  if (addl->is_boolean())
    return addl->get<bool>() ? std::optional<Expr>(any_value()) : std::optional<Expr>();
  StatusOr<Expr> e = compile(*addl, child(f.ptr, "additionalProperties"), depth + 1);
  if (!e.ok()) return e.status();
  if (is_nothing(*e)) return std::optional<Expr>();
  return std::optional<Expr>(share(std::move(*e), "extra-value"));
}

// The members in order: the declared properties that can be present, then the required
// ones that only additionalProperties describes. `declared` receives every name. nullopt
// when a required member can have no value.
StatusOr<std::optional<std::vector<Member>>> Compiler::members_of(
    const Flat& f, const std::optional<Expr>& extra, int depth,
    std::vector<std::string>& declared) {
  using Result = std::optional<std::vector<Member>>;
  const std::vector<std::string> required = required_names(f.schema);
  std::vector<Member> members;
  if (const json* props = field(f.schema, "properties")) {
    for (const auto& [name, sub] : props->items()) {
      declared.push_back(name);
      StatusOr<Expr> e = compile(sub, child(child(f.ptr, "properties"), name), depth + 1);
      if (!e.ok()) return e.status();
      const bool req = contains(required, name);
      if (is_nothing(*e) && req) {
        unsat("required property '" + name + "' at " + where(f.ptr) + " accepts no value");
        return Result();
      }
      if (!is_nothing(*e)) members.push_back({name, share(std::move(*e), "property"), req});
    }
  }
  for (const std::string& name : required) {
    if (contains(declared, name)) continue;
    declared.push_back(name);
    if (!extra) {
      unsat("required property '" + name + "' at " + where(f.ptr) +
            " is not allowed by additionalProperties");
      return Result();
    }
    members.push_back({name, *extra, true});
  }
  return Result(std::move(members));
}

// min/maxProperties are supported where the members already imply them.
Status check_property_counts(const Flat& f, const std::vector<Member>& members, bool extra) {
  int64_t required = 0;
  for (const Member& m : members) required += m.required;
  const json* min = field(f.schema, "minProperties");
  if (min && *as_count(*min) > required)
    return unsupported("minProperties", f.ptr,
                       "only values up to the number of required properties are supported");
  const json* max = field(f.schema, "maxProperties");
  if (max && (extra || *as_count(*max) < (int64_t)members.size()))
    return unsupported("maxProperties", f.ptr,
                       "only values that the declared properties cannot exceed are supported");
  return Status::Ok();
}

StatusOr<Expr> Compiler::compile_object(const Flat& f, int depth) {
  const json& s = f.schema;
  if (!field(s, "properties") && !field(s, "required") && !field(s, "additionalProperties") &&
      !field(s, "minProperties") && !field(s, "maxProperties"))
    return any_object();
  StatusOr<std::optional<Expr>> extra_value = this->extra_value(f, depth);
  if (!extra_value.ok()) return extra_value.status();
  std::vector<std::string> declared;
  StatusOr<std::optional<std::vector<Member>>> members =
      members_of(f, *extra_value, depth, declared);
  if (!members.ok()) return members.status();
  if (!*members) return Expr::nothing();
  const json* max = field(s, "maxProperties");
  if (max && *as_count(*max) == 0) {  // only {}
    for (const Member& m : **members)
      if (m.required)
        return unsat("maxProperties 0 at " + where(f.ptr) + " conflicts with 'required'");
    return Expr::seq({ch('{'), ws(), ch('}')});
  }
  KILN_RETURN_IF_ERROR(check_property_counts(f, **members, extra_value->has_value()));
  std::optional<Expr> extra;
  if (*extra_value) {
    StatusOr<Expr> key =
        declared.empty() ? StatusOr<Expr>(json_string()) : excluded_keys(declared, f.ptr);
    if (!key.ok()) return key.status();
    extra = share(Expr::seq({std::move(*key), colon(), **extra_value}), "extra-property");
  }
  return object_members(**members, extra);
}

// Members in schema order, each optional one independently present, then any extra
// properties. tail[i]: members i.. after something was written (each after a comma);
// first: members when nothing was written yet (the first present one has no comma).
Expr Compiler::object_members(const std::vector<Member>& members,
                              const std::optional<Expr>& extra) {
  const size_t n = members.size();
  auto kv = [&](const Member& m) { return Expr::seq({lit(dump(json(m.name))), colon(), m.value}); };
  size_t optional_count = 0;
  for (const Member& m : members) optional_count += !m.required;
  const bool use_rules = optional_count > 4;  // else the copies below stay small
  std::vector<Expr> tail(n + 1);
  tail[n] = extra ? Expr::star(Expr::seq({sep(), *extra})) : Expr::empty();
  for (size_t i = n; i-- > 0;) {
    Expr one = Expr::seq({sep(), kv(members[i])});
    Expr e = Expr::seq({members[i].required ? std::move(one) : opt(std::move(one)), tail[i + 1]});
    tail[i] = use_rules ? share(std::move(e), "members") : std::move(e);
  }
  Expr first = extra ? Expr::seq({*extra, tail[n]}) : Expr::nothing();
  for (size_t i = n; i-- > 0;) {
    Expr here = Expr::seq({kv(members[i]), tail[i + 1]});
    first = members[i].required ? std::move(here) : Expr::alt({std::move(here), std::move(first)});
  }
  const bool can_be_empty = optional_count == n;
  return Expr::alt({can_be_empty ? Expr::seq({ch('{'), ws(), ch('}')}) : Expr::nothing(),
                    Expr::seq({ch('{'), ws(), std::move(first), ws(), ch('}')})});
}

// A quoted key that is none of `names`. Extra keys are written canonically (only the
// escapes JSON requires, in nlohmann's spelling), so each name has one spelling to
// exclude: a trie of the names, leaving it at any character that no name continues with.
StatusOr<Expr> Compiler::excluded_keys(const std::vector<std::string>& names,
                                       const std::string& ptr) {
  struct Node {
    std::map<uint32_t, size_t> kids;
    bool terminal = false;
  };
  std::vector<Node> trie(1);
  for (const std::string& name : names) {
    size_t node = 0;
    uint32_t count = 0, cp = 0;
    for (size_t i = 0; i < name.size();) {
      const size_t len = detail::decode_utf8(name, i, &cp);
      if (len == 0) return malformed("properties", ptr, "a property name is not valid UTF-8");
      i += len;
      if (++count > kMaxKeyLength)
        return unsupported("properties", ptr,
                           "a property name longer than " + std::to_string(kMaxKeyLength) +
                               " characters is not supported");
      auto [it, added] = trie[node].kids.try_emplace(cp, trie.size());
      if (added) trie.emplace_back();
      node = it->second;
    }
    trie[node].terminal = true;
  }
  std::function<Expr(size_t)> rest = [&](size_t node) {
    std::vector<Expr> alts;
    if (!trie[node].terminal) alts.push_back(ch('"'));
    std::vector<uint32_t> next;
    for (const auto& [cp, kid] : trie[node].kids) {
      alts.push_back(Expr::seq({lit(canonical_char(cp)), rest(kid)}));
      next.push_back(cp);
    }
    alts.push_back(Expr::seq({canonical_char_except(next), key_tail()}));
    return Expr::alt(std::move(alts));
  };
  return Expr::seq({ch('"'), rest(0)});
}

std::string unsat_message(const std::string& reason) {
  return "unsatisfiable JSON Schema: no JSON value validates against it" +
         (reason.empty() ? std::string() : " (" + reason + ")");
}

// Whether the rule can match some string at all.
bool productive(const Grammar& g, uint32_t rule) {
  std::vector<bool> ok(g.rules.size());
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t r = 0; r < g.rules.size(); ++r) {
      if (ok[r]) continue;
      for (const auto& alt : g.rules[r].alternatives) {
        bool all = true;
        for (const Element& el : alt)
          all &= el.kind == ElementKind::kBytesStar ||
                 (el.kind == ElementKind::kBytes && !el.bytes.empty()) ||
                 (el.kind == ElementKind::kRule && ok[el.rule]);
        if (all) {
          ok[r] = changed = true;
          break;
        }
      }
    }
  }
  return ok[rule];
}

// Whether a JSON value nests deeper than `limit`, found without recursion: nlohmann
// copies, compares and prints recursively, so hostile nesting must be refused first.
bool nested_deeper_than(const json& v, size_t limit) {
  std::vector<std::pair<const json*, size_t>> stack = {{&v, 1}};
  while (!stack.empty()) {
    const auto [j, d] = stack.back();
    stack.pop_back();
    if (d > limit) return true;
    if (j->is_structured())
      for (const json& c : *j) stack.push_back({&c, d + 1});
  }
  return false;
}

}  // namespace

StatusOr<uint32_t> add_json_schema_rules(GrammarBuilder& builder,
                                         const nlohmann::ordered_json& schema,
                                         const JsonSchemaOptions& options) {
  if (nested_deeper_than(schema, kMaxJsonNesting))
    return Status::Error("JSON Schema nested more than " + std::to_string(kMaxJsonNesting) +
                         " levels deep");
  int64_t work = 0;
  Compiler compiler(builder, schema, options, &work, 0);
  StatusOr<Expr> e = compiler.compile(schema, "", 0);
  if (!e.ok()) return e.status();
  KILN_RETURN_IF_ERROR(compiler.finish());
  if (is_nothing(*e)) return Status::Error(unsat_message(compiler.unsat_reason()));
  return builder.add("json-schema", std::move(*e));
}

StatusOr<Grammar> grammar_from_json_schema(const nlohmann::ordered_json& schema,
                                           const JsonSchemaOptions& options) {
  GrammarBuilder builder;
  StatusOr<uint32_t> root = add_json_schema_rules(builder, schema, options);
  if (!root.ok()) return root.status();
  StatusOr<Grammar> g = builder.build(*root);
  // The only way to build a left-recursive grammar from a schema is a $ref cycle that
  // never nests ({"$defs": {"A": {"$ref": "#/$defs/A"}}}).
  if (!g.ok()) return Status::Error("circular $ref in the JSON Schema: " + g.message());
  if (!productive(*g, g->root)) return Status::Error(unsat_message(""));
  return g;
}

Grammar grammar_any_json_object(const JsonSchemaOptions& options) {
  GrammarBuilder builder;
  int64_t work = 0;
  const json none;
  Compiler compiler(builder, none, options, &work, 0);
  const uint32_t root = builder.add("root", compiler.any_object());
  StatusOr<Grammar> g = builder.build(root);
  KILN_CHECK(g.ok());
  return std::move(*g);
}

StatusOr<Grammar> grammar_from_choices(const std::vector<std::string>& choices) {
  if (choices.empty()) return Status::Error("choice: the list of choices is empty");
  std::vector<Expr> alts;
  for (const std::string& c : choices) alts.push_back(lit(c));
  GrammarBuilder builder;
  return builder.build(builder.add("root", Expr::alt(std::move(alts))));
}

}  // namespace kiln::structured
