#pragma once

#include <chrono>

#include "commsvc/event.hpp"
#include "commsvc/logger.hpp"
#include "commsvc/publisher.hpp"

namespace commsvc::plugins::publisher_log {

/// A publisher that logs each event at info level and reports it published
/// at once. Meant for development and dry runs.
class LogPublisher : public Publisher {
 public:
  /// Logs through `logger`, which must outlive the publisher.
  explicit LogPublisher(Logger& logger);

  /// Logs `event` (type, key, id, payload) and reports it published.
  void publish(Event event, PublishCallback done) override;

  /// Nothing is ever outstanding: returns true at once.
  bool flush(std::chrono::milliseconds timeout) override;

 private:
  Logger& logger_;
};

}  // namespace commsvc::plugins::publisher_log
