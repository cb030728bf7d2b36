#pragma once

// Helpers shared by the fuzz targets: splitting one input into fields, a
// Database whose transaction() throws a sentinel (so a route runs all its
// validation and stops before SQL), fakes that keep nothing (a fuzzer
// calls them millions of times), and the input split and oracles of the
// HTTP API targets.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "commsvc/channel.hpp"
#include "commsvc/database.hpp"
#include "commsvc/http.hpp"
#include "commsvc/logger.hpp"
#include "commsvc/outbox.hpp"

namespace commsvc::fuzz {

/// The fuzz input as text.
inline std::string_view asText(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

/// Splits `text` at each `separator` into exactly `count` fields: missing
/// fields are empty, the last field keeps any further separators.
inline std::vector<std::string> splitFields(std::string_view text, std::size_t count,
                                            char separator) {
  std::vector<std::string> fields;
  fields.reserve(count);
  while (fields.size() + 1 < count) {
    const std::size_t at = text.find(separator);
    if (at == std::string_view::npos) break;
    fields.emplace_back(text.substr(0, at));
    text.remove_prefix(at + 1);
  }
  fields.emplace_back(text);
  fields.resize(count);
  return fields;
}

/// Stops the target with a message: an oracle of the target was violated.
[[noreturn]] inline void fail(const char* target, const std::string& what) {
  std::fprintf(stderr, "%s: invariant violated: %s\n", target, what.c_str());
  std::fflush(stderr);
  std::abort();
}

/// Thrown by ThrowingDatabase: the route got past its validation.
struct DatabaseReached {};

/// A Database that never runs SQL: every transaction() and read() throws
/// DatabaseReached.
class ThrowingDatabase final : public Database {
 public:
  void transaction(const std::function<void(pqxx::work& tx)>& /*work*/) override {
    throw DatabaseReached{};
  }
  void read(const std::function<void(pqxx::nontransaction& tx)>& /*work*/) override {
    throw DatabaseReached{};
  }
};

/// An Outbox that must never be reached (the database throws first).
class UnreachableOutbox final : public Outbox {
 public:
  std::int64_t add(pqxx::work& /*tx*/, const Event& /*event*/) override {
    fail("outbox", "add() called without a transaction");
  }
  bool awaitPublished(const std::vector<std::int64_t>& /*ids*/,
                      std::chrono::milliseconds /*timeout*/) override {
    return true;
  }
};

/// A Logger that drops every line (but asks for all of them, so the
/// formatting code runs).
class NullLogger final : public Logger {
 public:
  using Logger::log;
  void log(LogLevel /*level*/, std::string_view /*message*/, const LogFields& /*fields*/) override {
  }
  bool enabled(LogLevel /*level*/) const override { return true; }
};

/// A Channel that delivers nothing and reports success.
class NullChannel final : public Channel {
 public:
  DeliveryResult deliver(const Message& /*message*/) override {
    return DeliveryResult::delivered();
  }
};

/// True for the statuses a route may answer for request data alone: never
/// 5xx (a 5xx for bad input is a finding).
inline bool isClientOutcome(int status) { return status >= 200 && status < 500; }

/// True when `text` is valid UTF-8 (no overlong forms, surrogates or values
/// above U+10FFFF).
inline bool isValidUtf8(std::string_view text) {
  std::size_t at = 0;
  while (at < text.size()) {
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[at + i]); };
    const unsigned char lead = byte(0);
    std::size_t length = 1;
    unsigned char low = 0x80, high = 0xBF;
    if (lead < 0x80) {
      length = 1;
    } else if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      low = lead == 0xE0 ? 0xA0 : 0x80;
      high = lead == 0xED ? 0x9F : 0xBF;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      low = lead == 0xF0 ? 0x90 : 0x80;
      high = lead == 0xF4 ? 0x8F : 0xBF;
    } else {
      return false;
    }
    if (text.size() - at < length) return false;
    if (length > 1 && (byte(1) < low || byte(1) > high)) return false;
    for (std::size_t i = 2; i < length; ++i) {
      if (byte(i) < 0x80 || byte(i) > 0xBF) return false;
    }
    at += length;
  }
  return true;
}

/// One input of the HTTP API targets: a selector byte choosing the route
/// (one of `routes`, any other byte modulo their number), then the query
/// string or path id up to the first '\n', then the request body.
struct RouteInput {
  char route = 0;    ///< the selected letter of `routes`
  std::string line;  ///< the query string (list) or the raw path id
  std::string body;  ///< the request body (empty without a '\n')
};

/// Splits a fuzz input into a RouteInput; `data` must hold at least one byte.
inline RouteInput splitRouteInput(const std::uint8_t* data, std::size_t size,
                                  std::string_view routes) {
  RouteInput input;
  const char selector = static_cast<char>(data[0]);
  input.route =
      routes.find(selector) != std::string_view::npos ? selector : routes[data[0] % routes.size()];
  const std::string_view text = asText(data + 1, size - 1);
  const std::size_t lineEnd = text.find('\n');
  input.line = std::string(text.substr(0, lineEnd));
  if (lineEnd != std::string_view::npos) input.body = std::string(text.substr(lineEnd + 1));
  return input;
}

/// The oracles of an HTTP API answer to request data: no 5xx, and a body
/// that is a JSON object in valid UTF-8 (client values repeated in error
/// messages must not break it).
inline void checkApiAnswer(const char* target, const HttpResponse& response) {
  if (!isClientOutcome(response.status)) {
    fail(target, "status " + std::to_string(response.status) + ": " + response.body);
  }
  if (response.body.empty() || response.body.front() != '{' || response.body.back() != '}') {
    fail(target, "answer is not a JSON object: " + response.body);
  }
  if (!isValidUtf8(response.body)) fail(target, "answer is not UTF-8: " + response.body);
}

}  // namespace commsvc::fuzz
