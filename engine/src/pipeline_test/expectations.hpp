#pragma once

// Matching what a pipeline test expects against what was recorded, and the
// diff shown when it does not match. Recorded items (channel messages,
// published events, dead letters, log lines, query rows) are JSON objects;
// an expectation is a list of checks on their fields.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace commsvc::pipeline_test {

/// How a FieldCheck compares.
enum class CheckKind {
  Equals,    ///< the field equals `expected` (JSON equality; 1 == 1.0)
  Contains,  ///< the field is text containing `expected` (a string)
};

/// One check of one field of a recorded item.
struct FieldCheck {
  std::vector<std::string> path;  ///< the field, e.g. {"payload", "email_id"}
  CheckKind kind = CheckKind::Equals;
  nlohmann::json expected;  ///< Equals: the value; Contains: the text to find
};

/// One expected item: every check must hold for one recorded item.
struct ItemExpectation {
  int line = 0;                    ///< where it is written in the test file (1-based)
  int column = 0;                  ///< column (1-based)
  std::vector<FieldCheck> checks;  ///< in the order written
};

/// The expectations of one kind (expect.messages, expect.events, ...).
struct KindExpectation {
  bool given = false;  ///< the key was written (`[]` too: then nothing may be recorded)
  std::vector<ItemExpectation> items;  ///< in the order written
};

/// Expectations paired with recorded items.
struct MatchResult {
  std::vector<int> matched;             ///< per expectation: the item's index, or -1
  std::vector<std::size_t> unexpected;  ///< items no expectation took, ascending
  /// True when every expectation has an item.
  bool allFound() const;
};

/// The value of `path` in `item`, or nullptr when a part is missing or not
/// an object.
const nlohmann::json* fieldOf(const nlohmann::json& item, const std::vector<std::string>& path);

/// Whether `check` holds for `item`.
bool checkHolds(const FieldCheck& check, const nlohmann::json& item);

/// Whether every check of `expectation` holds for `item`.
bool matches(const ItemExpectation& expectation, const nlohmann::json& item);

/// Gives each expectation a distinct item it matches, as many as possible
/// (a maximum bipartite matching, so the order of either list does not
/// matter); the items left over are `unexpected`.
MatchResult matchItems(const std::vector<ItemExpectation>& expected,
                       const std::vector<nlohmann::json>& actual);

/// "payload.email_id".
std::string pathText(const std::vector<std::string>& path);

/// `value` as compact JSON, cut to `maxLength` bytes with a "…(N more
/// bytes)" note.
std::string describeValue(const nlohmann::json& value, std::size_t maxLength = 300);

/// The diff of `expectation` against `item`, one line per check: a check
/// that holds as "  field: value", one that does not as "- field: expected"
/// then "+ field: actual" ("(missing)" when absent).
std::vector<std::string> diffItem(const ItemExpectation& expectation, const nlohmann::json& item);

/// Names of a kind in messages.
struct KindNames {
  std::string key;   ///< the key under `expect:`, e.g. "events"
  std::string noun;  ///< one item, e.g. "published event"
};

/// The failure text of one kind, empty when it passes: for each expectation
/// without an item, where it is written and its diff against the closest
/// recorded item (most checks holding; "(nothing recorded)" when there is
/// none); then, when `strict`, each item no expectation took as
/// "+ unexpected <noun>: {...}". `testFile` names the file in places.
std::vector<std::string> diffKind(const KindExpectation& expectation, bool strict,
                                  const std::vector<nlohmann::json>& actual,
                                  const MatchResult& result, const KindNames& names,
                                  const std::string& testFile);

/// The failure text of a query's rows, empty when `actual` has exactly the
/// expected rows in order, each matching its expectation.
std::vector<std::string> diffRows(const std::vector<ItemExpectation>& expected,
                                  const std::vector<nlohmann::json>& actual);

}  // namespace commsvc::pipeline_test
