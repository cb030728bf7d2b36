// Option declarations of the engine's own sections of pipelines.yaml, each
// bound to its field of the settings structs in settings.hpp.

#include "config/settings.hpp"

namespace commsvc::config {
namespace {

constexpr auto kEngineOptions = optionList(
    Option<EngineSettings>::field<&EngineSettings::workers>("workers",
                                                            "worker threads that run handlers")
        .range(1, 256),
    Option<EngineSettings>::field<&EngineSettings::maxInFlight>(
        "max_in_flight",
        "records dispatched but not yet committed; consumption pauses at this "
        "bound, so it also bounds redelivery after a crash")
        .range(1, 1000000),
    Option<EngineSettings>::field<&EngineSettings::shutdownTimeout>(
        "shutdown_timeout_ms", "how long SIGTERM waits for in-flight work before exiting")
        .range(0, 600000),
    Option<EngineSettings>::field<&EngineSettings::maxRetries>(
        "max_retries", "handler Retry attempts before a record is dead-lettered")
        .range(0, 1000),
    Option<EngineSettings>::field<&EngineSettings::batchSize>(
        "batch_size",
        "events already waiting that a worker hands over at once at most, to handlers that "
        "take batches (email sends: one claim and one result transaction per batch); "
        "1 = one at a time. Never waits for more: a lone event goes at once")
        .range(1, 10000),
    Option<EngineSettings>::field<&EngineSettings::retryBackoff>(
        "retry_backoff_ms", "base delay between handler retries")
        .range(1, 600000),
    Option<EngineSettings>::field<&EngineSettings::retryBackoffMax>(
        "retry_backoff_max_ms", "upper bound of the delay between retries")
        .range(1, 3600000),
    Option<EngineSettings>::field<&EngineSettings::pluginDirs>(
        "plugin_dir",
        "plugin directories searched besides the binary's own: a list or one "
        "colon-separated string, relative to this file"),
    Option<EngineSettings>::field<&EngineSettings::serviceName>(
        "service_name", "producer name on published events"),
    Option<EngineSettings>::field<&EngineSettings::reloadTimeout>(
        "reload_timeout_ms",
        "bound of a pipeline reload (SIGHUP, POST /admin/reload): building the new pipeline "
        "and waiting for the old one's records, jobs and outbox")
        .range(1000, 600000),
    Option<EngineSettings>::field<&EngineSettings::pauseAfter>(
        "pause_after_ms",
        "how long max_in_flight may stay reached before the partitions are paused (a pause "
        "drops librdkafka's prefetched records, fetched again on resume)")
        .range(50, 600000),
    Option<EngineSettings>::field<&EngineSettings::maxBacklogWait>(
        "max_backlog_wait_ms",
        "the longest the prefetched records may take to work through at the current rate "
        "before the partitions are paused (bounds how long a rebalance waits behind them)")
        .range(100, 3600000));

constexpr auto kKafkaOptions = optionList(
    Option<KafkaSettings>::field<&KafkaSettings::brokers>(
        "brokers", "bootstrap servers, or 'embedded' to start the in-process broker")
        .required(),
    Option<KafkaSettings>::field<&KafkaSettings::topic>("topic",
                                                        "topic the events are consumed from"),
    Option<KafkaSettings>::field<&KafkaSettings::group>("group", "consumer group id"),
    Option<KafkaSettings>::field<&KafkaSettings::deadLetterTopic>(
        "dead_letter_topic", "topic rejected and exhausted records are written to"),
    Option<KafkaSettings>::field<&KafkaSettings::embeddedPartitions>(
        "embedded_partitions", "partitions of the topic on the embedded broker")
        .range(1, 64),
    Option<KafkaSettings>::field<&KafkaSettings::bootstrapFile>(
        "bootstrap_file", "where the embedded broker's address is written"),
    Option<KafkaSettings>::field<&KafkaSettings::commitInterval>(
        "commit_interval_ms", "how often finished offsets are committed")
        .range(1, 60000),
    Option<KafkaSettings>::field<&KafkaSettings::pollBatch>("poll_batch",
                                                            "records taken per consumer poll")
        .range(1, 100000),
    Option<KafkaSettings>::field<&KafkaSettings::properties>(
        "properties", "librdkafka properties for every client (security.protocol, sasl.*, ssl.*)")
        .secret(),
    Option<KafkaSettings>::field<&KafkaSettings::consumerProperties>(
        "consumer_properties", "librdkafka properties for the consumer only")
        .secret(),
    Option<KafkaSettings>::field<&KafkaSettings::producerProperties>(
        "producer_properties", "librdkafka properties for producers only")
        .secret());

constexpr auto kDatabaseOptions = optionList(
    Option<DatabaseSettings>::field<&DatabaseSettings::url>(
        "url", "libpq connection URL; empty = no database")
        .secret(),
    Option<DatabaseSettings>::field<&DatabaseSettings::poolSize>("pool_size",
                                                                 "connections in the pool")
        .range(1, 64),
    Option<DatabaseSettings>::field<&DatabaseSettings::connectTimeout>(
        "connect_timeout_s", "seconds to wait for a connection")
        .range(1, 300),
    Option<DatabaseSettings>::field<&DatabaseSettings::genericPlans>(
        "generic_plans",
        "statements with parameters (prepared or not) run on a generic plan instead of being "
        "planned again at every execution (PostgreSQL's plan_cache_mode = force_generic_plan "
        "on the pool's connections); false = PostgreSQL chooses per execution"),
    Option<DatabaseSettings>::field<&DatabaseSettings::outboxBatchSize>(
        "outbox_batch_size", "outbox rows the relay publishes per pass")
        .range(1, 100000),
    Option<DatabaseSettings>::field<&DatabaseSettings::outboxBackoffMax>(
        "outbox_backoff_max_ms", "longest pause between relay passes while the publisher fails")
        .range(100, 3600000),
    Option<DatabaseSettings>::field<&DatabaseSettings::outboxMaxRejections>(
        "outbox_max_rejections",
        "times a publisher may reject an outbox event (e.g. HTTP 4xx) before it is "
        "dead-lettered (kept in commsvc_outbox with dead_lettered_at)")
        .range(1, 1000),
    Option<DatabaseSettings>::field<&DatabaseSettings::outboxRetention>(
        "outbox_retention_s", "keep published outbox rows this long (0 = delete once published)")
        .range(0, 31536000));

constexpr auto kHttpOptions = optionList(
    Option<HttpSettings>::field<&HttpSettings::port>(
        "port", "HTTP port (health, metrics, plugin routes); 0 = any free port")
        .range(0, 65535),
    Option<HttpSettings>::field<&HttpSettings::address>("address",
                                                        "address the HTTP server listens on"),
    Option<HttpSettings>::field<&HttpSettings::threads>(
        "threads",
        "HTTP I/O threads: they only read, route and write (handlers run on "
        "handler_threads)")
        .range(1, 64),
    Option<HttpSettings>::field<&HttpSettings::handlerThreads>(
        "handler_threads",
        "threads running route handlers (database, SMTP), apart from the I/O "
        "threads: a slow handler never blocks other requests")
        .range(1, 256),
    Option<HttpSettings>::field<&HttpSettings::handlerQueue>(
        "handler_queue",
        "requests waiting for a handler thread; when full a request gets 503 with "
        "Retry-After at once (http_requests_rejected_total); /livez, /readyz, "
        "/health and /metrics never wait")
        .range(0, 100000),
    Option<HttpSettings>::field<&HttpSettings::bodyLimitBytes>(
        "body_limit_bytes", "larger request bodies are refused with 413")
        .range(1024, 1073741824),
    Option<HttpSettings>::field<&HttpSettings::readTimeout>(
        "read_timeout_ms", "time for a whole request (head and body), and keep-alive idle time")
        .range(100, 600000),
    Option<HttpSettings>::field<&HttpSettings::writeTimeout>("write_timeout_ms",
                                                             "time for writing one response")
        .range(100, 600000),
    Option<HttpSettings>::field<&HttpSettings::adminAddress>(
        "admin_address",
        "host:port of the admin listener (POST /admin/reload), apart from the public port; "
        "empty = none; away from loopback it requires admin_token"),
    Option<HttpSettings>::field<&HttpSettings::adminToken>(
        "admin_token",
        "bearer token the admin routes require (write \"${ADMIN_TOKEN:-}\"); empty = none, "
        "allowed only on a loopback admin_address")
        .secret());

}  // namespace

std::vector<std::string> restartOnlyChanges(const Settings& running, const Settings& next) {
  std::vector<std::string> changed;
  const auto compare = [&](const char* section, std::span<const OptionSpec> options,
                           const void* before, const void* after) {
    for (const OptionSpec& spec : options) {
      if (std::string_view(section) == "engine" && std::string_view(spec.name) == "plugin_dir") {
        continue;
      }
      if (spec.read(spec, before) != spec.read(spec, after)) {
        changed.push_back(std::string(section) + "." + spec.name);
      }
    }
  };
  compare("engine", kEngineOptions.span(), &running.engine, &next.engine);
  compare("kafka", kKafkaOptions.span(), &running.kafka, &next.kafka);
  compare("database", kDatabaseOptions.span(), &running.database, &next.database);
  compare("http", kHttpOptions.span(), &running.http, &next.http);
  return changed;
}

std::span<const OptionSpec> engineOptions() { return kEngineOptions.span(); }
std::span<const OptionSpec> kafkaOptions() { return kKafkaOptions.span(); }
std::span<const OptionSpec> databaseOptions() { return kDatabaseOptions.span(); }
std::span<const OptionSpec> httpOptions() { return kHttpOptions.span(); }

}  // namespace commsvc::config
