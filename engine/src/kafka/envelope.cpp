#include "kafka/envelope.hpp"

#include <simdjson.h>

namespace commsvc::kafka {
namespace {

static_assert(kValuePadding >= simdjson::SIMDJSON_PADDING,
              "KafkaSource must reserve at least simdjson's padding");

namespace od = simdjson::ondemand;

/// Reads a string member; WrongFieldType when it is not a string.
EnvelopeError readString(od::value value, std::string_view name, std::string_view& out,
                         std::string& detail) {
  if (value.get_string().get(out) != simdjson::SUCCESS) {
    detail = "field '" + std::string(name) + "' must be a string";
    return EnvelopeError::WrongFieldType;
  }
  return EnvelopeError::None;
}

constexpr int kMaxPayloadDepth = 64;

/// Walks a value completely so that syntax errors inside the payload (which
/// simdjson's lazy parsing would otherwise skip over) are found.
simdjson::error_code validate(od::value value, int depth) {
  if (depth > kMaxPayloadDepth) return simdjson::DEPTH_ERROR;
  od::json_type type;
  if (auto error = value.type().get(type)) return error;
  switch (type) {
    case od::json_type::object: {
      od::object object;
      if (auto error = value.get_object().get(object)) return error;
      for (auto field : object) {
        od::raw_json_string key;
        if (auto error = field.key().get(key)) return error;
        od::value member;
        if (auto error = field.value().get(member)) return error;
        if (auto error = validate(member, depth + 1)) return error;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::array: {
      od::array array;
      if (auto error = value.get_array().get(array)) return error;
      for (auto element : array) {
        od::value member;
        if (auto error = element.get(member)) return error;
        if (auto error = validate(member, depth + 1)) return error;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::string: {
      std::string_view text;
      return value.get_string().get(text);
    }
    case od::json_type::number: {
      od::number number;
      return value.get_number().get(number);
    }
    case od::json_type::boolean: {
      bool flag;
      return value.get_bool().get(flag);
    }
    case od::json_type::null: {
      bool isNull;
      if (auto error = value.is_null().get(isNull)) return error;
      return isNull ? simdjson::SUCCESS : simdjson::N_ATOM_ERROR;
    }
  }
  return simdjson::TAPE_ERROR;
}

/// Checks that `doc` (over `text`) is one complete, syntactically valid value
/// with nothing but whitespace after it. Leaves `doc` consumed.
simdjson::error_code checkWholeDocument(od::document& doc, std::string_view text) {
  std::string_view whole;
  if (auto error = doc.raw_json().get(whole)) return error;
  const std::size_t end = static_cast<std::size_t>(whole.data() - text.data()) + whole.size();
  for (std::size_t i = end; i < text.size(); ++i) {
    const char c = text[i];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return simdjson::TRAILING_CONTENT;
  }
  doc.rewind();
  od::value root;
  if (auto error = doc.get_value().get(root)) return error;
  return validate(root, 0);
}

EnvelopeError notJson(std::string& detail, simdjson::error_code error) {
  detail = std::string("not a JSON object: ") + simdjson::error_message(error);
  return EnvelopeError::NotJson;
}

}  // namespace

std::string_view envelopeErrorName(EnvelopeError error) {
  switch (error) {
    case EnvelopeError::None:
      return "none";
    case EnvelopeError::NotJson:
      return "not_json";
    case EnvelopeError::MissingEventType:
      return "missing_event_type";
    case EnvelopeError::PayloadNotObject:
      return "payload_not_object";
    case EnvelopeError::WrongFieldType:
      return "wrong_field_type";
  }
  return "unknown";
}

EnvelopeError parseEnvelope(Record& record, Event& event, std::string& detail) {
  thread_local od::parser parser;

  std::string& value = record.value;
  if (value.capacity() - value.size() < simdjson::SIMDJSON_PADDING) {
    // Not from KafkaSource (which reserves the padding): make room once.
    value.reserve(value.size() + simdjson::SIMDJSON_PADDING);
  }
  simdjson::padded_string_view input(value.data(), value.size(), value.capacity());

  od::document doc;
  if (auto error = parser.iterate(input).get(doc)) return notJson(detail, error);
  // simdjson parses lazily: first check the whole text is exactly one
  // well-formed value, then rewind and extract the fields.
  if (auto error = checkWholeDocument(doc, value)) return notJson(detail, error);
  doc.rewind();
  od::object root;
  if (auto error = doc.get_object().get(root)) return notJson(detail, error);

  std::string_view id, type, version, timestamp, producer, payload;
  bool hasType = false, typeIsString = false, hasPayload = false;
  for (auto field : root) {
    std::string_view key;
    if (auto error = field.unescaped_key().get(key)) return notJson(detail, error);
    od::value member;
    if (auto error = field.value().get(member)) return notJson(detail, error);
    EnvelopeError result = EnvelopeError::None;
    if (key == "payload") {
      hasPayload = true;
      od::object object;
      if (member.get_object().get(object) != simdjson::SUCCESS) {
        detail = "payload must be a JSON object";
        return EnvelopeError::PayloadNotObject;
      }
      if (auto error = object.raw_json().get(payload)) return notJson(detail, error);
    } else if (key == "eventType" || key == "event_type") {
      hasType = true;
      typeIsString = member.get_string().get(type) == simdjson::SUCCESS;
    } else if (key == "eventId" || key == "event_id") {
      result = readString(member, key, id, detail);
    } else if (key == "version") {
      result = readString(member, key, version, detail);
    } else if (key == "timestamp") {
      result = readString(member, key, timestamp, detail);
    } else if (key == "producer") {
      result = readString(member, key, producer, detail);
    }
    // Unknown members are skipped by the iteration itself.
    if (result != EnvelopeError::None) return result;
  }
  if (!hasType || !typeIsString || type.empty()) {
    detail = hasType ? "eventType must be a non-empty string" : "no eventType / event_type";
    return EnvelopeError::MissingEventType;
  }
  if (!hasPayload) {
    detail = "payload is missing";
    return EnvelopeError::PayloadNotObject;
  }

  event.id.assign(id);
  event.type.assign(type);
  if (version.empty()) {
    event.version.assign("1.0");
  } else {
    event.version.assign(version);
  }
  event.timestamp.assign(timestamp);
  event.producer.assign(producer);
  event.payload.assign(payload);
  event.key = std::move(record.key);
  event.headers = std::move(record.headers);
  event.topic = std::move(record.topic);
  event.partition = record.partition;
  event.offset = record.offset;
  detail.clear();
  return EnvelopeError::None;
}

}  // namespace commsvc::kafka
