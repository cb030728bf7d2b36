#include "kafka/producer.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>

namespace commsvc::kafka {
namespace {

/// Defaults applied before the user's properties (which may override them).
const Properties kProducerDefaults = {
    {"linger.ms", "5"},
    {"message.timeout.ms", "60000"},
    {"socket.timeout.ms", "30000"},
    {"socket.connection.setup.timeout.ms", "10000"},
    {"reconnect.backoff.max.ms", "5000"},
};

/// Forced: durable, ordered, no duplicates on retry.
const Properties kProducerForced = {
    {"enable.idempotence", "true"},
    {"acks", "all"},
};

constexpr std::chrono::milliseconds kQueueFullBackoff{5};

}  // namespace

struct RawProducer::Impl {
  Impl(Logger& l, std::chrono::milliseconds flush) : logger(l), closeFlush(flush) {}

  Logger& logger;
  std::chrono::milliseconds closeFlush;
  KafkaHandle handle;
  std::atomic<bool> running{true};
  std::thread poller;

  static void onDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
    auto* done = static_cast<DeliveryCallback*>(m->_private);
    if (done == nullptr) return;
    const bool ok = m->err == RD_KAFKA_RESP_ERR_NO_ERROR;
    (*done)(ok, ok ? std::string() : std::string(rd_kafka_err2str(m->err)));
    delete done;
  }

  static void onError(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    const auto code = static_cast<rd_kafka_resp_err_t>(err);
    std::string fatal;
    if (code == RD_KAFKA_RESP_ERR__FATAL) {
      char buf[512];
      rd_kafka_fatal_error(rk, buf, sizeof buf);
      fatal = buf;
    }
    self->logger.log(
        code == RD_KAFKA_RESP_ERR__FATAL ? LogLevel::Error : LogLevel::Warn, "kafka producer error",
        {{"error", rd_kafka_err2name(code)}, {"reason", reason ? reason : ""}, {"fatal", fatal}});
  }

  static void onLog(const rd_kafka_t* rk, int level, const char* facility, const char* message) {
    auto* self = static_cast<Impl*>(rd_kafka_opaque(rk));
    if (self == nullptr) return;
    const LogLevel l = logLevelOf(level);
    if (!self->logger.enabled(l)) return;
    self->logger.log(l, "librdkafka", {{"facility", facility}, {"message", message}});
  }
};

RawProducer::RawProducer(const Properties& properties, Logger& logger,
                         std::chrono::milliseconds closeFlush)
    : impl_(new Impl(logger, closeFlush)) {
  try {
    Properties all = kProducerDefaults;
    all.insert(all.end(), properties.begin(), properties.end());
    all.insert(all.end(), kProducerForced.begin(), kProducerForced.end());
    KafkaConf conf = makeConf(all);
    rd_kafka_conf_set_opaque(conf.get(), impl_);
    rd_kafka_conf_set_dr_msg_cb(conf.get(), &Impl::onDelivery);
    rd_kafka_conf_set_error_cb(conf.get(), &Impl::onError);
    rd_kafka_conf_set_log_cb(conf.get(), &Impl::onLog);
    char errstr[512];
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof errstr);
    if (rk == nullptr) throw std::runtime_error(std::string("kafka producer: ") + errstr);
    conf.release();
    impl_->handle.reset(rk);
    impl_->poller = std::thread([impl = impl_] {
      while (impl->running.load(std::memory_order_relaxed)) rd_kafka_poll(impl->handle.get(), 100);
    });
  } catch (...) {
    impl_->handle.reset();
    delete impl_;
    throw;
  }
}

RawProducer::~RawProducer() {
  rd_kafka_t* rk = impl_->handle.get();
  if (rd_kafka_flush(rk, static_cast<int>(impl_->closeFlush.count())) !=
      RD_KAFKA_RESP_ERR_NO_ERROR) {
    impl_->logger.warn("kafka producer: undelivered records dropped at shutdown",
                       {{"count", std::to_string(rd_kafka_outq_len(rk))}});
    // Fail what is left so every callback runs exactly once.
    rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(rk, 1000);  // serves the purged records' reports
  }
  impl_->running = false;
  impl_->poller.join();
  impl_->handle.reset();
  delete impl_;
}

void RawProducer::send(std::string_view topic, std::string_view key, std::string_view value,
                       const std::vector<Header>& headers, DeliveryCallback done) {
  const std::string topicName(topic);
  auto* opaque = done ? new DeliveryCallback(std::move(done)) : nullptr;
  for (;;) {
    rd_kafka_headers_t* hdrs = nullptr;  // none when there are none
    if (!headers.empty()) {
      hdrs = rd_kafka_headers_new(headers.size());
      for (const auto& [name, v] : headers) {
        rd_kafka_header_add(hdrs, name.data(), static_cast<ssize_t>(name.size()), v.data(),
                            static_cast<ssize_t>(v.size()));
      }
    }
    const rd_kafka_resp_err_t err =
        rd_kafka_producev(impl_->handle.get(), RD_KAFKA_V_TOPIC(topicName.c_str()),
                          RD_KAFKA_V_KEY(key.empty() ? nullptr : key.data(), key.size()),
                          RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs),
                          RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return;  // headers are owned by librdkafka now
    if (hdrs != nullptr) rd_kafka_headers_destroy(hdrs);
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      std::this_thread::sleep_for(kQueueFullBackoff);  // the poll thread drains reports
      continue;
    }
    impl_->logger.warn("kafka produce failed",
                       {{"topic", topicName}, {"error", rd_kafka_err2str(err)}});
    if (opaque != nullptr) {
      (*opaque)(false, rd_kafka_err2str(err));
      delete opaque;
    }
    return;
  }
}

bool RawProducer::flush(std::chrono::milliseconds timeout) {
  return rd_kafka_flush(impl_->handle.get(), static_cast<int>(timeout.count())) ==
         RD_KAFKA_RESP_ERR_NO_ERROR;
}

int RawProducer::outstanding() const { return rd_kafka_outq_len(impl_->handle.get()); }

namespace {

/// The records one client sent that are not reported yet, by ticket. Shared
/// with the delivery lambdas (engine code), so a report arriving after the
/// client closed finds the ticket gone and runs nothing.
struct ClientState {
  std::mutex mutex;
  std::condition_variable reported;
  std::uint64_t next = 0;
  std::unordered_map<std::uint64_t, PublishCallback> pending;  // guarded by mutex
  std::size_t unreported = 0;  // sent, not reported (with or without a callback)
  std::size_t running = 0;     // callbacks being run outside the lock
};

/// A plugin's handle on a RawProducer (commsvc::KafkaProducer).
class ProducerClient final : public KafkaProducer {
 public:
  explicit ProducerClient(RawProducer& producer)
      : producer_(producer), state_(std::make_shared<ClientState>()) {}

  ~ProducerClient() override {
    std::unordered_map<std::uint64_t, PublishCallback> left;
    {
      // A callback already taken runs to its end before the handle is gone.
      std::unique_lock lock(state_->mutex);
      left.swap(state_->pending);
      state_->unreported = 0;
      state_->reported.wait(lock, [&] { return state_->running == 0; });
    }
    for (auto& [ticket, done] : left) {
      done(PublishResult::failed("producer handle closed before the broker answered"));
    }
  }

  void send(std::string_view topic, std::string_view key, std::string_view value,
            const std::vector<Header>& headers, PublishCallback done) override {
    std::uint64_t ticket = 0;
    {
      std::lock_guard lock(state_->mutex);
      ticket = state_->next++;
      if (done) state_->pending.emplace(ticket, std::move(done));
      ++state_->unreported;
    }
    producer_.send(topic, key, value, headers,
                   [state = state_, ticket](bool ok, const std::string& error) {
                     PublishCallback callback;
                     {
                       std::lock_guard lock(state->mutex);
                       const auto it = state->pending.find(ticket);
                       if (it != state->pending.end()) {
                         callback = std::move(it->second);
                         state->pending.erase(it);
                         ++state->running;
                       }
                       if (state->unreported > 0) --state->unreported;
                     }
                     if (callback) {
                       callback(ok ? PublishResult::published() : PublishResult::failed(error));
                       callback = nullptr;  // destroyed before the handle may go
                       std::lock_guard lock(state->mutex);
                       --state->running;
                     }
                     state->reported.notify_all();
                   });
  }

  bool flush(std::chrono::milliseconds timeout) override {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock lock(state_->mutex);
    return state_->reported.wait_until(
        lock, deadline, [&] { return state_->unreported == 0 && state_->running == 0; });
  }

 private:
  RawProducer& producer_;
  std::shared_ptr<ClientState> state_;
};

}  // namespace

std::unique_ptr<KafkaProducer> RawProducer::client() {
  return std::make_unique<ProducerClient>(*this);
}

std::vector<Header> deadLetterHeaders(const std::vector<Header>& original, std::string_view reason,
                                      std::string_view detail, std::string_view sourceTopic,
                                      std::int32_t partition, std::int64_t offset) {
  std::vector<Header> out;
  out.reserve(original.size() + 5);
  out.insert(out.end(), original.begin(), original.end());
  out.emplace_back(kDlqReasonHeader, reason);
  out.emplace_back(kDlqDetailHeader, detail);
  out.emplace_back(kDlqTopicHeader, sourceTopic);
  out.emplace_back(kDlqPartitionHeader, std::to_string(partition));
  out.emplace_back(kDlqOffsetHeader, std::to_string(offset));
  return out;
}

}  // namespace commsvc::kafka
