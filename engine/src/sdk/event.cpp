#include "commsvc/event.hpp"

#include "commsvc/clock.hpp"
#include "commsvc/json.hpp"
#include "commsvc/uuid.hpp"

namespace commsvc {

Event makeEvent(std::string type, std::string key, std::string payload, std::string producer) {
  Event event;
  event.id = newUuid4();
  event.type = std::move(type);
  event.version = "1.0";
  event.timestamp = nowIso8601();
  event.producer = std::move(producer);
  event.key = std::move(key);
  event.payload = std::move(payload);
  return event;
}

std::string toEnvelopeJson(const Event& event) {
  std::string out;
  out.reserve(event.payload.size() + event.type.size() + 160);
  out += "{\"eventId\":";
  appendJsonString(out, event.id);
  out += ",\"eventType\":";
  appendJsonString(out, event.type);
  out += ",\"version\":";
  appendJsonString(out, event.version.empty() ? std::string_view("1.0") : event.version);
  out += ",\"timestamp\":";
  appendJsonString(out, event.timestamp);
  out += ",\"producer\":";
  appendJsonString(out, event.producer);
  out += ",\"payload\":";
  out += event.payload.empty() ? std::string_view("{}") : std::string_view(event.payload);
  out += '}';
  return out;
}

}  // namespace commsvc
