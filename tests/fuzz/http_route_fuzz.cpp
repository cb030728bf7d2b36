// Fuzz target: the HTTP server's request routing (engine/src/http/
// route_table.hpp): RouteTable::match on the service's real route patterns,
// percentDecode and parseQuery, as the server applies them to each request
// target.
//
// Input: the method up to the first '\n', then the request target
// ("/path?query").
//
// Oracles: a match belongs to a route with that method; its parameters are
// exactly the pattern's {names}, each non-empty; parseQuery never yields
// names the raw query could not hold.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "http/route_table.hpp"

namespace {

using namespace commsvc;
using commsvc::fuzz::fail;

const http::RouteTable& table() {
  static const http::RouteTable routes = [] {
    const HttpHandler ok = [](const HttpRequest&) { return HttpResponse::json(200, "{}"); };
    std::vector<http::Route> list;
    for (const auto& [method, pattern] : std::vector<std::pair<const char*, const char*>>{
             {"GET", "/health"},
             {"GET", "/livez"},
             {"GET", "/readyz"},
             {"GET", "/metrics"},
             {"GET", "/api/emails"},
             {"POST", "/api/emails"},
             {"GET", "/api/emails/{id}"},
             {"PUT", "/api/emails/{id}"},
             {"DELETE", "/api/emails/{id}"},
             {"POST", "/api/system-messages"},
             {"GET", "/api/phone-calls"},
             {"POST", "/api/phone-calls"},
             {"GET", "/api/phone-calls/{id}"},
             {"PUT", "/api/phone-calls/{id}"},
             {"DELETE", "/api/phone-calls/{id}"},
             {"GET", "/api/things/{thing}/parts/{part}"},
             {"GET", "/api/things/special/parts/{part}"},
         }) {
      list.push_back({method, pattern, ok, "fuzz"});
    }
    return http::RouteTable(std::move(list));
  }();
  return routes;
}

std::size_t countParams(const std::string& pattern) {
  std::size_t count = 0;
  for (const char c : pattern) count += c == '{' ? 1 : 0;
  return count;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = fuzz::asText(data, size);
  const std::size_t lineEnd = text.find('\n');
  const std::string_view method = text.substr(0, lineEnd);
  const std::string_view target =
      lineEnd == std::string_view::npos ? std::string_view() : text.substr(lineEnd + 1);
  const std::size_t question = target.find('?');
  const std::string_view path = target.substr(0, question);
  const std::string_view query =
      question == std::string_view::npos ? std::string_view() : target.substr(question + 1);

  const http::RouteMatch match = table().match(method, path);
  if (match.route != nullptr) {
    if (match.route->method != method) fail("http_route", "matched another method");
    if (!match.pathKnown) fail("http_route", "matched but path not known");
    if (match.params.size() != countParams(match.route->pattern)) {
      fail("http_route", "parameter count differs from " + match.route->pattern);
    }
  } else if (!match.params.empty()) {
    fail("http_route", "parameters without a route");
  }
  if (match.pathKnown && match.route == nullptr && match.allowed.empty()) {
    fail("http_route", "405 without allowed methods");
  }

  const auto parsed = http::parseQuery(query);
  if (parsed.size() > query.size() + 1) fail("http_route", "more parameters than bytes");
  const std::string decoded = http::percentDecode(path, /*plusIsSpace=*/true);
  if (decoded.size() > path.size()) fail("http_route", "percentDecode grew the text");
  return 0;
}
