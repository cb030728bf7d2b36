#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "commsvc/http.hpp"

namespace commsvc::http {

/// The state of one dependency as GET /health reports it.
struct ComponentHealth {
  bool healthy = true;  ///< false makes the whole answer 503 "unhealthy"
  std::string state;    ///< "ok", "disabled", "unknown" or the error text
};

/// One dependency checked by GET /health: its JSON member name and a probe
/// (called on every request, from the server's threads; must be bounded
/// in time and thread-safe).
struct HealthCheck {
  std::string name;                        ///< e.g. "database", "kafka"
  std::function<ComponentHealth()> probe;  ///< the dependency's current state
};

/// The GET /health handler: 200 {"status": "healthy", "service": `service`,
/// <name>: <state>...} when every probe is healthy, else 503 with
/// "status": "unhealthy". A probe that throws counts as unhealthy with the
/// exception's text.
HttpHandler makeHealthHandler(std::string service, std::vector<HealthCheck> checks);

/// Whether a Kafka broker of `bootstrap` ("host:port,host:port", optional
/// "PROTOCOL://" prefixes) accepts a TCP connection within `timeout`:
/// healthy "ok" when one does, else unhealthy with the last error. Only
/// reachability: it says nothing about authentication or the group.
ComponentHealth probeBrokers(const std::string& bootstrap, std::chrono::milliseconds timeout);

}  // namespace commsvc::http
