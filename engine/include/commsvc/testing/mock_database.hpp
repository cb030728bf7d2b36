#pragma once

// gmock mocks of the SDK's database interfaces (they include libpqxx:
// link PkgConfig::libpqxx or pqxx in the test).

#include <gmock/gmock.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

#include "commsvc/database.hpp"
#include "commsvc/event.hpp"
#include "commsvc/outbox.hpp"

namespace commsvc::testing {

/// A Database whose transaction and read are gmock methods (a test without a server
/// typically expects no call, or fails the work with an exception).
class MockDatabase : public Database {
 public:
  MOCK_METHOD(void, transaction, (const std::function<void(pqxx::work& tx)>& work), (override));
  MOCK_METHOD(void, read, (const std::function<void(pqxx::nontransaction& tx)>& work), (override));
};

/// An Outbox whose add/awaitPublished are gmock methods.
class MockOutbox : public Outbox {
 public:
  MOCK_METHOD(std::int64_t, add, (pqxx::work & tx, const Event& event), (override));
  MOCK_METHOD(bool, awaitPublished,
              (const std::vector<std::int64_t>& ids, std::chrono::milliseconds timeout),
              (override));
};

}  // namespace commsvc::testing
