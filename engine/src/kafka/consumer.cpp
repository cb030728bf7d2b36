#include "kafka/consumer.hpp"

#include <algorithm>
#include <cstring>
#include <map>
#include <stdexcept>

#include "kafka/consumer_stats.hpp"

namespace commsvc::kafka {
namespace {

// clang-format off
/// Defaults applied before the user's properties (which may override them).
/// The prefetch limits are raised: with librdkafka's defaults the consumer
/// stalls whenever 100k messages / 64 MB are queued (see ENV-NOTES).
/// fetch.wait.max.ms is short because a broker answers a connection's
/// requests in order: an offset commit queued behind a long-polling fetch
/// waits for it, and the engine's in-flight window only moves on commits
/// (bench: 100 ms -> 41k records/s, 10 ms -> 750k records/s).
/// fetch.max.bytes is 1 MB instead of 50 MB: smaller fetch answers reach the
/// poll sooner, and their buffers are reused from the heap instead of fresh
/// mmapped (page-faulted) memory for each (bench: 416k-649k -> 540k-750k
/// records/s). It is left out when the user sets message.max.bytes, which
/// it must not be below (librdkafka then sizes it itself).
const Properties kConsumerDefaults = {
    {"auto.offset.reset", "earliest"},
    {"enable.partition.eof", "false"},
    {"queued.min.messages", "1000000"},
    {"queued.max.messages.kbytes", "262144"},
    {"fetch.wait.max.ms", "10"},
    {"fetch.max.bytes", "1048576"},
    {"socket.timeout.ms", "30000"},
    {"socket.connection.setup.timeout.ms", "10000"},
    {"session.timeout.ms", "45000"},
    {"max.poll.interval.ms", "300000"},
    {"reconnect.backoff.max.ms", "5000"},
};
// clang-format on

/// Defaults applied before the user's properties when the source has
/// metrics: librdkafka's statistics, parsed for consumer_lag.
const Properties kStatisticsDefaults = {
    {"statistics.interval.ms", "5000"},
};

/// Properties whose value the source forces, with the value.
const Properties kConsumerForced = {
    {"enable.auto.offset.store", "false"},
    {"enable.auto.commit", "false"},
};

PartitionList toList(const std::vector<PartitionOffset>& partitions) {
  PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())));
  for (const auto& p : partitions) {
    rd_kafka_topic_partition_list_add(list.get(), p.topic.c_str(), p.partition)->offset = p.offset;
  }
  return list;
}

std::vector<PartitionOffset> fromList(const rd_kafka_topic_partition_list_t* list) {
  std::vector<PartitionOffset> out;
  if (list == nullptr) return out;
  out.reserve(static_cast<std::size_t>(list->cnt));
  for (int i = 0; i < list->cnt; ++i) {
    const auto& e = list->elems[i];
    out.push_back(PartitionOffset{e.topic, e.partition, e.offset});
  }
  return out;
}

/// Per-partition errors of a list, "topic[p]: error; ...", empty when none.
std::string partitionErrors(const rd_kafka_topic_partition_list_t* list) {
  std::string out;
  if (list == nullptr) return out;
  for (int i = 0; i < list->cnt; ++i) {
    const auto& e = list->elems[i];
    if (e.err == RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    if (!out.empty()) out += "; ";
    out +=
        std::string(e.topic) + "[" + std::to_string(e.partition) + "]: " + rd_kafka_err2str(e.err);
  }
  return out;
}

}  // namespace

struct KafkaSource::Impl {
  Impl(RebalanceListener& l, Logger& lg, std::string t, Metrics* m)
      : listener(l), logger(lg), topic(std::move(t)), metrics(m) {
    if (metrics != nullptr) {
      commitFailures = &metrics->counter(
          "offset_commit_failures_total",
          "Offset commits Kafka refused or that failed for some partition (retried)");
    }
  }

  RebalanceListener& listener;
  Logger& logger;
  std::string topic;
  Metrics* metrics;  // null: no statistics, no metrics
  Counter* commitFailures = nullptr;
  // consumer_lag{partition} by partition, for every partition ever reported.
  std::map<std::int32_t, Gauge*> lagGauges;
  bool statsErrorLogged = false;
  KafkaHandle handle;
  KafkaQueue queue;
  // Results of asynchronous commits. Kept apart from the consumer queue,
  // where they would wait behind every prefetched message.
  KafkaQueue commitQueue;
  bool closed = false;
  std::vector<rd_kafka_message_t*> batch;
  // Last topic handle seen and its name, to avoid a lookup per record.
  const rd_kafka_topic_t* lastTopic = nullptr;
  std::string lastTopicName;

  static void onRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t* partitions, void* opaque) {
    static_cast<Impl*>(opaque)->rebalance(rk, err, partitions);
  }

  void rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                 rd_kafka_topic_partition_list_t* partitions) {
    const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    auto list = fromList(partitions);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      logger.info("kafka partitions assigned",
                  {{"topic", topic}, {"count", std::to_string(list.size())}});
      listener.onAssigned(list);
      rd_kafka_error_t* error = nullptr;
      rd_kafka_resp_err_t assignErr = RD_KAFKA_RESP_ERR_NO_ERROR;
      if (cooperative) {
        error = rd_kafka_incremental_assign(rk, partitions);
      } else {
        assignErr = rd_kafka_assign(rk, partitions);
      }
      logAssignError(error, assignErr);
      return;
    }
    if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
      logger.error("kafka rebalance failed", {{"error", rd_kafka_err2str(err)}});
    }
    const bool lost = rd_kafka_assignment_lost(rk) != 0;
    logger.info("kafka partitions revoked", {{"topic", topic},
                                             {"count", std::to_string(list.size())},
                                             {"lost", lost ? "true" : "false"}});
    listener.onRevoked(list);
    if (!lost) commitStored(/*async=*/false);
    rd_kafka_error_t* error = nullptr;
    rd_kafka_resp_err_t assignErr = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (cooperative) {
      error = rd_kafka_incremental_unassign(rk, partitions);
    } else {
      assignErr = rd_kafka_assign(rk, nullptr);
    }
    logAssignError(error, assignErr);
  }

  void logAssignError(rd_kafka_error_t* error, rd_kafka_resp_err_t err) {
    if (error != nullptr) {
      logger.error("kafka assignment failed", {{"error", rd_kafka_error_string(error)}});
      rd_kafka_error_destroy(error);
    } else if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      logger.error("kafka assignment failed", {{"error", rd_kafka_err2str(err)}});
    }
  }

  static void onCommit(rd_kafka_t*, rd_kafka_resp_err_t err,
                       rd_kafka_topic_partition_list_t* offsets, void* opaque) {
    static_cast<Impl*>(opaque)->committed(err, offsets);
  }

  /// Reports an asynchronous commit's result to the listener.
  void committed(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* offsets) {
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET || offsets == nullptr) {  // nothing was stored
      listener.onCommitted({}, "");
      return;
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {  // nothing was committed
      const std::string error = rd_kafka_err2str(err);
      logger.warn("kafka commit failed", {{"error", error}});
      countCommitFailure();
      listener.onCommitted({}, error);
      return;
    }
    // Partitions may fail one by one: report the ones that did commit.
    std::vector<PartitionOffset> done;
    for (int i = 0; i < offsets->cnt; ++i) {
      const auto& e = offsets->elems[i];
      if (e.err == RD_KAFKA_RESP_ERR_NO_ERROR) done.push_back({e.topic, e.partition, e.offset});
    }
    const std::string error = partitionErrors(offsets);
    if (!error.empty()) {
      logger.warn("kafka commit failed", {{"error", error}});
      countCommitFailure();
    }
    listener.onCommitted(done, error);
  }

  void countCommitFailure() {
    if (commitFailures != nullptr) commitFailures->add();
  }

  static int onStatistics(rd_kafka_t*, char* json, std::size_t length, void* opaque) {
    static_cast<Impl*>(opaque)->statistics(std::string_view(json, length));
    return 0;  // librdkafka frees `json`
  }

  /// Sets consumer_lag{partition} from one statistics document: the
  /// reported partitions to their lag, every other partition reported
  /// before to 0 (revoked, or its lag no longer known).
  void statistics(std::string_view json) {
    if (metrics == nullptr) return;
    std::vector<PartitionLag> lags;
    try {
      lags = parseConsumerLag(json, topic);
    } catch (const std::exception& e) {
      if (!statsErrorLogged) {  // once: the next document is most likely alike
        logger.warn("kafka statistics not understood; consumer_lag not updated",
                    {{"error", e.what()}});
        statsErrorLogged = true;
      }
      return;
    }
    for (const auto& [partition, lag] : lags) lagGauge(partition).set(static_cast<double>(lag));
    for (auto& [partition, gauge] : lagGauges) {
      const bool reported = std::binary_search(
          lags.begin(), lags.end(), PartitionLag{partition, 0},
          [](const PartitionLag& a, const PartitionLag& b) { return a.partition < b.partition; });
      if (!reported) gauge->set(0);
    }
  }

  Gauge& lagGauge(std::int32_t partition) {
    Gauge*& gauge = lagGauges[partition];
    if (gauge == nullptr) {
      gauge = &metrics->gauge(
          "consumer_lag",
          "Records of the consumed topic's partition after this member's committed offset "
          "(librdkafka statistics; 0 when not assigned or unknown)",
          {{"partition", std::to_string(partition)}});
    }
    return *gauge;
  }

  static void onError(rd_kafka_t*, int err, const char* reason, void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    const auto code = static_cast<rd_kafka_resp_err_t>(err);
    const LogLevel level =
        code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || code == RD_KAFKA_RESP_ERR__FATAL
            ? LogLevel::Error
            : LogLevel::Warn;
    self->logger.log(level, "kafka consumer error",
                     {{"error", rd_kafka_err2name(code)}, {"reason", reason ? reason : ""}});
  }

  static void onLog(const rd_kafka_t* rk, int level, const char* facility, const char* message) {
    auto* self = static_cast<Impl*>(rd_kafka_opaque(rk));
    if (self == nullptr) return;
    const LogLevel l = logLevelOf(level);
    if (!self->logger.enabled(l)) return;
    self->logger.log(l, "librdkafka", {{"facility", facility}, {"message", message}});
  }

  /// Commits stored offsets synchronously or not; false when a synchronous
  /// commit failed. Nothing stored is success.
  bool commitStored(bool async) {
    const rd_kafka_resp_err_t err =
        async ? rd_kafka_commit_queue(handle.get(), nullptr, commitQueue.get(), nullptr, nullptr)
              : rd_kafka_commit(handle.get(), nullptr, 0);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET) return true;
    logger.warn("kafka commit failed",
                {{"error", rd_kafka_err2str(err)}, {"async", async ? "true" : "false"}});
    countCommitFailure();
    return false;
  }

  const std::string& topicName(const rd_kafka_topic_t* rkt) {
    if (rkt != lastTopic) {
      lastTopic = rkt;
      lastTopicName = rkt != nullptr ? rd_kafka_topic_name(rkt) : "";
    }
    return lastTopicName;
  }

  void copyOut(const rd_kafka_message_t* m, Record& r) {
    r.topic = topicName(m->rkt);
    r.partition = m->partition;
    r.offset = m->offset;
    if (m->key != nullptr) r.key.assign(static_cast<const char*>(m->key), m->key_len);
    // Reserve the parser's padding so the envelope is parsed in place.
    r.value.reserve(m->len + kValuePadding);
    if (m->payload != nullptr) r.value.assign(static_cast<const char*>(m->payload), m->len);
    rd_kafka_headers_t* headers = nullptr;
    if (rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR && headers != nullptr) {
      const std::size_t count = rd_kafka_header_cnt(headers);
      r.headers.reserve(count);
      const char* name = nullptr;
      const void* value = nullptr;
      std::size_t size = 0;
      for (std::size_t i = 0;
           rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
           ++i) {
        r.headers.emplace_back(name, value != nullptr
                                         ? std::string(static_cast<const char*>(value), size)
                                         : std::string());
      }
    }
  }
};

KafkaSource::KafkaSource(const Properties& properties, std::string topic,
                         RebalanceListener& listener, Logger& logger, Metrics* metrics)
    : impl_(new Impl(listener, logger, std::move(topic), metrics)) {
  try {
    Properties all = kConsumerDefaults;
    const bool messageSizeSet =
        std::any_of(properties.begin(), properties.end(),
                    [](const auto& property) { return property.first == "message.max.bytes"; });
    if (messageSizeSet) {
      std::erase_if(all, [](const auto& property) { return property.first == "fetch.max.bytes"; });
    }
    if (metrics != nullptr) {
      all.insert(all.end(), kStatisticsDefaults.begin(), kStatisticsDefaults.end());
    }
    all.insert(all.end(), properties.begin(), properties.end());
    for (const auto& [name, value] : properties) {
      for (const auto& [forcedName, forcedValue] : kConsumerForced) {
        if (name == forcedName && value != forcedValue) {
          logger.warn("kafka property overridden", {{"property", name}, {"value", forcedValue}});
        }
      }
    }
    all.insert(all.end(), kConsumerForced.begin(), kConsumerForced.end());
    KafkaConf conf = makeConf(all);
    rd_kafka_conf_set_opaque(conf.get(), impl_);
    rd_kafka_conf_set_rebalance_cb(conf.get(), &Impl::onRebalance);
    rd_kafka_conf_set_offset_commit_cb(conf.get(), &Impl::onCommit);
    rd_kafka_conf_set_error_cb(conf.get(), &Impl::onError);
    rd_kafka_conf_set_log_cb(conf.get(), &Impl::onLog);
    if (metrics != nullptr) rd_kafka_conf_set_stats_cb(conf.get(), &Impl::onStatistics);

    char errstr[512];
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), errstr, sizeof errstr);
    if (rk == nullptr) throw std::runtime_error(std::string("kafka consumer: ") + errstr);
    conf.release();  // owned by rk now
    impl_->handle.reset(rk);
    // Serve every callback (rebalance, commit, errors) from the consumer queue.
    rd_kafka_poll_set_consumer(rk);
    impl_->queue.reset(rd_kafka_queue_get_consumer(rk));
    impl_->commitQueue.reset(rd_kafka_queue_new(rk));

    PartitionList subscription(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(subscription.get(), impl_->topic.c_str(),
                                      RD_KAFKA_PARTITION_UA);
    const rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, subscription.get());
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw std::runtime_error("kafka subscribe to '" + impl_->topic +
                               "': " + rd_kafka_err2str(err));
    }
  } catch (...) {
    impl_->commitQueue.reset();
    impl_->queue.reset();
    impl_->handle.reset();
    delete impl_;
    throw;
  }
}

KafkaSource::~KafkaSource() {
  close();
  impl_->commitQueue.reset();
  impl_->queue.reset();
  impl_->handle.reset();
  delete impl_;
}

std::size_t KafkaSource::poll(std::vector<Record>& out, std::size_t max,
                              std::chrono::milliseconds timeout) {
  if (impl_->closed) return 0;
  // With max 0 the wait is for a commit answer (the first event only).
  int wait = max == 0 ? static_cast<int>(timeout.count()) : 0;
  while (rd_kafka_event_t* event = rd_kafka_queue_poll(impl_->commitQueue.get(), wait)) {
    wait = 0;
    if (rd_kafka_event_type(event) == RD_KAFKA_EVENT_OFFSET_COMMIT) {
      impl_->committed(rd_kafka_event_error(event), rd_kafka_event_topic_partition_list(event));
    }
    rd_kafka_event_destroy(event);
  }
  if (max == 0) return 0;
  auto& batch = impl_->batch;
  if (batch.size() < max) batch.resize(max);
  // rd_kafka_consume_batch_queue waits until the batch is full or the
  // timeout passes: records already there would wait with it. So take what
  // is there without waiting, and only when nothing is, wait for one record
  // and take what came with it.
  rd_kafka_queue_t* queue = impl_->queue.get();
  ssize_t n = rd_kafka_consume_batch_queue(queue, 0, batch.data(), max);
  if (n == 0 && timeout.count() > 0) {
    if (rd_kafka_message_t* first =
            rd_kafka_consume_queue(queue, static_cast<int>(timeout.count()))) {
      batch[0] = first;
      const ssize_t more =
          max > 1 ? rd_kafka_consume_batch_queue(queue, 0, batch.data() + 1, max - 1) : 0;
      n = 1 + std::max<ssize_t>(more, 0);
    }
  }
  if (n < 0) {
    impl_->logger.error("kafka poll failed", {{"error", rd_kafka_err2str(rd_kafka_last_error())}});
    return 0;
  }
  std::size_t appended = 0;
  out.reserve(out.size() + static_cast<std::size_t>(n));
  for (ssize_t i = 0; i < n; ++i) {
    KafkaMessage message(batch[static_cast<std::size_t>(i)]);
    if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (message->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        impl_->logger.warn("kafka consumer error",
                           {{"error", rd_kafka_err2name(message->err)},
                            {"reason", rd_kafka_message_errstr(message.get())}});
      }
      continue;
    }
    impl_->copyOut(message.get(), out.emplace_back());
    ++appended;
  }
  return appended;
}

std::size_t KafkaSource::queued() const {
  if (impl_->closed || !impl_->queue) return 0;
  return rd_kafka_queue_length(impl_->queue.get());
}

void KafkaSource::store(const std::vector<PartitionOffset>& offsets) {
  if (impl_->closed || offsets.empty()) return;
  PartitionList list = toList(offsets);
  const rd_kafka_resp_err_t err = rd_kafka_offsets_store(impl_->handle.get(), list.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    const std::string detail = partitionErrors(list.get());
    impl_->logger.warn("kafka offset store failed",
                       {{"error", rd_kafka_err2str(err)}, {"partitions", detail}});
  }
}

bool KafkaSource::commit(bool async) {
  if (impl_->closed) return false;
  return impl_->commitStored(async);
}

void KafkaSource::pause(const std::vector<PartitionOffset>& partitions) {
  if (impl_->closed || partitions.empty()) return;
  PartitionList list = toList(partitions);
  const rd_kafka_resp_err_t err = rd_kafka_pause_partitions(impl_->handle.get(), list.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    impl_->logger.warn("kafka pause failed", {{"error", rd_kafka_err2str(err)}});
  }
}

void KafkaSource::resume(const std::vector<PartitionOffset>& partitions) {
  if (impl_->closed || partitions.empty()) return;
  PartitionList list = toList(partitions);
  const rd_kafka_resp_err_t err = rd_kafka_resume_partitions(impl_->handle.get(), list.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    impl_->logger.warn("kafka resume failed", {{"error", rd_kafka_err2str(err)}});
  }
}

void KafkaSource::close() {
  if (impl_->closed || !impl_->handle) return;
  impl_->commitStored(/*async=*/false);
  // Leaves the group; the revoke callback runs from inside this call.
  const rd_kafka_resp_err_t err = rd_kafka_consumer_close(impl_->handle.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    impl_->logger.warn("kafka consumer close failed", {{"error", rd_kafka_err2str(err)}});
  }
  impl_->closed = true;
}

}  // namespace commsvc::kafka
