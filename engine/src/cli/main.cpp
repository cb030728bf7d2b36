// The commsvc command line: run, validate, migrate, plugins, produce, broker, test.
#include <pthread.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "app/engine.hpp"
#include "app/malloc_arenas.hpp"
#include "app/pipeline.hpp"
#include "commsvc/event.hpp"
#include "kafka/embedded_broker.hpp"
#include "kafka/producer.hpp"
#include "logging/log.hpp"
#include "pipeline_test/runner.hpp"
#include "plugin/search_path.hpp"

#ifndef COMMSVC_VERSION
#define COMMSVC_VERSION "unknown"
#endif

namespace {

using namespace commsvc;

std::atomic<bool> gStop{false};
std::mutex gEngineMutex;         // held while SIGHUP reloads gEngine
app::Engine* gEngine = nullptr;  // the running engine, for SIGHUP

/// Blocks SIGTERM/SIGINT/SIGHUP in every thread and handles them on a
/// dedicated thread, so no handler code runs in signal context: SIGTERM and
/// SIGINT set gStop (a second one exits at once); SIGHUP reloads
/// pipelines.yaml in the running engine (Engine::reload; one at a time, a
/// SIGHUP during a reload waits for it), and is logged and ignored when no
/// engine runs.
void installSignalThread() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set] {
    int signal = 0;
    while (sigwait(&set, &signal) == 0) {
      if (signal == SIGHUP) {
        // On its own thread: SIGTERM is still seen while a reload runs.
        std::thread([] {
          std::lock_guard lock(gEngineMutex);
          if (gEngine != nullptr) {
            gEngine->reload("SIGHUP");  // logs and counts its outcome
          } else {
            logging::makeLogger("engine")->warn("SIGHUP ignored: no pipeline is running");
          }
        }).detach();
        continue;
      }
      if (gStop.exchange(true)) {
        std::cerr << "second signal: exiting now\n";
        std::_Exit(1);
      }
    }
  }).detach();
}

const char* typeName(OptionType t) {
  switch (t) {
    case OptionType::String:
      return "string";
    case OptionType::Integer:
      return "integer";
    case OptionType::Boolean:
      return "boolean";
    case OptionType::Number:
      return "number";
    case OptionType::StringMap:
      return "map";
    case OptionType::StringList:
      return "list";
  }
  return "?";
}

void printOptions(std::span<const OptionSpec> options) {
  for (const auto& o : options) {
    std::cout << "    " << o.name << " (" << typeName(o.type) << ", default " << describeDefault(o);
    if (o.choiceCount != 0) std::cout << ", one of " << config::choiceNames(o);
    if (o.type == OptionType::Integer && (o.minimum != std::numeric_limits<std::int64_t>::min() ||
                                          o.maximum != std::numeric_limits<std::int64_t>::max())) {
      std::cout << ", " << o.minimum << ".." << o.maximum;
    }
    std::cout << "): " << (o.description ? o.description : "") << "\n";
  }
}

// Lists every plugin in the binary's own plugin directory and `extraDirs`.
int listPlugins(const std::vector<std::string>& extraDirs) {
  const auto dirs = plugin::pluginSearchPath(extraDirs);
  plugin::PluginRegistry registry;
  int failures = 0;
  for (const auto& dir : dirs) {
    std::error_code ec;
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      if (entry.path().extension() == ".so") files.push_back(entry.path());
    }
    if (ec) {
      std::cerr << "cannot read plugin directory " << dir << ": " << ec.message() << "\n";
      ++failures;
      continue;
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      try {
        const auto& p = registry.loadFile(file.string());
        std::cout << file.stem().string() << "  " << plugin::kindName(p.info->kind) << " '"
                  << p.info->name << "': " << (p.info->description ? p.info->description : "")
                  << "\n";
        printOptions({p.info->options, p.info->optionCount});
      } catch (const std::exception& e) {
        std::cerr << "refused: " << e.what() << "\n";
        ++failures;
      }
    }
  }
  return failures == 0 ? 0 : 1;
}

std::string resolveBrokers(const config::KafkaSettings& kafka) {
  if (kafka.brokers != "embedded") return kafka.brokers;
  const std::string& file = kafka.bootstrapFile;
  std::ifstream in(file);
  std::string line;
  if (!in || !std::getline(in, line) || line.empty()) {
    throw std::runtime_error("brokers is 'embedded' but " + file +
                             " holds no bootstrap address: is `commsvc run` (or `commsvc broker`) "
                             "running from this directory?");
  }
  return line;
}

int produce(const std::string& file, const std::string& type, const std::string& key,
            const std::string& payload, int count) {
  nlohmann::json parsed;
  try {
    parsed = nlohmann::json::parse(payload);
  } catch (const std::exception& e) {
    std::cerr << "--payload is not JSON: " << e.what() << "\n";
    return 2;
  }
  if (!parsed.is_object()) {
    std::cerr << "--payload must be a JSON object\n";
    return 2;
  }
  const config::Settings settings = config::loadPipeline(file).settings;
  kafka::Properties props{{"bootstrap.servers", resolveBrokers(settings.kafka)}};
  for (const auto& kv : settings.kafka.properties) props.push_back(kv);
  for (const auto& kv : settings.kafka.producerProperties) props.push_back(kv);
  auto logger = logging::makeLogger("produce");
  kafka::RawProducer producer(props, *logger);
  const std::string& topic = settings.kafka.topic;
  std::atomic<int> failed{0};
  for (int i = 0; i < count; ++i) {
    const Event event = makeEvent(type, key, parsed.dump(), settings.engine.serviceName);
    producer.send(topic, event.key, toEnvelopeJson(event), {},
                  [&failed, id = event.id](bool ok, const std::string& error) {
                    if (!ok) {
                      ++failed;
                      std::cerr << "event " << id << " not delivered: " << error << "\n";
                    } else {
                      std::cout << id << "\n";
                    }
                  });
  }
  if (!producer.flush(std::chrono::seconds(30))) {
    std::cerr << "timed out waiting for delivery\n";
    return 1;
  }
  return failed == 0 ? 0 : 1;
}

int runBroker(int partitions, std::vector<std::string> topics, const std::string& bootstrapFile) {
  if (topics.empty()) topics = {"communication-events", "communication-events.dlq"};
  std::vector<std::pair<std::string, int>> spec;
  for (const auto& t : topics) spec.emplace_back(t, partitions);
  kafka::EmbeddedBroker broker(1, spec);
  broker.writeBootstrapFile(bootstrapFile);
  std::cout << broker.bootstrapServers() << std::endl;
  auto logger = logging::makeLogger("broker");
  logger->info("embedded Kafka broker running; stop with SIGTERM",
               {{"bootstrap", broker.bootstrapServers()}, {"bootstrap_file", bootstrapFile}});
  while (!gStop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  commsvc::app::capMallocArenas();  // before any thread starts
  CLI::App cli{"commsvc: a plugin-based event-processing engine (communication service)"};
  cli.set_version_flag("--version", std::string("commsvc ") + COMMSVC_VERSION);
  cli.require_subcommand(1);
  // Global options (--plugin-dir, --log-level, ...) also after the command:
  // `commsvc plugins --plugin-dir build`.
  cli.fallthrough();

  std::string logFormat = "text";
  std::string logLevel = "info";
  std::string pluginDirList;
  cli.add_option("--log-format", logFormat, "Log line format")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  cli.add_option("--log-level", logLevel, "Minimum level: debug, info, warn, error")
      ->capture_default_str();
  cli.add_option("--plugin-dir", pluginDirList,
                 "More plugin directories, colon-separated, searched besides the binary's own "
                 "(" COMMSVC_PLUGIN_DIR_FROM_BINARY " from its directory)");

  std::string configFile = "pipelines.yaml";
  auto* run = cli.add_subcommand("run", "Run the pipelines of a configuration file");
  run->add_option("-c,--config", configFile, "pipelines.yaml to run")->capture_default_str();
  bool noMigrate = false;
  run->add_flag("--no-migrate", noMigrate, "Do not apply the plugins' pending database migrations");
  auto* migrateCmd = cli.add_subcommand(
      "migrate", "Apply the plugins' pending database migrations and print what was applied");
  migrateCmd->add_option("-c,--config", configFile, "pipelines.yaml naming the database")
      ->capture_default_str();
  auto* validate = cli.add_subcommand(
      "validate", "Check a configuration file and its plugins; no network, no side effects");
  validate->add_option("-c,--config", configFile, "pipelines.yaml to check")->capture_default_str();
  auto* plugins = cli.add_subcommand("plugins", "List the plugins found and their options");

  std::string type, key, payload = "{}";
  int count = 1;
  auto* produceCmd = cli.add_subcommand("produce", "Put a well-formed event on the topic");
  produceCmd->add_option("-c,--config", configFile, "pipelines.yaml naming the brokers and topic")
      ->capture_default_str();
  produceCmd->add_option("--type", type, "eventType, e.g. communication.send_email")->required();
  produceCmd->add_option("--key", key, "record key: the entity id")->required();
  produceCmd->add_option("--payload", payload, "payload JSON object")->capture_default_str();
  produceCmd->add_option("--count", count, "how many such events")->check(CLI::Range(1, 10000000));

  int partitions = 3;
  std::vector<std::string> topics;
  std::string bootstrapFile = ".commsvc/kafka-bootstrap";
  auto* broker = cli.add_subcommand(
      "broker", "Run an embedded Kafka broker (librdkafka mock cluster) for development and tests");
  broker->add_option("--partitions", partitions, "partitions per topic")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  broker->add_option("--topic", topics,
                     "topic to create (repeatable; default the events topic and its .dlq)");
  broker->add_option("--bootstrap-file", bootstrapFile, "where to write the bootstrap address")
      ->capture_default_str();

  std::vector<std::string> testFiles;
  bool testVerbose = false;
  bool testKeep = false;
  auto* testCmd = cli.add_subcommand(
      "test",
      "Run pipeline test files in-process (inputs; expected messages, events, dead "
      "letters); exit 0 all passed, 1 a case failed, 2 a broken test file");
  testCmd->add_option("files", testFiles, "test files (YAML)")->required();
  testCmd->add_flag("-v,--verbose", testVerbose, "show every case's engine log");
  testCmd->add_flag("--keep", testKeep, "keep each case's temporary directory (recordings)");

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return cli.exit(e);
  }

  try {
    logging::configure(logFormat == "json" ? logging::LogFormat::Json : logging::LogFormat::Text,
                       logging::parseLevel(logLevel));
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
  const auto pluginDirs = config::splitPluginDirs(pluginDirList);

  try {
    if (*validate) {
      const auto pipeline = app::validatePipeline(configFile, pluginDirs);
      std::cout << configFile << ": valid (" << pipeline.config.plugins.size() << " plugins, "
                << pipeline.config.channels.size() << " channels, "
                << pipeline.config.publishers.size() << " publishers, "
                << pipeline.config.handlers.size() << " handlers)\n";
      return 0;
    }
    if (*plugins) return listPlugins(pluginDirs);
    if (*migrateCmd) {
      const auto applied = app::migratePipeline(app::validatePipeline(configFile, pluginDirs));
      for (const auto& m : applied) {
        std::cout << "applied " << m.plugin << " " << m.version << ": " << m.name << "\n";
      }
      if (applied.empty()) std::cout << "no pending migrations\n";
      return 0;
    }
    installSignalThread();
    if (*testCmd) {
      return pipeline_test::runTests(
          {testFiles, pluginDirs, testVerbose, testKeep, logging::parseLevel(logLevel)}, gStop,
          std::cout, std::cerr);
    }
    if (*produceCmd) return produce(configFile, type, key, payload, count);
    if (*broker) return runBroker(partitions, topics, bootstrapFile);
    if (*run) {
      auto engine =
          std::make_unique<app::Engine>(app::validatePipeline(configFile, pluginDirs), !noMigrate);
      engine->setReloadSource(
          [configFile, pluginDirs] { return app::validatePipeline(configFile, pluginDirs); });
      {
        std::lock_guard lock(gEngineMutex);
        gEngine = engine.get();
      }
      const auto result = engine->run(gStop);
      {
        std::lock_guard lock(gEngineMutex);  // waits for a reload in progress
        gEngine = nullptr;
      }
      if (result == app::RunResult::Stuck) std::_Exit(0);  // a handler still runs: don't unload
      engine.reset();
      return 0;
    }
  } catch (const config::ConfigErrors& e) {
    std::cerr << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
