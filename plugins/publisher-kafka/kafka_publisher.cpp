#include "kafka_publisher.hpp"

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <memory>
#include <thread>

namespace commsvc::plugins::publisher_kafka {
namespace {

using Properties = std::vector<std::pair<std::string, std::string>>;

/// Applied first: sensible timeouts, overridable by the user.
const Properties kDefaults = {
    {"linger.ms", "5"},
    {"message.timeout.ms", "60000"},
    {"socket.timeout.ms", "30000"},
    {"socket.connection.setup.timeout.ms", "10000"},
    {"reconnect.backoff.max.ms", "5000"},
};

/// Applied last: durable and without duplicates on retry.
const Properties kForced = {{"enable.idempotence", "true"}, {"acks", "all"}};

constexpr std::chrono::milliseconds kQueueFullBackoff{5};
constexpr int kPollMs = 100;

struct HandleDeleter {
  void operator()(rd_kafka_t* p) const { rd_kafka_destroy(p); }
  void operator()(rd_kafka_topic_t* p) const { rd_kafka_topic_destroy(p); }
  void operator()(rd_kafka_conf_t* p) const { rd_kafka_conf_destroy(p); }
};

}  // namespace

KafkaPublisherOptions resolveOptions(const KafkaPublisherSettings& settings,
                                     const KafkaSettings& kafka) {
  KafkaPublisherOptions options;
  options.topic = settings.topic;
  if (options.topic.empty()) options.topic = kafka.topic;
  if (options.topic.empty()) {
    throw ConfigError("kafka publisher: no topic (set `topic` or kafka.topic)");
  }
  if (!kafka.brokers.empty()) options.properties.emplace_back("bootstrap.servers", kafka.brokers);
  options.properties.insert(options.properties.end(), kafka.properties.begin(),
                            kafka.properties.end());
  for (const auto& [name, value] : settings.properties) {
    options.properties.emplace_back(name, value);
  }
  bool hasBrokers = false;
  for (const auto& [name, value] : options.properties) {
    if ((name == "bootstrap.servers" || name == "metadata.broker.list") && !value.empty()) {
      hasBrokers = true;
    }
  }
  if (!hasBrokers) throw ConfigError("kafka publisher: no bootstrap servers (kafka.brokers)");
  options.flushTimeout = settings.flushTimeout;
  return options;
}

struct KafkaPublisher::Impl {
  explicit Impl(Logger& l) : logger(l) {}

  Logger& logger;
  std::string topicName;
  std::chrono::milliseconds flushTimeout{0};
  std::unique_ptr<rd_kafka_t, HandleDeleter> handle;
  std::unique_ptr<rd_kafka_topic_t, HandleDeleter> topic;
  std::atomic<bool> running{true};
  std::thread poller;

  static void onDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
    std::unique_ptr<PublishCallback> done(static_cast<PublishCallback*>(m->_private));
    if (!done) return;
    (*done)(m->err == RD_KAFKA_RESP_ERR_NO_ERROR ? PublishResult::published()
                                                 : PublishResult::failed(rd_kafka_err2str(m->err)));
  }

  static void onError(rd_kafka_t*, int err, const char* reason, void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    const auto code = static_cast<rd_kafka_resp_err_t>(err);
    self->logger.log(code == RD_KAFKA_RESP_ERR__FATAL ? LogLevel::Error : LogLevel::Warn,
                     "kafka publisher error",
                     {{"error", rd_kafka_err2name(code)}, {"reason", reason ? reason : ""}});
  }

  static void onLog(const rd_kafka_t* rk, int level, const char* facility, const char* message) {
    auto* self = static_cast<Impl*>(rd_kafka_opaque(rk));
    if (self == nullptr) return;
    const LogLevel l = level <= 3 ? LogLevel::Error : level == 4 ? LogLevel::Warn : LogLevel::Debug;
    if (self->logger.enabled(l)) {
      self->logger.log(l, "librdkafka", {{"facility", facility}, {"message", message}});
    }
  }
};

KafkaPublisher::KafkaPublisher(const KafkaPublisherOptions& options, Logger& logger)
    : impl_(new Impl(logger)) {
  std::unique_ptr<Impl> guard(impl_);
  impl_->topicName = options.topic;
  impl_->flushTimeout = options.flushTimeout;

  std::unique_ptr<rd_kafka_conf_t, HandleDeleter> conf(rd_kafka_conf_new());
  char errstr[512];
  auto apply = [&](const Properties& properties) {
    for (const auto& [name, value] : properties) {
      if (rd_kafka_conf_set(conf.get(), name.c_str(), value.c_str(), errstr, sizeof errstr) !=
          RD_KAFKA_CONF_OK) {
        throw ConfigError("kafka publisher: property '" + name + "': " + errstr);
      }
    }
  };
  apply(kDefaults);
  apply(options.properties);
  apply(kForced);
  rd_kafka_conf_set_opaque(conf.get(), impl_);
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &Impl::onDelivery);
  rd_kafka_conf_set_error_cb(conf.get(), &Impl::onError);
  rd_kafka_conf_set_log_cb(conf.get(), &Impl::onLog);

  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof errstr);
  if (rk == nullptr) throw ConfigError(std::string("kafka publisher: ") + errstr);
  conf.release();  // owned by rk now
  impl_->handle.reset(rk);
  impl_->topic.reset(rd_kafka_topic_new(rk, impl_->topicName.c_str(), nullptr));
  if (!impl_->topic) {
    throw ConfigError("kafka publisher: topic '" + impl_->topicName +
                      "': " + rd_kafka_err2str(rd_kafka_last_error()));
  }
  impl_->poller = std::thread([impl = impl_] {
    while (impl->running.load(std::memory_order_relaxed))
      rd_kafka_poll(impl->handle.get(), kPollMs);
  });
  guard.release();
}

KafkaPublisher::~KafkaPublisher() {
  rd_kafka_t* rk = impl_->handle.get();
  if (!flush(impl_->flushTimeout)) {
    impl_->logger.warn("kafka publisher: undelivered events failed at shutdown",
                       {{"count", std::to_string(rd_kafka_outq_len(rk))}});
    rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(rk, 1000);  // serves the purged events' reports
  }
  impl_->running = false;
  impl_->poller.join();
  impl_->topic.reset();
  impl_->handle.reset();
  delete impl_;
}

void KafkaPublisher::publish(Event event, PublishCallback done) {
  const std::string value = toEnvelopeJson(event);
  auto* opaque = done ? new PublishCallback(std::move(done)) : nullptr;
  for (;;) {
    rd_kafka_headers_t* headers = nullptr;
    if (!event.headers.empty()) {
      headers = rd_kafka_headers_new(event.headers.size());
      for (const auto& [name, v] : event.headers) {
        rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()), v.data(),
                            static_cast<ssize_t>(v.size()));
      }
    }
    const rd_kafka_resp_err_t err = rd_kafka_producev(
        impl_->handle.get(), RD_KAFKA_V_RKT(impl_->topic.get()),
        RD_KAFKA_V_KEY(event.key.empty() ? nullptr : event.key.data(), event.key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers),
        RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return;  // headers belong to librdkafka now
    if (headers != nullptr) rd_kafka_headers_destroy(headers);
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      std::this_thread::sleep_for(kQueueFullBackoff);  // the poll thread drains reports
      continue;
    }
    impl_->logger.warn("kafka publish failed", {{"topic", impl_->topicName},
                                                {"event_type", event.type},
                                                {"error", rd_kafka_err2str(err)}});
    if (opaque != nullptr) {
      std::unique_ptr<PublishCallback> owned(opaque);
      (*owned)(PublishResult::failed(rd_kafka_err2str(err)));
    }
    return;
  }
}

bool KafkaPublisher::flush(std::chrono::milliseconds timeout) {
  return rd_kafka_flush(impl_->handle.get(), static_cast<int>(timeout.count())) ==
         RD_KAFKA_RESP_ERR_NO_ERROR;
}

const std::string& KafkaPublisher::topic() const { return impl_->topicName; }

}  // namespace commsvc::plugins::publisher_kafka
