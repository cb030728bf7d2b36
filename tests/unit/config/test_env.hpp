#pragma once

#include <map>
#include <string>

#include "config/pipeline_config.hpp"

namespace commsvc::config::testing {

/// An EnvLookup over a fixed map, so tests never depend on the real environment.
inline EnvLookup fakeEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    const auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

}  // namespace commsvc::config::testing
