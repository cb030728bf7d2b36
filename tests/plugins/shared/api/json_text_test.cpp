// Tests of the JSON text written without nlohmann objects (no database; the
// row writer is tested through the email API against PostgreSQL).

#include "json_text.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

namespace commsvc::plugins::api {
namespace {

using nlohmann::json;

std::string nlohmannText(const std::string& text) {
  return json(text).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string ours(const std::string& text) {
  std::string out = "prefix:";
  appendJsonString(out, text);
  return out.substr(7);
}

TEST(JsonTextTest, StringsAreEscapedAsNlohmannEscapesThem) {
  const std::vector<std::string> samples = {
      "",
      "plain",
      "\"quoted\" and back\\slash",
      std::string("\0 nul", 5),
      "\b\f\n\r\t\x01\x1f\x7f",
      "Grüße aus Köln ☃ 😀",
      "\xc3",              // cut sequence
      "a\xc3(b",           // bad continuation
      "\xed\xa0\x80",      // surrogate
      "\xf4\x90\x80\x80",  // above U+10FFFF
      "\xc0\xaf",          // overlong
      "\xe0\x80\xaf",      // overlong
      "\xf0\x80\x80\xaf",  // overlong
      "ok \xff\xfe then ü",
  };
  for (const std::string& sample : samples) {
    EXPECT_EQ(ours(sample), nlohmannText(sample))
        << json(sample).dump(-1, ' ', true, json::error_handler_t::replace);
  }
}

// Random byte strings, biased towards the bytes that matter (control
// characters, quotes, UTF-8 lead and continuation bytes).
TEST(JsonTextTest, RandomBytesGiveTheSameTextAsNlohmann) {
  std::mt19937 random(20261202);
  const std::string interesting =
      "\"\\\b\f\n\r\t\x01\x1f\x7f a\x80\xbf\xc2\xdf\xe0\xed\xef\xf0\xf4\xf5\xff";
  std::uniform_int_distribution<int> length(0, 12), pick(0, 3), any(0, 255),
      fromSet(0, static_cast<int>(interesting.size()) - 1);
  for (int i = 0; i < 200'000; ++i) {
    std::string sample;
    for (int n = length(random); n > 0; --n) {
      sample += pick(random) == 0 ? static_cast<char>(any(random)) : interesting[fromSet(random)];
    }
    ASSERT_EQ(ours(sample), nlohmannText(sample))
        << json(sample).dump(-1, ' ', true, json::error_handler_t::replace);
  }
}

TEST(JsonTextTest, IntegersAsNlohmannWritesThem) {
  for (const std::int64_t value :
       {std::int64_t{0}, std::int64_t{-1}, std::int64_t{42},
        std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max()}) {
    std::string out;
    appendJsonInteger(out, value);
    EXPECT_EQ(out, json(value).dump());
  }
}

}  // namespace
}  // namespace commsvc::plugins::api
