#include "commsvc/event.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <unordered_set>

#include "commsvc/clock.hpp"
#include "commsvc/uuid.hpp"

namespace commsvc {
namespace {

/// True when `text` matches `shape` character by character: 'h' = lowercase
/// hex digit, 'd' = decimal digit, anything else = itself.
bool hasShape(const std::string& text, const std::string& shape) {
  if (text.size() != shape.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool digit = c >= '0' && c <= '9';
    switch (shape[i]) {
      case 'h':
        if (!digit && !(c >= 'a' && c <= 'f')) return false;
        break;
      case 'd':
        if (!digit) return false;
        break;
      default:
        if (c != shape[i]) return false;
    }
  }
  return true;
}

/// The two-digit number at `pos` of `text`.
int twoDigits(const std::string& text, std::size_t pos) { return std::stoi(text.substr(pos, 2)); }

TEST(NewUuid4Test, CanonicalFormWithVersionAndVariant) {
  for (int i = 0; i < 1000; ++i) {
    const std::string id = newUuid4();
    ASSERT_EQ(id.size(), 36u) << id;
    ASSERT_TRUE(hasShape(id, "hhhhhhhh-hhhh-4hhh-hhhh-hhhhhhhhhhhh")) << id;
    ASSERT_NE(std::string("89ab").find(id[19]), std::string::npos) << id;  // RFC 4122 variant
  }
}

TEST(NewUuid4Test, UniqueOverTenThousand) {
  std::unordered_set<std::string> seen;
  for (int i = 0; i < 10000; ++i) seen.insert(newUuid4());
  EXPECT_EQ(seen.size(), 10000u);
}

TEST(NowIso8601Test, Format) {
  const std::string now = nowIso8601();
  ASSERT_TRUE(hasShape(now, "dddd-dd-ddTdd:dd:dd.dddddd+00:00")) << now;
  EXPECT_GE(twoDigits(now, 5), 1) << now;  // month
  EXPECT_LE(twoDigits(now, 5), 12) << now;
  EXPECT_GE(twoDigits(now, 8), 1) << now;  // day
  EXPECT_LE(twoDigits(now, 8), 31) << now;
  EXPECT_LE(twoDigits(now, 11), 23) << now;  // hour
  EXPECT_LE(twoDigits(now, 14), 59) << now;  // minute
  EXPECT_LE(twoDigits(now, 17), 60) << now;  // second (leap second)
  EXPECT_GE(now.substr(0, 4), "2024");
}

TEST(NowIso8601Test, DoesNotGoBackwards) {
  const std::string a = nowIso8601();
  const std::string b = nowIso8601();
  EXPECT_LE(a, b);  // same fixed-width format: text order is time order
}

TEST(MakeEventTest, FillsEnvelopeFields) {
  const Event event = makeEvent("communication.email_sent", "42", R"({"id":42})", "svc");
  EXPECT_EQ(event.type, "communication.email_sent");
  EXPECT_EQ(event.key, "42");
  EXPECT_EQ(event.payload, R"({"id":42})");
  EXPECT_EQ(event.producer, "svc");
  EXPECT_EQ(event.version, "1.0");
  EXPECT_EQ(event.id.size(), 36u);
  EXPECT_EQ(event.id[14], '4');
  EXPECT_EQ(event.timestamp.size(), std::string("2024-01-01T00:00:00.000000+00:00").size());
  EXPECT_TRUE(event.headers.empty());
  EXPECT_EQ(event.topic, "");
  EXPECT_EQ(event.partition, -1);
  EXPECT_EQ(event.offset, -1);
}

TEST(MakeEventTest, DefaultProducerAndFreshIds) {
  const Event a = makeEvent("t", "1", "{}");
  const Event b = makeEvent("t", "1", "{}");
  EXPECT_EQ(a.producer, "communication-service");
  EXPECT_NE(a.id, b.id);
}

TEST(ToEnvelopeJsonTest, RoundTripsThroughNlohmann) {
  Event event = makeEvent("communication.send_email", "7",
                          R"({"to":"a@b.c","n":3,"nested":{"list":[1,2]}})", "tester");
  const nlohmann::json json = nlohmann::json::parse(toEnvelopeJson(event));
  EXPECT_EQ(json.at("eventId"), event.id);
  EXPECT_EQ(json.at("eventType"), "communication.send_email");
  EXPECT_EQ(json.at("version"), "1.0");
  EXPECT_EQ(json.at("timestamp"), event.timestamp);
  EXPECT_EQ(json.at("producer"), "tester");
  EXPECT_EQ(json.at("payload").at("to"), "a@b.c");
  EXPECT_EQ(json.at("payload").at("n"), 3);
  EXPECT_EQ(json.at("payload").at("nested").at("list").size(), 2u);
  EXPECT_EQ(json.size(), 6u);
}

TEST(ToEnvelopeJsonTest, EscapesStrings) {
  Event event;
  event.id = "id";
  event.type = "quote\" backslash\\ newline\n tab\t cr\r ctl\x01 end";
  event.producer = "ünïcode ✓";
  event.timestamp = "t";
  event.payload = "{}";
  const std::string text = toEnvelopeJson(event);
  EXPECT_NE(text.find(R"(quote\" backslash\\ newline\n tab\t cr\r ctl\u0001 end)"),
            std::string::npos)
      << text;
  const nlohmann::json json = nlohmann::json::parse(text);
  EXPECT_EQ(json.at("eventType"), event.type);
  EXPECT_EQ(json.at("producer"), event.producer);
}

TEST(ToEnvelopeJsonTest, EmptyVersionAndPayloadGetDefaults) {
  Event event;
  event.type = "t";
  const nlohmann::json json = nlohmann::json::parse(toEnvelopeJson(event));
  EXPECT_EQ(json.at("version"), "1.0");
  EXPECT_TRUE(json.at("payload").is_object());
  EXPECT_TRUE(json.at("payload").empty());
  EXPECT_EQ(json.at("eventId"), "");
}

TEST(ToEnvelopeJsonTest, KeyAndHeadersAreNotInTheEnvelope) {
  Event event = makeEvent("t", "key-1", "{}");
  event.headers.emplace_back("h", "v");
  const nlohmann::json json = nlohmann::json::parse(toEnvelopeJson(event));
  EXPECT_FALSE(json.contains("key"));
  EXPECT_FALSE(json.contains("headers"));
}

}  // namespace
}  // namespace commsvc
