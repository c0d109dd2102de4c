// Errors as values: Status and Result<T>.
//
// Every fallible call in Serenity returns a Status or a Result<T>. No exceptions
// cross the public API and nothing aborts on bad input. A non-OK Status carries
// a code (what kind of failure, so callers can branch) and a message that names
// the culprit (file, field, tensor or operator index and name) so that a person
// reading it knows what to fix.
//
// Both types are [[nodiscard]]: ignoring an error is a compile warning (an error
// in CI, which builds with -Werror).
#ifndef SERENITY_STATUS_H_
#define SERENITY_STATUS_H_

#include <charconv>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "serenity/export.h"

namespace serenity {

// Error codes, grouped by who has to act on them. The numeric values are part
// of the C API (serenity_c.h) and never change meaning.
enum class StatusCode : int {
  kOk = 0,

  // The caller passed something wrong (API misuse, a bad flag, a buffer too
  // small). Fix the call.
  kInvalidArgument = 1,
  kOutOfRange = 2,
  kFailedPrecondition = 3,

  // The data is wrong: a malformed or hostile model file, a corrupt cache
  // file, an input array of the wrong shape. Fix or regenerate the data.
  kInvalidModel = 10,
  kUnsupported = 11,  // well-formed, but uses something Serenity cannot run
  kCorruptCache = 12,

  // A limit was reached: memory, a configured cap, a time budget.
  kResourceExhausted = 20,
  kDeadlineExceeded = 21,

  // The environment failed: files, the OS, a kernel library.
  kNotFound = 30,
  kIoError = 31,
  kBackendError = 32,  // XNNPACK or pthreadpool refused

  // A bug in Serenity. Please report it.
  kInternal = 40,
};

// A short lower-case name for a code ("invalid model").
SERENITY_API const char* StatusCodeName(StatusCode code);

class [[nodiscard]] SERENITY_API Status {
 public:
  // An OK status.
  Status() = default;
  // A status with `code` and `message`. `code` == kOk ignores the message.
  Status(StatusCode code, std::string message);

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  // The message alone, without the code name. Empty when ok().
  const std::string& message() const { return message_; }
  // "<code name>: <message>", or "ok".
  std::string ToString() const;

  // Returns a copy whose message is "<context>: <message>". Used while an
  // error travels up, so that it ends up naming the file or operator too.
  Status WithContext(const std::string& context) const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

namespace strcat_internal {

// Integers that a stream prints as decimal digits (not bool, not the
// character types, which it prints as words or characters).
template <typename T>
constexpr bool kDecimal =
    std::is_integral_v<T> && !std::is_same_v<T, bool> && !std::is_same_v<T, char> &&
    !std::is_same_v<T, signed char> && !std::is_same_v<T, unsigned char> &&
    !std::is_same_v<T, wchar_t> && !std::is_same_v<T, char16_t> && !std::is_same_v<T, char32_t>;

template <typename T>
constexpr bool kAppendable = kDecimal<T> || std::is_convertible_v<const T&, std::string_view>;

// An upper bound on what Append adds.
template <typename T>
size_t SizeOf(const T& value) {
  if constexpr (kDecimal<T>) {
    return 24;
  } else {
    return std::string_view(value).size();
  }
}

template <typename T>
void Append(std::string* out, const T& value) {
  if constexpr (kDecimal<T>) {
    char digits[24];
    out->append(digits, std::to_chars(digits, digits + sizeof(digits), value).ptr);
  } else {
    out->append(std::string_view(value));
  }
}

}  // namespace strcat_internal

// Concatenates anything that can be streamed: StrCat("tensor ", 17, " ('",
// name, "')"), as a std::ostringstream would print it. Strings and integers
// alone are appended without a stream: names are made this way on hot paths
// (a plan cache hit's replay of rewrites), and a process's first string
// stream sets up its locale, tens of microseconds.
template <typename... Args>
std::string StrCat(const Args&... args) {
  if constexpr ((strcat_internal::kAppendable<Args> && ...)) {
    std::string out;
    out.reserve((size_t{0} + ... + strcat_internal::SizeOf(args)));
    (strcat_internal::Append(&out, args), ...);
    return out;
  } else {
    std::ostringstream out;
    (out << ... << args);
    return out.str();
  }
}

// Shorthands for the common codes: return InvalidModelError("tensor ", i, ...).
template <typename... Args>
Status InvalidArgumentError(const Args&... args) {
  return Status(StatusCode::kInvalidArgument, StrCat(args...));
}
template <typename... Args>
Status OutOfRangeError(const Args&... args) {
  return Status(StatusCode::kOutOfRange, StrCat(args...));
}
template <typename... Args>
Status FailedPreconditionError(const Args&... args) {
  return Status(StatusCode::kFailedPrecondition, StrCat(args...));
}
template <typename... Args>
Status InvalidModelError(const Args&... args) {
  return Status(StatusCode::kInvalidModel, StrCat(args...));
}
template <typename... Args>
Status UnsupportedError(const Args&... args) {
  return Status(StatusCode::kUnsupported, StrCat(args...));
}
template <typename... Args>
Status CorruptCacheError(const Args&... args) {
  return Status(StatusCode::kCorruptCache, StrCat(args...));
}
template <typename... Args>
Status ResourceExhaustedError(const Args&... args) {
  return Status(StatusCode::kResourceExhausted, StrCat(args...));
}
template <typename... Args>
Status DeadlineExceededError(const Args&... args) {
  return Status(StatusCode::kDeadlineExceeded, StrCat(args...));
}
template <typename... Args>
Status NotFoundError(const Args&... args) {
  return Status(StatusCode::kNotFound, StrCat(args...));
}
template <typename... Args>
Status IoError(const Args&... args) {
  return Status(StatusCode::kIoError, StrCat(args...));
}
template <typename... Args>
Status BackendError(const Args&... args) {
  return Status(StatusCode::kBackendError, StrCat(args...));
}
template <typename... Args>
Status InternalError(const Args&... args) {
  return Status(StatusCode::kInternal, StrCat(args...));
}

// Either a value of type T or a non-OK Status.
//
// Constructing a Result from an OK Status is a programming error; it is turned
// into an kInternal error rather than an empty value, so value() is never
// reached on an object that has none.
template <typename T>
class [[nodiscard]] Result {
 public:
  static_assert(!std::is_same_v<std::decay_t<T>, Status>,
                "Result<Status> makes no sense");

  // Implicit on purpose: `return value;` and `return SomeError(...);` both
  // work in a function returning Result<T>.
  Result(T value) : value_(std::move(value)) {}  // NOLINT
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    if (status_.ok()) {
      status_ = Status(StatusCode::kInternal,
                       "Result constructed from an OK status without a value");
    }
  }

  bool ok() const { return value_.has_value(); }
  // OK when a value is held, else the error.
  const Status& status() const { return status_; }

  // Precondition: ok(). Checked: calling these on an error is a bug, and
  // terminates with the error's text rather than reading garbage.
  T& value() & {
    CheckHasValue();
    return *value_;
  }
  const T& value() const& {
    CheckHasValue();
    return *value_;
  }
  T&& value() && {
    CheckHasValue();
    return std::move(*value_);
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  void CheckHasValue() const;

  std::optional<T> value_;
  Status status_;
};

[[noreturn]] SERENITY_API void DieOnBadResultAccess(const Status& status);

template <typename T>
void Result<T>::CheckHasValue() const {
  if (!value_.has_value()) DieOnBadResultAccess(status_);
}

}  // namespace serenity

#define SERENITY_CONCAT_INNER_(a, b) a##b
#define SERENITY_CONCAT_(a, b) SERENITY_CONCAT_INNER_(a, b)

// Returns the status of `expr` from the enclosing function if it is an error.
#define SERENITY_RETURN_IF_ERROR(expr)                       \
  do {                                                       \
    ::serenity::Status serenity_status_ = (expr);            \
    if (!serenity_status_.ok()) return serenity_status_;     \
  } while (false)

// `lhs = value of expr`, or returns its error from the enclosing function.
// `lhs` may be a declaration: SERENITY_ASSIGN_OR_RETURN(Model m, Load(...)).
#define SERENITY_ASSIGN_OR_RETURN(lhs, expr) \
  SERENITY_ASSIGN_OR_RETURN_IMPL_(SERENITY_CONCAT_(serenity_result_, __LINE__), lhs, expr)
#define SERENITY_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                    \
  if (!tmp.ok()) return tmp.status();                   \
  lhs = std::move(tmp).value()

#endif  // SERENITY_STATUS_H_
