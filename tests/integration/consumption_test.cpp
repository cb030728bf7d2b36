// The engine as a separate process against an embedded broker process over
// TCP, with events produced by kcat: order, at-least-once across kill -9,
// dead letters, graceful shutdown.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "harness.hpp"

namespace commsvc::integration {
namespace {

using namespace std::chrono_literals;

struct Recorded {
  std::string key;
  long seq;
  long offset;
  int partition;
};

std::vector<Recorded> readRecorded(const std::filesystem::path& file) {
  std::vector<Recorded> out;
  for (const auto& line : readLines(file)) {
    const auto j = nlohmann::json::parse(line);
    out.push_back({j.at("key").get<std::string>(), j.at("payload").at("seq").get<long>(),
                   j.at("offset").get<long>(), j.at("partition").get<int>()});
  }
  return out;
}

/// Every key's events appear in increasing seq order within one run.
void expectPerKeyOrder(const std::vector<Recorded>& run, const std::string& label) {
  std::map<std::string, long> last;
  for (const auto& r : run) {
    auto it = last.find(r.key);
    if (it != last.end()) {
      ASSERT_LT(it->second, r.seq) << label << ": key " << r.key << " out of order";
    }
    last[r.key] = r.seq;
  }
}

std::unique_ptr<Process> startEngine(const ScratchDir& dir, const std::string& name,
                                     const PipelineSpec& spec) {
  const auto config = dir / (name + ".yaml");
  writeFile(config, pipelineYaml(spec));
  return std::make_unique<Process>(
      std::vector<std::string>{commsvcBinary(), "--plugin-dir", pluginPath(), "run", "-c",
                               config.string()},
      dir / (name + ".log"));
}

TEST(Consumption, TenThousandEventsInOrderAndNoneLostAcrossKillNine) {
  ScratchDir dir("kill9");
  BrokerProcess broker(dir, {"events", "events.dlq"}, 4);

  constexpr int kEvents = 10000;
  constexpr int kKeys = 50;
  std::vector<std::string> lines;
  for (int i = 0; i < kEvents; ++i) {
    const int key = i % kKeys;
    lines.push_back("k" + std::to_string(key) + "|" +
                    envelope("test.recorded", "{\"seq\":" + std::to_string(i / kKeys) + "}"));
  }
  produceWithKcat(broker.bootstrap(), "events", lines, dir);

  PipelineSpec spec;
  spec.brokers = broker.bootstrap();
  spec.workers = 4;
  spec.maxInFlight = 200;
  spec.recorderFile = (dir / "run1.jsonl").string();
  auto engine = startEngine(dir, "run1", spec);
  ASSERT_TRUE(waitFor([&] { return readLines(dir / "run1.jsonl").size() >= 3000; }, 60s))
      << engine->log();
  engine->signal(SIGKILL);
  ASSERT_EQ(engine->wait(5s), 128 + SIGKILL);
  const auto run1 = readRecorded(dir / "run1.jsonl");
  ASSERT_LT(run1.size(), static_cast<std::size_t>(kEvents)) << "killed too late to test anything";

  spec.recorderFile = (dir / "run2.jsonl").string();
  engine = startEngine(dir, "run2", spec);
  std::set<std::pair<std::string, long>> seen;
  for (const auto& r : run1) seen.insert({r.key, r.seq});
  ASSERT_TRUE(waitFor(
      [&] {
        for (const auto& r : readRecorded(dir / "run2.jsonl")) seen.insert({r.key, r.seq});
        return seen.size() == static_cast<std::size_t>(kEvents);
      },
      90s))
      << "handled " << seen.size() << " of " << kEvents << "\n"
      << engine->log();
  engine->signal(SIGTERM);
  ASSERT_EQ(engine->wait(15s), 0) << engine->log();

  const auto run2 = readRecorded(dir / "run2.jsonl");
  expectPerKeyOrder(run1, "first run");
  expectPerKeyOrder(run2, "second run");
  std::set<std::pair<std::string, long>> first;
  for (const auto& r : run1) first.insert({r.key, r.seq});
  std::size_t duplicates = 0;
  for (const auto& r : run2) duplicates += first.count({r.key, r.seq});
  std::cout << "run1 handled " << run1.size() << ", run2 handled " << run2.size() << ", duplicates "
            << duplicates << " (bound: max_in_flight " << spec.maxInFlight << ")\n";
  EXPECT_EQ(run1.size() + run2.size() - duplicates, static_cast<std::size_t>(kEvents));
  EXPECT_LE(duplicates, static_cast<std::size_t>(spec.maxInFlight));
}

TEST(Consumption, InvalidRecordsGoToTheDeadLetterTopicAndConsumptionGoesOn) {
  ScratchDir dir("dlq");
  BrokerProcess broker(dir, {"events", "events.dlq"}, 1);
  produceWithKcat(
      broker.bootstrap(), "events",
      {"1|this is not json", "2|{\"eventId\":\"x\",\"payload\":{}}",
       "3|" + envelope("test.recorded", "[1,2]"), "4|" + envelope("test.recorded", "{\"seq\":4}"),
       "5|" + envelope("test.recorded", "{\"seq\":5}")},
      dir);
  PipelineSpec spec;
  spec.brokers = broker.bootstrap();
  spec.recorderFile = (dir / "rec.jsonl").string();
  spec.rejectKey = "4";
  auto engine = startEngine(dir, "engine", spec);
  ASSERT_TRUE(waitFor([&] { return readLines(dir / "rec.jsonl").size() == 1; }, 30s))
      << engine->log();
  std::vector<std::string> dead;
  ASSERT_TRUE(waitFor(
      [&] {
        dead = consumeWithKcat(broker.bootstrap(), "events.dlq");
        return dead.size() >= 4;
      },
      20s))
      << engine->log();
  engine->signal(SIGTERM);
  EXPECT_EQ(engine->wait(15s), 0) << engine->log();

  ASSERT_EQ(dead.size(), 4u);
  std::sort(dead.begin(), dead.end());  // workers dead-letter in parallel: order by key
  const std::vector<std::pair<std::string, std::string>> expected{
      {"1", "x-dlq-reason=not_json"},
      {"2", "x-dlq-reason=missing_event_type"},
      {"3", "x-dlq-reason=payload_not_object"},
      {"4", "x-dlq-reason=rejected"}};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(dead[i].substr(0, dead[i].find('\t')), expected[i].first) << dead[i];
    EXPECT_NE(dead[i].find(expected[i].second), std::string::npos) << dead[i];
    EXPECT_NE(dead[i].find("x-dlq-source-topic=events"), std::string::npos) << dead[i];
    EXPECT_NE(dead[i].find("x-dlq-source-partition=0"), std::string::npos) << dead[i];
    EXPECT_NE(dead[i].find("x-dlq-source-offset=" + std::to_string(i)), std::string::npos)
        << dead[i];
  }
  EXPECT_NE(dead[0].find("\tthis is not json"), std::string::npos) << "original bytes kept";
  const auto recorded = readRecorded(dir / "rec.jsonl");
  EXPECT_EQ(recorded.at(0).key, "5") << "the good record after the bad ones was handled";
}

TEST(Consumption, SigtermFinishesInFlightWorkCommitsAndExitsWithinTheBound) {
  ScratchDir dir("sigterm");
  BrokerProcess broker(dir, {"events", "events.dlq"}, 2);
  std::vector<std::string> lines;
  for (int i = 0; i < 200; ++i) {
    lines.push_back("k" + std::to_string(i % 8) + "|" +
                    envelope("test.recorded", "{\"seq\":" + std::to_string(i / 8) + "}"));
  }
  produceWithKcat(broker.bootstrap(), "events", lines, dir);

  PipelineSpec spec;
  spec.brokers = broker.bootstrap();
  spec.workers = 4;
  spec.sleepMs = 100;     // each worker is mid-event most of the time
  spec.maxInFlight = 16;  // what is dispatched (and must be finished) at any time
  spec.shutdownTimeoutMs = 5000;
  spec.recorderFile = (dir / "run1.jsonl").string();
  auto engine = startEngine(dir, "run1", spec);
  ASSERT_TRUE(waitFor([&] { return readLines(dir / "run1.jsonl").size() >= 20; }, 30s))
      << engine->log();
  engine->signal(SIGHUP);  // must not kill it: the same file is reloaded
  ASSERT_TRUE(
      waitFor([&] { return engine->log().find("pipeline reloaded") != std::string::npos; }, 15s))
      << engine->log();
  EXPECT_EQ(engine->wait(100ms), std::nullopt) << "still running after SIGHUP";
  const auto signalled = std::chrono::steady_clock::now();
  engine->signal(SIGTERM);
  const auto code = engine->wait(10s);
  const auto took = std::chrono::steady_clock::now() - signalled;
  ASSERT_EQ(code, 0) << engine->log();
  EXPECT_LT(took, std::chrono::milliseconds(spec.shutdownTimeoutMs + 1000)) << engine->log();
  EXPECT_NE(engine->log().find("all in-flight events finished"), std::string::npos)
      << engine->log();
  const auto run1 = readRecorded(dir / "run1.jsonl");

  // A second run must get exactly the rest: nothing finished is redelivered
  // (offsets were committed) and nothing is lost.
  spec.recorderFile = (dir / "run2.jsonl").string();
  spec.sleepMs = 0;
  engine = startEngine(dir, "run2", spec);
  ASSERT_TRUE(
      waitFor([&] { return run1.size() + readLines(dir / "run2.jsonl").size() >= 200; }, 30s))
      << engine->log();
  std::this_thread::sleep_for(500ms);  // would reveal redelivered duplicates
  engine->signal(SIGTERM);
  ASSERT_EQ(engine->wait(10s), 0) << engine->log();
  const auto run2 = readRecorded(dir / "run2.jsonl");
  std::set<std::pair<std::string, long>> all;
  for (const auto& r : run1) all.insert({r.key, r.seq});
  for (const auto& r : run2) all.insert({r.key, r.seq});
  EXPECT_EQ(all.size(), 200u);
  EXPECT_EQ(run1.size() + run2.size(), 200u) << "no duplicates after a graceful stop";
}

TEST(Consumption, SwappingAChannelTypeInYamlChangesWhichPluginDelivers) {
  ScratchDir dir("swap");
  BrokerProcess broker(dir, {"events", "events.dlq"}, 1);
  produceWithKcat(broker.bootstrap(), "events",
                  {"1|" + envelope("test.recorded", "{\"seq\":1}"),
                   "2|" + envelope("test.recorded", "{\"seq\":2}")},
                  dir);
  PipelineSpec spec;
  spec.brokers = broker.bootstrap();
  spec.recorderFile = (dir / "rec-mock.jsonl").string();
  spec.channelBlock = "{ type: mock, file: \"" + (dir / "outbox.jsonl").string() + "\" }";
  auto engine = startEngine(dir, "mock", spec);
  ASSERT_TRUE(waitFor([&] { return readLines(dir / "rec-mock.jsonl").size() == 2; }, 30s))
      << engine->log();
  engine->signal(SIGTERM);
  ASSERT_EQ(engine->wait(10s), 0);
  EXPECT_EQ(readLines(dir / "outbox.jsonl").size(), 2u) << "the mock channel delivered";

  // Same events again, new group, channel type swapped to log: no rebuild.
  spec.group = "second-group";
  spec.recorderFile = (dir / "rec-log.jsonl").string();
  spec.channelBlock = "{ type: log }";
  engine = startEngine(dir, "log", spec);
  ASSERT_TRUE(waitFor([&] { return readLines(dir / "rec-log.jsonl").size() == 2; }, 30s))
      << engine->log();
  engine->signal(SIGTERM);
  ASSERT_EQ(engine->wait(10s), 0);
  EXPECT_EQ(readLines(dir / "outbox.jsonl").size(), 2u) << "the mock channel was not used";
  EXPECT_NE(engine->log().find("recorder@example.org"), std::string::npos)
      << "the log channel delivered:\n"
      << engine->log();
}

}  // namespace
}  // namespace commsvc::integration
