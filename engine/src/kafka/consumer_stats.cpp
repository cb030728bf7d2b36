#include "kafka/consumer_stats.hpp"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace commsvc::kafka {

std::vector<PartitionLag> parseConsumerLag(std::string_view statsJson, const std::string& topic) {
  const nlohmann::json doc = nlohmann::json::parse(statsJson, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) throw std::invalid_argument("librdkafka statistics: not JSON");
  std::vector<PartitionLag> out;
  if (!doc.is_object()) throw std::invalid_argument("librdkafka statistics: not a JSON object");
  const auto topics = doc.find("topics");
  if (topics == doc.end()) return out;
  if (!topics->is_object()) {
    throw std::invalid_argument("librdkafka statistics: \"topics\" is not an object");
  }
  const auto entry = topics->find(topic);
  if (entry == topics->end() || !entry->is_object()) return out;
  const auto partitions = entry->find("partitions");
  if (partitions == entry->end() || !partitions->is_object()) return out;
  for (const auto& [key, p] : partitions->items()) {
    if (!p.is_object()) continue;
    // Revoked partitions stay in the statistics, not desired, with their last lag.
    if (const auto desired = p.find("desired");
        desired != p.end() && (!desired->is_boolean() || !desired->get<bool>())) {
      continue;
    }
    const auto id = p.find("partition");
    const auto lag = p.find("consumer_lag");
    if (id == p.end() || lag == p.end() || !id->is_number_integer() || !lag->is_number_integer()) {
      continue;
    }
    const auto partition = id->get<std::int64_t>();
    const auto value = lag->get<std::int64_t>();
    if (partition < 0 || partition > std::numeric_limits<std::int32_t>::max() || value < 0)
      continue;
    out.push_back({static_cast<std::int32_t>(partition), value});
  }
  std::sort(out.begin(), out.end(),
            [](const PartitionLag& a, const PartitionLag& b) { return a.partition < b.partition; });
  return out;
}

}  // namespace commsvc::kafka
