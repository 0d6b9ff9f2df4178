// One error type for the whole code base. The category is decided where the failure
// happens (a 503 is transient, a digest mismatch is integrity), and the CLI maps it to an
// exit code at the very top. Library code never throws for expected failures.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace mb {

enum class ErrorCategory {
  transient,  // may succeed if tried again (timeouts, resets, 408/429/5xx)
  permanent,  // the remote said no for good (404, bad request, hostile response)
  auth,       // 401/403/gated: the credentials are missing or insufficient
  integrity,  // content is not what it claims to be (digest/size mismatch, corrupt file)
  usage,      // the user's input is wrong (flags, manifest, lock mismatch)
  io,         // the local machine failed us (disk full, permissions)
  cancelled,  // interrupted by a signal
};

const char* to_string(ErrorCategory c);

// Process exit code for a category; documented in README ("Exit codes").
int exit_code_for(ErrorCategory c);

struct Error {
  ErrorCategory category = ErrorCategory::permanent;
  std::string message;  // what went wrong, one line, never contains a secret
  std::string hint;     // what the user can do about it (may be empty)
  // Machine-readable reason where one is known (the hub's X-Error-Code: "GatedRepo",
  // "RepoNotFound", "RevisionNotFound", "EntryNotFound"); empty otherwise. Code that must
  // tell failures apart tests this, never the message text.
  std::string code;

  // Prefixes context ("fetching org/model: ") while keeping category and hint.
  Error with_context(const std::string& context) const {
    Error e = *this;
    e.message = context + ": " + message;
    return e;
  }
  std::string describe() const { return hint.empty() ? message : message + " (" + hint + ")"; }
};

inline Error make_error(ErrorCategory c, std::string message, std::string hint = {}) {
  return Error{c, std::move(message), std::move(hint)};
}

// Tag used to construct a failed Result: `return fail(ErrorCategory::io, "...")`.
struct Failure {
  Error error;
};
inline Failure fail(Error e) { return Failure{std::move(e)}; }
inline Failure fail(ErrorCategory c, std::string message, std::string hint = {}) {
  return Failure{make_error(c, std::move(message), std::move(hint))};
}

// Minimal std::expected-like result (std::expected is C++23; we target C++20).
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : m_v(std::in_place_index<0>, std::move(value)) {}
  Result(Failure f) : m_v(std::in_place_index<1>, std::move(f.error)) {}
  Result(Error e) : m_v(std::in_place_index<1>, std::move(e)) {}

  bool ok() const { return m_v.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(m_v);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(m_v);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(m_v));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const {
    assert(!ok());
    return std::get<1>(m_v);
  }
  Error&& take_error() {
    assert(!ok());
    return std::get<1>(std::move(m_v));
  }

  T value_or(T other) const { return ok() ? std::get<0>(m_v) : std::move(other); }

 private:
  std::variant<T, Error> m_v;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Failure f) : m_err(std::move(f.error)) {}
  Result(Error e) : m_err(std::move(e)) {}
  bool ok() const { return !m_err.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const {
    assert(!ok());
    return *m_err;
  }
  Error&& take_error() {
    assert(!ok());
    return std::move(*m_err);
  }

 private:
  std::optional<Error> m_err;
};

using Status = Result<void>;

}  // namespace mb

// Propagate a failed Result<...> from the enclosing function.
#define MB_TRY(expr)                                              \
  do {                                                            \
    auto mb_try_result_ = (expr);                                 \
    if (!mb_try_result_.ok()) return mb_try_result_.take_error(); \
  } while (false)

#define MB_CONCAT_INNER(a, b) a##b
#define MB_CONCAT(a, b) MB_CONCAT_INNER(a, b)
// `MB_ASSIGN(auto x, f());` declares x from a Result or propagates its error.
// It expands to several statements: inside an `if`, always use braces.
#define MB_ASSIGN(decl, expr) MB_ASSIGN_IMPL(MB_CONCAT(mb_assign_, __LINE__), decl, expr)
#define MB_ASSIGN_IMPL(tmp, decl, expr)   \
  auto tmp = (expr);                      \
  if (!tmp.ok()) return tmp.take_error(); \
  decl = std::move(tmp).value()
