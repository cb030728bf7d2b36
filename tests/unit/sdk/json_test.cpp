#include "commsvc/json.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace commsvc {
namespace {

std::string quoted(std::string_view text) {
  std::string out = "prefix:";
  appendJsonString(out, text);
  return out;
}

TEST(AppendJsonStringTest, QuotesAndEscapes) {
  EXPECT_EQ(quoted("plain"), "prefix:\"plain\"");
  EXPECT_EQ(quoted("a\"b\\c"), R"(prefix:"a\"b\\c")");
  EXPECT_EQ(quoted("l1\nl2\r\t"), R"(prefix:"l1\nl2\r\t")");
  EXPECT_EQ(quoted(std::string_view("\x01\x1f", 2)), R"(prefix:"\u0001\u001f")");
  EXPECT_EQ(quoted(""), "prefix:\"\"");
}

TEST(AppendJsonStringTest, RoundTripsThroughAJsonParser) {
  std::string text = "Grüße \"x\" \\ ";
  for (char c = 0; c < 0x20; ++c) text.push_back(c);
  std::string json;
  appendJsonString(json, text);
  EXPECT_EQ(nlohmann::json::parse(json).get<std::string>(), text);
}

}  // namespace
}  // namespace commsvc
