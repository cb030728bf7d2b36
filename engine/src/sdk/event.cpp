#include "commsvc/event.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>

namespace commsvc {

void appendJsonString(std::string& out, std::string_view text) {
  out.push_back('"');
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

std::string newUuid4() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uint64_t hi = rng();
  std::uint64_t lo = rng();
  hi = (hi & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;  // RFC 4122 variant
  char buf[37];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xFFFF), static_cast<unsigned>(hi & 0xFFFF),
                static_cast<unsigned>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFULL));
  return buf;
}

std::string nowIso8601() {
  const auto now = std::chrono::system_clock::now();
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(micros / 1000000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lld+00:00", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(micros % 1000000));
  return buf;
}

Event makeEvent(std::string type, std::string key, std::string payload, std::string producer) {
  Event event;
  event.id = newUuid4();
  event.type = std::move(type);
  event.version = "1.0";
  event.timestamp = nowIso8601();
  event.producer = std::move(producer);
  event.key = std::move(key);
  event.payload = std::move(payload);
  return event;
}

std::string toEnvelopeJson(const Event& event) {
  std::string out;
  out.reserve(event.payload.size() + event.type.size() + 160);
  out += "{\"eventId\":";
  appendJsonString(out, event.id);
  out += ",\"eventType\":";
  appendJsonString(out, event.type);
  out += ",\"version\":";
  appendJsonString(out, event.version.empty() ? std::string_view("1.0") : event.version);
  out += ",\"timestamp\":";
  appendJsonString(out, event.timestamp);
  out += ",\"producer\":";
  appendJsonString(out, event.producer);
  out += ",\"payload\":";
  out += event.payload.empty() ? std::string_view("{}") : std::string_view(event.payload);
  out += '}';
  return out;
}

}  // namespace commsvc
