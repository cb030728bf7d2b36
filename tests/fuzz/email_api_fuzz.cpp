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
// every answer is a JSON object in valid UTF-8 (fuzz::checkApiAnswer).

#include <cstddef>
#include <cstdint>
#include <string>

#include "email_api.hpp"
#include "fuzz_support.hpp"
#include "http/route_table.hpp"

namespace {

using namespace commsvc;

plugins::email::EmailApi& api() {
  static fuzz::ThrowingDatabase database;
  static fuzz::UnreachableOutbox outbox;
  static fuzz::NullChannel channel;
  static fuzz::NullLogger logger;
  static plugins::email::EmailApi instance(
      database, outbox, channel, logger,
      plugins::email::ApiSettings{.defaultSenderEmail = "noreply@example.org",
                                  .defaultSenderName = "Communication Service",
                                  .legalFooterHtml = "<p>Impressum</p>",
                                  .legalFooterText = "Impressum",
                                  .systemNotificationEmail = "admin@example.org"});
  return instance;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const fuzz::RouteInput input = fuzz::splitRouteInput(data, size, "lcguds");
  HttpRequest request;
  request.body = input.body;
  request.headers["content-type"] = "application/json";

  plugins::email::EmailApi& email = api();
  HttpResponse response;
  try {
    switch (input.route) {
      case 'l':
        request.method = "GET";
        request.path = "/api/emails";
        request.query = http::parseQuery(input.line);
        response = email.listEmails(request);
        break;
      case 'c':
        request.method = "POST";
        request.path = "/api/emails";
        response = email.createEmail(request);
        break;
      case 'g':
        request.method = "GET";
        request.params["id"] = http::percentDecode(input.line);
        response = email.getEmail(request);
        break;
      case 'u':
        request.method = "PUT";
        request.params["id"] = http::percentDecode(input.line);
        response = email.updateEmail(request);
        break;
      case 'd':
        request.method = "DELETE";
        request.params["id"] = http::percentDecode(input.line);
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
  fuzz::checkApiAnswer("email_api", response);
  return 0;
}
