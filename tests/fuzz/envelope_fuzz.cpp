// Fuzz target: the Kafka envelope parser (engine/src/kafka/envelope.hpp),
// on every record value the consumer reads. The input is the record value.

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_support.hpp"
#include "kafka/envelope.hpp"

namespace {

using commsvc::fuzz::fail;

void parseOnce(std::string value, bool padded) {
  commsvc::kafka::Record record;
  record.topic = "communication-events";
  record.partition = 3;
  record.offset = 99;
  record.key = "42";
  record.headers = {{"trace", "abc"}};
  if (padded) {
    // As KafkaSource hands it over: spare capacity for simdjson's padding.
    record.value.reserve(value.size() + commsvc::kafka::kValuePadding);
    record.value.assign(value);
  } else {
    record.value = std::move(value);
    record.value.shrink_to_fit();
  }
  const std::string original = record.value;
  commsvc::Event event;
  std::string detail;
  const commsvc::kafka::EnvelopeError error = commsvc::kafka::parseEnvelope(record, event, detail);
  if (error != commsvc::kafka::EnvelopeError::None) {
    if (record.value != original) fail("envelope", "record value changed on failure");
    if (detail.empty()) fail("envelope", "failure without a detail");
    if (commsvc::kafka::envelopeErrorName(error) == "unknown") fail("envelope", "unnamed error");
    return;
  }
  if (event.type.empty()) fail("envelope", "accepted an empty event type");
  // simdjson's raw_json() keeps the white space after the object: harmless.
  const std::size_t last = event.payload.find_last_not_of(" \t\r\n");
  if (event.payload.size() < 2 || event.payload.front() != '{' || last == std::string::npos ||
      event.payload[last] != '}') {
    fail("envelope", "payload is not an object: " + event.payload);
  }
  if (event.key != "42" || event.partition != 3 || event.offset != 99 ||
      event.headers.size() != 1) {
    fail("envelope", "record position not moved into the event");
  }
  // The accepted payload must itself parse as the payload of an envelope.
  commsvc::kafka::Record again;
  again.value = R"({"eventType":"x","payload":)" + event.payload + "}";
  commsvc::Event reparsed;
  if (commsvc::kafka::parseEnvelope(again, reparsed, detail) !=
      commsvc::kafka::EnvelopeError::None) {
    fail("envelope", "accepted payload does not parse again: " + detail);
  }
  if (reparsed.payload != event.payload) fail("envelope", "payload changed on a second parse");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string value(commsvc::fuzz::asText(data, size));
  parseOnce(value, /*padded=*/true);
  parseOnce(value, /*padded=*/false);
  return 0;
}
