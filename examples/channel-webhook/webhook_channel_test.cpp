// Unit test of the example-webhook channel with the SDK's testing kit.
#include "webhook_channel.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "commsvc/testing/fake_context.hpp"
#include "commsvc/testing/mocks.hpp"

namespace example::webhook {
namespace {

using commsvc::DeliveryResult;
using ::testing::_;
using ::testing::ReturnRef;

// The settings of a block (nothing listens on port 1).
Settings block(const std::string& url = "http://127.0.0.1:1/hook") {
  return {.url = url, .timeout = std::chrono::milliseconds(2000)};
}

TEST(WebhookChannel, PostsTheMessageAsJson) {
  commsvc::Message message;
  message.id = "42";
  message.toAddress = "a@example.org";
  message.subject = "Hi \"you\"";
  const auto json = nlohmann::json::parse(toJson(message));
  EXPECT_EQ(json["id"], "42");
  EXPECT_EQ(json["to"], "a@example.org");
  EXPECT_EQ(json["subject"], "Hi \"you\"");
}

TEST(WebhookChannel, ClassifiesStatusesAndNetworkErrors) {
  EXPECT_TRUE(classify(0, 200, "").ok());
  EXPECT_TRUE(classify(0, 204, "").ok());
  EXPECT_EQ(classify(0, 503, "").status, DeliveryResult::Status::TransientFailure);
  EXPECT_EQ(classify(0, 404, "").status, DeliveryResult::Status::PermanentFailure);
  EXPECT_EQ(classify(0, 404, "").detail, "HTTP 404");
  EXPECT_EQ(classify(7, 0, "refused").status, DeliveryResult::Status::TransientFailure);
}

TEST(WebhookChannel, AnUnreachableUrlIsATransientFailureAndCounted) {
  commsvc::testing::FakeContext context;
  const auto channel = create(block(), context);
  const auto result = channel->deliver(commsvc::Message{.id = "1"});
  EXPECT_EQ(result.status, DeliveryResult::Status::TransientFailure) << result.detail;
  EXPECT_EQ(context.inMemoryMetrics().counterValue("example_webhook_failures_total"), 1);
}

TEST(WebhookChannel, CountsFailuresOnTheContextsMetrics) {
  commsvc::testing::MockContext context;
  commsvc::testing::MockMetrics metrics;
  commsvc::testing::MockCounter failures;
  EXPECT_CALL(context, metrics()).WillRepeatedly(ReturnRef(metrics));
  EXPECT_CALL(metrics, counter("example_webhook_failures_total", _, _))
      .WillOnce(ReturnRef(failures));
  EXPECT_CALL(failures, add(1.0)).Times(2);
  const auto channel = create(block(), context);
  channel->deliver(commsvc::Message{});
  channel->deliver(commsvc::Message{});
}

}  // namespace
}  // namespace example::webhook
