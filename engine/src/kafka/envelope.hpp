#pragma once

#include <string>
#include <string_view>

#include "commsvc/event.hpp"
#include "kafka/record.hpp"

namespace commsvc::kafka {

/// Why a record is not a valid envelope. The names are the values of the
/// dead-letter `x-dlq-reason` header.
enum class EnvelopeError {
  None,
  NotJson,           ///< "not_json": not parseable as a JSON object
  MissingEventType,  ///< "missing_event_type": no eventType / event_type string
  PayloadNotObject,  ///< "payload_not_object": payload absent or not an object
  WrongFieldType,    ///< "wrong_field_type": eventId/version/timestamp/producer not a string
};

/// The header value naming `error` ("not_json", ...).
std::string_view envelopeErrorName(EnvelopeError error);

/// Parses the value of `record` as an envelope (SPEC §1: camelCase keys,
/// snake_case event_id/event_type accepted) into `event`, moving the record's
/// key, headers and position into it. Returns None on success; otherwise
/// the reason, with a human-readable `detail`. `record.value` is left intact
/// on failure so it can be dead-lettered. Uses simdjson; thread-compatible
/// (one parser per thread internally).
EnvelopeError parseEnvelope(Record& record, Event& event, std::string& detail);

}  // namespace commsvc::kafka
