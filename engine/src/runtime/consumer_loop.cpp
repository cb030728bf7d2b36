#include "runtime/consumer_loop.hpp"

#include <algorithm>
#include <thread>

namespace commsvc::runtime {
namespace {

constexpr std::chrono::milliseconds kPollTimeout{20};
// How long one loop turn waits for a commit answer while the window is full.
constexpr std::chrono::milliseconds kWindowFullWait{2};
constexpr std::chrono::seconds kCommitAnswerTimeout{10};
constexpr std::size_t kCommitsInFlight = 2;

}  // namespace

ConsumerLoop::ConsumerLoop(const kafka::Properties& properties, std::string topic,
                           Dispatcher& dispatcher, ConsumerLoopSettings settings, Logger& logger,
                           Metrics& metrics)
    : dispatcher_(dispatcher),
      settings_(settings),
      logger_(logger),
      commits_(metrics.counter("offset_commits_total", "Offset commits sent to Kafka")),
      pauses_(metrics.counter("consumer_pauses_total",
                              "Times consumption paused because max_in_flight was reached")) {
  source_ =
      std::make_unique<kafka::KafkaSource>(properties, std::move(topic), *this, logger, &metrics);
  lastCommit_ = std::chrono::steady_clock::now();
  secondStart_ = lastCommit_;
}

ConsumerLoop::~ConsumerLoop() {
  // Leave the group while trackers_ and held_ still exist: closing runs the
  // revoke callback.
  if (source_) source_->close();
}

std::shared_ptr<PartitionTracker>& ConsumerLoop::trackerFor(const std::string& topic,
                                                            std::int32_t partition) {
  auto& tracker = trackers_[{topic, partition}];
  if (!tracker) tracker = std::make_shared<PartitionTracker>(topic, partition);
  return tracker;
}

std::vector<kafka::PartitionOffset> ConsumerLoop::assigned() const {
  std::vector<kafka::PartitionOffset> out;
  for (const auto& [key, tracker] : trackers_) out.push_back({key.first, key.second, -1});
  return out;
}

void ConsumerLoop::pollAndDispatch() {
  // Records are taken from librdkafka only as far as they fit under
  // max_in_flight: the rest waits in librdkafka's prefetch queue (bounded by
  // queued.min.messages / queued.max.messages.kbytes, not purged), so a
  // crash never redelivers more than max_in_flight handled records and a
  // burst pauses nothing. With the window full, the loop waits briefly for
  // commit answers instead of taking records. held_ only has records while
  // paused (polled to serve callbacks) or left from a shrunk window.
  const std::size_t room =
      settings_.maxInFlight > uncommitted_ ? settings_.maxInFlight - uncommitted_ : 0;
  const std::size_t free = room > held_.size() ? room - held_.size() : 0;
  windowFull_ = free == 0;
  if (paused_) {
    // Nothing is fetched while paused; polling serves rebalance callbacks.
    source_->poll(batch_, 1, kPollTimeout);
  } else if (windowFull_) {
    source_->poll(batch_, 0, kWindowFullWait);
  } else {
    source_->poll(batch_, std::min(settings_.pollBatch, free), kPollTimeout);
  }
  std::move(batch_.begin(), batch_.end(), std::back_inserter(held_));
  batch_.clear();

  const std::size_t take = std::min(room, held_.size());
  for (std::size_t i = 0; i < take; ++i) {
    kafka::Record& record = held_.front();
    auto& tracker = trackerFor(record.topic, record.partition);
    tracker->dispatched(record.offset);
    ++uncommitted_;
    ++dispatchedThisSecond_;
    items_.push_back(WorkItem{std::move(record), tracker});
    held_.pop_front();
  }
  stats_.peakInFlight = std::max(stats_.peakInFlight, uncommitted_);
  stats_.peakHeld = std::max(stats_.peakHeld, held_.size());
  dispatcher_.dispatch(items_);
}

void ConsumerLoop::storeFinished() {
  std::vector<kafka::PartitionOffset> toStore;
  for (auto& [key, tracker] : trackers_) {
    if (auto position = tracker->advance()) toStore.push_back({key.first, key.second, *position});
  }
  if (!toStore.empty()) {
    source_->store(toStore);
    storedSinceCommit_ = true;
  }
}

void ConsumerLoop::maybeCommit(bool force) {
  const auto now = std::chrono::steady_clock::now();
  if (!commitsSent_.empty() && now - commitsSent_.front() > kCommitAnswerTimeout) {
    logger_.warn("no answer to an offset commit; committing again");
    commitsSent_.clear();
  }
  // Up to kCommitsInFlight commits overlap (answers come in order): the
  // window moves on each answer, without waiting a round trip per commit.
  if (!storedSinceCommit_ || commitsSent_.size() >= kCommitsInFlight) return;
  const bool due = force || now - lastCommit_ >= settings_.commitInterval ||
                   uncommitted_ >= settings_.maxInFlight / 4;
  if (!due) return;
  storedSinceCommit_ = false;
  commitsSent_.push_back(now);
  lastCommit_ = now;
  commits_.add();
  ++stats_.commits;
  source_->commit(true);
}

void ConsumerLoop::applyFlowControl() {
  // Pausing is the last resort: it purges librdkafka's prefetch queue (about
  // a second to refill), so it only happens when the handlers do not keep
  // up: (1) the window stayed full for pauseAfter (stuck handlers or
  // failing commits), or (2) what is prefetched would take longer than
  // maxBacklogWait to work through at last second's dispatch rate: a
  // rebalance callback queued behind it would wait that long. The purged
  // records are fetched again from the position after the last one polled.
  const auto now = std::chrono::steady_clock::now();
  if (paused_) {
    pausedThisSecond_ = true;
    if ((uncommitted_ + held_.size()) * 2 <= settings_.maxInFlight) {
      paused_ = false;
      windowFullSince_.reset();
      source_->resume(assigned());
    }
    return;
  }
  bool pause = false;
  if (!windowFull_) {
    windowFullSince_.reset();
  } else if (!windowFullSince_) {
    windowFullSince_ = now;
  } else {
    pause = now - *windowFullSince_ >= settings_.pauseAfter;
  }
  if (now - secondStart_ >= std::chrono::seconds(1)) {
    if (!pausedThisSecond_) {
      const double rate =
          double(dispatchedThisSecond_) / std::chrono::duration<double>(now - secondStart_).count();
      const double backlog = double(source_->queued());
      const double waitSeconds = std::chrono::duration<double>(settings_.maxBacklogWait).count();
      pause = pause || (backlog > double(settings_.maxInFlight) && backlog > rate * waitSeconds);
    }
    secondStart_ = now;
    dispatchedThisSecond_ = 0;
    pausedThisSecond_ = false;
  }
  if (pause) {
    paused_ = true;
    pausedThisSecond_ = true;
    pauses_.add();
    ++stats_.pauses;
    source_->pause(assigned());
  }
}

void ConsumerLoop::onAssigned(const std::vector<kafka::PartitionOffset>& partitions) {
  for (const auto& p : partitions) {
    auto& tracker = trackers_[{p.topic, p.partition}];
    tracker = std::make_shared<PartitionTracker>(p.topic, p.partition);
  }
  logger_.info("partitions assigned", {{"count", std::to_string(partitions.size())}});
  if (paused_) source_->pause(partitions);
}

void ConsumerLoop::onRevoked(const std::vector<kafka::PartitionOffset>& partitions) {
  // Records of these partitions still queued are skipped (revoke), but one a
  // worker is handling now must finish before its offset goes to the next
  // owner, or one key would run on two instances at once. Bounded.
  for (const auto& p : partitions) {
    const auto it = trackers_.find({p.topic, p.partition});
    if (it != trackers_.end()) it->second->revoke();
  }
  const auto deadline = std::chrono::steady_clock::now() + settings_.shutdownTimeout;
  for (;;) {
    int running = 0;
    for (const auto& p : partitions) {
      const auto it = trackers_.find({p.topic, p.partition});
      if (it != trackers_.end()) running += it->second->active();
    }
    if (running == 0) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      logger_.warn("partitions revoked while a handler still runs; the next owner may redo it",
                   {{"running", std::to_string(running)}});
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::vector<kafka::PartitionOffset> toStore;
  for (const auto& p : partitions) {
    const auto it = trackers_.find({p.topic, p.partition});
    if (it == trackers_.end()) continue;
    it->second->advance();
    const auto position = it->second->storedPosition();
    if (position >= 0) toStore.push_back({p.topic, p.partition, position});
    uncommitted_ -= std::min(uncommitted_, it->second->uncommitted());
    trackers_.erase(it);
  }
  if (!toStore.empty()) source_->store(toStore);
  std::erase_if(held_, [&](const kafka::Record& r) {
    return std::any_of(partitions.begin(), partitions.end(), [&](const kafka::PartitionOffset& p) {
      return p.topic == r.topic && p.partition == r.partition;
    });
  });
  logger_.info("partitions revoked", {{"count", std::to_string(partitions.size())}});
}

void ConsumerLoop::onCommitted(const std::vector<kafka::PartitionOffset>& offsets,
                               const std::string& error) {
  if (!commitsSent_.empty()) {
    const auto waited = std::chrono::steady_clock::now() - commitsSent_.front();
    commitsSent_.pop_front();
    stats_.commitWaitTotal += waited;
    stats_.commitWaitMax = std::max(stats_.commitWaitMax, waited);
  }
  if (!error.empty()) {
    logger_.warn("offset commit failed; will retry", {{"error", error}});
    storedSinceCommit_ = true;
  }
  for (const auto& o : offsets) {  // the partitions that did commit
    const auto it = trackers_.find({o.topic, o.partition});
    if (it == trackers_.end() || o.offset < 0) continue;
    const std::size_t before = it->second->uncommitted();
    it->second->committed(o.offset);
    uncommitted_ -= std::min(uncommitted_, before - it->second->uncommitted());
  }
}

DrainResult ConsumerLoop::run(const std::atomic<bool>& stop) {
  while (!stop.load(std::memory_order_relaxed)) {
    pollAndDispatch();
    storeFinished();
    maybeCommit(false);
    applyFlowControl();
  }

  logger_.info("stopping: finishing in-flight events",
               {{"pending", std::to_string(dispatcher_.pending())}});
  stopObservedAt_ = std::chrono::steady_clock::now();
  const auto deadline = stopObservedAt_ + settings_.shutdownTimeout;
  if (!paused_) {
    paused_ = true;
    source_->pause(assigned());
  }
  while (dispatcher_.pending() > 0 && std::chrono::steady_clock::now() < deadline) {
    source_->poll(batch_, 1, kPollTimeout);
    batch_.clear();  // not dispatched, not stored: read again after restart
    storeFinished();
    maybeCommit(false);
  }
  const DrainResult result = dispatcher_.drain(deadline);
  storeFinished();
  source_->close();
  logger_.info(result == DrainResult::Finished
                   ? "stopped: all in-flight events finished, offsets committed"
                   : "stopped at the shutdown bound; unfinished events will be redelivered");
  return result;
}

}  // namespace commsvc::runtime
