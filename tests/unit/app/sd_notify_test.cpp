// sd_notify without libsystemd: datagrams to a real AF_UNIX socket bound by
// the test, at a path and under an abstract name.

#include "app/sd_notify.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>

namespace commsvc::app {
namespace {

/// A bound AF_UNIX datagram socket standing in for systemd's notify socket.
class NotifySocket {
 public:
  /// Binds to `name`: a path, or an abstract name when it starts with '@'.
  explicit NotifySocket(std::string name) : name_(std::move(name)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, name_.data(), name_.size());
    const bool abstract = name_.front() == '@';
    if (abstract) address.sun_path[0] = '\0';
    const auto length =
        static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_.size() + (abstract ? 0 : 1));
    bound_ = ::bind(fd_, reinterpret_cast<const sockaddr*>(&address), length) == 0;
  }
  ~NotifySocket() {
    ::close(fd_);
    if (name_.front() == '/') std::filesystem::remove(name_);
  }
  bool bound() const { return bound_; }

  /// The next datagram, or nothing within a second.
  std::optional<std::string> receive() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 1000) != 1) return std::nullopt;
    char buffer[4096];
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n < 0) return std::nullopt;
    return std::string(buffer, static_cast<std::size_t>(n));
  }

 private:
  std::string name_;
  int fd_ = -1;
  bool bound_ = false;
};

/// Sets $NOTIFY_SOCKET for one test, restoring the previous value.
class NotifyEnv {
 public:
  explicit NotifyEnv(const char* value) {
    if (const char* old = std::getenv("NOTIFY_SOCKET")) old_ = old;
    if (value != nullptr) {
      ::setenv("NOTIFY_SOCKET", value, 1);
    } else {
      ::unsetenv("NOTIFY_SOCKET");
    }
  }
  ~NotifyEnv() {
    if (old_) {
      ::setenv("NOTIFY_SOCKET", old_->c_str(), 1);
    } else {
      ::unsetenv("NOTIFY_SOCKET");
    }
  }

 private:
  std::optional<std::string> old_;
};

std::string uniqueName(const std::string& what) {
  return "commsvc-sd-notify-" + what + "-" + std::to_string(::getpid());
}

TEST(SdNotifyTest, ReadyReloadingStoppingArriveAtAPathSocket) {
  const std::string path = (std::filesystem::temp_directory_path() / uniqueName("path")).string();
  NotifySocket socket(path);
  ASSERT_TRUE(socket.bound()) << path;
  NotifyEnv env(path.c_str());

  std::string error;
  EXPECT_TRUE(notifyReady(&error)) << error;
  EXPECT_EQ(socket.receive(), "READY=1");

  EXPECT_TRUE(notifyReloading(&error)) << error;
  const auto reloading = socket.receive();
  ASSERT_TRUE(reloading.has_value());
  const std::string prefix = "RELOADING=1\nMONOTONIC_USEC=";
  ASSERT_EQ(reloading->substr(0, prefix.size()), prefix) << *reloading;
  const std::string usec = reloading->substr(prefix.size());
  ASSERT_FALSE(usec.empty());
  EXPECT_EQ(usec.find_first_not_of("0123456789"), std::string::npos) << usec;
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  const long long nowUsec = static_cast<long long>(now.tv_sec) * 1000000LL + now.tv_nsec / 1000;
  EXPECT_LE(std::stoll(usec), nowUsec);
  EXPECT_GT(std::stoll(usec), nowUsec - 5000000) << "CLOCK_MONOTONIC, in microseconds";

  EXPECT_TRUE(notifyStopping(&error)) << error;
  EXPECT_EQ(socket.receive(), "STOPPING=1");
  EXPECT_TRUE(sdNotify("STATUS=draining\nERRNO=0", &error)) << error;
  EXPECT_EQ(socket.receive(), "STATUS=draining\nERRNO=0");
}

TEST(SdNotifyTest, AnAbstractNameStartsWithAt) {
  const std::string name = "@" + uniqueName("abstract");
  NotifySocket socket(name);
  ASSERT_TRUE(socket.bound()) << name;
  NotifyEnv env(name.c_str());
  std::string error;
  EXPECT_TRUE(notifyReady(&error)) << error;
  EXPECT_EQ(socket.receive(), "READY=1");
}

TEST(SdNotifyTest, UnsetOrEmptyIsANoOp) {
  {
    NotifyEnv env(nullptr);
    std::string error;
    EXPECT_FALSE(notifyReady(&error));
    EXPECT_EQ(error, "");
  }
  NotifyEnv env("");
  std::string error;
  EXPECT_FALSE(notifyStopping(&error));
  EXPECT_EQ(error, "");
}

TEST(SdNotifyTest, UnusableAddressesFailWithAReason) {
  std::string error;
  {
    NotifyEnv env("relative/notify.sock");
    EXPECT_FALSE(notifyReady(&error));
    EXPECT_NE(error.find("neither an absolute path"), std::string::npos) << error;
  }
  {
    const std::string tooLong = "/" + std::string(200, 'x');
    NotifyEnv env(tooLong.c_str());
    EXPECT_FALSE(notifyReady(&error));
    EXPECT_NE(error.find("too long"), std::string::npos) << error;
  }
  {
    const std::string missing =
        (std::filesystem::temp_directory_path() / uniqueName("nobody")).string();
    NotifyEnv env(missing.c_str());
    EXPECT_FALSE(notifyReady(&error));
    EXPECT_NE(error.find(missing), std::string::npos) << error;
  }
  // Without an error string: still just false.
  NotifyEnv env("relative");
  EXPECT_FALSE(notifyReady());
}

}  // namespace
}  // namespace commsvc::app
