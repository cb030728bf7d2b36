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
// every answer is a JSON object in valid UTF-8 (fuzz::checkApiAnswer). Also
// the date helpers on the same text.

#include <cstddef>
#include <cstdint>
#include <string>

#include "commsvc/testing/fake_context.hpp"
#include "fuzz_support.hpp"
#include "http/route_table.hpp"
#include "phone_call_api.hpp"

namespace {

using namespace commsvc;

plugins::phonecall::PhoneCallApi& api() {
  static fuzz::ThrowingDatabase database;
  static fuzz::UnreachableOutbox outbox;
  static fuzz::NullLogger logger;
  static testing::InMemoryMetrics metrics;
  static plugins::phonecall::PhoneCallApi instance(database, outbox, logger, metrics,
                                                   [] { return std::string("2026-11-30"); });
  return instance;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const fuzz::RouteInput input = fuzz::splitRouteInput(data, size, "lcgud");
  const std::string& line = input.line;
  HttpRequest request;
  request.body = input.body;

  // The pure helpers the routes use, on the line itself.
  if (plugins::phonecall::isValidDate(line)) {
    const std::string next = plugins::phonecall::nextDay(line);
    // Year 9999 rolls over into a five-digit year, which PostgreSQL accepts.
    if (line < "9999-12-31" && (!plugins::phonecall::isValidDate(next) || next <= line)) {
      fuzz::fail("phonecall_api", "nextDay(" + line + ") gave " + next);
    }
  }
  (void)plugins::phonecall::isValidTime(line);

  plugins::phonecall::PhoneCallApi& calls = api();
  HttpResponse response;
  try {
    switch (input.route) {
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
  fuzz::checkApiAnswer("phonecall_api", response);
  return 0;
}
