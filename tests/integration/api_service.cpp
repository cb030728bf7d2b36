#include "api_service.hpp"

#include <signal.h>

#include <sstream>
#include <stdexcept>

namespace commsvc::integration {

using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// The port of "http server listening ... port=N" in `log`, or 0. Plain
// string search: the log is the service's own output, read often.
int listeningPort(const std::string& log) {
  const auto line = log.find("http server listening");
  if (line == std::string::npos) return 0;
  const auto at = log.find("port=", line);
  if (at == std::string::npos) return 0;
  int port = 0;
  for (std::size_t i = at + 5; i < log.size() && log[i] >= '0' && log[i] <= '9'; ++i) {
    port = port * 10 + (log[i] - '0');
  }
  return port;
}

}  // namespace

ApiService::ApiService(ApiServiceOptions options)
    : dir_(options.name), broker_(dir_, {"events", "events.dlq"}, options.partitions) {
  if (!options.mockChannel) sink_ = std::make_unique<SmtpSink>(dir_, "smtp", options.sinkArgs);
  std::ostringstream y;
  y << "plugins: [email, phonecall, " << (options.mockChannel ? "transport-mock" : "transport-smtp")
    << ", publisher-kafka";
  for (const auto& plugin : options.plugins) y << ", " << plugin;
  y << "]\n"
    << "kafka:\n"
    << "  brokers: \"" << broker_.bootstrap() << "\"\n"
    << "  topic: events\n  dead_letter_topic: events.dlq\n"
    << "  consumer_properties: { session.timeout.ms: \"6000\", heartbeat.interval.ms: \"500\" }\n"
    << "database: { url: \"" << postgres_.url() << "\""
    << (options.databaseExtra.empty() ? "" : ", " + options.databaseExtra) << " }\n"
    << "http: { port: 0, address: 127.0.0.1, admin_address: \"127.0.0.1:0\""
    << (options.bodyLimitBytes ? ", body_limit_bytes: " + std::to_string(*options.bodyLimitBytes)
                               : std::string())
    << (options.httpExtra.empty() ? "" : ", " + options.httpExtra) << " }\n"
    << "channels:\n";
  if (options.mockChannel) {
    y << "  mock: { type: mock, file: \"" << (dir_ / "outbox.jsonl").string() << "\" }\n";
  } else {
    y << "  smtp: { type: smtp, host: 127.0.0.1, port: " << sink_->port() << ", tls: none }\n";
  }
  const std::string extra = options.handlerExtra.empty() ? "" : ", " + options.handlerExtra;
  y << "publishers:\n  events: { type: kafka }\n"
    << options.publishersYaml << "handlers:\n"
    << "  - { event: communication.send_email, type: email, channel: "
    << (options.mockChannel ? "mock" : "smtp") << ", publisher: events,"
    << " queue_check_interval_s: " << options.queueCheckIntervalS
    << ", system_notification_email: admin@example.org" << extra << " }\n"
    << "  - { event: communication.schedule_call, type: phonecall, publisher: events" << extra
    << " }\n";
  writeFile(dir_ / "api.yaml", y.str());
  engine_ = std::make_unique<Process>(
      std::vector<std::string>{commsvcBinary(), "--plugin-dir", pluginPath(), "run", "-c",
                               (dir_ / "api.yaml").string()},
      dir_ / "engine.log");
  if (!waitFor([&] { return (port_ = listeningPort(engine_->log())) != 0; }, 30s)) {
    throw std::runtime_error("no HTTP port in the log: " + engine_->log());
  }
}

ApiService::~ApiService() { stop(); }

std::optional<int> ApiService::stop() {
  if (!stopped_) {
    stopped_ = true;
    engine_->signal(SIGTERM);
    exitCode_ = engine_->wait(15s);
  }
  return exitCode_;
}

bool ApiService::alive() { return !stopped_ && !engine_->wait(0ms).has_value(); }

std::pair<int, json> ApiService::call(const std::string& method, const std::string& path,
                                      const std::string& body) {
  std::vector<std::string> argv{"curl",
                                "-s",
                                "-m",
                                "10",
                                "-X",
                                method,
                                "-w",
                                "\n%{http_code}",
                                "http://127.0.0.1:" + std::to_string(port_) + path};
  if (!body.empty()) {
    argv.insert(argv.end(), {"-H", "Content-Type: application/json", "--data-binary", body});
  }
  const auto [code, out] = runCommand(argv);
  if (code != 0) throw std::runtime_error("curl failed: " + out);
  const auto newline = out.rfind('\n');
  const int status = std::stoi(out.substr(newline + 1));
  const auto parsed = json::parse(out.substr(0, newline), nullptr, false);
  return {status, parsed.is_discarded() ? json(out.substr(0, newline)) : parsed};
}

std::vector<json> ApiService::events(const std::string& type, const std::string& key,
                                     std::size_t count) {
  std::vector<json> out;
  waitFor(
      [&] {
        out.clear();
        for (const auto& record : consumeWithKcat(broker_.bootstrap(), "events")) {
          const auto tab1 = record.find('\t');
          const auto tab2 = record.find('\t', tab1 + 1);
          const auto value = json::parse(record.substr(tab2 + 1), nullptr, false);
          if (record.substr(0, tab1) == key && !value.is_discarded() &&
              value.value("eventType", "") == type) {
            out.push_back(value.at("payload"));
          }
        }
        return out.size() >= count;
      },
      20s);
  return out;
}

}  // namespace commsvc::integration
