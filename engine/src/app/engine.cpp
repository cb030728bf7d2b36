#include "app/engine.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <fstream>
#include <future>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "app/file_sha256.hpp"
#include "app/heap_trim.hpp"
#include "app/running_pipeline.hpp"
#include "app/sd_notify.hpp"
#include "commsvc/json.hpp"
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

namespace commsvc::app {
namespace {

using namespace std::chrono_literals;

// How often HeapTrimmer looks for freed memory to hand back.
constexpr auto kTrimInterval = std::chrono::seconds(2);

kafka::Properties toProperties(const std::map<std::string, std::string>& map) {
  return {map.begin(), map.end()};
}

// Each component's own settings from the typed sections of pipelines.yaml.

/// The Kafka settings plugins see (Context::kafka()), brokers as written.
KafkaSettings pluginKafkaSettings(const config::KafkaSettings& kafka) {
  KafkaSettings out;
  out.brokers = kafka.brokers;
  out.topic = kafka.topic;
  out.group = kafka.group;
  out.deadLetterTopic = kafka.deadLetterTopic;
  out.properties = toProperties(kafka.properties);
  return out;
}

/// The librdkafka properties every client of the engine uses.
kafka::Properties commonProperties(const KafkaSettings& kafka) {
  kafka::Properties common{{"bootstrap.servers", kafka.brokers}};
  common.insert(common.end(), kafka.properties.begin(), kafka.properties.end());
  return common;
}

runtime::DispatcherSettings dispatcherSettings(const config::EngineSettings& engine) {
  runtime::DispatcherSettings out;
  out.workers = static_cast<std::size_t>(engine.workers);
  out.maxRetries = engine.maxRetries;
  out.batchSize = static_cast<std::size_t>(engine.batchSize);
  out.retryBackoff = engine.retryBackoff;
  out.retryBackoffMax = engine.retryBackoffMax;
  return out;
}

runtime::ConsumerLoopSettings consumerLoopSettings(const config::Settings& settings) {
  runtime::ConsumerLoopSettings out;
  out.maxInFlight = settings.engine.maxInFlight;
  out.commitInterval = settings.kafka.commitInterval;
  out.pollBatch = settings.kafka.pollBatch;
  out.shutdownTimeout = settings.engine.shutdownTimeout;
  out.pauseAfter = settings.engine.pauseAfter;
  out.maxBacklogWait = settings.engine.maxBacklogWait;
  return out;
}

outbox::RelaySettings relaySettings(const config::DatabaseSettings& database) {
  outbox::RelaySettings out;
  out.batchSize = database.outboxBatchSize;
  out.backoffMax = database.outboxBackoffMax;
  out.retention = database.outboxRetention;
  out.maxRejections = database.outboxMaxRejections;
  return out;
}

http::ServerSettings serverSettings(const config::HttpSettings& http) {
  http::ServerSettings out;
  out.address = http.address;
  out.port = http.port;
  out.threads = static_cast<std::size_t>(http.threads);
  out.handlerThreads = static_cast<std::size_t>(http.handlerThreads);
  out.handlerQueue = http.handlerQueue;
  out.bodyLimit = http.bodyLimitBytes;
  out.readTimeout = http.readTimeout;
  out.writeTimeout = http.writeTimeout;
  return out;
}

/// The engine's own migrations (the outbox table) first, then the plugins'.
std::vector<database::PluginMigrations> withEngineMigrations(
    std::vector<database::PluginMigrations> plugins) {
  plugins.insert(plugins.begin(), outbox::engineMigrations());
  return plugins;
}

/// Dead letters through the engine's producer, waiting for each acknowledgement.
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

/// A listen address "host:port" or "[v6]:port".
struct ListenAddress {
  std::string host;
  std::uint16_t port = 0;
};

/// Parses `text`; throws std::runtime_error naming `key` when it is not one.
ListenAddress parseListenAddress(const std::string& text, const std::string& key) {
  const auto bad = [&] {
    return std::runtime_error(key + ": '" + text + "' is not host:port (e.g. 127.0.0.1:8005)");
  };
  const std::size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) throw bad();
  ListenAddress out;
  out.host = text.substr(0, colon);
  if (out.host.front() == '[' && out.host.back() == ']')
    out.host = out.host.substr(1, out.host.size() - 2);
  const std::string port = text.substr(colon + 1);
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) throw bad();
  const long value = std::stol(port);
  if (value > 65535) throw bad();
  out.port = static_cast<std::uint16_t>(value);
  if (out.host == "localhost") out.host = "127.0.0.1";
  return out;
}

bool isLoopback(const std::string& host) { return host.rfind("127.", 0) == 0 || host == "::1"; }

/// Compares two strings in time independent of where they differ.
bool sameSecret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

/// Routes whose handlers keep `pipeline` alive while they run (a request
/// routed before a reload finishes on the pipeline it was routed to).
std::vector<http::Route> keepingAlive(std::vector<http::Route> routes,
                                      const std::shared_ptr<RunningPipeline>& pipeline) {
  for (auto& route : routes) {
    route.handler = [keep = pipeline, inner = std::move(route.handler)](const HttpRequest& r) {
      return inner(r);
    };
  }
  return routes;
}

/// Checks whose probes keep `pipeline` alive while they run.
std::vector<http::HealthCheck> keepingAlive(std::vector<http::HealthCheck> checks,
                                            const std::shared_ptr<RunningPipeline>& pipeline) {
  for (auto& check : checks) {
    check.probe = [keep = pipeline, inner = std::move(check.probe)] { return inner(); };
  }
  return checks;
}

}  // namespace

struct Engine::State {
  explicit State(ValidatedPipeline p)
      : first(std::move(p)), settings(first->config.settings), file(first->config.file) {}

  std::optional<ValidatedPipeline> first;  // until buildPipeline() takes it
  const config::Settings settings;         // the sections a reload cannot change
  const std::string file;
  logging::MetricsRegistry metrics;
  std::unique_ptr<Logger> logger = logging::makeLogger("engine");
  std::unique_ptr<kafka::EmbeddedBroker> broker;
  std::unique_ptr<database::ConnectionPool> database;  // outlives every pipeline
  std::unique_ptr<database::Listener> listener;        // notifications; with the database
  KafkaSettings kafka;                                 // as plugins see it
  // The one Kafka producer: dead letters and the `kafka` publishers (through
  // Context::kafkaProducer()); declared before the pipelines holding handles.
  std::unique_ptr<kafka::RawProducer> producer;

  // The current pipeline; shared with the records, requests and probes
  // using it (a reload waits until it holds the last reference).
  mutable std::mutex pipelineMutex;
  std::shared_ptr<RunningPipeline> pipeline;
  std::vector<std::shared_ptr<RunningPipeline>> retired;  // outlived a reload's bound
  std::string configHash;                                 // guarded by pipelineMutex

  std::unique_ptr<KafkaDeadLetterSink> deadLetterSink;
  std::unique_ptr<runtime::Dispatcher> dispatcher;
  std::unique_ptr<runtime::ConsumerLoop> loop;
  // The readiness checker's own database connection (not the plugins' pool:
  // a busy pool must not look like an outage, and a probe must not wait for
  // a slot), then the checker; both destroyed before the pipeline they probe.
  std::unique_ptr<database::ConnectionPool> databaseProbe;
  std::vector<http::HealthCheck> baseChecks;  // database, Kafka
  std::unique_ptr<http::HealthMonitor> health;
  std::vector<http::Route> engineRoutes;  // /livez /readyz /health /metrics
  std::unique_ptr<http::Server> http;     // destroyed before the pipeline's handlers
  std::unique_ptr<http::Server> admin;    // POST /admin/reload

  std::function<ValidatedPipeline()> reloadSource;
  std::timed_mutex reloadMutex;  // one reload at a time
  std::atomic<bool> running{false};
  Counter* reloadsOk = nullptr;
  Counter* reloadsFailed = nullptr;
  Gauge* lastReloadSuccess = nullptr;
  Gauge* lastReloadOk = nullptr;

  EngineServices services() {
    return {metrics,        *logger,       kafka, database.get(), relaySettings(settings.database),
            producer.get(), listener.get()};
  }
  std::shared_ptr<RunningPipeline> current() const {
    std::lock_guard lock(pipelineMutex);
    return pipeline;
  }
};

Engine::Engine(ValidatedPipeline pipeline, bool migrate)
    : state_(std::make_unique<State>(std::move(pipeline))) {
  openDatabase(migrate);
  prepareKafka();
  buildProducer();
  buildPipeline();
  buildDeadLetters();
  buildDispatcher();
  buildConsumer();
  buildHealth();
  buildHttpServer();
  buildAdmin();
  logReady();
}

void Engine::openDatabase(bool migrate) {
  State& s = *state_;
  const auto migrations = pluginMigrations(*s.first);
  const config::DatabaseSettings& settings = s.settings.database;
  if (!settings.url.empty()) {
    database::PoolSettings poolSettings = database::poolSettingsFrom(settings);
    // The relays of this process are woken after commit in-process and tell
    // other instances themselves (OutboxRelay::committedHere).
    poolSettings.outboxNotify = false;
    s.database = std::make_unique<database::ConnectionPool>(poolSettings, s.logger.get());
    if (migrate) {
      database::migrate(*s.database, withEngineMigrations(migrations), s.logger.get());
    }
    const database::PoolSettings pool = database::poolSettingsFrom(settings);
    s.listener = std::make_unique<database::Listener>(
        database::withConnectTimeout(pool.url, pool.connectTimeout), *s.logger);
  } else if (!migrations.empty()) {
    s.logger->warn("plugins ship migrations but database.url is empty: not applied");
  }
}

void Engine::prepareKafka() {
  State& s = *state_;
  const config::KafkaSettings& settings = s.settings.kafka;
  s.kafka = pluginKafkaSettings(settings);
  if (s.kafka.brokers == "embedded") {
    const int partitions = settings.embeddedPartitions;
    s.broker = std::make_unique<kafka::EmbeddedBroker>(
        1, std::vector<std::pair<std::string, int>>{{s.kafka.topic, partitions},
                                                    {s.kafka.deadLetterTopic, partitions}});
    s.kafka.brokers = s.broker->bootstrapServers();
    const std::string& file = settings.bootstrapFile;
    s.broker->writeBootstrapFile(file);
    s.logger->info("embedded Kafka broker started",
                   {{"bootstrap", s.kafka.brokers}, {"bootstrap_file", file}});
  }
}

void Engine::buildPipeline() {
  State& s = *state_;
  s.pipeline = std::make_shared<RunningPipeline>(std::move(*s.first), s.services());
  s.first.reset();
  s.configHash = fileSha256(s.file);
  s.reloadsOk =
      &s.metrics.counter("config_reloads_total", "Pipeline reloads by result", {{"result", "ok"}});
  s.reloadsFailed = &s.metrics.counter("config_reloads_total", "Pipeline reloads by result",
                                       {{"result", "failed"}});
  s.lastReloadSuccess = &s.metrics.gauge(
      "config_last_reload_success_timestamp_seconds",
      "Unix time the running pipeline was loaded (at start or by the last successful reload)");
  s.lastReloadOk =
      &s.metrics.gauge("config_last_reload_successful",
                       "1 unless the last reload was refused (then 0 until one works)");
  s.lastReloadSuccess->set(static_cast<double>(std::time(nullptr)));
  s.lastReloadOk->set(1);
}

void Engine::buildProducer() {
  State& s = *state_;
  kafka::Properties properties = commonProperties(s.kafka);
  for (const auto& kv : s.settings.kafka.producerProperties) properties.push_back(kv);
  s.producer = std::make_unique<kafka::RawProducer>(properties, *s.logger);
}

void Engine::buildDeadLetters() {
  State& s = *state_;
  s.deadLetterSink = std::make_unique<KafkaDeadLetterSink>(*s.producer, s.kafka.deadLetterTopic);
}

void Engine::buildDispatcher() {
  State& s = *state_;
  s.dispatcher = std::make_unique<runtime::Dispatcher>(s.pipeline->router(), *s.deadLetterSink,
                                                       dispatcherSettings(s.settings.engine),
                                                       *s.logger, s.metrics);
  // Records keep the pipeline they were dispatched to alive.
  s.dispatcher->setRouter(
      std::shared_ptr<const runtime::Router>(s.pipeline, &s.pipeline->router()));
}

void Engine::buildConsumer() {
  State& s = *state_;
  kafka::Properties properties = commonProperties(s.kafka);
  properties.emplace_back("group.id", s.kafka.group);
  for (const auto& kv : s.settings.kafka.consumerProperties) properties.push_back(kv);
  s.loop = std::make_unique<runtime::ConsumerLoop>(properties, s.kafka.topic, *s.dispatcher,
                                                   consumerLoopSettings(s.settings), *s.logger,
                                                   s.metrics);
}

void Engine::buildHealth() {
  State& s = *state_;
  // The database through its own one-connection pool (one quick retry, so
  // a restarted server is seen at once), and the Kafka bootstrap brokers
  // (TCP reachability); the pipeline adds its channels and publishers.
  if (s.database) {
    database::PoolSettings probe = database::poolSettingsFrom(s.settings.database);
    probe.size = 1;
    probe.connectTimeout = std::min(probe.connectTimeout, std::chrono::seconds(2));
    probe.acquireTimeout = std::chrono::milliseconds(2000);
    probe.maxAttempts = 2;
    probe.retryBackoff = std::chrono::milliseconds(50);
    s.databaseProbe = std::make_unique<database::ConnectionPool>(probe);  // no logger: no noise
    s.baseChecks.push_back({"database", [pool = s.databaseProbe.get()] {
                              std::string error;
                              if (pool->ping(&error)) return http::ComponentHealth{true, "ok"};
                              return http::ComponentHealth{false, "down: " + error};
                            }});
  } else {
    s.baseChecks.push_back({"database", [] { return http::ComponentHealth{true, "disabled"}; }});
  }
  s.baseChecks.push_back({"kafka", [brokers = s.kafka.brokers] {
                            auto state =
                                http::probeBrokers(brokers, std::chrono::milliseconds(1000));
                            if (!state.healthy) state.state = "down: " + state.state;
                            return state;
                          }});
  auto checks = s.baseChecks;
  for (auto& check : keepingAlive(s.pipeline->healthChecks(), s.pipeline)) {
    checks.push_back(std::move(check));
  }
  s.health = std::make_unique<http::HealthMonitor>(std::move(checks), *s.logger, s.metrics);
}

void Engine::buildHttpServer() {
  State& s = *state_;
  s.engineRoutes.push_back({"GET", "/livez", http::makeLivezHandler(), "engine", true});
  s.engineRoutes.push_back({"GET", "/readyz",
                            http::makeReadyzHandler(*s.health, [this] { return configHash(); }),
                            "engine", true});
  s.engineRoutes.push_back({"GET", "/health",
                            http::makeHealthHandler("communication-service", *s.health,
                                                    [&s] {
                                                      return s.http ? s.http->servingProblem()
                                                                    : std::string("not started");
                                                    }),
                            "engine", true});
  s.engineRoutes.push_back(
      {"GET", "/metrics",
       [metrics = &s.metrics](const HttpRequest&) {
         return HttpResponse{200, metrics->renderText(), "text/plain; version=0.0.4", {}};
       },
       "engine", true});
  std::vector<http::Route> routes = keepingAlive(s.pipeline->takeRoutes(), s.pipeline);
  routes.insert(routes.end(), s.engineRoutes.begin(), s.engineRoutes.end());
  try {
    s.http = std::make_unique<http::Server>(serverSettings(s.settings.http), std::move(routes),
                                            *s.logger, s.metrics);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(std::string("HTTP routes: ") + e.what());
  }
}

void Engine::buildAdmin() {
  State& s = *state_;
  const config::HttpSettings& settings = s.settings.http;
  if (settings.adminAddress.empty()) return;
  const ListenAddress where = parseListenAddress(settings.adminAddress, "http.admin_address");
  if (!isLoopback(where.host) && settings.adminToken.empty()) {
    throw std::runtime_error("http.admin_address " + settings.adminAddress +
                             " is not a loopback address: set http.admin_token "
                             "(\"${ADMIN_TOKEN}\") or listen on 127.0.0.1");
  }
  http::ServerSettings server;
  server.address = where.host;
  server.port = where.port;
  server.threads = 1;
  server.handlerThreads = 1;
  server.handlerQueue = 4;
  server.bodyLimit = 4096;
  server.writeTimeout = std::chrono::milliseconds(5000);
  const std::string token = settings.adminToken;
  std::vector<http::Route> routes;
  routes.push_back({"POST", "/admin/reload",
                    [this, token](const HttpRequest& request) {
                      if (!token.empty()) {
                        const auto it = request.headers.find("authorization");
                        const std::string given = it == request.headers.end() ? "" : it->second;
                        if (!sameSecret(given, "Bearer " + token)) {
                          HttpResponse denied =
                              HttpResponse::error(401, "Missing or wrong bearer token");
                          denied.headers["WWW-Authenticate"] = "Bearer";
                          return denied;
                        }
                      }
                      const ReloadResult result = reload("POST /admin/reload");
                      std::string body = "{\"result\":";
                      appendJsonString(body, result.ok ? "ok" : "failed");
                      body += ",\"message\":";
                      appendJsonString(body, result.message);
                      body += ",\"config\":";
                      appendJsonString(body, result.configHash);
                      body += "}";
                      return HttpResponse::json(result.ok ? 200 : 422, std::move(body));
                    },
                    "engine"});
  s.admin = std::make_unique<http::Server>(server, std::move(routes), *s.logger, s.metrics);
}

void Engine::logReady() const {
  const State& s = *state_;
  s.logger->info("pipeline ready", {{"file", s.file},
                                    {"config", s.configHash},
                                    {"topic", s.kafka.topic},
                                    {"group", s.kafka.group},
                                    {"handlers", std::to_string(s.pipeline->handlerCount())},
                                    {"workers", std::to_string(s.settings.engine.workers)}});
}

Engine::~Engine() = default;

void Engine::setReloadSource(std::function<ValidatedPipeline()> load) {
  std::lock_guard lock(state_->reloadMutex);
  state_->reloadSource = std::move(load);
}

std::string Engine::configHash() const {
  std::lock_guard lock(state_->pipelineMutex);
  return state_->configHash;
}

ReloadResult Engine::reload(const std::string& trigger) {
  State& s = *state_;
  std::unique_lock serial(s.reloadMutex, std::defer_lock);
  const auto started = std::chrono::steady_clock::now();
  const auto bound = s.settings.engine.reloadTimeout;
  if (!serial.try_lock_for(bound)) {
    return {false, "another reload is still running", configHash()};
  }
  const std::string hash = fileSha256(s.file);
  const auto refuse = [&](const std::string& why) {
    s.reloadsFailed->add();
    s.lastReloadOk->set(0);
    s.logger->error("pipeline reload refused; the running pipeline is kept",
                    {{"trigger", trigger}, {"file", s.file}, {"config", hash}, {"error", why}});
    notifyReady();
    return ReloadResult{false, why, configHash()};
  };
  if (!s.running.load()) return refuse("the engine is not running");
  if (!s.reloadSource) return refuse("no reload source (reload is not available here)");
  notifyReloading();
  s.logger->info("reloading the pipeline", {{"trigger", trigger}, {"file", s.file}});

  // 1. The file, its plugins and every block's options.
  std::shared_ptr<RunningPipeline> next;
  try {
    ValidatedPipeline validated = s.reloadSource();
    if (const auto changed = config::restartOnlyChanges(s.settings, validated.config.settings);
        !changed.empty()) {
      std::string keys;
      for (const auto& key : changed) keys += (keys.empty() ? "" : ", ") + key;
      return refuse("a restart is needed to apply " + keys +
                    " (only plugins, channels, publishers, handlers and engine.plugin_dir "
                    "change on a reload)");
    }
    // 2. Migrations of newly named plugins, then the factories.
    if (s.database) {
      database::migrate(*s.database, withEngineMigrations(pluginMigrations(validated)),
                        s.logger.get());
    }
    next = std::make_shared<RunningPipeline>(std::move(validated), s.services());
  } catch (const std::exception& e) {
    return refuse(e.what());
  }
  std::vector<http::Route> routes = keepingAlive(next->takeRoutes(), next);
  routes.insert(routes.end(), s.engineRoutes.begin(), s.engineRoutes.end());
  auto checks = s.baseChecks;
  for (auto& check : keepingAlive(next->healthChecks(), next)) checks.push_back(std::move(check));
  try {
    s.http->setRoutes(routes);  // checked before anything is swapped
  } catch (const std::exception& e) {
    return refuse(std::string("HTTP routes: ") + e.what());
  }

  // 3. Swap between records: later records go to the new handlers.
  std::shared_ptr<RunningPipeline> old;
  {
    std::lock_guard lock(s.pipelineMutex);
    old = std::exchange(s.pipeline, next);
    s.configHash = hash;
  }
  s.dispatcher->setRouter(std::shared_ptr<const runtime::Router>(next, &next->router()));
  s.health->setChecks(std::move(checks));

  // 4. The old pipeline's records, requests and probes finish; then its
  //    jobs and outbox stop (publishing what it holds), then the new
  //    pipeline's start.
  const auto deadline = started + bound;
  while (old.use_count() > 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const bool drained = old.use_count() == 1;
  old->stop(std::max(deadline, std::chrono::steady_clock::now() + std::chrono::seconds(1)));
  next->start();
  if (drained) {
    old.reset();  // plugin instances destroyed here, on this thread
  } else {
    s.logger->warn("the old pipeline is still in use after the reload bound; kept until exit",
                   {{"references", std::to_string(old.use_count() - 1)}});
    s.retired.push_back(std::move(old));
  }
  s.reloadsOk->add();
  s.lastReloadOk->set(1);
  s.lastReloadSuccess->set(static_cast<double>(std::time(nullptr)));
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  s.logger->info("pipeline reloaded", {{"trigger", trigger},
                                       {"file", s.file},
                                       {"config", hash},
                                       {"handlers", std::to_string(next->handlerCount())},
                                       {"took_ms", std::to_string(ms.count())}});
  notifyReady();
  return {true, "reloaded", hash};
}

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
  const config::DatabaseSettings& settings = pipeline.config.settings.database;
  if (settings.url.empty()) {
    if (migrations.empty()) return {};
    throw std::runtime_error("plugins ship migrations but database.url is empty");
  }
  auto logger = logging::makeLogger("migrate");
  database::ConnectionPool pool(database::poolSettingsFrom(settings), logger.get());
  return database::migrate(pool, withEngineMigrations(migrations), logger.get());
}

RunResult Engine::run(const std::atomic<bool>& stop) {
  State& s = *state_;
  const std::chrono::milliseconds bound = s.settings.engine.shutdownTimeout;
  s.http->start();  // first: a port that cannot be bound fails before anything runs
  if (s.admin) {
    s.admin->start();
    s.logger->info(
        "admin listener ready (POST /admin/reload)",
        {{"address", s.settings.http.adminAddress}, {"port", std::to_string(s.admin->port())}});
  }
  s.health->start();
  s.pipeline->start();
  s.running.store(true);
  if (std::string error; !notifyReady(&error) && !error.empty()) {
    s.logger->warn("sd_notify failed", {{"error", error}});
  }
  // The HTTP server stops accepting as soon as the stop is seen and
  // finishes the requests it has (running and queued) within the bound,
  // and the health checker stops, while the consumer drains; the plugins
  // stay alive until both are done.
  std::atomic<bool> consumerEnded{false};
  std::thread httpStopper([&] {
    // Until then, every few seconds: memory a burst left free goes back.
    HeapTrimmer trimmer;
    auto nextTrim = std::chrono::steady_clock::now() + kTrimInterval;
    while (!stop.load() && !consumerEnded.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      const auto now = std::chrono::steady_clock::now();
      if (now < nextTrim) continue;
      nextTrim = now + kTrimInterval;
      if (const std::size_t back = trimmer.check(); back > 0) {
        s.logger->debug("heap trimmed", {{"returned_kb", std::to_string(back / 1024)}});
      }
    }
    notifyStopping();
    if (s.admin) s.admin->stop(std::chrono::milliseconds(1000));
    // No reload from here on: the pipeline below stays the one to drain.
    std::lock_guard serial(s.reloadMutex);
    s.running.store(false);
    // Plugins' long work (a queue batch, a retry loop) stops between units.
    s.current()->requestShutdown(std::chrono::steady_clock::now() + bound);
    s.http->stop(bound);
    s.health->stop();  // waits for a probe in progress, in parallel with the drain
  });
  runtime::DrainResult drained;
  try {
    drained = s.loop->run(stop);
  } catch (...) {
    consumerEnded.store(true);
    httpStopper.join();
    s.running.store(false);
    throw;
  }
  consumerEnded.store(true);
  httpStopper.join();
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
  s.current()->stop(std::chrono::steady_clock::now() + remaining());
  s.producer->flush(remaining());
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
