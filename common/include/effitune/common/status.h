// Status and Result<T>: how expected failures cross module boundaries.
// Modeled on absl::Status / LevelDB's Status. Never throws.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>

#include "effitune/common/check.h"

namespace effitune {

enum class StatusCode : uint8_t {
  kOk = 0,
  kInvalidArgument,     // the caller passed something malformed (bad knob, bad file content)
  kNotFound,            // a file, key or id does not exist
  kOutOfRange,          // an index or size past a limit
  kResourceExhausted,   // does not fit: memory, KV blocks, queue
  kDataLoss,            // a file is truncated or corrupt
  kFailedPrecondition,  // the system is not in a state to do this
  kUnavailable,         // a peer cannot be reached right now
  kDeadlineExceeded,    // a timeout
  kCancelled,           // the caller or a signal asked to stop
  kUnimplemented,
  kInternal,
};

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok_status() { return {}; }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "INVALID_ARGUMENT: message"
  std::string to_string() const;
  // Returns a copy whose message is "context: message"; used to add file/field/line on the way up.
  Status with_context(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status invalid_argument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status not_found(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status out_of_range(std::string m) { return {StatusCode::kOutOfRange, std::move(m)}; }
inline Status resource_exhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
inline Status data_loss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
inline Status failed_precondition(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
inline Status unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status deadline_exceeded(std::string m) { return {StatusCode::kDeadlineExceeded, std::move(m)}; }
inline Status cancelled(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }
inline Status unimplemented(std::string m) { return {StatusCode::kUnimplemented, std::move(m)}; }
inline Status internal_error(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

// Result<T>: a T or a non-ok Status. Accessing value() of an error aborts (a broken invariant).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    EFFITUNE_CHECK(!std::get<Status>(v_).ok(), "Result constructed from an ok Status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & {
    EFFITUNE_CHECK(ok(), "Result::value() on error: " + std::get<Status>(v_).to_string());
    return std::get<T>(v_);
  }
  const T& value() const& {
    EFFITUNE_CHECK(ok(), "Result::value() on error: " + std::get<Status>(v_).to_string());
    return std::get<T>(v_);
  }
  T&& value() && {
    EFFITUNE_CHECK(ok(), "Result::value() on error: " + std::get<Status>(v_).to_string());
    return std::get<T>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace effitune

#define EFFITUNE_CONCAT_INNER(a, b) a##b
#define EFFITUNE_CONCAT(a, b) EFFITUNE_CONCAT_INNER(a, b)

#define EFFITUNE_RETURN_IF_ERROR(expr)                 \
  do {                                                 \
    ::effitune::Status effitune_status_ = (expr);      \
    if (!effitune_status_.ok()) return effitune_status_; \
  } while (0)

#define EFFITUNE_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return tmp.status();                  \
  lhs = std::move(tmp).value()

// EFFITUNE_ASSIGN_OR_RETURN(auto x, make_x());
#define EFFITUNE_ASSIGN_OR_RETURN(lhs, expr) \
  EFFITUNE_ASSIGN_OR_RETURN_IMPL(EFFITUNE_CONCAT(effitune_result_, __LINE__), lhs, expr)
