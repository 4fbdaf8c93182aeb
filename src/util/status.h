// Errors a caller can act on (bad file, bad flag, bad request) travel as values, never as
// exceptions across module boundaries (STYLE.md rule 7). Broken invariants use KILN_CHECK.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace kiln {

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Error(std::string message) { return Status(std::move(message)); }

  bool ok() const { return !message_.has_value(); }
  const std::string& message() const {
    static const std::string kEmpty;
    return message_ ? *message_ : kEmpty;
  }

 private:
  explicit Status(std::string message) : message_(std::move(message)) {}
  std::optional<std::string> message_;
};

// A value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  StatusOr(Status status) : v_(std::move(status)) {  // NOLINT
    if (std::get<Status>(v_).ok()) std::abort();  // an OK status carries no value
  }
  bool ok() const { return std::holds_alternative<T>(v_); }
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }
  const std::string& message() const { return std::get<Status>(v_).message(); }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &std::get<T>(v_); }
  const T* operator->() const { return &std::get<T>(v_); }
  T& operator*() & { return std::get<T>(v_); }
  const T& operator*() const& { return std::get<T>(v_); }
  T&& operator*() && { return std::get<T>(std::move(v_)); }

 private:
  std::variant<T, Status> v_;
};

[[noreturn]] inline void check_failed(const char* expr, const char* file, int line) {
  std::fprintf(stderr, "kiln: internal check failed: %s at %s:%d\n", expr, file, line);
  std::abort();
}

}  // namespace kiln

#define KILN_CHECK(cond) \
  do { if (!(cond)) ::kiln::check_failed(#cond, __FILE__, __LINE__); } while (0)
#ifdef NDEBUG
#define KILN_DCHECK(cond) do { (void)sizeof(cond); } while (0)
#else
#define KILN_DCHECK(cond) KILN_CHECK(cond)
#endif

#define KILN_RETURN_IF_ERROR(expr)      \
  do {                                  \
    ::kiln::Status kiln_status_ = (expr); \
    if (!kiln_status_.ok()) return kiln_status_; \
  } while (0)
