#pragma once

#include <chrono>
#include <string>

#include "commsvc/event.hpp"
#include "commsvc/options.hpp"
#include "commsvc/publisher.hpp"

namespace commsvc::plugins::publisher_mock {

/// Settings of a MockPublisher: the options of its YAML block (kOptions).
struct MockPublisherSettings {
  std::string file = "mock-events.jsonl";  ///< the JSON-lines file events are appended to
};

/// The options of a `mock` publisher block.
inline constexpr auto kOptions =
    optionList(Option<MockPublisherSettings>::field<&MockPublisherSettings::file>(
        "file", "JSON-lines file each event is appended to as {key, envelope}"));

/// A publisher that appends each event as one JSON line
/// `{"key": ..., "envelope": {...}}` to a file. Thread-safe: each line is
/// written with a single write(2) on an O_APPEND descriptor, so lines stay
/// whole across threads and processes, even when killed.
class MockPublisher : public Publisher {
 public:
  /// Opens (creating if needed) `settings.file` for appending; throws
  /// ConfigError when it cannot.
  explicit MockPublisher(const MockPublisherSettings& settings);
  /// Closes the file.
  ~MockPublisher() override;
  MockPublisher(const MockPublisher&) = delete;
  MockPublisher& operator=(const MockPublisher&) = delete;

  /// Appends `event` and then calls `done`: ok, or not ok with the I/O error.
  void publish(Event event, PublishCallback done) override;

  /// Lines are written before publish() returns: returns true at once.
  bool flush(std::chrono::milliseconds timeout) override;

  /// The JSON line (with its trailing newline) written for `event`.
  static std::string toJsonLine(const Event& event);

 private:
  int fd_ = -1;
};

}  // namespace commsvc::plugins::publisher_mock
