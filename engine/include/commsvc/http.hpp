#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace commsvc {

/// An HTTP request as a route handler sees it. Owns its bytes.
struct HttpRequest {
  std::string method;                        ///< "GET", "POST", "PUT", "DELETE", ...
  std::string path;                          ///< the path without the query, e.g. "/api/emails/42"
  std::map<std::string, std::string> query;  ///< decoded query parameters (last one wins)
  std::map<std::string, std::string>
      params;  ///< path parameters: "/api/emails/{id}" → {"id", "42"}
  std::map<std::string, std::string> headers;  ///< header names in lower case
  std::string body;                            ///< the request body (size-limited by the server)

  /// The query parameter `name`, or nullptr.
  const std::string* queryParam(std::string_view name) const {
    const auto it = query.find(std::string(name));
    return it == query.end() ? nullptr : &it->second;
  }
};

/// What a route handler answers.
struct HttpResponse {
  int status = 200;                              ///< HTTP status code
  std::string body;                              ///< the body
  std::string contentType = "application/json";  ///< Content-Type
  std::map<std::string, std::string> headers;    ///< extra headers

  /// A JSON response with `status` and `json` (already serialised).
  static HttpResponse json(int status, std::string json) {
    return {status, std::move(json), "application/json", {}};
  }
  /// The service's error shape: {"message": "..."} with `status`.
  static HttpResponse error(int status, std::string_view message);
};

/// Handles one request of a registered route. Called from the HTTP server's
/// threads, possibly concurrently: must be thread-safe. An exception becomes
/// a 500 {"message": "Internal server error"} and is logged.
using HttpHandler = std::function<HttpResponse(const HttpRequest& request)>;

}  // namespace commsvc
