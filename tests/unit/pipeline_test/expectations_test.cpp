#include "pipeline_test/expectations.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace commsvc::pipeline_test {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

FieldCheck equals(std::vector<std::string> path, json value) {
  return {std::move(path), CheckKind::Equals, std::move(value)};
}

FieldCheck contains(std::vector<std::string> path, std::string text) {
  return {std::move(path), CheckKind::Contains, std::move(text)};
}

ItemExpectation item(std::vector<FieldCheck> checks, int line = 0) {
  return {line, 3, std::move(checks)};
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

TEST(CheckHolds, EqualsComparesJsonValuesAcrossNumberTypes) {
  const json event = {{"type", "email.sent"}, {"payload", {{"email_id", 1}, {"ok", true}}}};
  EXPECT_TRUE(checkHolds(equals({"payload", "email_id"}, 1.0), event));
  EXPECT_TRUE(checkHolds(equals({"payload", "email_id"}, 1u), event));
  EXPECT_FALSE(checkHolds(equals({"payload", "email_id"}, "1"), event));
  EXPECT_TRUE(checkHolds(equals({"payload", "ok"}, true), event));
  EXPECT_FALSE(checkHolds(equals({"payload", "missing"}, nullptr), event));
  EXPECT_FALSE(checkHolds(equals({"type", "deeper"}, "x"), event));
}

TEST(CheckHolds, ContainsNeedsTextHoldingTheSubstring) {
  const json message = {{"text", "Guten Tag, Frau Doktor"}, {"id", 7}};
  EXPECT_TRUE(checkHolds(contains({"text"}, "Frau"), message));
  EXPECT_FALSE(checkHolds(contains({"text"}, "Herr"), message));
  EXPECT_FALSE(checkHolds(contains({"id"}, "7"), message));  // not text
}

TEST(MatchItems, FindsAnAssignmentWhateverTheOrder) {
  // The first expectation fits both items, the second only the first: a
  // greedy match would give the first item away and miss the second.
  const std::vector<ItemExpectation> expected = {
      item({equals({"type"}, "email.sent")}),
      item({equals({"type"}, "email.sent"), equals({"key"}, "1")}),
  };
  const std::vector<json> actual = {{{"type", "email.sent"}, {"key", "1"}},
                                    {{"type", "email.sent"}, {"key", "2"}}};
  const MatchResult result = matchItems(expected, actual);
  EXPECT_TRUE(result.allFound());
  EXPECT_THAT(result.matched, ElementsAre(1, 0));
  EXPECT_TRUE(result.unexpected.empty());
}

TEST(MatchItems, ReportsMissingAndLeftOverItems) {
  const std::vector<ItemExpectation> expected = {item({equals({"key"}, "9")})};
  const std::vector<json> actual = {{{"key", "1"}}, {{"key", "2"}}};
  const MatchResult result = matchItems(expected, actual);
  EXPECT_FALSE(result.allFound());
  EXPECT_THAT(result.matched, ElementsAre(-1));
  EXPECT_THAT(result.unexpected, ElementsAre(0u, 1u));
}

TEST(DiffItem, MinusExpectedPlusActualForEachFailingCheck) {
  const ItemExpectation e = item({equals({"channel"}, "smtp"), equals({"subject"}, "Absage"),
                                  contains({"text"}, "Hallo"), equals({"to"}, "a@example.org")});
  const json actual = {{"channel", "smtp"}, {"subject", "Anfrage"}, {"text", "Guten Tag"}};
  EXPECT_THAT(diffItem(e, actual), ElementsAre("  channel: \"smtp\"",         //
                                               "- subject: \"Absage\"",       //
                                               "+ subject: \"Anfrage\"",      //
                                               "- text: contains \"Hallo\"",  //
                                               "+ text: \"Guten Tag\"",       //
                                               "- to: \"a@example.org\"",     //
                                               "+ to: (missing)"));
}

TEST(DiffKind, ShowsTheClosestItemAndWhereTheExpectationIs) {
  KindExpectation kind{true, {item({equals({"type"}, "email.sent"), equals({"key"}, "2")}, 12)}};
  const std::vector<json> actual = {{{"type", "other"}, {"key", "5"}},
                                    {{"type", "email.sent"}, {"key", "1"}}};
  const auto lines = diffKind(kind, true, actual, matchItems(kind.items, actual),
                              {"events", "published event"}, "t.yaml");
  const std::string text = joined(lines);
  EXPECT_THAT(text, HasSubstr("expect.events[0] (t.yaml:12:3): no such published event; the "
                              "closest of 2 recorded:\n"));
  EXPECT_THAT(text, HasSubstr("    type: \"email.sent\"\n  - key: \"2\"\n  + key: \"1\"\n"));
  // The other item is unexpected; the closest one is not listed twice.
  EXPECT_THAT(text, HasSubstr("unexpected published event (not in expect.events):\n  + "
                              "{\"key\":\"5\",\"type\":\"other\"}\n"));
  EXPECT_EQ(text.find("unexpected published event", text.find("unexpected") + 1),
            std::string::npos);
}

TEST(DiffKind, NoClosestItemWhenNothingComesClose) {
  KindExpectation kind{true, {item({contains({"message"}, "never")}, 2)}};
  const std::vector<json> actual = {{{"message", "a"}}, {{"message", "b"}}};
  EXPECT_THAT(
      diffKind(kind, false, actual, matchItems(kind.items, actual), {"logs", "log line"}, "t"),
      ElementsAre("expect.logs[0] (t:2:3): no such log line; none of the 2 recorded has "
                  "any of these fields:",
                  "  - message: contains \"never\""));
}

TEST(DiffKind, NothingRecorded) {
  KindExpectation kind{true, {item({equals({"reason"}, "not_json")}, 4)}};
  const auto lines =
      diffKind(kind, true, {}, matchItems(kind.items, {}), {"dead_letters", "dead letter"}, "t");
  EXPECT_THAT(lines, ElementsAre("expect.dead_letters[0] (t:4:3): no dead letter recorded",
                                 "  - reason: \"not_json\"", "  + (nothing recorded)"));
}

TEST(DiffKind, ExtrasFailOnlyStrictKindsAndOnlyWhenGiven) {
  const std::vector<json> actual = {{{"message", "x"}}};
  KindExpectation none{true, {}};
  EXPECT_EQ(diffKind(none, true, actual, matchItems({}, actual), {"events", "event"}, "t").size(),
            2u);
  EXPECT_TRUE(diffKind(none, false, actual, matchItems({}, actual), {"logs", "log"}, "t").empty());
  KindExpectation notGiven;
  EXPECT_TRUE(
      diffKind(notGiven, true, actual, matchItems({}, actual), {"events", "event"}, "t").empty());
}

TEST(DiffRows, MismatchedMissingAndExtraRows) {
  const std::vector<ItemExpectation> expected = {item({equals({"status"}, "Gesendet")}),
                                                 item({equals({"status"}, "Entwurf")})};
  EXPECT_TRUE(
      diffRows(expected, {{{"status", "Gesendet"}, {"id", "1"}}, {{"status", "Entwurf"}}}).empty());
  EXPECT_THAT(diffRows(expected, {{{"status", "Fehlgeschlagen"}}}),
              ElementsAre("  row 0:", "  - status: \"Gesendet\"", "  + status: \"Fehlgeschlagen\"",
                          "- row 1: {\"status\":\"Entwurf\"} (missing)"));
  EXPECT_THAT(diffRows({}, {{{"status", nullptr}}}),
              ElementsAre("+ row 0: {\"status\":null} (unexpected)"));
}

TEST(DescribeValue, CutsLongValuesOnACharacterBoundary) {
  EXPECT_EQ(describeValue(json("abc")), "\"abc\"");
  EXPECT_EQ(describeValue(json(std::string(10, 'x')), 5), "\"xxxx…(7 more bytes)");
  // "ä" is two bytes: never cut in half.
  EXPECT_EQ(describeValue(json("ää"), 3), "\"ä…(3 more bytes)");
  EXPECT_EQ(describeValue(json("ää"), 2), "\"…(5 more bytes)");
}

TEST(PathText, JoinsWithDots) {
  EXPECT_EQ(pathText({"payload", "email_data", "status"}), "payload.email_data.status");
}

}  // namespace
}  // namespace commsvc::pipeline_test
