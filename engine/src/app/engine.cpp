#include "app/engine.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <stdexcept>
#include <thread>

#include "database/pool.hpp"
#include "http/health.hpp"
#include "http/server.hpp"
#include "kafka/embedded_broker.hpp"
#include "kafka/producer.hpp"
#include "logging/log.hpp"
#include "logging/metrics_registry.hpp"
#include "outbox/migrations.hpp"
#include "outbox/postgres_outbox.hpp"
#include "outbox/relay.hpp"
#include "runtime/consumer_loop.hpp"
#include "runtime/dispatcher.hpp"
#include "runtime/router.hpp"
#include "runtime/scheduler.hpp"

namespace commsvc::app {
namespace {

using namespace std::chrono_literals;

kafka::Properties toProperties(const std::map<std::string, std::string>& map) {
  return {map.begin(), map.end()};
}

/// The engine's own migrations (the outbox table) first, then the plugins'.
std::vector<database::PluginMigrations> withEngineMigrations(
    std::vector<database::PluginMigrations> plugins) {
  plugins.insert(plugins.begin(), outbox::engineMigrations());
  return plugins;
}

/// An HTTP route a plugin registered.
struct RouteEntry {
  std::string method;
  std::string pattern;
  HttpHandler handler;
  std::string owner;  // the plugin instance, for logs
};

/// What every plugin instance shares: owned by the engine, outliving plugins.
struct SharedServices {
  std::vector<RouteEntry> routes;  // served by the HTTP server
  Metrics& metrics;
  const KafkaSettings& kafka;
  Database* database;  // nullptr without database.url
  runtime::Scheduler& scheduler;
  std::map<std::string, Outbox*> outboxes;  // by publisher name: the publishers that are on
  std::vector<std::string> publisherNames;  // every publisher pipelines.yaml declares
  Shutdown shutdown;  // requested as run() sees the stop, with the shutdown bound as deadline
  // Set once every factory returned: schedule/addRoute then throw. Each
  // pipeline (re)load builds fresh SharedServices, so this holds per Context.
  std::atomic<bool> started{false};
};

/// The Context handed to one plugin instance.
class PluginContext final : public Context {
 public:
  PluginContext(std::string name, SharedServices& shared, Channel* channel = nullptr,
                Publisher* publisher = nullptr, Outbox* outbox = nullptr)
      : name_(std::move(name)),
        logger_(logging::makeLogger(name_)),
        shared_(shared),
        channel_(channel),
        publisher_(publisher),
        outbox_(outbox) {}

  const std::string& instanceName() const override { return name_; }
  Logger& logger() override { return *logger_; }
  Metrics& metrics() override { return shared_.metrics; }
  Channel* channel() override { return channel_; }
  Publisher* publisher() override { return publisher_; }
  const KafkaSettings& kafka() const override { return shared_.kafka; }
  Database* database() override { return shared_.database; }
  Outbox* outbox() override { return outbox_; }
  Outbox* outboxFor(const std::string& publisher) override {
    const auto it = shared_.outboxes.find(publisher);
    if (it != shared_.outboxes.end()) return it->second;
    const auto& names = shared_.publisherNames;
    if (std::find(names.begin(), names.end(), publisher) == names.end()) {
      std::string known;
      for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
      throw ConfigError("no publisher named '" + publisher +
                        "' (publishers: " + (known.empty() ? std::string("none") : known) + ")");
    }
    return nullptr;
  }
  const Shutdown& shutdown() override { return shared_.shutdown; }
  void schedule(std::string name, std::chrono::milliseconds interval,
                std::function<void()> job) override {
    requireNotStarted("schedule(\"" + name + "\")");
    shared_.scheduler.add(name_ + "/" + name, interval, std::move(job));
  }
  void addRoute(std::string method, std::string pattern, HttpHandler handler) override {
    requireNotStarted("addRoute(" + method + " " + pattern + ")");
    for (const auto& r : shared_.routes) {
      if (r.method == method && r.pattern == pattern) {
        throw std::invalid_argument("route " + method + " " + pattern + " registered twice (by " +
                                    r.owner + " and " + name_ + ")");
      }
    }
    shared_.routes.push_back({std::move(method), std::move(pattern), std::move(handler), name_});
  }

 private:
  /// Throws std::logic_error naming this instance and `call` once the
  /// pipeline started (the call would be dropped or race with the scheduler).
  void requireNotStarted(const std::string& call) const {
    if (shared_.started.load()) {
      throw std::logic_error(name_ + ": Context::" + call +
                             " called after the pipeline started; call it only from the "
                             "plugin's factory");
    }
  }

  std::string name_;
  std::unique_ptr<Logger> logger_;
  SharedServices& shared_;
  Channel* channel_;
  Publisher* publisher_;
  Outbox* outbox_;
};

/// Dead letters through a RawProducer, waiting for each acknowledgement.
class KafkaDeadLetterSink final : public runtime::DeadLetterSink {
 public:
  KafkaDeadLetterSink(kafka::RawProducer& producer, std::string topic)
      : producer_(producer), topic_(std::move(topic)) {}

  bool send(const runtime::DeadLetter& letter) override {
    auto promise = std::make_shared<std::promise<bool>>();
    auto result = promise->get_future();
    producer_.send(topic_, letter.key, letter.value,
                   kafka::deadLetterHeaders(letter.headers, letter.reason, letter.detail,
                                            letter.topic, letter.partition, letter.offset),
                   [promise](bool ok, const std::string&) { promise->set_value(ok); });
    return result.get();
  }

 private:
  kafka::RawProducer& producer_;
  std::string topic_;
};

/// A plugin object that keeps its library loaded while it lives.
template <typename T>
struct Instance {
  std::unique_ptr<PluginContext> context;
  std::unique_ptr<T> object;
};

[[noreturn]] void refuse(const config::PipelineConfig& config, const config::PluginBlock& block,
                         const std::string& why) {
  throw config::ConfigErrors({{config.file, block.line, block.column, block.path, why}});
}

}  // namespace

struct Engine::State {
  ValidatedPipeline pipeline;  // first: the plugin libraries are unloaded last
  logging::MetricsRegistry metrics;
  std::unique_ptr<Logger> logger = logging::makeLogger("engine");
  std::unique_ptr<kafka::EmbeddedBroker> broker;
  std::unique_ptr<database::ConnectionPool> database;  // before the plugins: outlives them
  KafkaSettings kafka;
  SharedServices shared{{}, metrics, kafka, nullptr, scheduler, {}, {}};
  std::map<std::string, Instance<Publisher>> publishers;
  std::map<std::string, Instance<Channel>> channels;
  std::unique_ptr<outbox::OutboxRelay> outboxRelay;  // with a database and publishers
  std::map<std::string, std::unique_ptr<outbox::PostgresOutbox>> outboxes;  // by publisher
  std::vector<Instance<Handler>> handlers;
  // After the plugins: destroyed (joined) before them, whichever way the
  // engine ends. SharedServices refers to it before it is built, but plugin
  // factories only use it once every member exists.
  runtime::Scheduler scheduler{*logger};
  runtime::Router router;
  std::unique_ptr<kafka::RawProducer> deadLetterProducer;
  std::unique_ptr<KafkaDeadLetterSink> deadLetterSink;
  std::unique_ptr<runtime::Dispatcher> dispatcher;
  std::unique_ptr<runtime::ConsumerLoop> loop;
  // The readiness checker's own database connection (not the plugins' pool:
  // a busy pool must not look like an outage, and a probe must not wait for
  // a slot), then the checker; both destroyed before the channels they probe.
  std::unique_ptr<database::ConnectionPool> databaseProbe;
  std::unique_ptr<http::HealthMonitor> health;
  std::unique_ptr<http::Server> http;  // last: destroyed first, before the plugins' handlers

  explicit State(ValidatedPipeline p) : pipeline(std::move(p)) {}
};

namespace {

/// What /readyz and /health report: the database (through its own
/// one-connection pool, one quick retry so a restarted server is seen at
/// once), the Kafka bootstrap brokers (TCP reachability) and every channel a
/// handler uses, by its pipelines.yaml name (Channel::state()), and whether
/// each publisher is on (Publisher::status()).
/// `databaseProbe` receives the probe's pool (when `withDatabase`).
std::vector<http::HealthCheck> healthChecks(
    const config::PipelineConfig& cfg, bool withDatabase, const std::string& brokers,
    const std::map<std::string, Instance<Channel>>& channels,
    const std::map<std::string, Instance<Publisher>>& publishers,
    std::unique_ptr<database::ConnectionPool>& databaseProbe) {
  std::vector<http::HealthCheck> checks;
  if (withDatabase) {
    database::PoolSettings probe = database::poolSettingsFrom(cfg.database);
    probe.size = 1;
    probe.connectTimeout = std::min(probe.connectTimeout, std::chrono::seconds(2));
    probe.acquireTimeout = std::chrono::milliseconds(2000);
    probe.maxAttempts = 2;
    probe.retryBackoff = std::chrono::milliseconds(50);
    databaseProbe = std::make_unique<database::ConnectionPool>(probe);  // no logger: no noise
    checks.push_back({"database", [pool = databaseProbe.get()] {
                        std::string error;
                        if (pool->ping(&error)) return http::ComponentHealth{true, "ok"};
                        return http::ComponentHealth{false, "down: " + error};
                      }});
  } else {
    checks.push_back({"database", [] { return http::ComponentHealth{true, "disabled"}; }});
  }
  // Kafka: whether a bootstrap broker accepts a TCP connection (not the
  // group's state: the consumer loop does not expose it).
  checks.push_back({"kafka", [brokers] {
                      auto state = http::probeBrokers(brokers, std::chrono::milliseconds(1000));
                      if (!state.healthy) state.state = "down: " + state.state;
                      return state;
                    }});
  std::vector<std::string> used;
  for (const auto& entry : cfg.handlers) {
    if (entry.channel.empty() || std::find(used.begin(), used.end(), entry.channel) != used.end()) {
      continue;
    }
    used.push_back(entry.channel);
    const Channel* channel = channels.at(entry.channel).object.get();
    checks.push_back(
        {entry.channel,
         [channel] {
           const ChannelState state = channel->state();
           if (state.ready) return http::ComponentHealth{true, "ok"};
           return http::ComponentHealth{
               false, "down: " + (state.detail.empty() ? std::string("not ready") : state.detail)};
         },
         "channels"});
  }
  // Publishers: "ok", or "off: <why>" for one configured off (not a failure:
  // what it would send is simply not sent, e.g. patient contact updates).
  for (const auto& [name, inst] : publishers) {
    const Publisher* publisher = inst.object.get();
    checks.push_back({name,
                      [publisher] {
                        const PublisherStatus status = publisher->status();
                        if (status.on) return http::ComponentHealth{true, "ok"};
                        return http::ComponentHealth{true, "off: " + status.detail};
                      },
                      "publishers"});
  }
  return checks;
}

}  // namespace

Engine::Engine(ValidatedPipeline pipeline, bool migrate)
    : state_(std::make_unique<State>(std::move(pipeline))) {
  State& s = *state_;
  const auto& cfg = s.pipeline.config;
  const Config& kafkaCfg = cfg.kafka;
  const Config& engineCfg = cfg.engine;

  const auto migrations = pluginMigrations(s.pipeline);
  if (!cfg.database.getString("url").empty()) {
    s.database = std::make_unique<database::ConnectionPool>(
        database::poolSettingsFrom(cfg.database), s.logger.get());
    if (migrate) {
      database::migrate(*s.database, withEngineMigrations(migrations), s.logger.get());
    }
    s.shared.database = s.database.get();
  } else if (!migrations.empty()) {
    s.logger->warn("plugins ship migrations but database.url is empty: not applied");
  }

  s.kafka.topic = kafkaCfg.getString("topic");
  s.kafka.group = kafkaCfg.getString("group");
  s.kafka.deadLetterTopic = kafkaCfg.getString("dead_letter_topic");
  s.kafka.properties = toProperties(kafkaCfg.getMap("properties"));
  s.kafka.brokers = kafkaCfg.getString("brokers");
  if (s.kafka.brokers == "embedded") {
    const int partitions = static_cast<int>(kafkaCfg.getInt("embedded_partitions"));
    s.broker = std::make_unique<kafka::EmbeddedBroker>(
        1, std::vector<std::pair<std::string, int>>{{s.kafka.topic, partitions},
                                                    {s.kafka.deadLetterTopic, partitions}});
    s.kafka.brokers = s.broker->bootstrapServers();
    const auto& file = kafkaCfg.getString("bootstrap_file");
    s.broker->writeBootstrapFile(file);
    s.logger->info("embedded Kafka broker started",
                   {{"bootstrap", s.kafka.brokers}, {"bootstrap_file", file}});
  }

  auto create = [&](auto factory, const Config& config, const config::PluginBlock& block,
                    auto& instance) {
    try {
      instance.object = factory(config, *instance.context);
    } catch (const std::exception& e) {
      refuse(cfg, block,
             std::string("plugin '") + block.type + "' refused its configuration: " + e.what());
    }
    if (!instance.object) refuse(cfg, block, "plugin '" + block.type + "' created nothing");
  };

  for (std::size_t i = 0; i < cfg.publishers.size(); ++i) {
    const auto& block = cfg.publishers[i];
    auto& inst = s.publishers[block.name];
    inst.context = std::make_unique<PluginContext>(block.path, s.shared);
    const auto* plugin = s.pipeline.registry.find(PluginKind::Publisher, block.type);
    create(plugin->info->createPublisher, s.pipeline.publisherConfigs[i], block, inst);
  }
  // Publishers configured off (Publisher::status()) get no outbox: nothing
  // is written for them, and the start log and /readyz say why.
  std::map<std::string, Publisher*> onByName;
  for (auto& [name, inst] : s.publishers) {
    s.shared.publisherNames.push_back(name);
    const PublisherStatus status = inst.object->status();
    if (status.on) {
      onByName.emplace(name, inst.object.get());
    } else {
      s.logger->info("publisher is off: nothing is sent through it",
                     {{"publisher", name}, {"reason", status.detail}});
    }
  }
  if (s.database && !onByName.empty()) {
    outbox::RelaySettings relay;
    relay.batchSize = static_cast<std::size_t>(cfg.database.getInt("outbox_batch_size"));
    relay.backoffMax = std::chrono::milliseconds(cfg.database.getInt("outbox_backoff_max_ms"));
    relay.retention = std::chrono::seconds(cfg.database.getInt("outbox_retention_s"));
    relay.maxRejections = static_cast<int>(cfg.database.getInt("outbox_max_rejections"));
    s.outboxRelay =
        std::make_unique<outbox::OutboxRelay>(*s.database, onByName, *s.logger, s.metrics, relay);
    for (const auto& [name, publisher] : onByName) {
      auto& outbox = s.outboxes[name];
      outbox =
          std::make_unique<outbox::PostgresOutbox>(name, s.outboxRelay.get(), s.database.get());
      s.shared.outboxes.emplace(name, outbox.get());
    }
  }
  for (std::size_t i = 0; i < cfg.channels.size(); ++i) {
    const auto& block = cfg.channels[i];
    auto& inst = s.channels[block.name];
    inst.context = std::make_unique<PluginContext>(block.path, s.shared);
    const auto* plugin = s.pipeline.registry.find(PluginKind::Channel, block.type);
    create(plugin->info->createChannel, s.pipeline.channelConfigs[i], block, inst);
  }
  for (std::size_t i = 0; i < cfg.handlers.size(); ++i) {
    const auto& entry = cfg.handlers[i];
    Channel* channel = entry.channel.empty() ? nullptr : s.channels.at(entry.channel).object.get();
    Publisher* publisher =
        entry.publisher.empty() ? nullptr : s.publishers.at(entry.publisher).object.get();
    const auto found = s.shared.outboxes.find(entry.publisher);
    Outbox* outbox = found == s.shared.outboxes.end() ? nullptr : found->second;
    auto& inst = s.handlers.emplace_back();
    inst.context =
        std::make_unique<PluginContext>(entry.block.path, s.shared, channel, publisher, outbox);
    const auto* plugin = s.pipeline.registry.find(PluginKind::Handler, entry.block.type);
    create(plugin->info->createHandler, s.pipeline.handlerConfigs[i], entry.block, inst);
    s.router.add(entry.event, *inst.object);
  }
  s.shared.started.store(true);  // every factory returned: schedule/addRoute now throw

  kafka::Properties common{{"bootstrap.servers", s.kafka.brokers}};
  common.insert(common.end(), s.kafka.properties.begin(), s.kafka.properties.end());

  kafka::Properties producerProps = common;
  for (const auto& kv : kafkaCfg.getMap("producer_properties")) producerProps.push_back(kv);
  s.deadLetterProducer = std::make_unique<kafka::RawProducer>(producerProps, *s.logger);
  s.deadLetterSink =
      std::make_unique<KafkaDeadLetterSink>(*s.deadLetterProducer, s.kafka.deadLetterTopic);

  runtime::DispatcherSettings dispatch;
  dispatch.workers = static_cast<std::size_t>(engineCfg.getInt("workers"));
  dispatch.maxRetries = static_cast<int>(engineCfg.getInt("max_retries"));
  dispatch.retryBackoff = std::chrono::milliseconds(engineCfg.getInt("retry_backoff_ms"));
  dispatch.retryBackoffMax = std::chrono::milliseconds(engineCfg.getInt("retry_backoff_max_ms"));
  s.dispatcher = std::make_unique<runtime::Dispatcher>(s.router, *s.deadLetterSink, dispatch,
                                                       *s.logger, s.metrics);

  kafka::Properties consumerProps = common;
  consumerProps.emplace_back("group.id", s.kafka.group);
  for (const auto& kv : kafkaCfg.getMap("consumer_properties")) consumerProps.push_back(kv);
  runtime::ConsumerLoopSettings loop;
  loop.maxInFlight = static_cast<std::size_t>(engineCfg.getInt("max_in_flight"));
  loop.commitInterval = std::chrono::milliseconds(kafkaCfg.getInt("commit_interval_ms"));
  loop.pollBatch = static_cast<std::size_t>(kafkaCfg.getInt("poll_batch"));
  loop.shutdownTimeout = std::chrono::milliseconds(engineCfg.getInt("shutdown_timeout_ms"));
  s.loop = std::make_unique<runtime::ConsumerLoop>(consumerProps, s.kafka.topic, *s.dispatcher,
                                                   loop, *s.logger, s.metrics);
  // The HTTP server: plugin routes plus the engine's /health and /metrics.
  std::vector<http::Route> routes;
  for (auto& r : s.shared.routes) {
    routes.push_back({r.method, r.pattern, std::move(r.handler), r.owner});
  }
  s.shared.routes.clear();
  s.health = std::make_unique<http::HealthMonitor>(
      healthChecks(cfg, s.database != nullptr, s.kafka.brokers, s.channels, s.publishers,
                   s.databaseProbe),
      *s.logger, s.metrics);
  routes.push_back({"GET", "/livez", http::makeLivezHandler(), "engine", true});
  routes.push_back({"GET", "/readyz", http::makeReadyzHandler(*s.health), "engine", true});
  routes.push_back({"GET", "/health",
                    http::makeHealthHandler("communication-service", *s.health,
                                            [&s] {
                                              return s.http ? s.http->servingProblem()
                                                            : std::string("not started");
                                            }),
                    "engine", true});
  routes.push_back(
      {"GET", "/metrics",
       [metrics = &s.metrics](const HttpRequest&) {
         return HttpResponse{200, metrics->renderText(), "text/plain; version=0.0.4", {}};
       },
       "engine", true});
  http::ServerSettings httpSettings;
  httpSettings.address = cfg.http.getString("address");
  httpSettings.port = static_cast<std::uint16_t>(cfg.http.getInt("port"));
  httpSettings.threads = static_cast<std::size_t>(cfg.http.getInt("threads"));
  httpSettings.handlerThreads = static_cast<std::size_t>(cfg.http.getInt("handler_threads"));
  httpSettings.handlerQueue = static_cast<std::size_t>(cfg.http.getInt("handler_queue"));
  httpSettings.bodyLimit = static_cast<std::size_t>(cfg.http.getInt("body_limit_bytes"));
  httpSettings.readTimeout = std::chrono::milliseconds(cfg.http.getInt("read_timeout_ms"));
  httpSettings.writeTimeout = std::chrono::milliseconds(cfg.http.getInt("write_timeout_ms"));
  try {
    s.http = std::make_unique<http::Server>(httpSettings, std::move(routes), *s.logger, s.metrics);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(std::string("HTTP routes: ") + e.what());
  }
  s.logger->info("pipeline ready", {{"file", cfg.file},
                                    {"topic", s.kafka.topic},
                                    {"group", s.kafka.group},
                                    {"handlers", std::to_string(cfg.handlers.size())},
                                    {"workers", std::to_string(dispatch.workers)}});
}

Engine::~Engine() = default;

std::vector<database::PluginMigrations> pluginMigrations(const ValidatedPipeline& pipeline) {
  std::vector<database::PluginMigrations> out;
  for (const auto& plugin : pipeline.registry.plugins()) {
    if (plugin.info->migrationCount == 0) continue;
    out.push_back({plugin.info->name, {plugin.info->migrations, plugin.info->migrationCount}});
  }
  return out;
}

std::vector<database::AppliedMigration> migratePipeline(const ValidatedPipeline& pipeline) {
  const auto migrations = pluginMigrations(pipeline);
  database::checkMigrations(migrations);
  if (pipeline.config.database.getString("url").empty()) {
    if (migrations.empty()) return {};
    throw std::runtime_error("plugins ship migrations but database.url is empty");
  }
  auto logger = logging::makeLogger("migrate");
  database::ConnectionPool pool(database::poolSettingsFrom(pipeline.config.database), logger.get());
  return database::migrate(pool, withEngineMigrations(migrations), logger.get());
}

RunResult Engine::run(const std::atomic<bool>& stop) {
  State& s = *state_;
  const auto bound =
      std::chrono::milliseconds(s.pipeline.config.engine.getInt("shutdown_timeout_ms"));
  s.http->start();  // first: a port that cannot be bound fails before anything runs
  s.health->start();
  if (s.outboxRelay) s.outboxRelay->start();
  s.scheduler.start();
  // The HTTP server stops accepting as soon as the stop is seen and
  // finishes the requests it has (running and queued) within the bound,
  // and the health checker stops, while the consumer drains; the plugins
  // stay alive until both are done.
  std::atomic<bool> consumerEnded{false};
  std::thread httpStopper([&] {
    while (!stop.load() && !consumerEnded.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    // Plugins' long work (a queue batch, a retry loop) stops between units.
    s.shared.shutdown.request(std::chrono::steady_clock::now() + bound);
    s.http->stop(bound);
    s.health->stop();  // waits for a probe in progress, in parallel with the drain
  });
  runtime::DrainResult drained;
  try {
    drained = s.loop->run(stop);
  } catch (...) {
    consumerEnded.store(true);
    httpStopper.join();
    throw;
  }
  consumerEnded.store(true);
  httpStopper.join();
  s.scheduler.stop();
  const auto remaining = [&] {
    const auto left = bound - std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::steady_clock::now() - s.loop->stopObservedAt());
    return std::max(left, std::chrono::milliseconds(1000));
  };
  // After handlers, jobs and HTTP requests stopped adding: publish what the
  // outbox holds (what is left stays for the next start), then flush the
  // publishers.
  const bool httpStuck = s.http->handlersRunning() > 0;
  s.health->stop();  // already stopped with the HTTP server (idempotent)
  if (s.outboxRelay) s.outboxRelay->stop(std::chrono::steady_clock::now() + remaining());
  for (auto& [name, inst] : s.publishers) {
    if (!inst.object->flush(remaining())) {
      s.logger->warn("publisher did not flush everything before the bound", {{"publisher", name}});
    }
  }
  s.deadLetterProducer->flush(remaining());
  const auto counters = s.metrics.snapshot();
  LogFields fields;
  for (const auto& [name, value] : counters) {
    fields.emplace_back(name, std::to_string(static_cast<long long>(value)));
  }
  s.logger->info("final counters", fields);
  if (httpStuck) return RunResult::Stuck;  // an HTTP handler still runs plugin code
  switch (drained) {
    case runtime::DrainResult::Finished:
      return RunResult::Drained;
    case runtime::DrainResult::Abandoned:
      return RunResult::TimedOut;
    case runtime::DrainResult::Stuck:
      return RunResult::Stuck;
  }
  return RunResult::TimedOut;
}

}  // namespace commsvc::app
