#pragma once

// What the plugins' JSON HTTP APIs share (SPEC §5): errors as
// {"message": ...}, the JSON body and its typed field readers, path ids,
// paging and query filters. Every reader is a single pass over its input
// (request data: no regex, no recursion per byte).

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "commsvc/database.hpp"
#include "commsvc/http.hpp"

namespace commsvc::plugins::api {

/// Largest value of an `integer` column (ids, minutes).
inline constexpr std::int64_t kMaxInt32 = 2147483647;
/// Default of the `limit` list parameter.
inline constexpr std::int64_t kDefaultLimit = 20;
/// Largest `limit`: larger values are clamped to it, smaller than 1 to 1.
inline constexpr std::int64_t kMaxLimit = 1000;
/// Largest `page` (larger values are clamped): keeps the offset in range.
inline constexpr std::int64_t kMaxPage = 1'000'000'000'000;
/// Longest client value (in code points) an error message repeats.
inline constexpr std::size_t kMaxEchoedChars = 64;

/// An answer other than success, thrown by the readers below and turned
/// into `{"message": what()}` with status() by guarded().
class ApiError : public std::runtime_error {
 public:
  /// An error answered with `status` and `message`.
  ApiError(int status, const std::string& message) : std::runtime_error(message), status_(status) {}
  /// The HTTP status of the answer.
  int status() const { return status_; }

 private:
  int status_;
};

/// 400: invalid input; the message names the field.
class BadRequest : public ApiError {
 public:
  /// A 400 with `message`.
  explicit BadRequest(const std::string& message) : ApiError(400, message) {}
};

/// 404: no such resource; the message is the API's not-found text.
class NotFound : public ApiError {
 public:
  /// A 404 with `message` (e.g. "Email not found").
  explicit NotFound(const std::string& message) : ApiError(404, message) {}
};

/// Runs `route` and answers an ApiError it throws with its status and
/// message. Other exceptions propagate (the server answers 500).
template <typename Route>
HttpResponse guarded(Route&& route) {
  try {
    return route();
  } catch (const ApiError& e) {
    return HttpResponse::error(e.status(), e.what());
  }
}

/// A JSON answer with `status` and `body`.
HttpResponse jsonResponse(int status, const nlohmann::json& body);

/// `text` fit to be repeated in an error message: invalid UTF-8 replaced by
/// U+FFFD, cut after kMaxEchoedChars code points with "…" appended.
std::string echo(std::string_view text);

/// A client's JSON value for an error message: a string as echo(string),
/// anything else as its JSON text, echoed the same way.
std::string echoValue(const nlohmann::json& value);

/// The request body as a JSON object. Throws BadRequest ("request body is
/// not valid JSON" / "request body must be a JSON object").
nlohmann::json parseBody(const HttpRequest& request);

/// The member `name` of `body`, or nullptr when it is absent or null.
const nlohmann::json* member(const nlohmann::json& body, std::string_view name);

/// The string member `name`; nullopt when absent or null. Throws
/// BadRequest naming the field when it is not a string or holds NUL
/// (PostgreSQL text cannot).
std::optional<std::string> optString(const nlohmann::json& body, std::string_view name);

/// The integer member `name` in [min, kMaxInt32]; nullopt when absent or
/// null. Throws BadRequest "<name> must be a positive integer" (min 1) or
/// "<name> must be an integer >= <min>" for anything else (strings, floats,
/// out of range).
std::optional<std::int32_t> optInt(const nlohmann::json& body, std::string_view name,
                                   std::int32_t min = 1);

/// The boolean member `name`; nullopt when absent or null. Throws
/// BadRequest "<name> must be a boolean".
std::optional<bool> optBool(const nlohmann::json& body, std::string_view name);

/// Checks that exactly one of the recipient ids is set, with the original
/// service's texts: BadRequest "Either therapist_id or patient_id is
/// required" / "Cannot specify both therapist_id and patient_id".
void requireOneRecipient(const std::optional<std::int32_t>& therapistId,
                         const std::optional<std::int32_t>& patientId);

/// The path parameter `name` ("{id}") as a row id: decimal digits only,
/// 1..kMaxInt32. Anything else ("abc", "-1", "0", "1.5", a number no row can
/// have) throws NotFound(`notFoundMessage`), as for an unknown id (the
/// original's `<int:id>` routes answer 404 for them too).
std::int32_t pathId(const HttpRequest& request, std::string_view notFoundMessage,
                    std::string_view name = "id");

/// The whole decimal integer `text` (optionally '-'); nullopt for anything
/// else, including values outside int64.
std::optional<std::int64_t> parseInteger(std::string_view text);

/// The page of a list (SPEC §5).
struct Paging {
  std::int64_t page = 1;               ///< 1-based page number
  std::int64_t limit = kDefaultLimit;  ///< rows per page, 1..kMaxLimit
  /// Rows before the page: (page - 1) * limit.
  std::int64_t offset() const { return (page - 1) * limit; }
};

/// `page` (default 1, at least 1) and `limit` (default kDefaultLimit,
/// clamped to 1..kMaxLimit) from the query; out-of-range integers are
/// clamped too. Throws BadRequest "page/limit must be an integer".
Paging paging(const HttpRequest& request);

/// The query parameter `name`, or nullptr when it is absent or empty (an
/// empty filter filters nothing).
const std::string* queryText(const HttpRequest& request, std::string_view name);

/// An integer-column filter from the query; nullopt when absent or empty.
/// Throws BadRequest "<name> must be an integer" (also outside int32).
std::optional<std::int32_t> queryInt(const HttpRequest& request, std::string_view name);

/// A boolean filter: true/1 or false/0 (any case); nullopt when absent or
/// empty. Throws BadRequest "<name> must be true or false".
std::optional<bool> queryBool(const HttpRequest& request, std::string_view name);

/// The `recipient_type` filter: "therapist" or "patient"; nullopt when
/// absent or empty. Throws BadRequest "recipient_type must be therapist or
/// patient".
std::optional<std::string> queryRecipientType(const HttpRequest& request);

/// True when `value` is one of `values` (e.g. an enum's labels).
bool isOneOf(std::string_view value, std::span<const std::string_view> values);

/// The WHERE clause of a list query built from the filters a request
/// actually gives, so that PostgreSQL can use the indexes that serve them
/// (a `($1 IS NULL OR col = $1)` predicate serves none). Values are only
/// ever parameters ($n, sent as text); the SQL text depends only on which
/// filters are given, so each shape is one prepared statement.
class QueryFilter {
 public:
  /// A filter without conditions whose placeholders start at $1.
  QueryFilter() = default;
  /// A filter whose placeholders continue after `leading` (parameters that
  /// come first in the statement, e.g. another clause's).
  explicit QueryFilter(std::vector<std::string> leading) : params_(std::move(leading)) {}

  /// Adds the condition `column op $n cast`, e.g. ("therapist_id = ",
  /// "7", "::integer"), with `value` as parameter $n.
  void add(std::string_view sqlBefore, std::string value, std::string_view cast);
  /// Adds a condition without parameter (fixed SQL written by the caller).
  void addCondition(std::string_view sql);
  /// A further parameter (e.g. LIMIT) outside the WHERE clause: returns
  /// its placeholder "$n".
  std::string param(std::string value);
  /// " WHERE c1 AND c2 ..." or "" when no condition was added.
  const std::string& where() const { return where_; }
  /// The parameters in placeholder order.
  const std::vector<std::string>& params() const { return params_; }

 private:
  std::string where_;
  std::vector<std::string> params_;
};

/// Runs `sql` as a prepared statement (commsvc::prepared) with the text
/// parameters `params` (a list whose length depends on the filters given).
pqxx::result execPrepared(pqxx::transaction_base& tx, const std::string& sql,
                          const std::vector<std::string>& params);

/// A nullable SQL parameter: the text, or nullptr for NULL.
inline const char* nullable(const std::optional<std::string>& value) {
  return value ? value->c_str() : nullptr;
}

/// A nullable integer as a nullable SQL text parameter.
std::optional<std::string> toText(const std::optional<std::int32_t>& value);

/// A column as JSON text, or null.
nlohmann::json textOrNull(const pqxx::field& field);

/// A column as a JSON integer, or null.
nlohmann::json intOrNull(const pqxx::field& field);

}  // namespace commsvc::plugins::api
