#pragma once

#include <pqxx/pqxx>

#include "commsvc/event.hpp"

namespace commsvc {

/// The transactional outbox (include with commsvc/database.hpp). Events a
/// state change causes are added in the same transaction as the change; the
/// engine's relay publishes them after commit through the handler's
/// publisher, in order per key, keeping each event's id across retries, and
/// keeps them while the publisher is unreachable. So an event is published
/// if and only if its transaction committed.
class Outbox {
 public:
  virtual ~Outbox() = default;

  /// Adds `event` (built with makeEvent) to the outbox inside `tx`.
  /// Throws what the insert throws (the caller's transaction then rolls back).
  virtual void add(pqxx::work& tx, const Event& event) = 0;
};

}  // namespace commsvc
