#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace commsvc {

/// One header of a Kafka record: name and raw value bytes.
using Header = std::pair<std::string, std::string>;

/// An event of the platform's envelope (SPEC §1). It owns all its bytes and
/// never points into librdkafka memory, so it can be moved between threads.
struct Event {
  std::string id;               ///< eventId (uuid4); empty when the producer gave none.
  std::string type;             ///< eventType, e.g. "communication.send_email".
  std::string version;          ///< envelope version, "1.0" when absent.
  std::string timestamp;        ///< ISO 8601 timestamp of the envelope, as sent.
  std::string producer;         ///< name of the producing service.
  std::string key;              ///< record key: the decimal id of the entity.
  std::string payload;          ///< the payload object as raw JSON text ("{...}").
  std::vector<Header> headers;  ///< record headers, in record order.

  std::string topic;       ///< source topic; empty for events not from Kafka.
  int32_t partition = -1;  ///< source partition, -1 when not from Kafka.
  int64_t offset = -1;     ///< source offset, -1 when not from Kafka.
};

// JSON escaping, uuid4 and the clock live in commsvc/json.hpp,
// commsvc/uuid.hpp and commsvc/clock.hpp.

/// Builds a new outgoing event with a fresh uuid4 id (newUuid4), the current
/// UTC time (nowIso8601), version "1.0" and the given producer name. `payload` must be a JSON
/// object.
Event makeEvent(std::string type, std::string key, std::string payload,
                std::string producer = "communication-service");

/// Serialises `event` as the wire envelope of SPEC §1 (camelCase keys).
/// The payload is embedded verbatim, so it must be valid JSON.
std::string toEnvelopeJson(const Event& event);

}  // namespace commsvc
