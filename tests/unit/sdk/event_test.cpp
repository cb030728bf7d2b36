#include "commsvc/event.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <unordered_set>

namespace commsvc {
namespace {

TEST(NewUuid4Test, CanonicalFormWithVersionAndVariant) {
  const std::regex form("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  for (int i = 0; i < 1000; ++i) {
    const std::string id = newUuid4();
    ASSERT_EQ(id.size(), 36u) << id;
    ASSERT_TRUE(std::regex_match(id, form)) << id;
  }
}

TEST(NewUuid4Test, UniqueOverTenThousand) {
  std::unordered_set<std::string> seen;
  for (int i = 0; i < 10000; ++i) seen.insert(newUuid4());
  EXPECT_EQ(seen.size(), 10000u);
}

TEST(NowIso8601Test, Format) {
  const std::regex form(
      R"(^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-6]\d\.\d{6}\+00:00$)");
  const std::string now = nowIso8601();
  EXPECT_TRUE(std::regex_match(now, form)) << now;
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
