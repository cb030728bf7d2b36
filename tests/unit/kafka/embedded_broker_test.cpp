#include "kafka/embedded_broker.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>

#include "capture_logger.hpp"
#include "kafka/producer.hpp"

namespace commsvc::kafka {
namespace {

TEST(EmbeddedBrokerTest, StartsAndWritesBootstrapFile) {
  EmbeddedBroker broker(2, {{"events", 3}});
  const std::string& bootstrap = broker.bootstrapServers();
  EXPECT_EQ(bootstrap.rfind("127.0.0.1:", 0), 0u) << bootstrap;
  EXPECT_NE(bootstrap.find(','), std::string::npos) << "two brokers: " << bootstrap;

  const auto dir =
      std::filesystem::temp_directory_path() / ("commsvc-broker-" + std::to_string(::getpid()));
  const auto file = dir / "nested" / "bootstrap.txt";
  broker.writeBootstrapFile(file.string());
  std::ifstream in(file);
  std::stringstream content;
  content << in.rdbuf();
  EXPECT_EQ(content.str(), bootstrap + "\n");
  // Only the final file is left, no temporary.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(file.parent_path()),
                          std::filesystem::directory_iterator()),
            1);
  std::filesystem::remove_all(dir);
}

TEST(EmbeddedBrokerTest, AcceptsRecordsOverTcp) {
  EmbeddedBroker broker(1, {{"events", 1}});
  testing::CaptureLogger logger;
  RawProducer producer({{"bootstrap.servers", broker.bootstrapServers()}}, logger);
  std::promise<std::string> result;
  producer.send("events", "1", "{}", {},
                [&](bool ok, const std::string& error) { result.set_value(ok ? "ok" : error); });
  EXPECT_TRUE(producer.flush(std::chrono::seconds(10)));
  EXPECT_EQ(result.get_future().get(), "ok");
}

TEST(EmbeddedBrokerTest, RefusesZeroBrokers) {
  EXPECT_THROW(EmbeddedBroker(0, {}), std::runtime_error);
}

TEST(DeadLetterHeadersTest, AppendsReasonAndSource) {
  const std::vector<Header> original = {{"trace", "t1"}, {"bin", std::string("\0\x01", 2)}};
  const auto headers =
      deadLetterHeaders(original, "not_json", "bad syntax", "communication-events", 2, 12345);
  ASSERT_EQ(headers.size(), 7u);
  EXPECT_EQ(headers[0], original[0]);
  EXPECT_EQ(headers[1], original[1]);
  EXPECT_EQ(headers[2], (Header{"x-dlq-reason", "not_json"}));
  EXPECT_EQ(headers[3], (Header{"x-dlq-detail", "bad syntax"}));
  EXPECT_EQ(headers[4], (Header{"x-dlq-source-topic", "communication-events"}));
  EXPECT_EQ(headers[5], (Header{"x-dlq-source-partition", "2"}));
  EXPECT_EQ(headers[6], (Header{"x-dlq-source-offset", "12345"}));
}

TEST(ClientConfigTest, RejectsUnknownProperty) {
  try {
    makeConf({{"no.such.property", "1"}});
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("no.such.property"), std::string::npos);
  }
  EXPECT_NE(makeConf({{"client.id", "x"}}), nullptr);
}

}  // namespace
}  // namespace commsvc::kafka
