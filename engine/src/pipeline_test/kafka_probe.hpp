#pragma once

// What `commsvc test` needs from the embedded broker besides producing:
// reading a topic (the dead-letter topic) and seeing how far the engine's
// consumer group has committed.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "kafka/client_config.hpp"
#include "kafka/record.hpp"

namespace commsvc::pipeline_test {

/// Reads every record of one topic from its beginning, all partitions
/// assigned directly (no consumer group, nothing committed).
class TopicReader {
 public:
  /// Connects to `bootstrap` and assigns every partition of `topic` (as its
  /// metadata tells within 10 s). Throws std::runtime_error when it cannot.
  TopicReader(const std::string& bootstrap, const std::string& topic);
  ~TopicReader();
  TopicReader(const TopicReader&) = delete;
  TopicReader& operator=(const TopicReader&) = delete;

  /// Appends the records that arrived since the last call to records(),
  /// waiting at most `timeout` for the first.
  void poll(std::chrono::milliseconds timeout);
  /// Every record read so far, in arrival order.
  const std::vector<kafka::Record>& records() const { return records_; }

 private:
  kafka::KafkaHandle handle_;
  std::vector<kafka::Record> records_;
};

/// How far a consumer group got on a topic.
struct GroupProgress {
  std::int64_t records = 0;    ///< records on the topic (sum of the partitions' end offsets)
  std::int64_t committed = 0;  ///< of which the group has committed (per partition at most its end)
  bool known = false;          ///< false when the broker could not be asked
};

/// Asks the broker what a consumer group has committed, without joining it.
class GroupProbe {
 public:
  /// A client of `bootstrap` carrying `group` as its group.id; it never
  /// subscribes. Throws std::runtime_error when refused.
  GroupProbe(const std::string& bootstrap, const std::string& group);
  ~GroupProbe();
  GroupProbe(const GroupProbe&) = delete;
  GroupProbe& operator=(const GroupProbe&) = delete;

  /// The group's progress on `topic`, each request waiting at most `timeout`.
  GroupProgress progress(const std::string& topic, std::chrono::milliseconds timeout);

 private:
  kafka::KafkaHandle handle_;
};

}  // namespace commsvc::pipeline_test
