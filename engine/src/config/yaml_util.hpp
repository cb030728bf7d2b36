#pragma once

// Private helpers of commsvc_config shared by its source files.

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/pipeline_config.hpp"

namespace commsvc::config::detail {

/// 1-based line of `mark`, 0 when the mark is unknown.
inline int lineOf(const YAML::Mark& mark) { return mark.line >= 0 ? mark.line + 1 : 0; }

/// 1-based column of `mark`, 0 when the mark is unknown.
inline int columnOf(const YAML::Mark& mark) { return mark.column >= 0 ? mark.column + 1 : 0; }

/// A Problem at the place of `mark`.
inline Problem problemAt(const std::string& file, const YAML::Mark& mark, std::string path,
                         std::string message) {
  return Problem{file, lineOf(mark), columnOf(mark), std::move(path), std::move(message)};
}

/// "parent.key", or "key" at the top level.
inline std::string childPath(std::string_view parent, std::string_view key) {
  std::string out(parent);
  if (!out.empty()) out += '.';
  out += key;
  return out;
}

/// "parent[index]".
inline std::string indexPath(std::string_view parent, std::size_t index) {
  return std::string(parent) + "[" + std::to_string(index) + "]";
}

/// "a mapping", "a list", "a text value", "no value" — for messages.
inline const char* describeKind(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a text value";
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      break;
  }
  return "no value";
}

/// True when the node is absent or an explicit null (treated as empty).
inline bool isAbsent(const YAML::Node& node) { return !node.IsDefined() || node.IsNull(); }

/// Edit distance between two short keys (insert, delete, substitute).
inline std::size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

/// "unknown key 'k' (valid keys: a, b); did you mean 'x'?" — the hint only
/// when one valid key is within two edits.
inline std::string unknownKeyMessage(std::string_view key,
                                     std::span<const std::string_view> valid) {
  std::string list;
  std::string_view closest;
  std::size_t best = 3;
  for (std::string_view candidate : valid) {
    if (!list.empty()) list += ", ";
    list += candidate;
    const std::size_t distance = editDistance(key, candidate);
    if (distance < best) {
      best = distance;
      closest = candidate;
    }
  }
  std::string message = "unknown key '" + std::string(key) + "' (valid keys: " + list + ")";
  if (!closest.empty()) message += "; did you mean '" + std::string(closest) + "'?";
  return message;
}

}  // namespace commsvc::config::detail
