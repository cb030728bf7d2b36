#include "app/sd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace commsvc::app {
namespace {

void setError(std::string* error, std::string text) {
  if (error != nullptr) *error = std::move(text);
}

/// Closes a descriptor when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

bool sdNotify(std::string_view state, std::string* error) {
  const char* env = std::getenv("NOTIFY_SOCKET");
  if (env == nullptr || *env == '\0') return false;
  const std::string_view name(env);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (name.front() != '/' && name.front() != '@') {
    setError(error, "NOTIFY_SOCKET is neither an absolute path nor an abstract name (@...): " +
                        std::string(name));
    return false;
  }
  // A path needs its terminating NUL inside sun_path; an abstract name
  // (leading NUL instead of '@') is exactly as long as it is.
  const bool abstract = name.front() == '@';
  if (name.size() + (abstract ? 0 : 1) > sizeof address.sun_path) {
    setError(error, "NOTIFY_SOCKET is too long: " + std::string(name));
    return false;
  }
  std::memcpy(address.sun_path, name.data(), name.size());
  if (abstract) address.sun_path[0] = '\0';
  const auto length =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + (abstract ? 0 : 1));

  const Fd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) {
    setError(error, std::string("notify socket: ") + std::strerror(errno));
    return false;
  }
  const ssize_t sent = ::sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL,
                                reinterpret_cast<const sockaddr*>(&address), length);
  if (sent < 0 || static_cast<std::size_t>(sent) != state.size()) {
    setError(error, "notify " + std::string(name) + ": " +
                        (sent < 0 ? std::strerror(errno) : "short write"));
    return false;
  }
  return true;
}

bool notifyReady(std::string* error) { return sdNotify("READY=1", error); }

bool notifyReloading(std::string* error) {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  const long long usec = static_cast<long long>(now.tv_sec) * 1000000LL + now.tv_nsec / 1000;
  return sdNotify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec), error);
}

bool notifyStopping(std::string* error) { return sdNotify("STOPPING=1", error); }

}  // namespace commsvc::app
