#include "http/route_table.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace commsvc::http {
namespace {

HttpHandler ok() {
  return [](const HttpRequest&) { return HttpResponse{}; };
}

TEST(RouteTableTest, MatchesLiteralAndParamSegments) {
  RouteTable table({{"GET", "/api/emails", ok(), "a"},
                    {"GET", "/api/emails/{id}", ok(), "a"},
                    {"PUT", "/api/emails/{id}", ok(), "a"},
                    {"GET", "/api/emails/{id}/attachments/{name}", ok(), "a"},
                    {"GET", "/", ok(), "a"}});
  auto m = table.match("GET", "/api/emails/42");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->pattern, "/api/emails/{id}");
  EXPECT_EQ(m.params.at("id"), "42");
  m = table.match("GET", "/api/emails/4%2F2/attachments/a%20b");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.params.at("id"), "4/2");
  EXPECT_EQ(m.params.at("name"), "a b");
  EXPECT_EQ(table.match("GET", "/api/emails").route->pattern, "/api/emails");
  EXPECT_EQ(table.match("GET", "/").route->pattern, "/");
  EXPECT_EQ(table.match("GET", "/api/emails/").route, nullptr);  // empty segment
  EXPECT_FALSE(table.match("GET", "/api/emails/").pathKnown);
  EXPECT_EQ(table.match("GET", "/api/emailsx").route, nullptr);
  EXPECT_EQ(table.match("GET", "/API/emails").route, nullptr);

  m = table.match("DELETE", "/api/emails/1");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_TRUE(m.pathKnown);
  EXPECT_EQ(m.allowed.size(), 2u);
}

TEST(RouteTableTest, LiteralBeatsParam) {
  RouteTable table({{"GET", "/a/{x}", ok(), "p"}, {"GET", "/a/b", ok(), "l"}});
  EXPECT_EQ(table.match("GET", "/a/b").route->owner, "l");
  EXPECT_EQ(table.match("GET", "/a/c").route->owner, "p");
}

TEST(RouteTableTest, RejectsBadPatternsAndDuplicates) {
  EXPECT_THROW(RouteTable({{"GET", "no-slash", ok(), "a"}}), std::invalid_argument);
  EXPECT_THROW(RouteTable({{"GET", "/a/{}", ok(), "a"}}), std::invalid_argument);
  EXPECT_THROW(RouteTable({{"GET", "/a/x{id}", ok(), "a"}}), std::invalid_argument);
  EXPECT_THROW(RouteTable({{"GET", "/a/{id", ok(), "a"}}), std::invalid_argument);
  EXPECT_THROW(RouteTable({{"GET", "/a", ok(), "a"}, {"GET", "/a", ok(), "b"}}),
               std::invalid_argument);
  EXPECT_NO_THROW(RouteTable({{"GET", "/a", ok(), "a"}, {"POST", "/a", ok(), "b"}}));
}

TEST(RouteTableTest, PercentDecodingAndQueryParsing) {
  EXPECT_EQ(percentDecode("a%20b%2fc"), "a b/c");
  EXPECT_EQ(percentDecode("a+b"), "a+b");
  EXPECT_EQ(percentDecode("a+b", true), "a b");
  EXPECT_EQ(percentDecode("100%"), "100%");
  EXPECT_EQ(percentDecode("%zz%4"), "%zz%4");
  EXPECT_EQ(percentDecode("%C3%A4"), "\xC3\xA4");
  const auto q = parseQuery("a=1&b=x%20y&a=2&&c&d=&e=%3D%26");
  EXPECT_EQ(q.at("a"), "2");
  EXPECT_EQ(q.at("b"), "x y");
  EXPECT_EQ(q.at("c"), "");
  EXPECT_EQ(q.at("d"), "");
  EXPECT_EQ(q.at("e"), "=&");
  EXPECT_EQ(q.size(), 5u);
  EXPECT_TRUE(parseQuery("").empty());
}

}  // namespace
}  // namespace commsvc::http
