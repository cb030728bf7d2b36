#include "pipeline_test/postgres.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <pqxx/pqxx>
#include <stdexcept>
#include <vector>

namespace commsvc::pipeline_test {
namespace {

namespace fs = std::filesystem;

std::string findBinDir() {
  if (const char* env = std::getenv("COMMSVC_PG_BIN"); env != nullptr && *env != '\0') return env;
  std::vector<fs::path> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    if (fs::exists(entry.path() / "bin" / "pg_ctl")) found.push_back(entry.path() / "bin");
  }
  if (found.empty()) return {};
  std::sort(found.begin(), found.end(), [](const fs::path& a, const fs::path& b) {
    return std::atoi(a.parent_path().filename().c_str()) <
           std::atoi(b.parent_path().filename().c_str());
  });
  return found.back().string();
}

int freePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free port");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

std::string tail(const std::string& file) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::string out;
  for (std::size_t i = lines.size() > 20 ? lines.size() - 20 : 0; i < lines.size(); ++i) {
    out += "\n  " + lines[i];
  }
  return out;
}

}  // namespace

ThrowawayPostgres::ThrowawayPostgres() {
  binDir_ = findBinDir();
  std::string pattern = (fs::temp_directory_path() / "commsvc-test-pg-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  root_ = pattern;
  dataDir_ = root_ + "/data";
  socketDir_ = root_ + "/sock";
  logFile_ = root_ + "/server.log";
  try {
    fs::create_directories(socketDir_);
    asPostgres_ = ::geteuid() == 0;
    if (asPostgres_) {
      const passwd* pw = ::getpwnam("postgres");
      if (pw == nullptr) {
        throw std::runtime_error(
            "running as root, but there is no user 'postgres' to run the server as (initdb "
            "refuses root)");
      }
      for (const auto& path : {root_, socketDir_}) {
        if (::chown(path.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
          throw std::runtime_error("cannot chown " + path + " to postgres");
        }
      }
    }
    copyTemplate();
    port_ = freePort();
    start();
  } catch (...) {
    std::error_code ec;
    fs::remove_all(root_, ec);
    throw;
  }
}

ThrowawayPostgres::~ThrowawayPostgres() {
  try {
    stop();
  } catch (...) {
  }
  std::error_code ec;
  fs::remove_all(root_, ec);
}

std::string ThrowawayPostgres::createDatabase(const std::string& name) {
  if (name.empty() ||
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos) {
    throw std::runtime_error("invalid database name '" + name + "'");
  }
  const std::string base = "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/";
  try {
    pqxx::connection connection(base + "postgres");
    pqxx::nontransaction work(connection);
    work.exec("CREATE DATABASE " + name);
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot create database " + name + ": " + e.what());
  }
  return base + name;
}

void ThrowawayPostgres::start() {
  if (running_) return;
  run("pg_ctl -w -t 30 -D " + dataDir_ + " -l " + logFile_ + " -o \"-p " + std::to_string(port_) +
          " -k " + socketDir_ + " -c listen_addresses=127.0.0.1 -c fsync=off\" start",
      "pg_ctl start");
  running_ = true;
}

void ThrowawayPostgres::stop() {
  if (!running_) return;
  running_ = false;
  run("pg_ctl -w -t 30 -D " + dataDir_ + " -m fast stop", "pg_ctl stop");
}

void ThrowawayPostgres::copyTemplate() {
  // initdb takes most of the start-up time: once per user and server
  // version into a template (the same cache the test suite uses), then copy.
  std::string key = binDir_;
  std::replace(key.begin(), key.end(), '/', '_');
  const std::string templateDir = fs::temp_directory_path().string() + "/commsvc-pg-template-" +
                                  std::to_string(::geteuid()) + key;
  if (!fs::exists(templateDir + "/PG_VERSION")) {
    const std::string staging = root_ + "/template";
    run("initdb -D " + staging + " -A trust -U postgres -E UTF8 --no-locale --no-sync", "initdb");
    std::error_code ec;
    fs::rename(staging, templateDir, ec);  // atomic; loses harmlessly to a concurrent run
  }
  const std::string copy = "cp -a " + templateDir + " " + dataDir_ + " 2>/dev/null";
  if (std::system(copy.c_str()) != 0 || !fs::exists(dataDir_ + "/PG_VERSION")) {
    std::error_code ec;
    fs::remove_all(dataDir_, ec);
    run("initdb -D " + dataDir_ + " -A trust -U postgres -E UTF8 --no-locale --no-sync", "initdb");
  }
}

void ThrowawayPostgres::run(const std::string& command, const std::string& what) {
  const std::string program = binDir_.empty() ? command : binDir_ + "/" + command;
  const std::string output = root_ + "/" + what.substr(0, what.find(' ')) + ".out";
  std::string line = asPostgres_ ? "runuser -u postgres -- " + program : program;
  line += " >>" + output + " 2>&1";
  if (std::system(line.c_str()) != 0) {
    throw std::runtime_error(what + " failed: " + line + tail(output) + tail(logFile_));
  }
}

}  // namespace commsvc::pipeline_test
