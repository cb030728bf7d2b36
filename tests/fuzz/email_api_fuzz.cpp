// Fuzz target: the email HTTP API (plugins/email/email_api.hpp) on request
// data: JSON bodies, query strings and path ids. The database throws a
// sentinel in transaction(), so every route runs all of its validation (and
// Markdown / HTML rendering) and stops before SQL.
//
// Input: one selector byte choosing the route ('l' list, 'c' create, 'g' get,
// 'u' update, 'd' delete, 's' system message; any other byte modulo 6), then
// the query string (list) or path id (get, update, delete) up to the first
// '\n', then the body.
//
// Oracles: no exception but the sentinel leaves a route, no 5xx answer, and
// every answer is JSON-shaped.

#include <cstddef>
#include <cstdint>
#include <string>

#include "email_api.hpp"
#include "fuzz_support.hpp"
#include "http/route_table.hpp"

namespace {

using namespace commsvc;
using commsvc::fuzz::fail;

plugins::email::EmailApi& api() {
  static fuzz::ThrowingDatabase database;
  static fuzz::UnreachableOutbox outbox;
  static fuzz::NullChannel channel;
  static fuzz::NullLogger logger;
  static plugins::email::EmailApi instance(
      database, outbox, channel, logger,
      plugins::email::ApiSettings{"noreply@example.org", "Communication Service",
                                  "<p>Impressum</p>", "Impressum", "admin@example.org"});
  return instance;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view text = fuzz::asText(data + 1, size - 1);
  const std::size_t lineEnd = text.find('\n');
  const std::string_view line = text.substr(0, lineEnd);
  HttpRequest request;
  request.body = lineEnd == std::string_view::npos ? "" : std::string(text.substr(lineEnd + 1));
  request.headers["content-type"] = "application/json";

  static constexpr char kRoutes[] = "lcguds";
  const char selector =
      std::string_view(kRoutes).find(static_cast<char>(data[0])) != std::string_view::npos
          ? static_cast<char>(data[0])
          : kRoutes[data[0] % 6];
  plugins::email::EmailApi& email = api();
  HttpResponse response;
  try {
    switch (selector) {
      case 'l':
        request.method = "GET";
        request.path = "/api/emails";
        request.query = http::parseQuery(line);
        response = email.listEmails(request);
        break;
      case 'c':
        request.method = "POST";
        request.path = "/api/emails";
        response = email.createEmail(request);
        break;
      case 'g':
        request.method = "GET";
        request.params["id"] = http::percentDecode(line);
        response = email.getEmail(request);
        break;
      case 'u':
        request.method = "PUT";
        request.params["id"] = http::percentDecode(line);
        response = email.updateEmail(request);
        break;
      case 'd':
        request.method = "DELETE";
        request.params["id"] = http::percentDecode(line);
        response = email.deleteEmail(request);
        break;
      default:
        request.method = "POST";
        request.path = "/api/system-messages";
        response = email.sendSystemMessage(request);
        break;
    }
  } catch (const fuzz::DatabaseReached&) {
    return 0;  // valid enough to reach SQL
  }
  if (!fuzz::isClientOutcome(response.status)) {
    fail("email_api", "status " + std::to_string(response.status) + ": " + response.body);
  }
  if (response.body.empty() || response.body.front() != '{' || response.body.back() != '}') {
    fail("email_api", "answer is not a JSON object: " + response.body);
  }
  return 0;
}
