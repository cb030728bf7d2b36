#include "mock_channel.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <utility>

#include "commsvc/config.hpp"

namespace commsvc::plugins::transport_mock {

MockChannel::MockChannel(MockChannelSettings settings, Metrics& metrics)
    : settings_(std::move(settings)),
      delivered_(metrics.counter("mock_channel_delivered_total",
                                 "Messages written to the mock channel's outbox")),
      failed_(metrics.counter("mock_channel_failed_total",
                              "Deliveries the mock channel failed on purpose or by I/O error")) {
  if (settings_.failEvery < 1) throw ConfigError("fail_every must be at least 1");
  fd_ = ::open(settings_.file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    throw ConfigError("cannot open mock outbox '" + settings_.file + "': " + std::strerror(errno));
  }
}

MockChannel::~MockChannel() {
  if (fd_ >= 0) ::close(fd_);
}

std::string MockChannel::toJsonLine(const Message& message) {
  const nlohmann::ordered_json line = {
      {"id", message.id},
      {"from", message.fromAddress},
      {"fromName", message.fromName},
      {"to", message.toAddress},
      {"toName", message.toName},
      {"subject", message.subject},
      {"textBody", message.textBody},
      {"htmlBody", message.htmlBody},
  };
  // Invalid UTF-8 is replaced rather than thrown: a mock must not fail on it.
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  text.push_back('\n');
  return text;
}

DeliveryResult MockChannel::deliver(const Message& message) {
  const std::uint64_t attempt = attempts_.fetch_add(1, std::memory_order_relaxed) + 1;
  if (settings_.fail != FailureMode::None &&
      attempt % static_cast<std::uint64_t>(settings_.failEvery) == 0) {
    failed_.add();
    return settings_.fail == FailureMode::Transient
               ? DeliveryResult::transient(settings_.failMessage)
               : DeliveryResult::permanent(settings_.failMessage);
  }
  const std::string line = toJsonLine(message);
  // One write(2) per line: with O_APPEND the kernel appends it whole.
  const ssize_t written = ::write(fd_, line.data(), line.size());
  if (written != static_cast<ssize_t>(line.size())) {
    failed_.add();
    const std::string why = written < 0 ? std::strerror(errno) : "short write";
    return DeliveryResult::transient("mock outbox write failed: " + why);
  }
  delivered_.add();
  return DeliveryResult::delivered();
}

}  // namespace commsvc::plugins::transport_mock
