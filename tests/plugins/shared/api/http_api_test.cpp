// Tests of the helpers the plugins' HTTP APIs share (no database): error
// answers, echoed client values, the body and field readers, path ids,
// paging and query filters.

#include "http_api.hpp"

#include <gtest/gtest.h>

#include <array>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace commsvc::plugins::api {
namespace {

using nlohmann::json;

HttpRequest withQuery(std::map<std::string, std::string> query) {
  HttpRequest request;
  request.query = std::move(query);
  return request;
}

HttpRequest withId(const std::string& id) {
  HttpRequest request;
  request.params["id"] = id;
  return request;
}

HttpRequest withBody(const std::string& body) {
  HttpRequest request;
  request.body = body;
  return request;
}

// The message of the ApiError `f` throws ("<none>" when it throws none).
template <typename F>
std::string errorOf(F&& f, int expectedStatus = 400) {
  try {
    f();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), expectedStatus) << e.what();
    return e.what();
  }
  return "<none>";
}

// True when `text` is valid UTF-8 (nlohmann rejects anything else).
bool validUtf8(const std::string& text) {
  return !json::parse(json(text).dump(-1, ' ', false, json::error_handler_t::strict), nullptr,
                      false)
              .is_discarded();
}

// ---- errors -----------------------------------------------------------------

TEST(HttpApi, GuardedAnswersApiErrorsWithTheirStatusAndMessage) {
  HttpResponse r = guarded([]() -> HttpResponse { throw BadRequest("betreff is required"); });
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json::parse(r.body), json({{"message", "betreff is required"}}));
  r = guarded([]() -> HttpResponse { throw NotFound("Email not found"); });
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(json::parse(r.body), json({{"message", "Email not found"}}));
  r = guarded([] { return jsonResponse(201, {{"id", 1}}); });
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.contentType, "application/json");
  EXPECT_EQ(json::parse(r.body), json({{"id", 1}}));
  // Anything else is the server's 500.
  EXPECT_THROW(guarded([]() -> HttpResponse { throw std::runtime_error("db down"); }),
               std::runtime_error);
}

TEST(HttpApi, JsonResponseNeverThrowsOnInvalidUtf8) {
  const HttpResponse r = jsonResponse(200, {{"x", std::string("a\xff")}});
  EXPECT_EQ(json::parse(r.body)["x"], "a\xEF\xBF\xBD");
}

// ---- echoed client values ---------------------------------------------------

TEST(HttpApi, EchoKeepsValidUtf8AndReplacesInvalidBytes) {
  EXPECT_EQ(echo("2026-13-01"), "2026-13-01");
  EXPECT_EQ(echo("M\xC3\xBCller \xF0\x9F\x98\x80"), "M\xC3\xBCller \xF0\x9F\x98\x80");
  EXPECT_EQ(echo(std::string("a\0b", 3)), std::string("a\0b", 3));  // JSON escapes it
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(echo("\xFF"), fffd);
  EXPECT_EQ(echo("\xC0\xAF"), fffd + fffd);                        // overlong '/'
  EXPECT_EQ(echo("\xED\xA0\x80"), fffd + fffd + fffd);             // surrogate
  EXPECT_EQ(echo("\xF4\x90\x80\x80"), fffd + fffd + fffd + fffd);  // above U+10FFFF
  EXPECT_EQ(echo("ab\xC3"), "ab" + fffd);                          // cut sequence
  EXPECT_EQ(echo("\xE2\x82"), fffd + fffd);
  for (const char* bad : {"\xFF\xFE", "\xC3\x28", "x\xE2\x28\xA1", "\xF8\x88\x80\x80\x80"}) {
    EXPECT_TRUE(validUtf8(echo(bad))) << bad;
  }
}

TEST(HttpApi, EchoBoundsTheLength) {
  const std::string exact(kMaxEchoedChars, 'x');
  EXPECT_EQ(echo(exact), exact);
  EXPECT_EQ(echo(exact + "y"), exact + "\xE2\x80\xA6");
  EXPECT_EQ(echo(std::string(1'000'000, 'x')), exact + "\xE2\x80\xA6");
  // Counted in code points, never cutting one.
  std::string umlauts;
  for (std::size_t i = 0; i < kMaxEchoedChars + 5; ++i) umlauts += "\xC3\xBC";
  const std::string echoed = echo(umlauts);
  EXPECT_EQ(echoed, umlauts.substr(0, 2 * kMaxEchoedChars) + "\xE2\x80\xA6");
  EXPECT_TRUE(validUtf8(echoed));
}

TEST(HttpApi, EchoValueShowsStringsAsIsAndOtherValuesAsJson) {
  EXPECT_EQ(echoValue(json("erledigt")), "erledigt");
  EXPECT_EQ(echoValue(json(1)), "1");
  EXPECT_EQ(echoValue(json(true)), "true");
  EXPECT_EQ(echoValue(json::array({1, "a"})), "[1,\"a\"]");
  EXPECT_EQ(echoValue(json(std::string(200, 'z'))),
            std::string(kMaxEchoedChars, 'z') + "\xE2\x80\xA6");
}

// ---- body and fields --------------------------------------------------------

TEST(HttpApi, ParseBodyWantsAJsonObject) {
  EXPECT_EQ(parseBody(withBody(R"({"a": 1})")), json({{"a", 1}}));
  EXPECT_EQ(errorOf([] { parseBody(withBody("{not json")); }), "request body is not valid JSON");
  EXPECT_EQ(errorOf([] { parseBody(withBody("")); }), "request body is not valid JSON");
  EXPECT_EQ(errorOf([] { parseBody(withBody("{\"a\": \"\xFF\"}")); }),
            "request body is not valid JSON");
  EXPECT_EQ(errorOf([] { parseBody(withBody("[1]")); }), "request body must be a JSON object");
  EXPECT_EQ(errorOf([] { parseBody(withBody("null")); }), "request body must be a JSON object");
}

TEST(HttpApi, FieldReadersTreatNullAsAbsentAndNameTheField) {
  const json body = json::parse(
      R"({"s": "text", "n": null, "i": 7, "b": true, "nul": "a\u0000b", "f": 1.5, "neg": -3,
          "big": 2147483648, "max": 2147483647, "str": "7", "huge": 18446744073709551615})");
  EXPECT_EQ(member(body, "s"), &body["s"]);
  EXPECT_EQ(member(body, "n"), nullptr);
  EXPECT_EQ(member(body, "missing"), nullptr);

  EXPECT_EQ(optString(body, "s"), "text");
  EXPECT_EQ(optString(body, "n"), std::nullopt);
  EXPECT_EQ(optString(body, "missing"), std::nullopt);
  EXPECT_EQ(errorOf([&] { optString(body, "i"); }), "i must be a string");
  EXPECT_EQ(errorOf([&] { optString(body, "nul"); }), "nul must not contain NUL characters");

  EXPECT_EQ(optInt(body, "i"), 7);
  EXPECT_EQ(optInt(body, "max"), 2147483647);
  EXPECT_EQ(optInt(body, "n"), std::nullopt);
  for (const char* bad : {"f", "neg", "big", "str", "b", "s", "huge"}) {
    EXPECT_EQ(errorOf([&] { optInt(body, bad); }),
              std::string(bad) + " must be a positive integer");
  }
  EXPECT_EQ(optInt(body, "neg", -5), -3);
  EXPECT_EQ(errorOf([&] { optInt(body, "neg", 0); }), "neg must be an integer >= 0");

  EXPECT_EQ(optBool(body, "b"), true);
  EXPECT_EQ(optBool(body, "n"), std::nullopt);
  EXPECT_EQ(errorOf([&] { optBool(body, "s"); }), "s must be a boolean");
}

TEST(HttpApi, RecipientIdsUseTheOriginalTexts) {
  EXPECT_NO_THROW(requireOneRecipient(7, std::nullopt));
  EXPECT_NO_THROW(requireOneRecipient(std::nullopt, 7));
  EXPECT_EQ(errorOf([] { requireOneRecipient(std::nullopt, std::nullopt); }),
            "Either therapist_id or patient_id is required");
  EXPECT_EQ(errorOf([] { requireOneRecipient(1, 2); }),
            "Cannot specify both therapist_id and patient_id");
}

// ---- path ids ---------------------------------------------------------------

TEST(HttpApi, PathIdsAreRowIdsOrNotFound) {
  EXPECT_EQ(pathId(withId("1"), "Email not found"), 1);
  EXPECT_EQ(pathId(withId("007"), "Email not found"), 7);
  EXPECT_EQ(pathId(withId("2147483647"), "Email not found"), 2147483647);
  // What Flask's <int:id> does not match, and numbers no row can have: 404
  // with the API's own text, like an unknown id.
  for (const std::string& bad :
       std::vector<std::string>{"0", "-1", "abc", "", "1.5", "+1", " 1", "1 ", "1e3", "0x10",
                                "2147483648", "99999999999999999999", "18446744073709551616",
                                std::string(10'000, '9'), std::string("1\0", 2), "\xFF"}) {
    EXPECT_EQ(errorOf([&] { pathId(withId(bad), "Phone call not found"); }, 404),
              "Phone call not found")
        << bad;
  }
  EXPECT_EQ(errorOf([] { pathId(HttpRequest{}, "Email not found"); }, 404), "Email not found");
}

TEST(HttpApi, ParseIntegerTakesWholeDecimalInt64Only) {
  EXPECT_EQ(parseInteger("42"), 42);
  EXPECT_EQ(parseInteger("-42"), -42);
  EXPECT_EQ(parseInteger("9223372036854775807"), std::numeric_limits<std::int64_t>::max());
  for (const char* bad : {"", "-", "+1", "1.0", "1e3", " 1", "9223372036854775808", "abc"}) {
    EXPECT_EQ(parseInteger(bad), std::nullopt) << bad;
  }
}

// ---- paging and filters -----------------------------------------------------

TEST(HttpApi, PagingDefaultsAndClamps) {
  Paging p = paging(withQuery({}));
  EXPECT_EQ(p.page, 1);
  EXPECT_EQ(p.limit, kDefaultLimit);
  EXPECT_EQ(p.offset(), 0);
  p = paging(withQuery({{"page", "3"}, {"limit", "7"}}));
  EXPECT_EQ(p.page, 3);
  EXPECT_EQ(p.limit, 7);
  EXPECT_EQ(p.offset(), 14);
  p = paging(withQuery({{"page", "0"}, {"limit", "0"}}));
  EXPECT_EQ(p.page, 1);
  EXPECT_EQ(p.limit, 1);
  p = paging(withQuery({{"page", "-5"}, {"limit", "2000"}}));
  EXPECT_EQ(p.page, 1);
  EXPECT_EQ(p.limit, kMaxLimit);
  p = paging(withQuery({{"page", ""}, {"limit", ""}}));  // empty = not given
  EXPECT_EQ(p.page, 1);
  EXPECT_EQ(p.limit, kDefaultLimit);
  // Integers beyond int64 are clamped like any other.
  p = paging(withQuery({{"page", "99999999999999999999"}, {"limit", "-99999999999999999999"}}));
  EXPECT_EQ(p.page, kMaxPage);
  EXPECT_EQ(p.limit, 1);
  EXPECT_EQ(p.offset(), kMaxPage - 1);
  p = paging(withQuery({{"page", "-9223372036854775808"}, {"limit", "99999999999999999999"}}));
  EXPECT_EQ(p.page, 1);
  EXPECT_EQ(p.limit, kMaxLimit);
  EXPECT_EQ(paging(withQuery({{"page", "99999999999"}, {"limit", "1000"}})).offset(),
            (std::int64_t{99999999999} - 1) * 1000);
  for (const char* bad : {"x", "1.5", "1e3", "-", "+1", "NaN", "%00"}) {
    EXPECT_EQ(errorOf([&] { paging(withQuery({{"page", bad}})); }), "page must be an integer");
    EXPECT_EQ(errorOf([&] { paging(withQuery({{"limit", bad}})); }), "limit must be an integer");
  }
}

TEST(HttpApi, QueryFilters) {
  const HttpRequest r = withQuery({{"therapist_id", "7"},
                                   {"patient_id", ""},
                                   {"neg", "-3"},
                                   {"big", "2147483648"},
                                   {"bad", "1.5"},
                                   {"yes", "TRUE"},
                                   {"no", "0"},
                                   {"maybe", "ja"}});
  EXPECT_EQ(queryText(r, "therapist_id"), r.queryParam("therapist_id"));
  EXPECT_EQ(queryText(r, "patient_id"), nullptr);
  EXPECT_EQ(queryText(r, "missing"), nullptr);

  EXPECT_EQ(queryInt(r, "therapist_id"), 7);
  EXPECT_EQ(queryInt(r, "neg"), -3);
  EXPECT_EQ(queryInt(r, "patient_id"), std::nullopt);
  EXPECT_EQ(queryInt(r, "missing"), std::nullopt);
  EXPECT_EQ(errorOf([&] { queryInt(r, "big"); }), "big must be an integer (32 bits)");
  EXPECT_EQ(errorOf([&] { queryInt(r, "bad"); }), "bad must be an integer (32 bits)");

  EXPECT_EQ(queryBool(r, "yes"), true);
  EXPECT_EQ(queryBool(r, "no"), false);
  EXPECT_EQ(queryBool(r, "patient_id"), std::nullopt);
  EXPECT_EQ(errorOf([&] { queryBool(r, "maybe"); }), "maybe must be true or false");

  EXPECT_EQ(queryRecipientType(withQuery({{"recipient_type", "therapist"}})), "therapist");
  EXPECT_EQ(queryRecipientType(withQuery({{"recipient_type", "patient"}})), "patient");
  EXPECT_EQ(queryRecipientType(withQuery({{"recipient_type", ""}})), std::nullopt);
  EXPECT_EQ(errorOf([] {
              queryRecipientType(withQuery({{"recipient_type", "Patient"}}));
            }),
            "recipient_type must be therapist or patient");
}

TEST(HttpApi, SmallHelpers) {
  constexpr std::array<std::string_view, 2> kValues = {"geplant", "abgebrochen"};
  EXPECT_TRUE(isOneOf("geplant", kValues));
  EXPECT_FALSE(isOneOf("Geplant", kValues));
  EXPECT_FALSE(isOneOf("", kValues));
  EXPECT_EQ(toText(std::optional<std::int32_t>(42)), "42");
  EXPECT_EQ(toText(std::nullopt), std::nullopt);
  EXPECT_EQ(nullable(std::nullopt), nullptr);
  const std::optional<std::string> text("x");
  EXPECT_EQ(nullable(text), text->c_str());
}

}  // namespace
}  // namespace commsvc::plugins::api
