#include "http/server.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>

#include "http/handler_pool.hpp"

namespace commsvc::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

class Session;

// The method label of a request: its name when standard, else "other"
// (keeps the metric's cardinality bounded).
std::string methodLabel(bhttp::verb verb) {
  if (verb == bhttp::verb::unknown) return "other";
  return std::string(bhttp::to_string(verb));
}

}  // namespace

struct Server::Impl {
  Impl(ServerSettings s, std::vector<Route> routes, Logger& l, Metrics& m)
      : settings(std::move(s)),
        table(std::make_shared<const RouteTable>(std::move(routes))),
        logger(l),
        metrics(m) {
    addDurations(*table);
    unmatchedDuration = &durationOf("unmatched");
  }

  // Histograms for the patterns of `routes` not seen before.
  void addDurations(const RouteTable& routes) {
    std::lock_guard lock(durationsMutex);
    for (const auto& route : routes.routes()) {
      if (durations.count(route.pattern) == 0) {
        durations.emplace(route.pattern, &durationOf(route.pattern));
      }
    }
  }

  // The routes requests are matched against now.
  std::shared_ptr<const RouteTable> currentTable() const {
    std::lock_guard lock(tableMutex);
    return table;
  }

  Histogram& durationOf(const std::string& route) {
    return metrics.histogram("http_request_duration_seconds",
                             "Time to route and handle an HTTP request", {}, {{"route", route}});
  }

  // Counts one answered request and its duration.
  void record(const std::string& method, const std::string& route, int status,
              Clock::time_point started) {
    metrics
        .counter("http_requests_total", "HTTP requests answered",
                 {{"method", method}, {"route", route}, {"status", std::to_string(status)}})
        .add();
    Histogram* histogram = unmatchedDuration;
    {
      std::lock_guard lock(durationsMutex);
      const auto it = durations.find(route);
      if (it != durations.end()) histogram = it->second;
    }
    histogram->observe(std::chrono::duration<double>(Clock::now() - started).count());
  }

  // Runs `route`'s handler for `request`; an exception becomes a logged 500.
  HttpResponse invoke(const Route& route, const HttpRequest& request) {
    try {
      return route.handler(request);
    } catch (const std::exception& e) {
      logger.error("http handler threw", {{"method", request.method},
                                          {"route", route.pattern},
                                          {"owner", route.owner},
                                          {"error", e.what()}});
    } catch (...) {
      logger.error("http handler threw", {{"method", request.method},
                                          {"route", route.pattern},
                                          {"owner", route.owner},
                                          {"error", "non-standard exception"}});
    }
    return HttpResponse::error(500, "Internal server error");
  }

  // The 404 or 405 answer of a request no route matched.
  static HttpResponse unmatched(RouteMatch& match) {
    if (!match.pathKnown) return HttpResponse::error(404, "Not found");
    HttpResponse response = HttpResponse::error(405, "Method not allowed");
    std::sort(match.allowed.begin(), match.allowed.end());
    std::string allow;
    for (const auto& m : match.allowed) allow += (allow.empty() ? "" : ", ") + m;
    response.headers["Allow"] = allow;
    return response;
  }

  // The 503 answer when the handler pool is full; counted.
  HttpResponse rejected(const std::string& route) {
    metrics
        .counter("http_requests_rejected_total",
                 "HTTP requests refused with 503 because every handler thread was busy and the "
                 "queue full",
                 {{"route", route}})
        .add();
    HttpResponse response =
        HttpResponse::error(503, "Service busy: too many requests in progress, retry later");
    response.headers["Retry-After"] = std::to_string(settings.retryAfter.count());
    return response;
  }

  void doAccept();
  void onAccept(beast::error_code ec, tcp::socket socket);

  ServerSettings settings;
  mutable std::mutex tableMutex;
  std::shared_ptr<const RouteTable> table;  // guarded by tableMutex; swapped by setRoutes()
  Logger& logger;
  Metrics& metrics;
  std::mutex durationsMutex;
  std::map<std::string, Histogram*> durations;  // by route pattern; grows with setRoutes()
  Histogram* unmatchedDuration = nullptr;
  std::atomic<bool> stopping{false};

  // Live sessions; declared before the io_context, whose destruction may
  // destroy sessions that unregister themselves here.
  std::mutex sessionsMutex;
  std::condition_variable sessionsChanged;
  std::map<std::uint64_t, std::weak_ptr<Session>> sessions;
  std::uint64_t nextSession = 0;

  net::io_context ioc;
  // Keeps the I/O threads running while no socket operation is pending
  // (e.g. during stop(), when the only work left is handlers on the pool).
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::optional<tcp::acceptor> acceptor;
  std::optional<net::steady_timer> acceptRetry;
  std::vector<std::thread> threads;
  std::uint16_t boundPort = 0;
  bool started = false;
  bool stopped = false;
  // Last: destroyed first, joining its workers while everything their jobs
  // use still exists.
  std::unique_ptr<HandlerPool> pool;
};

namespace {

// One connection: reads requests one after the other (keep-alive), answers
// each, and closes on errors, timeouts, "Connection: close" or stop.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Server::Impl& server, std::uint64_t id, tcp::socket socket)
      : server_(server), id_(id), stream_(std::move(socket)) {}

  ~Session() {
    {
      std::lock_guard lock(server_.sessionsMutex);
      server_.sessions.erase(id_);
    }
    server_.sessionsChanged.notify_all();
  }

  void start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->readRequest(); });
  }

  // From stop(): closes the connection when it waits for a request; a
  // request in progress is finished and then the connection closes.
  void onStop() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->awaitingRequest_) self->closeNow();
    });
  }

 private:
  const ServerSettings& settings() const { return server_.settings; }

  void readRequest() {
    if (server_.stopping.load()) return closeNow();
    parser_.emplace();
    parser_->body_limit(settings().bodyLimit);
    parser_->header_limit(static_cast<std::uint32_t>(settings().headerLimit));
    awaitingRequest_ = true;
    // One deadline for the head and the body of the request.
    stream_.expires_after(settings().readTimeout);
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->onHeader(ec); });
  }

  void onHeader(beast::error_code ec) {
    awaitingRequest_ = false;
    started_ = Clock::now();
    if (ec) return onReadError(ec);
    const auto& head = parser_->get();
    if (beast::iequals(head[bhttp::field::expect], "100-continue") && !parser_->is_done()) {
      auto cont = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_,
                                                                       head.version());
      bhttp::async_write(stream_, *cont,
                         [self = shared_from_this(), cont](beast::error_code ec, std::size_t) {
                           if (ec) return self->closeNow();
                           self->readBody();
                         });
      return;
    }
    readBody();
  }

  void readBody() {
    if (parser_->is_done()) return onRequest();
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec) return self->onReadError(ec);
                        self->onRequest();
                      });
  }

  void onReadError(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream || ec == net::error::eof ||
        ec == net::error::operation_aborted || ec == net::error::connection_reset) {
      return closeNow();
    }
    if (ec == beast::error::timeout) {
      server_.logger.debug("http connection timed out reading a request",
                           {{"timeout_ms", std::to_string(settings().readTimeout.count())}});
      return closeNow();  // tcp_stream already closed the socket
    }
    int status = 400;
    std::string message = "Bad request";
    if (ec == bhttp::error::body_limit) {
      status = 413;
      message = "Request body too large";
    } else if (ec == bhttp::error::header_limit) {
      status = 431;
      message = "Request header fields too large";
    }
    std::string method = "other";
    std::string route = "unmatched";
    if (parser_ && parser_->is_header_done()) {
      const auto& head = parser_->get();
      method = methodLabel(head.method());
      const std::string_view target(head.target().data(), head.target().size());
      const auto match = server_.currentTable()->match(head.method_string().to_string(),
                                                       target.substr(0, target.find('?')));
      if (match.route != nullptr) route = match.route->pattern;
    }
    server_.record(method, route, status, started_);
    sendError(HttpResponse::error(status, message));
  }

  // Routes the request on this I/O thread; runs its handler inline or on
  // the handler pool (503 when that is full) and then writes the answer.
  void onRequest() {
    auto message = parser_->release();
    auto request = std::make_shared<HttpRequest>();
    request->method = message.method_string().to_string();
    const std::string_view target(message.target().data(), message.target().size());
    const auto question = target.find('?');
    request->path = std::string(target.substr(0, question));
    if (question != std::string_view::npos) {
      request->query = parseQuery(target.substr(question + 1));
    }
    for (const auto& field : message) {
      std::string name = field.name_string().to_string();
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      request->headers[std::move(name)] = field.value().to_string();
    }
    request->body = std::move(message.body());
    version_ = message.version();
    requestKeepAlive_ = message.keep_alive();
    method_ = methodLabel(message.method());

    // The table (and the handlers it holds) stays alive with the request,
    // even when setRoutes() swaps it meanwhile.
    auto table = server_.currentTable();
    RouteMatch match = table->match(request->method, request->path);
    if (match.route == nullptr) return respond("unmatched", Server::Impl::unmatched(match));
    const Route& route = *match.route;
    request->params = std::move(match.params);
    if (route.inlineHandler) return respond(route.pattern, server_.invoke(route, *request));

    std::function<void()> job = [self = shared_from_this(), &route, request, table] {
      HttpResponse answer = self->server_.invoke(route, *request);
      net::post(self->stream_.get_executor(),
                [self, pattern = route.pattern, answer = std::move(answer)]() mutable {
                  self->respond(pattern, std::move(answer));
                });
    };
    if (!server_.pool->trySubmit(job)) respond(route.pattern, server_.rejected(route.pattern));
  }

  // Counts the answer and writes it; then reads the next request, or
  // closes when the client or a stop asked for it.
  void respond(const std::string& route, HttpResponse answer) {
    server_.record(method_, route, answer.status, started_);
    const bool keepAlive = requestKeepAlive_ && !server_.stopping.load();
    response_ = toBeast(std::move(answer), version_, keepAlive);
    stream_.expires_after(settings().writeTimeout);
    bhttp::async_write(stream_, response_,
                       [self = shared_from_this(), keepAlive](beast::error_code ec, std::size_t) {
                         if (ec) return self->closeNow();
                         if (!keepAlive) return self->lingerAndClose();
                         self->readRequest();
                       });
  }

  static bhttp::response<bhttp::string_body> toBeast(HttpResponse answer, unsigned version,
                                                     bool keepAlive) {
    bhttp::response<bhttp::string_body> out{static_cast<bhttp::status>(answer.status), version};
    out.set(bhttp::field::server, "commsvc");
    out.set(bhttp::field::content_type, answer.contentType);
    for (const auto& [name, value] : answer.headers) out.set(name, value);
    out.body() = std::move(answer.body);
    out.keep_alive(keepAlive);
    out.prepare_payload();
    return out;
  }

  // Answers an unreadable request and closes the connection.
  void sendError(HttpResponse answer) {
    response_ = toBeast(std::move(answer), 11, false);
    stream_.expires_after(settings().writeTimeout);
    bhttp::async_write(stream_, response_,
                       [self = shared_from_this()](beast::error_code ec, std::size_t) {
                         if (ec) return self->closeNow();
                         self->lingerAndClose();
                       });
  }

  // Half-closes, then discards what the client still sends (bounded in
  // time, nothing kept) so it can read the response before the close
  // instead of seeing a reset.
  void lingerAndClose() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(settings().lingerTimeout);
    discard();
  }

  void discard() {
    stream_.async_read_some(net::buffer(drain_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (ec) return self->closeNow();
                              self->discard();
                            });
  }

  void closeNow() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

  Server::Impl& server_;
  std::uint64_t id_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bhttp::response<bhttp::string_body> response_;
  std::array<char, 4096> drain_{};
  bool awaitingRequest_ = false;
  Clock::time_point started_ = Clock::now();
  // Of the request being answered.
  unsigned version_ = 11;
  bool requestKeepAlive_ = false;
  std::string method_ = "other";
};

}  // namespace

void Server::Impl::doAccept() {
  acceptor->async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    onAccept(ec, std::move(socket));
  });
}

void Server::Impl::onAccept(beast::error_code ec, tcp::socket socket) {
  if (stopping.load() || !acceptor->is_open()) return;
  if (ec) {
    // E.g. out of file descriptors: pause briefly instead of spinning.
    logger.warn("http accept failed", {{"error", ec.message()}});
    acceptRetry->expires_after(std::chrono::milliseconds(100));
    acceptRetry->async_wait([this](beast::error_code waitError) {
      if (!waitError && !stopping.load()) doAccept();
    });
    return;
  }
  std::shared_ptr<Session> session;
  {
    std::lock_guard lock(sessionsMutex);
    const std::uint64_t id = nextSession++;
    session = std::make_shared<Session>(*this, id, std::move(socket));
    sessions.emplace(id, session);
  }
  session->start();
  doAccept();
}

Server::Server(ServerSettings settings, std::vector<Route> routes, Logger& logger, Metrics& metrics)
    : impl_(std::make_unique<Impl>(std::move(settings), std::move(routes), logger, metrics)) {}

Server::~Server() { stop(std::chrono::milliseconds(1000)); }

void Server::start() {
  Impl& s = *impl_;
  if (s.started) throw std::logic_error("http server started twice");
  const std::string where = s.settings.address + ":" + std::to_string(s.settings.port);
  try {
    const tcp::endpoint endpoint(net::ip::make_address(s.settings.address), s.settings.port);
    s.acceptor.emplace(net::make_strand(s.ioc));
    s.acceptor->open(endpoint.protocol());
    s.acceptor->set_option(net::socket_base::reuse_address(true));
    s.acceptor->bind(endpoint);
    s.acceptor->listen(net::socket_base::max_listen_connections);
    s.boundPort = s.acceptor->local_endpoint().port();
  } catch (const std::exception& e) {
    throw std::runtime_error("http server cannot listen on " + where + ": " + e.what());
  }
  s.acceptRetry.emplace(s.acceptor->get_executor());
  s.pool = std::make_unique<HandlerPool>(s.settings.handlerThreads, s.settings.handlerQueue);
  s.work.emplace(net::make_work_guard(s.ioc));
  s.started = true;
  net::dispatch(s.acceptor->get_executor(), [&s] { s.doAccept(); });
  const std::size_t n = std::max<std::size_t>(1, s.settings.threads);
  for (std::size_t i = 0; i < n; ++i) s.threads.emplace_back([&s] { s.ioc.run(); });
  s.logger.info("http server listening",
                {{"address", s.settings.address},
                 {"port", std::to_string(s.boundPort)},
                 {"routes", std::to_string(s.currentTable()->routes().size())},
                 {"handler_threads", std::to_string(s.pool->threads())},
                 {"handler_queue", std::to_string(s.settings.handlerQueue)}});
}

std::uint16_t Server::port() const { return impl_->boundPort; }

bool Server::stop(std::chrono::milliseconds bound) {
  Impl& s = *impl_;
  if (!s.started || s.stopped) return true;
  s.stopped = true;
  const auto deadline = Clock::now() + bound;
  s.stopping.store(true);
  net::post(s.acceptor->get_executor(), [&s] {
    beast::error_code ignored;
    s.acceptor->close(ignored);
    s.acceptRetry->cancel();
  });
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(s.sessionsMutex);
    for (const auto& [id, weak] : s.sessions) {
      if (auto session = weak.lock()) live.push_back(std::move(session));
    }
  }
  for (auto& session : live) session->onStop();
  live.clear();
  bool finished;
  {
    std::unique_lock lock(s.sessionsMutex);
    finished = s.sessionsChanged.wait_until(lock, deadline, [&] { return s.sessions.empty(); });
  }
  if (!finished) {
    s.logger.warn("http server stopped with requests still in progress",
                  {{"bound_ms", std::to_string(bound.count())}});
  }
  s.ioc.stop();
  for (auto& thread : s.threads) thread.join();
  s.threads.clear();
  // Sessions that ended released their jobs; what is left is queued or
  // running past the bound: drop the queued ones, leave the running ones
  // to the destructor.
  if (!s.pool->shutdown(finished ? Clock::now() + std::chrono::milliseconds(100) : Clock::now())) {
    finished = false;
    s.logger.warn("http handlers still running after the stop bound",
                  {{"running", std::to_string(s.pool->running())}});
  }
  s.logger.info("http server stopped", {{"port", std::to_string(s.boundPort)}});
  return finished;
}

void Server::setRoutes(std::vector<Route> routes) {
  auto table = std::make_shared<const RouteTable>(std::move(routes));  // throws when invalid
  impl_->addDurations(*table);
  std::shared_ptr<const RouteTable> old;
  {
    std::lock_guard lock(impl_->tableMutex);
    old = std::exchange(impl_->table, std::move(table));
  }
  // `old` is released here, or by the last request still using it.
}

std::size_t Server::handlersRunning() const { return impl_->pool ? impl_->pool->running() : 0; }

std::size_t Server::handlersQueued() const { return impl_->pool ? impl_->pool->queued() : 0; }

std::string Server::servingProblem() const {
  const Impl& s = *impl_;
  if (s.stopping.load()) return "stopping";
  if (!s.pool) return "not started";
  if (s.pool->running() < s.pool->threads()) return "";
  const auto idle = Clock::now() - s.pool->lastProgress();
  if (idle < s.settings.stallAfter) return "";
  return "every handler thread busy and none finished for " +
         std::to_string(std::chrono::duration_cast<std::chrono::seconds>(idle).count()) + " s (" +
         std::to_string(s.pool->queued()) + " requests queued)";
}

}  // namespace commsvc::http
