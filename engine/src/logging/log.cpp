#include "logging/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <stdexcept>

#include "commsvc/clock.hpp"
#include "commsvc/json.hpp"

namespace commsvc::logging {
namespace {

std::atomic<LogFormat> gFormat{LogFormat::Text};
std::atomic<LogLevel> gLevel{LogLevel::Info};

spdlog::level::level_enum toSpd(LogLevel level) {
  switch (level) {
    case LogLevel::Debug:
      return spdlog::level::debug;
    case LogLevel::Info:
      return spdlog::level::info;
    case LogLevel::Warn:
      return spdlog::level::warn;
    case LogLevel::Error:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

const char* levelName(LogLevel level) {
  switch (level) {
    case LogLevel::Debug:
      return "debug";
    case LogLevel::Info:
      return "info";
    case LogLevel::Warn:
      return "warn";
    case LogLevel::Error:
      return "error";
  }
  return "info";
}

std::shared_ptr<spdlog::logger> sink() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = spdlog::stderr_logger_mt("commsvc");
    l->set_pattern("%v");
    l->set_level(spdlog::level::trace);
    l->flush_on(spdlog::level::info);
    return l;
  }();
  return logger;
}

class SpdLogger final : public Logger {
 public:
  explicit SpdLogger(std::string name) : name_(std::move(name)), sink_(sink()) {}

  using Logger::log;

  void log(LogLevel level, std::string_view message, const LogFields& fields) override {
    if (!enabled(level)) return;
    std::string line;
    line.reserve(96 + message.size());
    if (gFormat.load(std::memory_order_relaxed) == LogFormat::Json) {
      line += "{\"ts\":";
      appendJsonString(line, nowIso8601());
      line += ",\"level\":";
      appendJsonString(line, levelName(level));
      line += ",\"logger\":";
      appendJsonString(line, name_);
      line += ",\"msg\":";
      appendJsonString(line, message);
      for (const auto& [k, v] : fields) {
        line.push_back(',');
        appendJsonString(line, k);
        line.push_back(':');
        appendJsonString(line, v);
      }
      line.push_back('}');
    } else {
      line += nowIso8601();
      line += ' ';
      line += levelName(level);
      line += " [";
      line += name_;
      line += "] ";
      line += message;
      for (const auto& [k, v] : fields) {
        line.push_back(' ');
        line += k;
        line.push_back('=');
        const bool quote = v.empty() || v.find_first_of(" \"=") != std::string::npos;
        if (quote) {
          appendJsonString(line, v);
        } else {
          line += v;
        }
      }
    }
    sink_->log(toSpd(level), line);
  }

  bool enabled(LogLevel level) const override {
    return static_cast<int>(level) >= static_cast<int>(gLevel.load(std::memory_order_relaxed));
  }

 private:
  std::string name_;
  std::shared_ptr<spdlog::logger> sink_;
};

}  // namespace

void configure(LogFormat format, LogLevel level) {
  gFormat.store(format);
  gLevel.store(level);
  sink();
}

LogLevel parseLevel(std::string_view text) {
  if (text == "debug") return LogLevel::Debug;
  if (text == "info") return LogLevel::Info;
  if (text == "warn" || text == "warning") return LogLevel::Warn;
  if (text == "error") return LogLevel::Error;
  throw std::invalid_argument("unknown log level '" + std::string(text) +
                              "' (valid: debug, info, warn, error)");
}

std::unique_ptr<Logger> makeLogger(std::string name) {
  return std::make_unique<SpdLogger>(std::move(name));
}

}  // namespace commsvc::logging
