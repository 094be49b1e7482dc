// Status and Result<T>: expected failures as values.
//
// Domain code returns these; only the HTTP layer maps codes to status codes
// and JSON bodies. A Status is cheap to copy when ok (no allocation).
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace samcache {

enum class StatusCode {
  kOk,
  kInvalidArgument,   // the caller sent something unusable (HTTP 400)
  kNotFound,          // an id that does not exist, or one the caller may not know of (HTTP 404)
  kUnauthenticated,   // no valid token or session (HTTP 401)
  kPermissionDenied,  // the caller's role does not allow it (HTTP 403)
  kRateLimited,       // over the caller's rate limit (HTTP 429)
  kTooLarge,          // over a configured size or pixel limit (HTTP 413)
  kUnsupported,       // a well-formed input we do not handle (HTTP 415)
  kCorrupt,           // stored or uploaded data failed an integrity check
  kConflict,          // clashes with the current state, e.g. a job another process runs (HTTP 409)
  kUnavailable,       // busy right now; worth retrying later (HTTP 503)
  kIoError,           // the file system or database failed
  kInternal,          // a bug or an unexpected library failure (HTTP 500)
};

class Status {
 public:
  Status() = default;

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) { return {StatusCode::kInvalidArgument, std::move(msg)}; }
  static Status NotFound(std::string msg) { return {StatusCode::kNotFound, std::move(msg)}; }
  static Status Unauthenticated(std::string msg) { return {StatusCode::kUnauthenticated, std::move(msg)}; }
  static Status PermissionDenied(std::string msg) { return {StatusCode::kPermissionDenied, std::move(msg)}; }
  static Status RateLimited(std::string msg) { return {StatusCode::kRateLimited, std::move(msg)}; }
  static Status TooLarge(std::string msg) { return {StatusCode::kTooLarge, std::move(msg)}; }
  static Status Unsupported(std::string msg) { return {StatusCode::kUnsupported, std::move(msg)}; }
  static Status Corrupt(std::string msg) { return {StatusCode::kCorrupt, std::move(msg)}; }
  static Status Conflict(std::string msg) { return {StatusCode::kConflict, std::move(msg)}; }
  static Status Unavailable(std::string msg) { return {StatusCode::kUnavailable, std::move(msg)}; }
  static Status IoError(std::string msg) { return {StatusCode::kIoError, std::move(msg)}; }
  static Status Internal(std::string msg) { return {StatusCode::kInternal, std::move(msg)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Either a value or a non-ok Status.
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    // A Result built from a Status must carry an error; an ok Status has no value to give.
    assert(!status_.ok());
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace samcache

namespace samcache::status_internal {
inline const Status& StatusOf(const Status& status) { return status; }
template <typename T>
const Status& StatusOf(const Result<T>& result) {
  return result.status();
}
}  // namespace samcache::status_internal

// Returns early from the enclosing function when `expr` (a Status or a Result) is not ok.
#define SAMCACHE_RETURN_IF_ERROR(expr)                                                  \
  do {                                                                                  \
    const auto& _samcache_st = (expr);                                                  \
    if (!_samcache_st.ok()) return ::samcache::status_internal::StatusOf(_samcache_st); \
  } while (0)

#define SAMCACHE_STATUS_CONCAT_INNER(a, b) a##b
#define SAMCACHE_STATUS_CONCAT(a, b) SAMCACHE_STATUS_CONCAT_INNER(a, b)

// `SAMCACHE_ASSIGN_OR_RETURN(auto rows, catalog.ListImages(id));` declares or assigns `lhs`
// from a Result's value, or returns its Status from the enclosing function.
#define SAMCACHE_ASSIGN_OR_RETURN(lhs, expr) \
  SAMCACHE_ASSIGN_OR_RETURN_IMPL(SAMCACHE_STATUS_CONCAT(_samcache_result_, __COUNTER__), lhs, expr)
#define SAMCACHE_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return std::move(tmp).status();       \
  lhs = std::move(tmp).value()
