// Fuzz target: the phone call HTTP API (plugins/phonecall/phone_call_api.hpp)
// on request data: JSON bodies, query strings and path ids. The database
// throws a sentinel in transaction(), so every route runs all of its
// validation and stops before SQL.
//
// Input: one selector byte choosing the route ('l' list, 'c' create, 'g' get,
// 'u' update, 'd' delete; any other byte modulo 5), then the query string
// (list) or path id (get, update, delete) up to the first '\n', then the body.
//
// Oracles: no exception but the sentinel leaves a route, no 5xx answer, and
// every answer is JSON-shaped. Also the date helpers on the same text.

#include <cstddef>
#include <cstdint>
#include <string>

#include "fake_context.hpp"
#include "fuzz_support.hpp"
#include "http/route_table.hpp"
#include "phone_call_api.hpp"

namespace {

using namespace commsvc;
using commsvc::fuzz::fail;

plugins::phonecall::PhoneCallApi& api() {
  static fuzz::ThrowingDatabase database;
  static fuzz::UnreachableOutbox outbox;
  static fuzz::NullLogger logger;
  static testing::FakeMetrics metrics;
  static plugins::phonecall::PhoneCallApi instance(database, outbox, logger, metrics,
                                                   [] { return std::string("2026-11-30"); });
  return instance;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view text = fuzz::asText(data + 1, size - 1);
  const std::size_t lineEnd = text.find('\n');
  const std::string line(text.substr(0, lineEnd));
  HttpRequest request;
  request.body = lineEnd == std::string_view::npos ? "" : std::string(text.substr(lineEnd + 1));

  // The pure helpers the routes use, on the line itself.
  if (plugins::phonecall::isValidDate(line)) {
    const std::string next = plugins::phonecall::nextDay(line);
    // Year 9999 rolls over into a five-digit year, which PostgreSQL accepts.
    if (line < "9999-12-31" && (!plugins::phonecall::isValidDate(next) || next <= line)) {
      fail("phonecall_api", "nextDay(" + line + ") gave " + next);
    }
  }
  (void)plugins::phonecall::isValidTime(line);

  static constexpr char kRoutes[] = "lcgud";
  const char selector =
      std::string_view(kRoutes).find(static_cast<char>(data[0])) != std::string_view::npos
          ? static_cast<char>(data[0])
          : kRoutes[data[0] % 5];
  plugins::phonecall::PhoneCallApi& calls = api();
  HttpResponse response;
  try {
    switch (selector) {
      case 'l':
        request.method = "GET";
        request.path = "/api/phone-calls";
        request.query = http::parseQuery(line);
        response = calls.list(request);
        break;
      case 'c':
        request.method = "POST";
        request.path = "/api/phone-calls";
        response = calls.create(request);
        break;
      case 'g':
        request.method = "GET";
        request.params["id"] = http::percentDecode(line);
        response = calls.get(request);
        break;
      case 'u':
        request.method = "PUT";
        request.params["id"] = http::percentDecode(line);
        response = calls.update(request);
        break;
      default:
        request.method = "DELETE";
        request.params["id"] = http::percentDecode(line);
        response = calls.remove(request);
        break;
    }
  } catch (const fuzz::DatabaseReached&) {
    return 0;  // valid enough to reach SQL
  }
  if (!fuzz::isClientOutcome(response.status)) {
    fail("phonecall_api", "status " + std::to_string(response.status) + ": " + response.body);
  }
  if (response.body.empty() || response.body.front() != '{' || response.body.back() != '}') {
    fail("phonecall_api", "answer is not a JSON object: " + response.body);
  }
  return 0;
}
