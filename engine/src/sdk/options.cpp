#include "commsvc/options.hpp"

#include <set>
#include <type_traits>

namespace commsvc {
namespace {

bool isPlainKey(std::string_view name) {
  if (name.empty()) return false;
  for (const char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

std::string quoted(const std::string& text) { return "\"" + text + "\""; }

}  // namespace

std::vector<std::string> optionDeclarationProblems(std::span<const OptionSpec> options) {
  std::vector<std::string> problems;
  std::set<std::string> seen;
  for (const OptionSpec& spec : options) {
    const std::string name = spec.name != nullptr ? spec.name : "";
    const std::string where = "option '" + name + "': ";
    if (!isPlainKey(name)) {
      problems.push_back(where + "a name is lower-case letters, digits and '_'");
    }
    if (!seen.insert(name).second) problems.push_back(where + "declared twice");
    if (spec.assign == nullptr || spec.defaultOf == nullptr) {
      problems.push_back(where + "not bound to a settings field (declare it with Option::field)");
      continue;
    }
    if (spec.isEnum && spec.choiceCount == 0) {
      problems.push_back(where + "an enum field needs choices()");
    }
    if (spec.choiceCount != 0 && spec.type != OptionType::String) {
      problems.push_back(where + "choices() apply to text and enum fields only");
    }
    if (spec.minimum > spec.maximum) problems.push_back(where + "range() is empty");
    if (spec.isRequired) continue;
    const ConfigValue value = spec.defaultOf(spec);
    if (spec.choiceCount != 0) {
      const auto* text = std::get_if<std::string>(&value);
      if (text == nullptr || spec.findChoice(std::string_view(*text)) == nullptr) {
        problems.push_back(where + "the settings struct's default is none of its choices");
      }
    }
    if (const auto* number = std::get_if<std::int64_t>(&value);
        number != nullptr && (*number < spec.minimum || *number > spec.maximum)) {
      problems.push_back(where + "the settings struct's default " + std::to_string(*number) +
                         " is outside range() [" + std::to_string(spec.minimum) + ", " +
                         std::to_string(spec.maximum) + "]");
    }
  }
  return problems;
}

std::string describeDefault(const OptionSpec& spec) {
  if (spec.isRequired || spec.defaultOf == nullptr) return "(required)";
  if (spec.isSecret) return "(secret)";
  return std::visit(
      [](const auto& value) -> std::string {
        using T = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return quoted(value);
        } else if constexpr (std::is_same_v<T, bool>) {
          return value ? "true" : "false";
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          return std::to_string(value);
        } else if constexpr (std::is_same_v<T, double>) {
          std::string text = std::to_string(value);
          while (text.size() > 1 && text.back() == '0') text.pop_back();
          if (!text.empty() && text.back() == '.') text.pop_back();
          return text;
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          std::string out = "[";
          for (const auto& item : value) out += (out.size() > 1 ? ", " : "") + item;
          return out + "]";
        } else {
          std::string out = "{";
          for (const auto& [k, v] : value) out += (out.size() > 1 ? ", " : "") + k + ": " + v;
          return out + "}";
        }
      },
      spec.defaultOf(spec));
}

}  // namespace commsvc
