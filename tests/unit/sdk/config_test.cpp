#include "commsvc/config.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace commsvc {
namespace {

Config sampleConfig() {
  std::map<std::string, ConfigValue> values;
  values.emplace("host", std::string("mail"));
  values.emplace("port", std::int64_t{587});
  values.emplace("tls", true);
  values.emplace("ratio", 0.25);
  values.emplace("headers", std::map<std::string, std::string>{{"X-A", "1"}});
  values.emplace("to", std::vector<std::string>{"a@x", "b@x"});
  return Config(std::move(values), {"host", "to"}, "p.yaml:12");
}

TEST(ConfigTest, TypedGetters) {
  const Config config = sampleConfig();
  EXPECT_EQ(config.getString("host"), "mail");
  EXPECT_EQ(config.getInt("port"), 587);
  EXPECT_TRUE(config.getBool("tls"));
  EXPECT_DOUBLE_EQ(config.getNumber("ratio"), 0.25);
  EXPECT_EQ(config.getMap("headers").at("X-A"), "1");
  EXPECT_EQ(config.getList("to"), (std::vector<std::string>{"a@x", "b@x"}));
  EXPECT_EQ(config.where(), "p.yaml:12");
}

TEST(ConfigTest, UndeclaredOptionIsLogicError) {
  const Config config = sampleConfig();
  EXPECT_THROW(config.getString("nope"), std::logic_error);
  EXPECT_THROW(config.getInt("nope"), std::logic_error);
  try {
    config.getBool("missing_key");
    FAIL();
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("missing_key"), std::string::npos);
  }
}

TEST(ConfigTest, WrongTypeIsLogicError) {
  const Config config = sampleConfig();
  EXPECT_THROW(config.getInt("host"), std::logic_error);
  EXPECT_THROW(config.getString("port"), std::logic_error);
  EXPECT_THROW(config.getNumber("port"), std::logic_error);  // no silent int → double
  EXPECT_THROW(config.getBool("ratio"), std::logic_error);
  EXPECT_THROW(config.getList("headers"), std::logic_error);
  EXPECT_THROW(config.getMap("to"), std::logic_error);
}

TEST(ConfigTest, IsSetOnlyForExplicitKeys) {
  const Config config = sampleConfig();
  EXPECT_TRUE(config.isSet("host"));
  EXPECT_TRUE(config.isSet("to"));
  EXPECT_FALSE(config.isSet("port"));
  EXPECT_FALSE(config.isSet("undeclared"));
}

TEST(ConfigTest, DefaultConstructedIsEmpty) {
  const Config config;
  EXPECT_THROW(config.getString("x"), std::logic_error);
  EXPECT_FALSE(config.isSet("x"));
  EXPECT_EQ(config.where(), "");
}

}  // namespace
}  // namespace commsvc
