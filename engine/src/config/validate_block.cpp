// Generic validation of a YAML mapping against OptionSpec declarations.

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <system_error>
#include <variant>

#include "config/pipeline_config.hpp"
#include "config/yaml_util.hpp"

namespace commsvc::config {
namespace {

using detail::childPath;
using detail::describeKind;
using detail::isAbsent;
using detail::problemAt;

const char* typeName(OptionType type) {
  switch (type) {
    case OptionType::String:
      return "a string";
    case OptionType::Integer:
      return "an integer";
    case OptionType::Boolean:
      return "a boolean (true/false, yes/no, on/off)";
    case OptionType::Number:
      return "a number";
    case OptionType::StringMap:
      return "a mapping of text values";
    case OptionType::StringList:
      return "a list of text values";
  }
  return "a value";
}

std::string toLower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

std::string choiceNames(const OptionSpec& spec) {
  std::string out;
  for (const OptionChoice& c : spec.choiceSpan()) {
    if (!out.empty()) out += ", ";
    out += c.name;
  }
  return out;
}

namespace {

// Either a converted value or the reason the text does not convert.
using Converted = std::variant<ConfigValue, std::string>;

// Converts the text of a scalar option (String, Integer, Boolean, Number).
Converted convertScalar(const OptionSpec& spec, const std::string& text) {
  switch (spec.type) {
    case OptionType::String: {
      if (spec.choiceCount != 0 && spec.findChoice(std::string_view(text)) == nullptr) {
        return "'" + text + "' is not one of: " + choiceNames(spec);
      }
      return ConfigValue(text);
    }
    case OptionType::Integer: {
      std::string_view digits(text);
      if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
      std::int64_t value = 0;
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
      if (ec == std::errc::result_out_of_range) {
        return "integer '" + text + "' does not fit in 64 bits";
      }
      if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size()) {
        return "expected an integer, got '" + text + "'";
      }
      if (value < spec.minimum || value > spec.maximum) {
        return std::to_string(value) + " is out of range [" + std::to_string(spec.minimum) + ", " +
               std::to_string(spec.maximum) + "]";
      }
      return ConfigValue(value);
    }
    case OptionType::Boolean: {
      const std::string lower = toLower(text);
      if (lower == "true" || lower == "yes" || lower == "on") return ConfigValue(true);
      if (lower == "false" || lower == "no" || lower == "off") return ConfigValue(false);
      return "expected a boolean (true/false, yes/no, on/off), got '" + text + "'";
    }
    case OptionType::Number: {
      double value = 0;
      const char* first = text.data();
      const char* last = text.data() + text.size();
      if (first != last && *first == '+') ++first;
      const auto [end, ec] = std::from_chars(first, last, value);
      if (first == last || ec != std::errc() || end != last || !std::isfinite(value)) {
        return "expected a number, got '" + text + "'";
      }
      return ConfigValue(value);
    }
    case OptionType::StringMap:
    case OptionType::StringList:
      break;
  }
  return std::string("internal error: not a scalar option type");
}

// Converts a YAML value of option `spec`; appends problems and returns false
// when it does not fit.
bool convertNode(const OptionSpec& spec, const YAML::Node& value, const std::string& file,
                 const std::string& path, std::vector<Problem>& problems, ConfigValue& out) {
  switch (spec.type) {
    case OptionType::StringMap: {
      std::map<std::string, std::string> map;
      if (!isAbsent(value) && !value.IsMap()) {
        problems.push_back(problemAt(
            file, value.Mark(), path,
            std::string("expected a mapping of text values, got ") + describeKind(value)));
        return false;
      }
      bool ok = true;
      if (value.IsMap()) {
        for (const auto& entry : value) {
          if (!entry.first.IsScalar()) {
            problems.push_back(
                problemAt(file, entry.first.Mark(), path, "keys must be plain text values"));
            ok = false;
            continue;
          }
          const std::string key = entry.first.Scalar();
          if (!entry.second.IsScalar()) {
            problems.push_back(
                problemAt(file, entry.second.Mark(), childPath(path, key),
                          std::string("expected a text value, got ") + describeKind(entry.second)));
            ok = false;
            continue;
          }
          if (!map.emplace(key, entry.second.Scalar()).second) {
            problems.push_back(
                problemAt(file, entry.first.Mark(), path, "duplicate key '" + key + "'"));
            ok = false;
          }
        }
      }
      if (ok) out = std::move(map);
      return ok;
    }
    case OptionType::StringList: {
      std::vector<std::string> list;
      if (!isAbsent(value) && !value.IsSequence()) {
        problems.push_back(
            problemAt(file, value.Mark(), path,
                      std::string("expected a list of text values, got ") + describeKind(value)));
        return false;
      }
      bool ok = true;
      if (value.IsSequence()) {
        for (std::size_t i = 0; i < value.size(); ++i) {
          const YAML::Node item = value[i];
          if (!item.IsScalar()) {
            problems.push_back(
                problemAt(file, item.Mark(), detail::indexPath(path, i),
                          std::string("expected a text value, got ") + describeKind(item)));
            ok = false;
            continue;
          }
          list.push_back(item.Scalar());
        }
      }
      if (ok) out = std::move(list);
      return ok;
    }
    default:
      break;
  }
  if (!value.IsScalar()) {
    problems.push_back(
        problemAt(file, value.Mark(), path,
                  std::string("expected ") + typeName(spec.type) + ", got " + describeKind(value)));
    return false;
  }
  Converted converted = convertScalar(spec, value.Scalar());
  if (auto* error = std::get_if<std::string>(&converted)) {
    problems.push_back(problemAt(file, value.Mark(), path, std::move(*error)));
    return false;
  }
  out = std::move(std::get<ConfigValue>(converted));
  return true;
}

}  // namespace

std::string Problem::toString() const {
  std::string out = file;
  if (line > 0) {
    out += ':' + std::to_string(line);
    if (column > 0) out += ':' + std::to_string(column);
  }
  out += ": ";
  if (!path.empty()) out += path + ": ";
  out += message;
  return out;
}

namespace {

std::string joinProblems(const std::vector<Problem>& problems) {
  std::string out;
  for (const Problem& problem : problems) {
    if (!out.empty()) out += '\n';
    out += problem.toString();
  }
  return out;
}

}  // namespace

ConfigErrors::ConfigErrors(std::vector<Problem> problems)
    : std::runtime_error(joinProblems(problems)), problems_(std::move(problems)) {}

Config validateBlock(const YAML::Node& node, std::span<const OptionSpec> options,
                     std::span<const std::string_view> engineKeys, const std::string& file,
                     const std::string& path, std::vector<Problem>& problems) {
  const YAML::Mark blockMark = node.IsDefined() ? node.Mark() : YAML::Mark::null_mark();
  std::string where = file;
  if (detail::lineOf(blockMark) > 0) where += ':' + std::to_string(detail::lineOf(blockMark));

  std::map<std::string, ConfigValue> values;
  std::vector<std::string> explicitlySet;
  std::set<std::string, std::less<>> present;  // written, valid or not

  const bool isMap = node.IsDefined() && node.IsMap();
  if (!isAbsent(node) && !isMap) {
    problems.push_back(
        problemAt(file, blockMark, path,
                  std::string("expected a mapping of options, got ") + describeKind(node)));
  }

  if (isMap) {
    std::vector<std::string_view> validKeys(engineKeys.begin(), engineKeys.end());
    for (const OptionSpec& spec : options) validKeys.emplace_back(spec.name);
    for (const auto& entry : node) {
      if (!entry.first.IsScalar()) {
        problems.push_back(
            problemAt(file, entry.first.Mark(), path, "keys must be plain text values"));
        continue;
      }
      const std::string key = entry.first.Scalar();
      if (!present.insert(key).second) {
        problems.push_back(
            problemAt(file, entry.first.Mark(), path, "duplicate key '" + key + "'"));
        continue;
      }
      if (std::find(engineKeys.begin(), engineKeys.end(), key) != engineKeys.end()) continue;
      const auto spec = std::find_if(options.begin(), options.end(),
                                     [&](const OptionSpec& s) { return key == s.name; });
      if (spec == options.end()) {
        problems.push_back(
            problemAt(file, entry.first.Mark(), path, detail::unknownKeyMessage(key, validKeys)));
        continue;
      }
      ConfigValue value;
      if (convertNode(*spec, entry.second, file, childPath(path, key), problems, value)) {
        values.emplace(key, std::move(value));
        explicitlySet.push_back(key);
      }
    }
  }

  for (const OptionSpec& spec : options) {
    if (values.count(spec.name) != 0) continue;
    if (spec.isRequired || spec.defaultOf == nullptr) {
      // A required key written with a bad value was already reported; a
      // block that is not a mapping at all was too.
      if (present.count(spec.name) == 0 && (isMap || isAbsent(node))) {
        std::string message = "missing required key '" + std::string(spec.name) + "'";
        if (spec.description != nullptr && *spec.description != '\0') {
          message += std::string(" (") + spec.description + ")";
        }
        problems.push_back(problemAt(file, blockMark, path, std::move(message)));
      }
      continue;
    }
    values.emplace(spec.name, spec.defaultOf(spec));
  }
  return Config(std::move(values), std::move(explicitlySet), std::move(where));
}

}  // namespace commsvc::config
