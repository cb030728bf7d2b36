#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "commsvc/options.hpp"

namespace commsvc {

/// Thrown by a plugin factory (or the engine) when a configuration is valid
/// in form but cannot be used; the engine adds file and line of the block.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

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
  /// Writes every option of `options` into `settings` (a struct of the type
  /// the options were declared for) through their bindings.
  void fill(void* settings, std::span<const OptionSpec> options) const;
  /// The settings struct `options` describe, filled from this block.
  template <typename Settings, std::size_t N>
  Settings settings(const OptionList<Settings, N>& options) const {
    Settings out{};
    fill(&out, options.span());
    return out;
  }
  /// "file:line" of the block, for error messages.
  const std::string& where() const { return where_; }

 private:
  const ConfigValue& find(std::string_view name) const;

  std::map<std::string, ConfigValue, std::less<>> values_;
  std::vector<std::string> explicitlySet_;
  std::string where_;
};

}  // namespace commsvc
