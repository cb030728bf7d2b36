// Context::schedule and Context::addRoute after the pipeline started throw
// std::logic_error naming the instance and the call (SDK context.hpp), with
// the late-context fixture plugin on an engine with an embedded broker.

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "app/engine.hpp"
#include "app/pipeline.hpp"

namespace commsvc::app {
namespace {

using namespace std::chrono_literals;

const std::string kFixtures = COMMSVC_TEST_PLUGIN_DIR;

/// A fresh scratch directory for one test, removed afterwards.
class ScratchDir {
 public:
  ScratchDir()
      : path_(std::filesystem::temp_directory_path() /
              ("commsvc-lifecycle-" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

std::vector<std::string> lines(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(ContextLifecycle, ScheduleAndAddRouteAfterStartThrowLogicErrorNamingInstanceAndCall) {
  ScratchDir dir;
  const auto calls = dir.path() / "calls.txt";
  const auto pipeline = dir.path() / "pipelines.yaml";
  std::ofstream(pipeline) << "plugins: [late-context]\n"
                          << "http: { port: 0, address: 127.0.0.1, admin_address: \"127.0.0.1:0\" }\n"
                          << "kafka:\n"
                          << "  brokers: embedded\n"
                          << "  topic: events\n"
                          << "  dead_letter_topic: events.dlq\n"
                          << "  bootstrap_file: \"" << (dir.path() / "bootstrap").string() << "\"\n"
                          << "handlers:\n"
                          << "  - { event: test.late, type: late-context, file: \""
                          << calls.string() << "\" }\n";

  // The factory's own schedule/addRoute calls succeed (the engine builds).
  Engine engine(validatePipeline(pipeline.string(), {kFixtures}), false);
  std::atomic<bool> stop{false};
  std::thread runner([&] { engine.run(stop); });
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (lines(calls).size() < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  stop.store(true);
  runner.join();

  const auto got = lines(calls);
  ASSERT_EQ(got.size(), 2u) << "the fixture's job did not run";
  EXPECT_EQ(got[0].rfind("schedule threw logic_error: handlers[0]: ", 0), 0u) << got[0];
  EXPECT_NE(got[0].find("Context::schedule(\"too-late\") called after the pipeline started"),
            std::string::npos)
      << got[0];
  EXPECT_EQ(got[1].rfind("addRoute threw logic_error: handlers[0]: ", 0), 0u) << got[1];
  EXPECT_NE(got[1].find("Context::addRoute(GET /too-late) called after the pipeline started"),
            std::string::npos)
      << got[1];
}

}  // namespace
}  // namespace commsvc::app
