#include "commsvc/config.hpp"

#include <algorithm>

namespace commsvc {
namespace {

template <typename T>
const T& as(const ConfigValue& value, std::string_view name, const char* typeName) {
  if (const T* v = std::get_if<T>(&value)) return *v;
  throw std::logic_error("config option '" + std::string(name) + "' is not of type " + typeName);
}

}  // namespace

Config::Config(std::map<std::string, ConfigValue> values, std::vector<std::string> explicitlySet,
               std::string where)
    : explicitlySet_(std::move(explicitlySet)), where_(std::move(where)) {
  for (auto& [k, v] : values) values_.emplace(k, std::move(v));
}

const ConfigValue& Config::find(std::string_view name) const {
  auto it = values_.find(name);
  if (it == values_.end()) {
    throw std::logic_error("config option '" + std::string(name) + "' was not declared");
  }
  return it->second;
}

const std::string& Config::getString(std::string_view name) const {
  return as<std::string>(find(name), name, "string");
}
std::int64_t Config::getInt(std::string_view name) const {
  return as<std::int64_t>(find(name), name, "integer");
}
bool Config::getBool(std::string_view name) const { return as<bool>(find(name), name, "boolean"); }
double Config::getNumber(std::string_view name) const {
  return as<double>(find(name), name, "number");
}
const std::map<std::string, std::string>& Config::getMap(std::string_view name) const {
  return as<std::map<std::string, std::string>>(find(name), name, "map");
}
const std::vector<std::string>& Config::getList(std::string_view name) const {
  return as<std::vector<std::string>>(find(name), name, "list");
}
void Config::fill(void* settings, std::span<const OptionSpec> options) const {
  for (const OptionSpec& spec : options) {
    if (spec.assign == nullptr) continue;
    const auto it = values_.find(std::string_view(spec.name));
    // A required option left out never reaches a factory (validation
    // refuses the block); nothing to write then.
    if (it != values_.end()) spec.assign(spec, settings, it->second);
  }
}

bool Config::isSet(std::string_view name) const {
  return std::find(explicitlySet_.begin(), explicitlySet_.end(), name) != explicitlySet_.end();
}

}  // namespace commsvc
