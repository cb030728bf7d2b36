#include <gtest/gtest.h>

#include "config/pipeline_config.hpp"
#include "test_env.hpp"

namespace commsvc::config {
namespace {

using testing::fakeEnv;

class ExpandVariablesTest : public ::testing::Test {
 protected:
  std::string expand(std::string_view text) { return expandVariables(text, env_, error_); }

  EnvLookup env_ = fakeEnv({{"HOST", "mail.example.com"}, {"PORT", "587"}, {"EMPTY", ""}});
  std::string error_;
};

TEST_F(ExpandVariablesTest, TextWithoutReferencesIsUnchanged) {
  EXPECT_EQ(expand("plain text"), "plain text");
  EXPECT_EQ(error_, "");
}

TEST_F(ExpandVariablesTest, SetVariable) {
  EXPECT_EQ(expand("${HOST}"), "mail.example.com");
  EXPECT_EQ(expand("smtp://${HOST}:${PORT}/x"), "smtp://mail.example.com:587/x");
  EXPECT_EQ(error_, "");
}

TEST_F(ExpandVariablesTest, SetVariableIgnoresDefault) {
  EXPECT_EQ(expand("${PORT:-25}"), "587");
  EXPECT_EQ(error_, "");
}

TEST_F(ExpandVariablesTest, UnsetVariableUsesDefault) {
  EXPECT_EQ(expand("${NOPE:-localhost}"), "localhost");
  EXPECT_EQ(error_, "");
}

TEST_F(ExpandVariablesTest, EmptyDefaultGivesEmptyString) {
  EXPECT_EQ(expand("${NOPE:-}"), "");
  EXPECT_EQ(error_, "");
  EXPECT_EQ(expand("a${NOPE:-}b"), "ab");
}

TEST_F(ExpandVariablesTest, EmptyVariableWithDefaultUsesDefault) {
  EXPECT_EQ(expand("${EMPTY:-fallback}"), "fallback");
  EXPECT_EQ(error_, "");
}

TEST_F(ExpandVariablesTest, EmptyVariableWithoutDefaultIsEmpty) {
  EXPECT_EQ(expand("[${EMPTY}]"), "[]");
  EXPECT_EQ(error_, "");
}

TEST_F(ExpandVariablesTest, UnsetVariableWithoutDefaultIsAnError) {
  EXPECT_EQ(expand("x ${DATABASE_URL} y"), "");
  EXPECT_NE(error_.find("DATABASE_URL"), std::string::npos) << error_;
  EXPECT_NE(error_.find("not set"), std::string::npos) << error_;
}

TEST_F(ExpandVariablesTest, EveryUnsetVariableIsNamed) {
  expand("${A_VAR}-${B_VAR}");
  EXPECT_NE(error_.find("A_VAR"), std::string::npos) << error_;
  EXPECT_NE(error_.find("B_VAR"), std::string::npos) << error_;
}

TEST_F(ExpandVariablesTest, ErrorIsClearedOnSuccess) {
  expand("${NOPE}");
  ASSERT_FALSE(error_.empty());
  EXPECT_EQ(expand("ok"), "ok");
  EXPECT_EQ(error_, "");
}

TEST_F(ExpandVariablesTest, DoubleDollarIsLiteralDollar) {
  EXPECT_EQ(expand("cost $$5"), "cost $5");
  EXPECT_EQ(expand("$${HOST}"), "${HOST}");
  EXPECT_EQ(error_, "");
}

TEST_F(ExpandVariablesTest, LoneDollarIsKept) {
  EXPECT_EQ(expand("pa$word$"), "pa$word$");
  EXPECT_EQ(error_, "");
}

TEST_F(ExpandVariablesTest, NestedDefault) {
  EXPECT_EQ(expand("${NOPE:-${HOST}}"), "mail.example.com");
  EXPECT_EQ(expand("${NOPE:-${ALSO_NOPE:-deep}}"), "deep");
  EXPECT_EQ(error_, "");
}

TEST_F(ExpandVariablesTest, DefaultMayContainColonsAndSlashes) {
  EXPECT_EQ(expand("${NOPE:-postgres://u:p@h:5432/db}"), "postgres://u:p@h:5432/db");
}

TEST_F(ExpandVariablesTest, MissingClosingBraceIsMalformed) {
  EXPECT_EQ(expand("${HOST"), "");
  EXPECT_NE(error_.find("malformed"), std::string::npos) << error_;
  EXPECT_NE(error_.find("'}'"), std::string::npos) << error_;
}

TEST_F(ExpandVariablesTest, EmptyNameIsMalformed) {
  EXPECT_EQ(expand("${}"), "");
  EXPECT_NE(error_.find("malformed"), std::string::npos) << error_;
}

TEST_F(ExpandVariablesTest, BadCharacterAfterNameIsMalformed) {
  EXPECT_EQ(expand("${HOST-x}"), "");
  EXPECT_NE(error_.find("malformed"), std::string::npos) << error_;
  EXPECT_EQ(expand("${1ABC}"), "");
  EXPECT_NE(error_.find("malformed"), std::string::npos) << error_;
}

TEST(ProcessEnvironmentTest, ReadsGetenv) {
  ::setenv("COMMSVC_CONFIG_TEST_VAR", "value-1", 1);
  ::unsetenv("COMMSVC_CONFIG_TEST_UNSET");
  const EnvLookup env = processEnvironment();
  EXPECT_EQ(env("COMMSVC_CONFIG_TEST_VAR"), std::optional<std::string>("value-1"));
  EXPECT_EQ(env("COMMSVC_CONFIG_TEST_UNSET"), std::nullopt);
}

}  // namespace
}  // namespace commsvc::config
