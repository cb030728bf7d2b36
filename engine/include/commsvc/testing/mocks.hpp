#pragma once

// gmock mocks of the SDK interfaces, for plugin unit tests (header-only;
// link GTest::gmock). Database and Outbox mocks are in mock_database.hpp
// (they pull in libpqxx). A ready Context with in-memory logger and metrics
// is in fake_context.hpp.

#include <gmock/gmock.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "commsvc/channel.hpp"
#include "commsvc/context.hpp"
#include "commsvc/event.hpp"
#include "commsvc/handler.hpp"
#include "commsvc/logger.hpp"
#include "commsvc/message.hpp"
#include "commsvc/metrics.hpp"
#include "commsvc/publisher.hpp"

namespace commsvc::testing {

/// A Channel whose deliver/state/worstCaseDeliveryTime are gmock methods.
class MockChannel : public Channel {
 public:
  MOCK_METHOD(DeliveryResult, deliver, (const Message& message), (override));
  MOCK_METHOD(ChannelState, state, (), (const, override));
  MOCK_METHOD(std::chrono::milliseconds, worstCaseDeliveryTime, (), (const, override));
};

/// A Publisher whose publish/flush/status are gmock methods.
class MockPublisher : public Publisher {
 public:
  MOCK_METHOD(void, publish, (Event event, PublishCallback done), (override));
  MOCK_METHOD(bool, flush, (std::chrono::milliseconds timeout), (override));
  MOCK_METHOD(PublisherStatus, status, (), (const, override));
};

/// A Handler whose handle is a gmock method.
class MockHandler : public Handler {
 public:
  MOCK_METHOD(HandleResult, handle, (const Event& event), (override));
};

/// A Logger whose log/enabled are gmock methods (info(), warn(), ... call log).
class MockLogger : public Logger {
 public:
  using Logger::log;
  MOCK_METHOD(void, log, (LogLevel level, std::string_view message, const LogFields& fields),
              (override));
  MOCK_METHOD(bool, enabled, (LogLevel level), (const, override));
};

/// A Counter whose add/value are gmock methods.
class MockCounter : public Counter {
 public:
  using Counter::add;
  MOCK_METHOD(void, add, (double amount), (override));
  MOCK_METHOD(double, value, (), (const, override));
};

/// A Gauge whose set/value are gmock methods.
class MockGauge : public Gauge {
 public:
  MOCK_METHOD(void, set, (double value), (override));
  MOCK_METHOD(double, value, (), (const, override));
};

/// A Histogram whose observe is a gmock method.
class MockHistogram : public Histogram {
 public:
  MOCK_METHOD(void, observe, (double value), (override));
};

/// A Metrics whose counter/gauge/histogram are gmock methods; return a
/// MockCounter& etc. from them with ReturnRef.
class MockMetrics : public Metrics {
 public:
  using Metrics::counter;
  using Metrics::gauge;
  using Metrics::histogram;
  MOCK_METHOD(Counter&, counter,
              (const std::string& name, const std::string& help, const MetricLabels& labels),
              (override));
  MOCK_METHOD(Gauge&, gauge,
              (const std::string& name, const std::string& help, const MetricLabels& labels),
              (override));
  MOCK_METHOD(Histogram&, histogram,
              (const std::string& name, const std::string& help, const std::vector<double>& buckets,
               const MetricLabels& labels),
              (override));
};

/// A Context whose every method is a gmock method (prefer FakeContext
/// unless a test needs to check the calls themselves).
class MockContext : public Context {
 public:
  MOCK_METHOD(const std::string&, instanceName, (), (const, override));
  MOCK_METHOD(Logger&, logger, (), (override));
  MOCK_METHOD(Metrics&, metrics, (), (override));
  MOCK_METHOD(Channel*, channel, (), (override));
  MOCK_METHOD(Publisher*, publisher, (), (override));
  MOCK_METHOD(const KafkaSettings&, kafka, (), (const, override));
  MOCK_METHOD(Database*, database, (), (override));
  MOCK_METHOD(Outbox*, outbox, (), (override));
  MOCK_METHOD(Outbox*, outboxFor, (const std::string& publisher), (override));
  MOCK_METHOD(void, schedule,
              (std::string name, std::chrono::milliseconds interval, std::function<void()> job),
              (override));
  MOCK_METHOD(void, addRoute, (std::string method, std::string pattern, HttpHandler handler),
              (override));
};

}  // namespace commsvc::testing
