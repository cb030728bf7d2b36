#include "runtime/router.hpp"

#include <gtest/gtest.h>

namespace commsvc::runtime {
namespace {

class NullHandler final : public Handler {
 public:
  HandleResult handle(const Event&) override { return HandleResult::done(); }
};

TEST(Router, FindsHandlersByTypeAndRefusesDuplicates) {
  Router router;
  NullHandler a, b;
  router.add("communication.send_email", a);
  router.add("communication.schedule_call", b);
  EXPECT_EQ(router.find("communication.send_email"), &a);
  EXPECT_EQ(router.find("communication.schedule_call"), &b);
  EXPECT_EQ(router.find("email.sent"), nullptr);
  EXPECT_THROW(router.add("communication.send_email", b), std::invalid_argument);
  EXPECT_EQ(router.size(), 2u);
}

}  // namespace
}  // namespace commsvc::runtime
