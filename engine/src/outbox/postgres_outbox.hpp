#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "commsvc/event.hpp"
#include "commsvc/outbox.hpp"

namespace commsvc::outbox {

class OutboxRelay;

/// Record headers as lowercase hex of a length-prefixed byte string (the
/// form the `headers` column is written and read in). Empty for no headers.
std::string encodeHeaders(const std::vector<Header>& headers);

/// The inverse of encodeHeaders. Throws std::invalid_argument on malformed input.
std::vector<Header> decodeHeaders(std::string_view hex);

/// The Outbox handed to handlers whose entry names a publisher: add()
/// writes the event as a row of commsvc_outbox for that publisher, in the
/// caller's transaction, and hints the relay that work is coming.
/// Thread-safe (keeps no state besides its names).
class PostgresOutbox final : public Outbox {
 public:
  /// Events added go to the publisher named `publisher` (its name in
  /// pipelines.yaml). `relay` (optional) is woken on add(); it must outlive this.
  explicit PostgresOutbox(std::string publisher, OutboxRelay* relay = nullptr);

  /// Inserts `event` (parameterised SQL). An empty id, version or timestamp
  /// is filled in (new uuid4, "1.0", now); the id is stored lowercase. The
  /// envelope is built here, once. Throws what the insert throws (an id that
  /// is no uuid, a payload that is no JSON).
  void add(pqxx::work& tx, const Event& event) override;

  /// The publisher this outbox feeds.
  const std::string& publisher() const { return publisher_; }

 private:
  std::string publisher_;
  OutboxRelay* relay_;
};

}  // namespace commsvc::outbox
