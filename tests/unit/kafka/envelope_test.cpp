#include "kafka/envelope.hpp"

#include <gtest/gtest.h>

#include <string>

namespace commsvc::kafka {
namespace {

struct Parsed {
  EnvelopeError error;
  Event event;
  std::string detail;
  Record record;  // what is left of the input record
};

Parsed parse(std::string value, std::string key = "42") {
  Parsed p;
  p.record.topic = "communication-events";
  p.record.partition = 2;
  p.record.offset = 17;
  p.record.key = std::move(key);
  p.record.value = std::move(value);
  p.record.headers = {{"trace", "abc"}};
  p.error = parseEnvelope(p.record, p.event, p.detail);
  return p;
}

TEST(EnvelopeTest, ParsesCamelCase) {
  auto p = parse(
      R"({"eventId":"6f1c2b9e-8f5e-4b7a-9c1d-2e3f4a5b6c7d","eventType":"communication.send_email",)"
      R"("version":"1.0","timestamp":"2026-11-26T14:03:07.123456+00:00",)"
      R"("producer":"matching-service","payload":{"email_id": 42, "x": [1, {"y": null}]}})");
  ASSERT_EQ(p.error, EnvelopeError::None) << p.detail;
  EXPECT_EQ(p.event.id, "6f1c2b9e-8f5e-4b7a-9c1d-2e3f4a5b6c7d");
  EXPECT_EQ(p.event.type, "communication.send_email");
  EXPECT_EQ(p.event.version, "1.0");
  EXPECT_EQ(p.event.timestamp, "2026-11-26T14:03:07.123456+00:00");
  EXPECT_EQ(p.event.producer, "matching-service");
  EXPECT_EQ(p.event.payload, R"({"email_id": 42, "x": [1, {"y": null}]})");
  EXPECT_EQ(p.event.key, "42");
  EXPECT_EQ(p.event.topic, "communication-events");
  EXPECT_EQ(p.event.partition, 2);
  EXPECT_EQ(p.event.offset, 17);
  ASSERT_EQ(p.event.headers.size(), 1u);
  EXPECT_EQ(p.event.headers[0], (Header{"trace", "abc"}));
}

TEST(EnvelopeTest, AcceptsSnakeCaseAndDefaultsVersion) {
  auto p = parse(R"({"event_id":"id-1","event_type":"communication.schedule_call",)"
                 R"("payload":{"therapist_id":7}})");
  ASSERT_EQ(p.error, EnvelopeError::None) << p.detail;
  EXPECT_EQ(p.event.id, "id-1");
  EXPECT_EQ(p.event.type, "communication.schedule_call");
  EXPECT_EQ(p.event.version, "1.0");
  EXPECT_EQ(p.event.timestamp, "");
  EXPECT_EQ(p.event.payload, R"({"therapist_id":7})");
}

TEST(EnvelopeTest, RejectsNotJsonAndKeepsTheRecord) {
  for (const char* text :
       {"", "not json", "{\"eventType\":\"x\",\"payload\":{}", "[1,2]", "\"s\"",
        "{\"eventType\":\"x\",\"payload\":{\"a\":1 2}}",
        "{\"eventType\":\"x\",\"payload\":{}} trailing", "{\"eventType\":\"x\",\"payload\":{}}}"}) {
    auto p = parse(text);
    EXPECT_EQ(p.error, EnvelopeError::NotJson) << text;
    EXPECT_EQ(envelopeErrorName(p.error), "not_json");
    EXPECT_FALSE(p.detail.empty());
    EXPECT_EQ(p.record.value, text);
    EXPECT_EQ(p.record.key, "42");
    EXPECT_EQ(p.record.headers.size(), 1u);
  }
}

TEST(EnvelopeTest, RejectsMissingEventType) {
  for (const char* text :
       {R"({"payload":{}})", R"({"eventType":5,"payload":{}})",
        R"({"eventType":null,"payload":{}})", R"({"eventType":"","payload":{}})"}) {
    auto p = parse(text);
    EXPECT_EQ(p.error, EnvelopeError::MissingEventType) << text;
    EXPECT_EQ(envelopeErrorName(p.error), "missing_event_type");
  }
}

TEST(EnvelopeTest, RejectsPayloadNotAnObject) {
  for (const char* text :
       {R"({"eventType":"a.b","payload":[1,2]})", R"({"eventType":"a.b"})",
        R"({"eventType":"a.b","payload":"{}"})", R"({"eventType":"a.b","payload":null})"}) {
    auto p = parse(text);
    EXPECT_EQ(p.error, EnvelopeError::PayloadNotObject) << text;
    EXPECT_EQ(envelopeErrorName(p.error), "payload_not_object");
  }
}

TEST(EnvelopeTest, RejectsWrongFieldType) {
  for (const char* text : {R"({"eventType":"a.b","eventId":1,"payload":{}})",
                           R"({"eventType":"a.b","version":1.0,"payload":{}})",
                           R"({"eventType":"a.b","timestamp":{},"payload":{}})",
                           R"({"eventType":"a.b","producer":true,"payload":{}})"}) {
    auto p = parse(text);
    EXPECT_EQ(p.error, EnvelopeError::WrongFieldType) << text;
    EXPECT_EQ(envelopeErrorName(p.error), "wrong_field_type");
    EXPECT_NE(p.detail.find("must be a string"), std::string::npos);
  }
}

TEST(EnvelopeTest, HandlesUnicode) {
  auto p = parse(
      "{\"eventType\":\"gr\\u00fc\\u00df.e\",\"producer\":\"s\xc3\xbc\",\"payload\":"
      "{\"betreff\":\"Gr\xc3\xbc\xc3\x9f"
      "e \\ud83d\\ude00 \xf0\x9f\x98\x80\"}}");
  ASSERT_EQ(p.error, EnvelopeError::None) << p.detail;
  EXPECT_EQ(p.event.type, "gr\xc3\xbc\xc3\x9f.e");
  EXPECT_EQ(p.event.producer, "s\xc3\xbc");
  // The payload is kept verbatim, escapes included.
  EXPECT_EQ(p.event.payload,
            "{\"betreff\":\"Gr\xc3\xbc\xc3\x9f"
            "e \\ud83d\\ude00 \xf0\x9f\x98\x80\"}");
  // Invalid UTF-8 is not JSON.
  EXPECT_EQ(parse("{\"eventType\":\"x\",\"payload\":{\"a\":\"\xff\"}}").error,
            EnvelopeError::NotJson);
}

TEST(EnvelopeTest, HandlesBigPayloadWithoutPadding) {
  std::string body(4 << 20, 'x');
  std::string text = R"({"eventType":"big","payload":{"blob":")" + body + R"("}})";
  text.shrink_to_fit();  // no spare capacity: the parser must make room itself
  auto p = parse(text);
  ASSERT_EQ(p.error, EnvelopeError::None) << p.detail;
  EXPECT_EQ(p.event.payload.size(), body.size() + 11);  // {"blob":"…"}
  // A small one afterwards on the same (thread-local) parser still works.
  EXPECT_EQ(parse(R"({"eventType":"a","payload":{}})").error, EnvelopeError::None);
}

TEST(EnvelopeTest, ErrorNames) {
  EXPECT_EQ(envelopeErrorName(EnvelopeError::None), "none");
  EXPECT_EQ(envelopeErrorName(EnvelopeError::NotJson), "not_json");
}

}  // namespace
}  // namespace commsvc::kafka
