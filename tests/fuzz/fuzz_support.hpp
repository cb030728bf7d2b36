#pragma once

// Helpers shared by the fuzz targets: splitting one input into fields, a
// Database whose transaction() throws a sentinel (so a route runs all its
// validation and stops before SQL), and fakes that keep nothing (a fuzzer
// calls them millions of times).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "commsvc/channel.hpp"
#include "commsvc/database.hpp"
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

/// A Database that never runs SQL: every transaction() throws DatabaseReached.
class ThrowingDatabase final : public Database {
 public:
  void transaction(const std::function<void(pqxx::work& tx)>& /*work*/) override {
    throw DatabaseReached{};
  }
};

/// An Outbox that must never be reached (the database throws first).
class UnreachableOutbox final : public Outbox {
 public:
  void add(pqxx::work& /*tx*/, const Event& /*event*/) override {
    fail("outbox", "add() called without a transaction");
  }
};

/// A Logger that drops every line (but asks for all of them, so the
/// formatting code runs).
class NullLogger final : public Logger {
 public:
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

}  // namespace commsvc::fuzz
