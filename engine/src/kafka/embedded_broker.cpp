#include "kafka/embedded_broker.hpp"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "kafka/client_config.hpp"

namespace commsvc::kafka {

struct EmbeddedBroker::Impl {
  KafkaHandle handle;  // the dummy client that owns the cluster
  rd_kafka_mock_cluster_t* cluster = nullptr;
};

EmbeddedBroker::EmbeddedBroker(int brokers, const std::vector<std::pair<std::string, int>>& topics)
    : impl_(new Impl) {
  try {
    if (brokers < 1) throw std::runtime_error("embedded broker: need at least one broker");
    // The dummy handle never connects anywhere; keep it quiet.
    KafkaConf conf = makeConf({{"log_level", "3"}});
    char errstr[512];
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof errstr);
    if (rk == nullptr) throw std::runtime_error(std::string("embedded broker: ") + errstr);
    conf.release();
    impl_->handle.reset(rk);
    impl_->cluster = rd_kafka_mock_cluster_new(rk, brokers);
    if (impl_->cluster == nullptr) {
      throw std::runtime_error("embedded broker: the mock cluster did not start");
    }
    bootstrap_ = rd_kafka_mock_cluster_bootstraps(impl_->cluster);
    const int replication = std::min(brokers, 3);
    for (const auto& [name, partitions] : topics) {
      const rd_kafka_resp_err_t err =
          rd_kafka_mock_topic_create(impl_->cluster, name.c_str(), partitions, replication);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        throw std::runtime_error("embedded broker: topic '" + name + "': " + rd_kafka_err2str(err));
      }
    }
  } catch (...) {
    if (impl_->cluster != nullptr) rd_kafka_mock_cluster_destroy(impl_->cluster);
    impl_->handle.reset();
    delete impl_;
    throw;
  }
}

EmbeddedBroker::~EmbeddedBroker() {
  rd_kafka_mock_cluster_destroy(impl_->cluster);
  impl_->handle.reset();
  delete impl_;
}

void EmbeddedBroker::writeBootstrapFile(const std::string& path) const {
  namespace fs = std::filesystem;
  const fs::path target(path);
  if (target.has_parent_path()) fs::create_directories(target.parent_path());
  fs::path temp = target;
  temp += ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(temp, std::ios::trunc);
    out << bootstrap_ << '\n';
    out.flush();
    if (!out) throw std::runtime_error("cannot write bootstrap file " + temp.string());
  }
  fs::rename(temp, target);
}

}  // namespace commsvc::kafka
