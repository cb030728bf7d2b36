#include "app/running_pipeline.hpp"

#include <algorithm>
#include <atomic>
#include <stdexcept>

#include "database/listener.hpp"
#include "logging/log.hpp"
#include "outbox/migrations.hpp"
#include "outbox/postgres_outbox.hpp"
#include "runtime/scheduler.hpp"

namespace commsvc::app {

/// An HTTP route a plugin registered.
struct RouteEntry {
  std::string method;
  std::string pattern;
  HttpHandler handler;
  std::string owner;  // the plugin instance, for logs
};

struct RunningPipeline::Shared {
  explicit Shared(const EngineServices& s) : services(s), scheduler(s.logger) {}

  const EngineServices& services;
  std::vector<RouteEntry> routes;           // taken by the engine's HTTP server
  runtime::Scheduler scheduler;             // this pipeline's periodic jobs
  std::map<std::string, Outbox*> outboxes;  // by publisher name: the publishers that are on
  std::vector<std::string> publisherNames;  // every publisher pipelines.yaml declares
  // Jobs run early by a notification: (channel, scheduler job name).
  std::vector<std::pair<std::string, std::string>> notifiedJobs;
  Shutdown shutdown;  // requested when the engine stops or replaces this pipeline
  // Set once every factory returned: schedule/addRoute then throw. A reload
  // builds a fresh pipeline, so this holds per Context.
  std::atomic<bool> started{false};
};

namespace {

/// The Context handed to one plugin instance.
class PluginContext final : public Context {
 public:
  PluginContext(std::string name, RunningPipeline::Shared& shared, Channel* channel = nullptr,
                Publisher* publisher = nullptr, Outbox* outbox = nullptr)
      : name_(std::move(name)),
        logger_(logging::makeLogger(name_)),
        shared_(shared),
        channel_(channel),
        publisher_(publisher),
        outbox_(outbox) {}

  const std::string& instanceName() const override { return name_; }
  Logger& logger() override { return *logger_; }
  Metrics& metrics() override { return shared_.services.metrics; }
  Channel* channel() override { return channel_; }
  Publisher* publisher() override { return publisher_; }
  const KafkaSettings& kafka() const override { return shared_.services.kafka; }
  std::unique_ptr<KafkaProducer> kafkaProducer() override {
    kafka::RawProducer* producer = shared_.services.producer;
    return producer == nullptr ? nullptr : producer->client();
  }
  Database* database() override { return shared_.services.database; }
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
  void scheduleOnNotify(std::string name, std::chrono::milliseconds interval, std::string channel,
                        std::function<bool()> job) override {
    requireNotStarted("scheduleOnNotify(\"" + name + "\")");
    const std::string full = name_ + "/" + name;
    if (shared_.services.listener == nullptr) {
      shared_.scheduler.addDraining(full, interval, std::move(job));
      return;
    }
    database::Listener::checkChannel(channel);
    shared_.scheduler.addDraining(full, interval, std::move(job));
    shared_.notifiedJobs.emplace_back(std::move(channel), full);
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
  RunningPipeline::Shared& shared_;
  Channel* channel_;
  Publisher* publisher_;
  Outbox* outbox_;
};

[[noreturn]] void refuse(const config::PipelineConfig& config, const config::PluginBlock& block,
                         const std::string& why) {
  throw config::ConfigErrors({{config.file, block.line, block.column, block.path, why}});
}

}  // namespace

/// A plugin object with its Context.
template <typename T>
struct RunningPipeline::Instance {
  std::unique_ptr<PluginContext> context;
  std::unique_ptr<T> object;
};

namespace {

/// Runs `factory` on the validated `options` of `block` into `instance`
/// (whose context is set); a refusal (an exception, or nothing created)
/// becomes ConfigErrors naming the block.
template <typename Instance, typename Factory>
void createInstance(const config::PipelineConfig& config, Factory factory, const Config& options,
                    const config::PluginBlock& block, Instance& instance) {
  try {
    instance.object = factory(options, *instance.context);
  } catch (const std::exception& e) {
    refuse(config, block,
           std::string("plugin '") + block.type + "' refused its configuration: " + e.what());
  }
  if (!instance.object) refuse(config, block, "plugin '" + block.type + "' created nothing");
}

}  // namespace

RunningPipeline::RunningPipeline(ValidatedPipeline pipeline, const EngineServices& services)
    : pipeline_(std::move(pipeline)),
      services_(services),
      shared_(std::make_unique<Shared>(services_)) {
  buildPublishers();
  buildOutboxes();
  buildChannels();
  buildHandlers();
  shared_->started.store(true);  // every factory returned: schedule/addRoute now throw
}

RunningPipeline::~RunningPipeline() {
  if (started_) stop(std::chrono::steady_clock::now());
}

void RunningPipeline::buildPublishers() {
  const auto& cfg = pipeline_.config;
  for (std::size_t i = 0; i < cfg.publishers.size(); ++i) {
    const auto& block = cfg.publishers[i];
    auto& inst = publishers_[block.name];
    inst = std::make_unique<Instance<Publisher>>();
    inst->context = std::make_unique<PluginContext>(block.path, *shared_);
    const auto* plugin = pipeline_.registry.find(PluginKind::Publisher, block.type);
    createInstance(cfg, plugin->info->createPublisher, pipeline_.publisherConfigs[i], block, *inst);
  }
}

void RunningPipeline::buildOutboxes() {
  // Publishers configured off (Publisher::status()) get no outbox: nothing
  // is written for them, and the start log and /readyz say why.
  std::map<std::string, Publisher*> onByName;
  for (auto& [name, inst] : publishers_) {
    shared_->publisherNames.push_back(name);
    const PublisherStatus status = inst->object->status();
    if (status.on) {
      onByName.emplace(name, inst->object.get());
    } else {
      services_.logger.info("publisher is off: nothing is sent through it",
                            {{"publisher", name}, {"reason", status.detail}});
    }
  }
  if (services_.database == nullptr || onByName.empty()) return;
  relay_ = std::make_unique<outbox::OutboxRelay>(*services_.database, onByName, services_.logger,
                                                 services_.metrics, services_.relay);
  for (const auto& [name, publisher] : onByName) {
    auto& outbox = outboxes_[name];
    outbox = std::make_unique<outbox::PostgresOutbox>(name, relay_.get(), services_.database);
    shared_->outboxes.emplace(name, outbox.get());
  }
}

void RunningPipeline::buildChannels() {
  const auto& cfg = pipeline_.config;
  for (std::size_t i = 0; i < cfg.channels.size(); ++i) {
    const auto& block = cfg.channels[i];
    auto& inst = channels_[block.name];
    inst = std::make_unique<Instance<Channel>>();
    inst->context = std::make_unique<PluginContext>(block.path, *shared_);
    const auto* plugin = pipeline_.registry.find(PluginKind::Channel, block.type);
    createInstance(cfg, plugin->info->createChannel, pipeline_.channelConfigs[i], block, *inst);
  }
}

void RunningPipeline::buildHandlers() {
  const auto& cfg = pipeline_.config;
  for (std::size_t i = 0; i < cfg.handlers.size(); ++i) {
    const auto& entry = cfg.handlers[i];
    Channel* channel = entry.channel.empty() ? nullptr : channels_.at(entry.channel)->object.get();
    Publisher* publisher =
        entry.publisher.empty() ? nullptr : publishers_.at(entry.publisher)->object.get();
    const auto found = shared_->outboxes.find(entry.publisher);
    Outbox* outbox = found == shared_->outboxes.end() ? nullptr : found->second;
    auto& inst = handlers_.emplace_back(std::make_unique<Instance<Handler>>());
    inst->context =
        std::make_unique<PluginContext>(entry.block.path, *shared_, channel, publisher, outbox);
    const auto* plugin = pipeline_.registry.find(PluginKind::Handler, entry.block.type);
    createInstance(cfg, plugin->info->createHandler, pipeline_.handlerConfigs[i], entry.block,
                   *inst);
    router_.add(entry.event, *inst->object);
  }
}

std::vector<http::Route> RunningPipeline::takeRoutes() {
  std::vector<http::Route> routes;
  for (auto& r : shared_->routes) {
    routes.push_back({r.method, r.pattern, std::move(r.handler), r.owner});
  }
  shared_->routes.clear();
  return routes;
}

std::vector<http::HealthCheck> RunningPipeline::healthChecks() const {
  std::vector<http::HealthCheck> checks;
  std::vector<std::string> used;
  for (const auto& entry : pipeline_.config.handlers) {
    if (entry.channel.empty() || std::find(used.begin(), used.end(), entry.channel) != used.end()) {
      continue;
    }
    used.push_back(entry.channel);
    const Channel* channel = channels_.at(entry.channel)->object.get();
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
  for (const auto& [name, inst] : publishers_) {
    const Publisher* publisher = inst->object.get();
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

void RunningPipeline::start() {
  if (started_) return;
  started_ = true;
  if (relay_) relay_->start();
  shared_->scheduler.start();
  if (database::Listener* listener = services_.listener) {
    for (const auto& [channel, job] : shared_->notifiedJobs) {
      subscriptions_.push_back(listener->subscribe(
          channel, [scheduler = &shared_->scheduler, job = job] { scheduler->trigger(job); }));
    }
    if (relay_) {
      subscriptions_.push_back(listener->subscribe(outbox::kOutboxNotifyChannel,
                                                   [relay = relay_.get()] { relay->committed(); }));
    }
  }
}

void RunningPipeline::requestShutdown(std::chrono::steady_clock::time_point deadline) {
  shared_->shutdown.request(deadline);
}

void RunningPipeline::stop(std::chrono::steady_clock::time_point deadline) {
  if (stopped_) return;
  stopped_ = true;
  requestShutdown(deadline);
  if (database::Listener* listener = services_.listener) {
    for (const std::uint64_t id : subscriptions_) listener->unsubscribe(id);
    subscriptions_.clear();
  }
  shared_->scheduler.stop();
  const auto remaining = [&] {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    return std::max(left, std::chrono::milliseconds(1000));
  };
  // After handlers, jobs and HTTP requests stopped adding: publish what the
  // outbox holds (what is left stays for the next relay), then flush.
  if (relay_) relay_->stop(std::chrono::steady_clock::now() + remaining());
  for (auto& [name, inst] : publishers_) {
    if (!inst->object->flush(remaining())) {
      services_.logger.warn("publisher did not flush everything before the bound",
                            {{"publisher", name}});
    }
  }
}

}  // namespace commsvc::app
