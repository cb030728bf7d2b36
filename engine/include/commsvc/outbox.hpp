#pragma once

#include <chrono>
#include <cstdint>
#include <pqxx/pqxx>
#include <vector>

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

  /// Adds `event` (built with makeEvent) to the outbox inside `tx` and
  /// returns the entry's id (for awaitPublished). Throws what the insert
  /// throws (the caller's transaction then rolls back).
  virtual std::int64_t add(pqxx::work& tx, const Event& event) = 0;

  /// add() for several events in order, in one statement where the outbox
  /// can; returns their entry ids in the same order. The default adds them
  /// one by one.
  virtual std::vector<std::int64_t> addAll(pqxx::work& tx, const std::vector<Event>& events) {
    std::vector<std::int64_t> ids;
    ids.reserve(events.size());
    for (const Event& event : events) ids.push_back(add(tx, event));
    return ids;
  }

  /// After the transaction that added them committed: waits until the
  /// entries `ids` are published (or dead-lettered) by any relay, at most
  /// `timeout`. True when none is left pending; false on timeout (they are
  /// still published later, in the background).
  virtual bool awaitPublished(const std::vector<std::int64_t>& ids,
                              std::chrono::milliseconds timeout) = 0;
};

}  // namespace commsvc
