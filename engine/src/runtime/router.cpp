#include "runtime/router.hpp"

#include <stdexcept>

namespace commsvc::runtime {

void Router::add(std::string eventType, Handler& handler) {
  const auto [it, inserted] = routes_.emplace(std::move(eventType), &handler);
  if (!inserted) throw std::invalid_argument("event type '" + it->first + "' routed twice");
}

Handler* Router::find(std::string_view eventType) const {
  const auto it = routes_.find(eventType);
  return it == routes_.end() ? nullptr : it->second;
}

}  // namespace commsvc::runtime
