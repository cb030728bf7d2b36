#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace commsvc {

/// The type of a plugin option as written in pipelines.yaml.
enum class OptionType {
  String,      ///< a scalar, kept as text
  Integer,     ///< a whole number (64-bit), range-checked with min/max
  Boolean,     ///< true/false (also yes/no, on/off)
  Number,      ///< a floating-point number
  StringMap,   ///< a mapping of scalar keys to scalar values
  StringList,  ///< a sequence of scalars
};

/// Declares one option of a plugin, once: name, type, default and meaning.
/// The engine checks every YAML block against these declarations before a
/// factory runs and reports every problem with file and line; `plugins`
/// prints them as the plugin's documentation.
struct OptionSpec {
  const char* name;          ///< key in the YAML block
  OptionType type;           ///< expected type
  const char* defaultValue;  ///< text form of the default; nullptr = required
  const char* description;   ///< one line for `commsvc plugins`
  std::int64_t min = std::numeric_limits<std::int64_t>::min();  ///< Integer lower bound
  std::int64_t max = std::numeric_limits<std::int64_t>::max();  ///< Integer upper bound
  const char* choices = nullptr;  ///< String only: allowed values, "a|b|c"
  bool secret = false;            ///< never printed in logs or `plugins`
};

/// Thrown by a plugin factory (or the engine) when a configuration is valid
/// in form but cannot be used; the engine adds file and line of the block.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One configured value after validation.
using ConfigValue = std::variant<std::string, std::int64_t, bool, double,
                                 std::map<std::string, std::string>, std::vector<std::string>>;

/// A validated configuration block: every declared option has a value of
/// its declared type (its default when not written). Reading an option the
/// plugin did not declare, or with the wrong type, is a programming error
/// and throws std::logic_error.
class Config {
 public:
  Config() = default;
  /// Builds a block from validated values; `explicitlySet` names the keys
  /// written in the file; `where` is "file:line" of the block.
  Config(std::map<std::string, ConfigValue> values, std::vector<std::string> explicitlySet,
         std::string where);

  /// The String option `name`.
  const std::string& getString(std::string_view name) const;
  /// The Integer option `name`.
  std::int64_t getInt(std::string_view name) const;
  /// The Boolean option `name`.
  bool getBool(std::string_view name) const;
  /// The Number option `name`.
  double getNumber(std::string_view name) const;
  /// The StringMap option `name`.
  const std::map<std::string, std::string>& getMap(std::string_view name) const;
  /// The StringList option `name`.
  const std::vector<std::string>& getList(std::string_view name) const;
  /// True when `name` was written in the YAML block (not defaulted).
  bool isSet(std::string_view name) const;
  /// "file:line" of the block, for error messages.
  const std::string& where() const { return where_; }

 private:
  const ConfigValue& find(std::string_view name) const;

  std::map<std::string, ConfigValue, std::less<>> values_;
  std::vector<std::string> explicitlySet_;
  std::string where_;
};

}  // namespace commsvc
