#include "kafka/client_config.hpp"

#include <stdexcept>

namespace commsvc::kafka {

KafkaConf makeConf(const Properties& properties) {
  KafkaConf conf(rd_kafka_conf_new());
  char errstr[512];
  for (const auto& [name, value] : properties) {
    if (rd_kafka_conf_set(conf.get(), name.c_str(), value.c_str(), errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
      throw std::runtime_error("kafka property '" + name + "': " + errstr);
    }
  }
  return conf;
}

LogLevel logLevelOf(int syslogLevel) {
  return syslogLevel <= 3   ? LogLevel::Error
         : syslogLevel == 4 ? LogLevel::Warn
         : syslogLevel <= 6 ? LogLevel::Info
                            : LogLevel::Debug;
}

}  // namespace commsvc::kafka
