#include "pipeline_test/expectations.hpp"

#include <algorithm>
#include <functional>

namespace commsvc::pipeline_test {
namespace {

using nlohmann::json;

std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

// "file:line:column", or "file" when the place is unknown.
std::string place(const std::string& file, int line, int column) {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line);
  if (line > 0 && column > 0) out += ":" + std::to_string(column);
  return out;
}

// How many checks of `expectation` hold for `item`.
std::size_t score(const ItemExpectation& expectation, const json& item) {
  return static_cast<std::size_t>(
      std::count_if(expectation.checks.begin(), expectation.checks.end(),
                    [&](const FieldCheck& check) { return checkHolds(check, item); }));
}

// The index of the item closest to `expectation` among `candidates`.
std::size_t closest(const ItemExpectation& expectation, const std::vector<json>& actual,
                    const std::vector<std::size_t>& candidates) {
  std::size_t best = candidates.front();
  std::size_t bestScore = score(expectation, actual[best]);
  for (const std::size_t i : candidates) {
    const std::size_t s = score(expectation, actual[i]);
    if (s > bestScore) {
      best = i;
      bestScore = s;
    }
  }
  return best;
}

void indent(std::vector<std::string>& out, const std::vector<std::string>& lines,
            const std::string& prefix) {
  for (const auto& line : lines) out.push_back(prefix + line);
}

}  // namespace

bool MatchResult::allFound() const {
  return std::none_of(matched.begin(), matched.end(), [](int i) { return i < 0; });
}

const json* fieldOf(const json& item, const std::vector<std::string>& path) {
  const json* node = &item;
  for (const auto& part : path) {
    if (!node->is_object()) return nullptr;
    const auto it = node->find(part);
    if (it == node->end()) return nullptr;
    node = &*it;
  }
  return node;
}

bool checkHolds(const FieldCheck& check, const json& item) {
  const json* value = fieldOf(item, check.path);
  if (value == nullptr) return false;
  if (check.kind == CheckKind::Equals) return *value == check.expected;
  return value->is_string() && check.expected.is_string() &&
         value->get_ref<const std::string&>().find(check.expected.get_ref<const std::string&>()) !=
             std::string::npos;
}

bool matches(const ItemExpectation& expectation, const json& item) {
  return std::all_of(expectation.checks.begin(), expectation.checks.end(),
                     [&](const FieldCheck& check) { return checkHolds(check, item); });
}

MatchResult matchItems(const std::vector<ItemExpectation>& expected,
                       const std::vector<json>& actual) {
  // Kuhn's augmenting paths: small lists, so O(E * V) is nothing.
  std::vector<std::vector<std::size_t>> fits(expected.size());
  for (std::size_t e = 0; e < expected.size(); ++e) {
    for (std::size_t a = 0; a < actual.size(); ++a) {
      if (matches(expected[e], actual[a])) fits[e].push_back(a);
    }
  }
  std::vector<int> owner(actual.size(), -1);
  std::function<bool(std::size_t, std::vector<bool>&)> augment = [&](std::size_t e,
                                                                     std::vector<bool>& seen) {
    for (const std::size_t a : fits[e]) {
      if (seen[a]) continue;
      seen[a] = true;
      if (owner[a] < 0 || augment(static_cast<std::size_t>(owner[a]), seen)) {
        owner[a] = static_cast<int>(e);
        return true;
      }
    }
    return false;
  };
  for (std::size_t e = 0; e < expected.size(); ++e) {
    std::vector<bool> seen(actual.size(), false);
    augment(e, seen);
  }
  MatchResult result;
  result.matched.assign(expected.size(), -1);
  for (std::size_t a = 0; a < actual.size(); ++a) {
    if (owner[a] >= 0) {
      result.matched[static_cast<std::size_t>(owner[a])] = static_cast<int>(a);
    } else {
      result.unexpected.push_back(a);
    }
  }
  return result;
}

std::string pathText(const std::vector<std::string>& path) {
  std::string out;
  for (const auto& part : path) out += (out.empty() ? "" : ".") + part;
  return out;
}

std::string describeValue(const json& value, std::size_t maxLength) {
  std::string text = dump(value);
  if (text.size() <= maxLength) return text;
  const std::size_t size = text.size();
  text.resize(maxLength);
  // Do not cut a UTF-8 sequence in half: drop an incomplete last one.
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  std::size_t start = text.size();
  while (start > 0 && (byte(start - 1) & 0xC0) == 0x80) --start;
  if (start > 0 && (byte(start - 1) & 0x80) != 0) {
    const unsigned char lead = byte(start - 1);
    const std::size_t length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
    if (text.size() - (start - 1) < length) text.resize(start - 1);
  }
  return text + "…(" + std::to_string(size - text.size()) + " more bytes)";
}

std::vector<std::string> diffItem(const ItemExpectation& expectation, const json& item) {
  std::vector<std::string> out;
  for (const auto& check : expectation.checks) {
    const std::string name = pathText(check.path);
    const json* value = fieldOf(item, check.path);
    const std::string actual = value == nullptr ? "(missing)" : describeValue(*value);
    if (checkHolds(check, item)) {
      out.push_back("  " + name + ": " + actual);
      continue;
    }
    if (check.kind == CheckKind::Equals) {
      out.push_back("- " + name + ": " + describeValue(check.expected));
    } else {
      out.push_back("- " + name + ": contains " + describeValue(check.expected));
    }
    out.push_back("+ " + name + ": " + actual);
  }
  return out;
}

std::vector<std::string> diffKind(const KindExpectation& expectation, bool strict,
                                  const std::vector<json>& actual, const MatchResult& result,
                                  const KindNames& names, const std::string& testFile) {
  std::vector<std::string> out;
  if (!expectation.given) return out;
  // Items shown as the closest of a missing expectation are not listed again
  // as unexpected.
  std::vector<std::size_t> shown;
  for (std::size_t e = 0; e < expectation.items.size(); ++e) {
    if (result.matched[e] >= 0) continue;
    const ItemExpectation& item = expectation.items[e];
    const std::string where = "expect." + names.key + "[" + std::to_string(e) + "] (" +
                              place(testFile, item.line, item.column) + ")";
    if (actual.empty()) {
      out.push_back(where + ": no " + names.noun + " recorded");
      std::vector<std::string> lines;
      for (const auto& check : item.checks) {
        lines.push_back("- " + pathText(check.path) + ": " +
                        (check.kind == CheckKind::Contains ? "contains " : "") +
                        describeValue(check.expected));
      }
      lines.push_back("+ (nothing recorded)");
      indent(out, lines, "  ");
      continue;
    }
    // The closest among the items nobody took; all items when none is left.
    std::vector<std::size_t> candidates = result.unexpected;
    if (candidates.empty()) {
      for (std::size_t a = 0; a < actual.size(); ++a) candidates.push_back(a);
    }
    const std::size_t best = closest(item, actual, candidates);
    if (candidates.size() > 1 && score(item, actual[best]) == 0 && !item.checks.empty()) {
      // Nothing comes close: showing an arbitrary item would only mislead.
      out.push_back(where + ": no such " + names.noun + "; none of the " +
                    std::to_string(actual.size()) + " recorded has any of these fields:");
      std::vector<std::string> lines;
      for (const auto& check : item.checks) {
        lines.push_back("- " + pathText(check.path) + ": " +
                        (check.kind == CheckKind::Contains ? "contains " : "") +
                        describeValue(check.expected));
      }
      indent(out, lines, "  ");
      continue;
    }
    const bool taken = std::find(result.unexpected.begin(), result.unexpected.end(), best) ==
                       result.unexpected.end();
    out.push_back(where + ": no such " + names.noun + "; the closest of " +
                  std::to_string(actual.size()) + " recorded" +
                  (taken ? " (already matched by another expectation)" : "") + ":");
    indent(out, diffItem(item, actual[best]), "  ");
    shown.push_back(best);
  }
  if (strict) {
    for (const std::size_t a : result.unexpected) {
      if (std::find(shown.begin(), shown.end(), a) != shown.end()) continue;
      out.push_back("unexpected " + names.noun + " (not in expect." + names.key + "):");
      out.push_back("  + " + describeValue(actual[a], 600));
    }
  }
  return out;
}

std::vector<std::string> diffRows(const std::vector<ItemExpectation>& expected,
                                  const std::vector<json>& actual) {
  std::vector<std::string> out;
  const std::size_t n = std::max(expected.size(), actual.size());
  for (std::size_t i = 0; i < n; ++i) {
    const std::string row = "row " + std::to_string(i);
    if (i >= actual.size()) {
      json wanted = json::object();
      for (const auto& check : expected[i].checks) wanted[pathText(check.path)] = check.expected;
      out.push_back("- " + row + ": " + describeValue(wanted) + " (missing)");
      continue;
    }
    if (i >= expected.size()) {
      out.push_back("+ " + row + ": " + describeValue(actual[i]) + " (unexpected)");
      continue;
    }
    if (matches(expected[i], actual[i])) continue;
    out.push_back("  " + row + ":");
    indent(out, diffItem(expected[i], actual[i]), "  ");
  }
  return out;
}

}  // namespace commsvc::pipeline_test
