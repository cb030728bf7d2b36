#pragma once

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace commsvc::http::testing {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;

/// A response as the test client read it.
using Response = bhttp::response<bhttp::string_body>;

/// A minimal HTTP/1.1 test client on one connection to 127.0.0.1: every
/// operation runs on its own io_context with a deadline, so a test never
/// hangs on the server.
class Client {
 public:
  /// Connects to 127.0.0.1:`port`; throws when that fails within 5 s.
  explicit Client(std::uint16_t port) {
    stream_.expires_after(std::chrono::seconds(5));
    beast::error_code result;
    stream_.async_connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), port),
                          [&](beast::error_code ec) { result = ec; });
    run();
    if (result) throw std::runtime_error("connect: " + result.message());
  }

  /// Writes raw bytes; returns the error (none when all were written).
  beast::error_code send(std::string_view bytes,
                         std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    stream_.expires_after(timeout);
    beast::error_code result;
    net::async_write(stream_, net::buffer(bytes.data(), bytes.size()),
                     [&](beast::error_code ec, std::size_t) { result = ec; });
    run();
    return result;
  }

  /// Reads one response; returns the error (none when one was read).
  beast::error_code read(Response& response,
                         std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    stream_.expires_after(timeout);
    beast::error_code result;
    bhttp::async_read(stream_, buffer_, response,
                      [&](beast::error_code ec, std::size_t) { result = ec; });
    run();
    return result;
  }

  /// Sends a request (keep-alive unless `close`) and reads the response.
  Response request(std::string_view method, std::string_view target, std::string body = "",
                   bool close = false) {
    bhttp::request<bhttp::string_body> request{
        bhttp::string_to_verb(beast::string_view(method.data(), method.size())),
        beast::string_view(target.data(), target.size()), 11};
    request.set(bhttp::field::host, "127.0.0.1");
    request.keep_alive(!close);
    request.body() = std::move(body);
    request.prepare_payload();
    stream_.expires_after(std::chrono::seconds(5));
    beast::error_code result;
    bhttp::async_write(stream_, request, [&](beast::error_code ec, std::size_t) { result = ec; });
    run();
    if (result) throw std::runtime_error("write: " + result.message());
    Response response;
    if (const auto ec = read(response)) throw std::runtime_error("read: " + ec.message());
    return response;
  }

  /// Waits until the server closes the connection (discarding anything it
  /// sends); true when it did within `timeout`.
  bool waitClosed(std::chrono::milliseconds timeout) {
    stream_.expires_after(timeout);
    beast::error_code result;
    for (;;) {
      char chunk[4096];
      std::size_t got = 0;
      stream_.async_read_some(net::buffer(chunk), [&](beast::error_code ec, std::size_t n) {
        result = ec;
        got = n;
      });
      run();
      if (result) break;
      (void)got;
    }
    return result != beast::error::timeout;
  }

 private:
  void run() {
    ioc_.restart();
    ioc_.run();
  }

  net::io_context ioc_;
  beast::tcp_stream stream_{ioc_};
  beast::flat_buffer buffer_;
};

}  // namespace commsvc::http::testing
