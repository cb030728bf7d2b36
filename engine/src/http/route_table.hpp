#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "commsvc/http.hpp"

namespace commsvc::http {

/// One route served by the server: method, pattern and handler.
struct Route {
  std::string method;   ///< "GET", "POST", ... (exact, upper case)
  std::string pattern;  ///< e.g. "/api/emails/{id}": literal segments and {param} segments
  HttpHandler handler;  ///< called for matching requests
  std::string owner;    ///< who registered it (a plugin instance or "engine"), for logs
  /// Runs on the I/O thread instead of the handler pool (never queued,
  /// never refused): only for handlers that never block (/livez, /readyz,
  /// /health, /metrics read in-memory state).
  bool inlineHandler = false;
};

/// What RouteTable::match found.
struct RouteMatch {
  const Route* route = nullptr;               ///< the matching route, or nullptr
  std::map<std::string, std::string> params;  ///< decoded {param} values of `route`
  bool pathKnown = false;  ///< some route has this path (with another method when route is null)
  std::vector<std::string> allowed;  ///< methods of the routes with this path (for 405 Allow)
};

/// Routes by method and path pattern. Built once, read-only afterwards
/// (match() is thread-safe without a lock).
class RouteTable {
 public:
  /// Builds the table. Throws std::invalid_argument for a pattern that does
  /// not start with '/', an empty or unterminated {param}, or a method and
  /// pattern registered twice.
  explicit RouteTable(std::vector<Route> routes);

  /// The route for `method` and the raw (still percent-encoded) `path`.
  /// Literal segments match exactly; a {param} segment matches any
  /// non-empty segment. When several patterns match, the one with the
  /// first literal segment wins over a parameter at the same position.
  RouteMatch match(std::string_view method, std::string_view path) const;

  /// Every route, in registration order.
  const std::vector<Route>& routes() const { return routes_; }

 private:
  struct Segment {
    std::string text;  // literal text or the parameter's name
    bool param = false;
  };
  struct Compiled {
    std::vector<Segment> segments;
    int literals = 0;  // for ranking: more literal segments first
  };

  std::vector<Route> routes_;
  std::vector<Compiled> compiled_;  // parallel to routes_
};

/// Decodes %XX escapes (and, when `plusIsSpace`, '+' as a space). Invalid
/// escapes are kept as they are.
std::string percentDecode(std::string_view text, bool plusIsSpace = false);

/// Parses a query string ("a=1&b=x%20y") into decoded name/value pairs;
/// the last value of a repeated name wins; "a" alone gives an empty value.
std::map<std::string, std::string> parseQuery(std::string_view query);

}  // namespace commsvc::http
