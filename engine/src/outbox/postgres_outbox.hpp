#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "commsvc/database.hpp"
#include "commsvc/event.hpp"
#include "commsvc/outbox.hpp"

namespace commsvc::outbox {

class OutboxRelay;

/// Record headers as lowercase hex of a length-prefixed byte string (the
/// form the `headers` column is written and read in). Empty for no headers.
std::string encodeHeaders(const std::vector<Header>& headers);

/// The inverse of encodeHeaders. Throws std::invalid_argument on malformed input.
std::vector<Header> decodeHeaders(std::string_view hex);

/// `ids` as a PostgreSQL array literal ("{1,2,3}") for `id = ANY($1::bigint[])`.
template <typename Int>
std::string bigintArray(const std::vector<Int>& ids) {
  std::string out = "{";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(ids[i]);
  }
  out += '}';
  return out;
}

/// How often awaitPublished looks at the table when no local mark wakes it.
inline constexpr std::chrono::milliseconds kAwaitPoll{20};

/// The Outbox handed to plugins for one publisher: add() writes the event
/// as a row of commsvc_outbox for that publisher, in the caller's
/// transaction, and wakes the relay once that transaction commits. Thread-safe
/// (keeps no state besides its names).
class PostgresOutbox final : public Outbox {
 public:
  /// Events added go to the publisher named `publisher` (its name in
  /// pipelines.yaml). `relay` (optional) is woken when the transaction that
  /// added them commits (database::afterCommit); `database`
  /// (optional) serves awaitPublished. Both must outlive this.
  explicit PostgresOutbox(std::string publisher, OutboxRelay* relay = nullptr,
                          Database* database = nullptr);

  /// Inserts `event` (parameterised SQL) and returns the row id. An empty
  /// id, version or timestamp is filled in (new uuid4, "1.0", now); the id
  /// is stored lowercase. The envelope is built here, once. Throws what the
  /// insert throws (an id that is no uuid, a payload that is no JSON).
  std::int64_t add(pqxx::work& tx, const Event& event) override;
  /// Adds `events` in order with one INSERT (ids ascending in that order).
  std::vector<std::int64_t> addAll(pqxx::work& tx, const std::vector<Event>& events) override;

  /// Polls the table (every kAwaitPoll, sooner when the local relay writes
  /// marks) until no row of `ids` is left unpublished or `timeout` passes.
  /// False without a database, on timeout, or while the database is away.
  bool awaitPublished(const std::vector<std::int64_t>& ids,
                      std::chrono::milliseconds timeout) override;

  /// The publisher this outbox feeds.
  const std::string& publisher() const { return publisher_; }

 private:
  // Wakes relay_ (if any) once the current pool transaction commits.
  void wakeRelayAfterCommit();

  std::string publisher_;
  OutboxRelay* relay_;
  Database* database_;
};

}  // namespace commsvc::outbox
