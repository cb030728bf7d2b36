// Option declarations of the engine's own sections of pipelines.yaml.

#include "config/pipeline_config.hpp"

namespace commsvc::config {
namespace {

using T = OptionType;

const OptionSpec kEngineOptions[] = {
    {.name = "workers",
     .type = T::Integer,
     .defaultValue = "8",
     .description = "worker threads that run handlers",
     .min = 1,
     .max = 256},
    {.name = "max_in_flight",
     .type = T::Integer,
     .defaultValue = "10000",
     .description = "records dispatched but not yet committed; consumption pauses at this "
                    "bound, so it also bounds redelivery after a crash",
     .min = 1,
     .max = 1000000},
    {.name = "shutdown_timeout_ms",
     .type = T::Integer,
     .defaultValue = "10000",
     .description = "how long SIGTERM waits for in-flight work before exiting",
     .min = 0,
     .max = 600000},
    {.name = "max_retries",
     .type = T::Integer,
     .defaultValue = "5",
     .description = "handler Retry attempts before a record is dead-lettered",
     .min = 0,
     .max = 1000},
    {.name = "retry_backoff_ms",
     .type = T::Integer,
     .defaultValue = "200",
     .description = "base delay between handler retries",
     .min = 1,
     .max = 600000},
    {.name = "retry_backoff_max_ms",
     .type = T::Integer,
     .defaultValue = "10000",
     .description = "upper bound of the delay between retries",
     .min = 1,
     .max = 3600000},
    {.name = "plugin_dir",
     .type = T::String,
     .defaultValue = "",
     .description = "colon-separated plugin directories; empty = next to the binary"},
    {.name = "service_name",
     .type = T::String,
     .defaultValue = "communication-service",
     .description = "producer name on published events"},
};

const OptionSpec kKafkaOptions[] = {
    {.name = "brokers",
     .type = T::String,
     .defaultValue = nullptr,
     .description = "bootstrap servers, or 'embedded' to start the in-process broker"},
    {.name = "topic",
     .type = T::String,
     .defaultValue = "communication-events",
     .description = "topic the events are consumed from"},
    {.name = "group",
     .type = T::String,
     .defaultValue = "communication-service",
     .description = "consumer group id"},
    {.name = "dead_letter_topic",
     .type = T::String,
     .defaultValue = "communication-events.dlq",
     .description = "topic rejected and exhausted records are written to"},
    {.name = "embedded_partitions",
     .type = T::Integer,
     .defaultValue = "3",
     .description = "partitions of the topic on the embedded broker",
     .min = 1,
     .max = 64},
    {.name = "bootstrap_file",
     .type = T::String,
     .defaultValue = ".commsvc/kafka-bootstrap",
     .description = "where the embedded broker's address is written"},
    {.name = "commit_interval_ms",
     .type = T::Integer,
     .defaultValue = "200",
     .description = "how often finished offsets are committed",
     .min = 1,
     .max = 60000},
    {.name = "poll_batch",
     .type = T::Integer,
     .defaultValue = "1000",
     .description = "records taken per consumer poll",
     .min = 1,
     .max = 100000},
    {.name = "properties",
     .type = T::StringMap,
     .defaultValue = "",
     .description = "librdkafka properties for every client (security.protocol, sasl.*, ssl.*)",
     .secret = true},
    {.name = "consumer_properties",
     .type = T::StringMap,
     .defaultValue = "",
     .description = "librdkafka properties for the consumer only",
     .secret = true},
    {.name = "producer_properties",
     .type = T::StringMap,
     .defaultValue = "",
     .description = "librdkafka properties for producers only",
     .secret = true},
};

const OptionSpec kDatabaseOptions[] = {
    {.name = "url",
     .type = T::String,
     .defaultValue = "",
     .description = "libpq connection URL; empty = no database",
     .secret = true},
    {.name = "pool_size",
     .type = T::Integer,
     .defaultValue = "4",
     .description = "connections in the pool",
     .min = 1,
     .max = 64},
    {.name = "connect_timeout_s",
     .type = T::Integer,
     .defaultValue = "5",
     .description = "seconds to wait for a connection",
     .min = 1,
     .max = 300},
};

const OptionSpec kHttpOptions[] = {
    {.name = "port",
     .type = T::Integer,
     .defaultValue = "8004",
     .description = "HTTP port (health, metrics, plugin routes); 0 = any free port",
     .min = 0,
     .max = 65535},
    {.name = "address",
     .type = T::String,
     .defaultValue = "0.0.0.0",
     .description = "address the HTTP server listens on"},
};

}  // namespace

std::span<const OptionSpec> engineOptions() { return kEngineOptions; }
std::span<const OptionSpec> kafkaOptions() { return kKafkaOptions; }
std::span<const OptionSpec> databaseOptions() { return kDatabaseOptions; }
std::span<const OptionSpec> httpOptions() { return kHttpOptions; }

}  // namespace commsvc::config
