#include "templates.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "commsvc/config.hpp"

namespace commsvc::plugins::publisher_http {
namespace {

using nlohmann::json;

std::string renderPath(const std::string& text, const json& payload) {
  return Template::parse(text, TemplateKind::Path, "path").render(payload);
}

std::string renderJson(const std::string& text, const json& payload) {
  return Template::parse(text, TemplateKind::Json, "body").render(payload);
}

// The message of the ConfigError `parse` throws, or "<no error>".
std::string configError(const std::string& text, TemplateKind kind, const std::string& option) {
  try {
    Template::parse(text, kind, option);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "<no error>";
}

// The message of the TemplateError rendering throws, or "<no error>".
std::string renderError(const std::string& text, TemplateKind kind, const json& payload) {
  try {
    Template::parse(text, kind, "x").render(payload);
  } catch (const TemplateError& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(PathTemplateTest, FillsStringAndIntegerFields) {
  const json payload = {{"patient_id", 42}, {"kind", "last-contact"}};
  EXPECT_EQ(renderPath("/api/patients/{patient_id}/{kind}", payload),
            "/api/patients/42/last-contact");
  EXPECT_EQ(renderPath("", payload), "");
  EXPECT_EQ(renderPath("/static/path", payload), "/static/path");
  EXPECT_EQ(renderPath("/q?id={patient_id}&x=1", payload), "/q?id=42&x=1");
  EXPECT_EQ(renderPath("/big/{n}", json{{"n", -9007199254740993LL}}), "/big/-9007199254740993");
}

TEST(PathTemplateTest, PercentEncodesValuesAsOneSegment) {
  const json payload = {{"id", "a b/c?d#e%f&g=h"}, {"name", "J\xc3\xbcrgen"}, {"ok", "A-z_0.9~"}};
  EXPECT_EQ(renderPath("/x/{id}", payload), "/x/a%20b%2Fc%3Fd%23e%25f%26g%3Dh");
  EXPECT_EQ(renderPath("/x/{name}", payload), "/x/J%C3%BCrgen");
  EXPECT_EQ(renderPath("/x/{ok}", payload), "/x/A-z_0.9~");
  EXPECT_EQ(percentEncodeSegment(std::string("\x00\xff", 2)), "%00%FF");
}

TEST(PathTemplateTest, DoubledBracesAreLiteral) {
  EXPECT_EQ(renderPath("/a{{b}}/{id}", json{{"id", 1}}), "/a{b}/1");
}

TEST(PathTemplateTest, UnusableValuesAreRenderErrors) {
  EXPECT_EQ(renderError("/p/{patient_id}", TemplateKind::Path, json{{"other", 1}}),
            "payload has no field 'patient_id'");
  EXPECT_NE(renderError("/p/{id}", TemplateKind::Path, json{{"id", 1.5}}).find("not a string"),
            std::string::npos);
  EXPECT_NE(renderError("/p/{id}", TemplateKind::Path, json{{"id", json::object()}})
                .find("not a string or integer"),
            std::string::npos);
  EXPECT_NE(renderError("/p/{id}", TemplateKind::Path, json{{"id", nullptr}}).find("null"),
            std::string::npos);
  EXPECT_NE(renderError("/p/{id}", TemplateKind::Path, json{{"id", ""}}).find("empty"),
            std::string::npos);
  EXPECT_NE(renderError("/p/{id}/x", TemplateKind::Path, json{{"id", ".."}}).find("'..'"),
            std::string::npos);
  EXPECT_EQ(renderError("/p/{id}", TemplateKind::Path, json::array({1})),
            "payload is not a JSON object");
}

TEST(PathTemplateTest, BadTemplatesAreConfigErrorsNamingTheOption) {
  EXPECT_EQ(configError("/p/{patient_id", TemplateKind::Path, "path"),
            "path: unclosed '{' at position 4 (write '{{' for a literal brace)");
  EXPECT_EQ(configError("/p/{}", TemplateKind::Path, "path"),
            "path: empty field name '{}' at position 4");
  EXPECT_NE(configError("/p/{a b}", TemplateKind::Path, "path").find("invalid character byte 0x20"),
            std::string::npos);
  EXPECT_NE(configError("/p/a}", TemplateKind::Path, "path").find("path: unmatched '}'"),
            std::string::npos);
  EXPECT_NE(configError("/p/a b", TemplateKind::Path, "path").find("cannot appear in a URL"),
            std::string::npos);
  EXPECT_NE(configError("/p/\xc3\xa4", TemplateKind::Path, "path").find("cannot appear"),
            std::string::npos);
  EXPECT_EQ(configError("api/x", TemplateKind::Path, "path"), "path: must start with '/' or '?'");
  EXPECT_NE(configError("/x#frag", TemplateKind::Path, "path").find("fragment"), std::string::npos);
  EXPECT_EQ(configError("/p/{id}?q=%20", TemplateKind::Path, "path"), "<no error>");
}

TEST(PathTemplateTest, ListsItsFieldsOnce) {
  const Template t = Template::parse("/{a}/{b}/{a}", TemplateKind::Path, "path");
  EXPECT_TRUE(t.hasFields());
  EXPECT_EQ(t.fields(), (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(Template::parse("/x", TemplateKind::Path, "path").hasFields());
}

TEST(JsonBodyTemplateTest, InsertsTheJsonFormOfEachValue) {
  const json payload = {{"date", "2026-01-02"},
                        {"n", 7},
                        {"f", 1.5},
                        {"b", true},
                        {"z", nullptr},
                        {"o", {{"k", "v"}}},
                        {"a", {1, "two"}},
                        {"q", "say \"hi\"\n\\"}};
  EXPECT_EQ(renderJson(R"({"date": {date}})", payload), R"({"date": "2026-01-02"})");
  EXPECT_EQ(renderJson(R"({"n": {n}, "f": {f}, "b": {b}, "z": {z}})", payload),
            R"({"n": 7, "f": 1.5, "b": true, "z": null})");
  EXPECT_EQ(renderJson(R"({"o": {o}, "a": {a}})", payload), R"({"o": {"k":"v"}, "a": [1,"two"]})");
  EXPECT_EQ(renderJson(R"({"q": {q}})", payload), R"({"q": "say \"hi\"\n\\"})");
  // Nested objects keep their closing braces.
  EXPECT_EQ(renderJson(R"({"x": {"y": {n}}})", payload), R"({"x": {"y": 7}})");
  // Whatever goes in, the result is JSON.
  EXPECT_TRUE(json::accept(renderJson(R"({"q": {q}, "o": {o}})", payload)));
}

TEST(JsonBodyTemplateTest, InsideAStringInsertsEscapedText) {
  const json payload = {{"id", 42}, {"name", "J\xc3\xbcrgen \"J\""}, {"o", {{"k", 1}}}};
  EXPECT_EQ(renderJson(R"({"text": "Patient {id}: {name}"})", payload),
            "{\"text\": \"Patient 42: J\xc3\xbcrgen \\\"J\\\"\"}");
  EXPECT_EQ(renderJson(R"({"text": "o={o}"})", payload), R"({"text": "o={\"k\":1}"})");
  // An escaped quote does not end the string.
  EXPECT_EQ(renderJson(R"({"t": "\"{id}\"", "v": {id}})", payload), R"({"t": "\"42\"", "v": 42})");
  // Braces that are not placeholders stay as they are.
  EXPECT_EQ(renderJson(R"({"t": "{not a field}", "e": {}})", payload),
            R"({"t": "{not a field}", "e": {}})");
  EXPECT_EQ(renderJson(R"({"t": "{{id}"})", payload), R"({"t": "{id}"})");
}

TEST(JsonBodyTemplateTest, MissingFieldIsARenderError) {
  EXPECT_EQ(renderError(R"({"date": {date}})", TemplateKind::Json, json{{"day", "x"}}),
            "payload has no field 'date'");
}

TEST(JsonBodyTemplateTest, InvalidJsonIsAConfigErrorNamingTheOption) {
  EXPECT_EQ(configError(R"({"date": {date}})", TemplateKind::Json, "body"), "<no error>");
  EXPECT_EQ(configError(R"({"a": [{x}, {y}], "b": {}})", TemplateKind::Json, "body"), "<no error>");
  for (const std::string bad :
       {R"({"date": {date})", R"({"date": {date})", R"({"date": {date} {other}})",
        R"({"text": "{x})", R"({date: {date}})", "{date", "{}}"}) {
    const std::string error = configError(bad, TemplateKind::Json, "body");
    EXPECT_EQ(error.rfind("body: not valid JSON", 0), 0u) << bad << " -> " << error;
  }
}

TEST(TextBodyTemplateTest, InsertsStringsAsTheyAre) {
  const Template t = Template::parse("name={name}&n={n}&o={o}", TemplateKind::Text, "body");
  EXPECT_EQ(t.render(json{{"name", "a b"}, {"n", 3}, {"o", {{"k", true}}}}),
            R"(name=a b&n=3&o={"k":true})");
  EXPECT_EQ(configError("{not json", TemplateKind::Text, "body"), "<no error>");
}

TEST(SnippetTest, MakesOneLineOfValidUtf8) {
  EXPECT_EQ(singleLineSnippet("{\"message\":\r\n  \"Patient not found\"}\n"),
            "{\"message\": \"Patient not found\"}");
  EXPECT_EQ(singleLineSnippet("a\tb\x01\x7f"
                              "c"),
            "a b c");
  EXPECT_EQ(singleLineSnippet("J\xc3\xbcrgen"), "J\xc3\xbcrgen");
  // Invalid bytes, truncated and overlong sequences, surrogates: U+FFFD each.
  EXPECT_EQ(singleLineSnippet("a\xff"
                              "b\xc3"),
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD");
  EXPECT_EQ(singleLineSnippet("\xc0\xaf"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(singleLineSnippet("\xed\xa0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(singleLineSnippet("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");
  EXPECT_EQ(singleLineSnippet(""), "");
  EXPECT_EQ(singleLineSnippet(" \r\n "), "");
}

TEST(SnippetTest, CutsAtACharacterBoundary) {
  const std::string long_text(300, 'x');
  EXPECT_EQ(singleLineSnippet(long_text), std::string(200, 'x') + "...");
  // 'ü' is two bytes: 100 of them fill 200 bytes; the 101st would make 202 > 201.
  std::string umlauts;
  for (int i = 0; i < 150; ++i) umlauts += "\xc3\xbc";
  const std::string cut = singleLineSnippet(umlauts, 201);
  EXPECT_EQ(cut.size(), 200u + 3u);
  EXPECT_EQ(cut.substr(198, 2), "\xc3\xbc");
  EXPECT_EQ(cut.substr(200), "...");
}

}  // namespace
}  // namespace commsvc::plugins::publisher_http
