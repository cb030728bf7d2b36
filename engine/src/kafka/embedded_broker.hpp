#pragma once

#include <string>
#include <utility>
#include <vector>

namespace commsvc::kafka {

/// librdkafka's mock cluster running inside this process: a real
/// Kafka-protocol broker on 127.0.0.1 (random ports) that other processes
/// and kcat can use. For development, tests and `brokers: embedded`.
class EmbeddedBroker {
 public:
  /// Starts `brokers` brokers and creates `topics` (name, partitions).
  /// Throws std::runtime_error when the cluster cannot start.
  EmbeddedBroker(int brokers, const std::vector<std::pair<std::string, int>>& topics);
  ~EmbeddedBroker();
  EmbeddedBroker(const EmbeddedBroker&) = delete;
  EmbeddedBroker& operator=(const EmbeddedBroker&) = delete;

  /// The bootstrap list, "127.0.0.1:port,...".
  const std::string& bootstrapServers() const { return bootstrap_; }
  /// Writes the bootstrap list (plus newline) to `path`, creating parent
  /// directories, atomically (write then rename).
  void writeBootstrapFile(const std::string& path) const;

 private:
  struct Impl;
  Impl* impl_;
  std::string bootstrap_;
};

}  // namespace commsvc::kafka
