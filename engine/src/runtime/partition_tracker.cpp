#include "runtime/partition_tracker.hpp"

#include <algorithm>
#include <stdexcept>

namespace commsvc::runtime {

PartitionTracker::PartitionTracker(std::string topic, std::int32_t partition)
    : topic_(std::move(topic)), partition_(partition) {}

void PartitionTracker::dispatched(std::int64_t offset) {
  if (!offsets_.empty() && offset <= offsets_.back()) {
    throw std::logic_error("offsets must increase: " + std::to_string(offset) + " after " +
                           std::to_string(offsets_.back()));
  }
  offsets_.push_back(offset);
  done_.push_back(false);
}

void PartitionTracker::finished(std::int64_t offset) {
  std::lock_guard lock(inboxMutex_);
  inbox_.push_back(offset);
}

std::optional<std::int64_t> PartitionTracker::advance() {
  std::vector<std::int64_t> taken;
  {
    std::lock_guard lock(inboxMutex_);
    taken.swap(inbox_);
  }
  for (std::int64_t offset : taken) {
    const auto it = std::lower_bound(offsets_.begin(), offsets_.end(), offset);
    if (it != offsets_.end() && *it == offset) done_[it - offsets_.begin()] = true;
  }
  while (finishedPrefix_ < done_.size() && done_[finishedPrefix_]) ++finishedPrefix_;
  if (finishedPrefix_ == 0) return std::nullopt;
  const std::int64_t position = offsets_[finishedPrefix_ - 1] + 1;
  if (position == stored_) return std::nullopt;
  stored_ = position;
  return position;
}

void PartitionTracker::committed(std::int64_t position) {
  while (!offsets_.empty() && offsets_.front() < position && finishedPrefix_ > 0) {
    offsets_.pop_front();
    done_.pop_front();
    --finishedPrefix_;
  }
}

}  // namespace commsvc::runtime
