#pragma once

// JSON answers written straight from query results into one string, without
// building nlohmann::json objects first (on the list routes those cost more
// than the query). The text is byte for byte what nlohmann's
// dump(-1, ' ', false, error_handler_t::replace) writes for the same
// values, members in key order, so answers do not change.

#include <cstddef>
#include <cstdint>
#include <pqxx/pqxx>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace commsvc::plugins::api {

/// How a column's value is written.
enum class JsonKind {
  Integer,  ///< an integer column, written as its decimal text
  Text,     ///< any column read as text, written as a JSON string
  Boolean,  ///< a boolean column, written as true/false
};

/// A result column written as the member of the same name.
struct JsonColumn {
  std::string_view name;  ///< column name = member key (plain ASCII)
  JsonKind kind;          ///< how its value is written
};

/// The length of the well-formed UTF-8 sequence at the start of `text` (not
/// empty): 1 for ASCII, 0 when it does not start with one (a cut sequence,
/// overlong forms, surrogates, values above U+10FFFF).
std::size_t utf8SequenceLength(std::string_view text);

/// Appends `text` as a JSON string as nlohmann writes it: ", \ and control
/// characters escaped, other UTF-8 as is, invalid UTF-8 replaced by U+FFFD.
void appendJsonString(std::string& out, std::string_view text);

/// Writes rows of one query result as JSON objects: the given columns as
/// members in key order, SQL NULL as null.
class RowJsonWriter {
 public:
  /// Looks the `columns` up once, in `sample`: any row of the result whose
  /// rows append() writes. Throws std::invalid_argument when it lacks one.
  RowJsonWriter(const pqxx::row& sample, std::span<const JsonColumn> columns);

  /// Appends `row` (of the sample's result) as a JSON object to `out`.
  void append(std::string& out, const pqxx::row& row) const;

 private:
  struct Member {
    std::string prefix;  // `{"key":` or `,"key":`
    pqxx::row::size_type column;
    JsonKind kind;
  };
  std::vector<Member> members_;
};

/// Appends `value` in decimal.
void appendJsonInteger(std::string& out, std::int64_t value);

}  // namespace commsvc::plugins::api
