#include "mock_publisher.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "commsvc/config.hpp"

namespace commsvc::plugins::publisher_mock {

MockPublisher::MockPublisher(const MockPublisherSettings& settings) {
  fd_ = ::open(settings.file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    throw ConfigError("cannot open mock events file '" + settings.file +
                      "': " + std::strerror(errno));
  }
}

MockPublisher::~MockPublisher() {
  if (fd_ >= 0) ::close(fd_);
}

std::string MockPublisher::toJsonLine(const Event& event) {
  // The envelope is embedded as produced by the SDK, so the file holds
  // exactly what a real publisher would send.
  std::string line = "{\"key\":";
  line += nlohmann::json(event.key).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line += ",\"envelope\":";
  line += toEnvelopeJson(event);
  line += "}\n";
  return line;
}

void MockPublisher::publish(Event event, PublishCallback done) {
  const std::string line = toJsonLine(event);
  // One write(2) per line: with O_APPEND the kernel appends it whole.
  const ssize_t written = ::write(fd_, line.data(), line.size());
  if (!done) return;
  if (written == static_cast<ssize_t>(line.size())) {
    done(PublishResult::published());
  } else {
    done(PublishResult::failed(std::string("mock events write failed: ") +
                               (written < 0 ? std::strerror(errno) : "short write")));
  }
}

bool MockPublisher::flush(std::chrono::milliseconds /*timeout*/) { return true; }

}  // namespace commsvc::plugins::publisher_mock
