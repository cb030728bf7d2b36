#include "pipeline_test/log_capture.hpp"

#include <spdlog/sinks/sink.h>
#include <spdlog/spdlog.h>

#include <mutex>
#include <stdexcept>

#include "logging/log.hpp"

namespace commsvc::pipeline_test {
namespace {

using nlohmann::json;

/// Keeps each formatted line.
class RecordingSink final : public spdlog::sinks::sink {
 public:
  void log(const spdlog::details::log_msg& msg) override {
    std::lock_guard lock(mutex_);
    lines_.emplace_back(msg.payload.data(), msg.payload.size());
  }
  void flush() override {}
  void set_pattern(const std::string&) override {}
  void set_formatter(std::unique_ptr<spdlog::formatter>) override {}

  std::vector<std::string> lines() const {
    std::lock_guard lock(mutex_);
    return lines_;
  }
  void clear() {
    std::lock_guard lock(mutex_);
    lines_.clear();
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
};

json parseLine(const std::string& text) {
  const json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) {
    return {{"level", ""}, {"logger", ""}, {"message", text}, {"fields", json::object()}};
  }
  json line = {{"level", parsed.value("level", "")},
               {"logger", parsed.value("logger", "")},
               {"message", parsed.value("msg", "")},
               {"fields", json::object()}};
  for (const auto& [key, value] : parsed.items()) {
    if (key == "level" || key == "logger" || key == "msg" || key == "ts") continue;
    line["fields"][key] = value;
  }
  return line;
}

}  // namespace

struct LogCapture::Impl {
  std::shared_ptr<spdlog::logger> logger;
  std::vector<spdlog::sink_ptr> original;
  std::shared_ptr<RecordingSink> sink = std::make_shared<RecordingSink>();
};

LogCapture::LogCapture(LogLevel level) : impl_(std::make_unique<Impl>()) {
  logging::configure(logging::LogFormat::Json, level);
  impl_->logger = spdlog::get("commsvc");
  if (!impl_->logger) throw std::runtime_error("the engine's logger is not registered");
  impl_->original = impl_->logger->sinks();
  impl_->logger->sinks() = {impl_->sink};
}

LogCapture::~LogCapture() { impl_->logger->sinks() = impl_->original; }

std::vector<json> LogCapture::lines() const {
  std::vector<json> out;
  for (const auto& text : impl_->sink->lines()) out.push_back(parseLine(text));
  return out;
}

void LogCapture::clear() { impl_->sink->clear(); }

std::string LogCapture::toText(const json& line) {
  std::string out =
      line.value("level", "") + " [" + line.value("logger", "") + "] " + line.value("message", "");
  if (const auto it = line.find("fields"); it != line.end() && it->is_object()) {
    for (const auto& [key, value] : it->items()) {
      out += " " + key + "=";
      const std::string text = value.is_string() ? value.get<std::string>() : value.dump();
      const bool quote = text.empty() || text.find_first_of(" \"=") != std::string::npos;
      out += quote ? json(text).dump() : text;
    }
  }
  return out;
}

}  // namespace commsvc::pipeline_test
