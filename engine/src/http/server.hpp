#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "commsvc/logger.hpp"
#include "commsvc/metrics.hpp"
#include "http/route_table.hpp"

namespace commsvc::http {

/// Where the server listens and how it bounds each connection.
struct ServerSettings {
  std::string address = "0.0.0.0";      ///< listen address (IPv4 or IPv6 literal)
  std::uint16_t port = 8004;            ///< listen port; 0 = any free port
  std::size_t threads = 2;              ///< I/O threads (they only read and write)
  std::size_t handlerThreads = 8;       ///< threads running route handlers
  std::size_t handlerQueue = 64;        ///< requests waiting for a handler thread; more get 503
  std::size_t bodyLimit = 1024 * 1024;  ///< larger request bodies get 413
  std::size_t headerLimit = 16 * 1024;  ///< larger request heads get 431
  std::chrono::milliseconds readTimeout{
      10000};  ///< whole request (head + body) and keep-alive idle
  std::chrono::milliseconds writeTimeout{10000};  ///< writing one response
  std::chrono::milliseconds lingerTimeout{2000};  ///< discarding unread input before closing
  std::chrono::seconds retryAfter{1};             ///< Retry-After of a 503 when the pool is full
  /// Every handler thread busy and none finished for this long: the server
  /// reports that it cannot serve (servingProblem()).
  std::chrono::milliseconds stallAfter{60000};
};

/// The engine's HTTP/1.1 server on Boost.Beast: routes requests by method
/// and path pattern to handlers, with keep-alive, a request body limit,
/// read and write timeouts, JSON errors ({"message": ...}) for 400, 404,
/// 405, 413, 431 and 500 (a handler exception), and per-request metrics
/// http_requests_total{method,route,status} and
/// http_request_duration_seconds{route} (route is the pattern, or
/// "unmatched"). The I/O threads only read, route and write; handlers run
/// on a bounded pool (handlerThreads, handlerQueue): when it is full the
/// request gets 503 {"message": ...} with Retry-After at once, counted in
/// http_requests_rejected_total{route}. Inline routes (Route::inlineHandler)
/// run on the I/O thread and are never refused.
class Server {
 public:
  /// Prepares the server; does not listen yet. `logger` and `metrics` must
  /// outlive it. Throws std::invalid_argument for bad route patterns or
  /// duplicate routes.
  Server(ServerSettings settings, std::vector<Route> routes, Logger& logger, Metrics& metrics);
  /// Stops the server (bounded by one second) when still running.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds, listens and starts the I/O threads; logs "http server listening"
  /// with the bound port. Throws std::runtime_error when the address cannot
  /// be bound.
  void start();
  /// The bound port (meaningful after start(); useful with port 0).
  std::uint16_t port() const;
  /// Stops accepting, closes idle connections and lets requests in
  /// progress (running or queued for a handler) finish until `bound`; then
  /// closes everything, drops handlers not yet started and joins the I/O
  /// threads. Returns true when every connection ended within the bound.
  /// A handler still running past the bound is waited for by the
  /// destructor (handlersRunning() tells). Safe to call more than once.
  bool stop(std::chrono::milliseconds bound = std::chrono::milliseconds(5000));

  /// Serves `routes` from now on (a reloaded pipeline's). A request already
  /// routed finishes with the route it matched, whose handler (and what it
  /// captured) lives until then. Throws std::invalid_argument, as the
  /// constructor does, and then keeps the routes it had.
  void setRoutes(std::vector<Route> routes);

  /// Route handlers running now (after stop(): those that outlived it).
  std::size_t handlersRunning() const;
  /// Requests waiting for a handler thread now.
  std::size_t handlersQueued() const;

  /// Why the server cannot serve requests, or "" when it can: "stopping",
  /// or every handler thread busy with none finished for stallAfter.
  /// Cheap; any thread.
  std::string servingProblem() const;

  struct Impl;  ///< implementation (public for the connection sessions)

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace commsvc::http
