#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "commsvc/channel.hpp"
#include "commsvc/message.hpp"
#include "commsvc/metrics.hpp"
#include "commsvc/options.hpp"

namespace commsvc::plugins::transport_mock {

/// Which failure the mock channel simulates.
enum class FailureMode { None, Transient, Permanent };

/// The texts of the `fail` option.
inline constexpr OptionChoice kFailureModes[] = {
    choice("none", FailureMode::None),
    choice("transient", FailureMode::Transient),
    choice("permanent", FailureMode::Permanent),
};

/// Settings of a MockChannel: the options of its YAML block (kOptions).
struct MockChannelSettings {
  std::string file = "mock-outbox.jsonl";    ///< the JSON-lines outbox to append to
  FailureMode fail = FailureMode::None;      ///< which failure to simulate
  std::int64_t failEvery = 1;                ///< with fail != None, every Nth delivery fails
  std::string failMessage = "mock failure";  ///< detail of simulated failures
};

/// The options of a `mock` channel block, each bound to its MockChannelSettings field.
inline constexpr auto kOptions = optionList(
    Option<MockChannelSettings>::field<&MockChannelSettings::file>(
        "file", "JSON-lines file each delivered message is appended to"),
    Option<MockChannelSettings>::field<&MockChannelSettings::fail>(
        "fail", "simulated failure of every fail_every-th delivery")
        .choices(kFailureModes),
    Option<MockChannelSettings>::field<&MockChannelSettings::failEvery>(
        "fail_every", "with fail set, every Nth delivery fails (1 = all), counting from the first")
        .range(1, 1000000),
    Option<MockChannelSettings>::field<&MockChannelSettings::failMessage>(
        "fail_message", "detail reported by simulated failures"));

/// A channel that "delivers" by appending each message as one JSON line to
/// a file, and can simulate transient or permanent failures. Thread-safe:
/// each line is written with a single write(2) on an O_APPEND descriptor,
/// so lines stay whole across threads and processes, even when killed.
class MockChannel : public Channel {
 public:
  /// Opens (creating if needed) `settings.file` for appending; throws
  /// ConfigError when it cannot or when failEvery < 1. Counts deliveries in
  /// `metrics` (which must outlive the channel).
  MockChannel(MockChannelSettings settings, Metrics& metrics);
  /// Closes the file.
  ~MockChannel() override;
  MockChannel(const MockChannel&) = delete;
  MockChannel& operator=(const MockChannel&) = delete;

  /// Appends `message` to the file, or fails as configured (then writes
  /// nothing). An I/O error is a transient failure.
  DeliveryResult deliver(const Message& message) override;

  /// The JSON line (with its trailing newline) written for `message`.
  static std::string toJsonLine(const Message& message);

 private:
  const MockChannelSettings settings_;
  int fd_ = -1;
  std::atomic<std::uint64_t> attempts_{0};
  Counter& delivered_;
  Counter& failed_;
};

}  // namespace commsvc::plugins::transport_mock
