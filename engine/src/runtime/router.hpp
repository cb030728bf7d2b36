#pragma once

#include <string>
#include <string_view>
#include <unordered_map>

#include "commsvc/handler.hpp"

namespace commsvc::runtime {

/// Maps event types to handlers. Built once before consumption starts and
/// read-only afterwards, so lookups take no lock.
class Router {
 public:
  /// Routes `eventType` to `handler` (not owned). Throws std::invalid_argument
  /// when the type already has a handler.
  void add(std::string eventType, Handler& handler);
  /// The handler for `eventType`, or nullptr when the type is not handled.
  Handler* find(std::string_view eventType) const;
  /// Number of routed event types.
  std::size_t size() const { return routes_.size(); }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, Handler*, Hash, std::equal_to<>> routes_;
};

}  // namespace commsvc::runtime
