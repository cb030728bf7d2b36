#include "log_publisher.hpp"

#include <string>

namespace commsvc::plugins::publisher_log {

LogPublisher::LogPublisher(Logger& logger) : logger_(logger) {}

void LogPublisher::publish(Event event, PublishCallback done) {
  if (logger_.enabled(LogLevel::Info)) {
    logger_.info(
        "event published to log",
        {{"type", event.type}, {"key", event.key}, {"id", event.id}, {"payload", event.payload}});
  }
  if (done) done(PublishResult::published());
}

bool LogPublisher::flush(std::chrono::milliseconds /*timeout*/) { return true; }

}  // namespace commsvc::plugins::publisher_log
