#include "plugin/registry.hpp"

#include <gtest/gtest.h>

namespace commsvc::plugin {
namespace {

const std::string kShipped = COMMSVC_PLUGIN_OUTPUT_DIR;
const std::string kFixtures = COMMSVC_TEST_PLUGIN_DIR;

std::string refusal(const std::string& file) {
  PluginRegistry registry;
  try {
    registry.loadFile(file);
  } catch (const PluginError& e) {
    return e.what();
  }
  return "";
}

TEST(PluginRegistry, LoadsShippedPluginsByNameFromTheSearchPath) {
  PluginRegistry registry;
  const auto& log = registry.load("transport-log", {"/nonexistent", kShipped});
  EXPECT_EQ(log.info->kind, PluginKind::Channel);
  EXPECT_STREQ(log.info->name, "log");
  registry.load("transport-mock", {kShipped});
  registry.load("publisher-log", {kShipped});
  EXPECT_NE(registry.find(PluginKind::Channel, "mock"), nullptr);
  EXPECT_NE(registry.find(PluginKind::Publisher, "log"), nullptr)
      << "names are unique per kind: a channel and a publisher may both be called log";
  EXPECT_EQ(registry.find(PluginKind::Handler, "log"), nullptr);
  EXPECT_EQ(registry.names(PluginKind::Channel), (std::vector<std::string>{"log", "mock"}));
}

TEST(PluginRegistry, AcceptsTheOptionDeclarationsOfEveryShippedChannelAndPublisher) {
  PluginRegistry registry;
  for (const std::string name :
       {"transport-smtp", "transport-log", "transport-mock", "publisher-kafka", "publisher-http",
        "publisher-log", "publisher-mock"}) {
    EXPECT_NO_THROW(registry.load(name, {kShipped})) << name;
  }
  EXPECT_EQ(registry.names(PluginKind::Channel), (std::vector<std::string>{"log", "mock", "smtp"}));
  EXPECT_EQ(registry.names(PluginKind::Publisher),
            (std::vector<std::string>{"http", "kafka", "log", "mock"}));
}

TEST(PluginRegistry, MissingLibraryNamesTheDirectoriesSearched) {
  PluginRegistry registry;
  try {
    registry.load("transport-carrier-pigeon", {kShipped});
    FAIL() << "expected a PluginError";
  } catch (const PluginError& e) {
    EXPECT_NE(std::string(e.what()).find("transport-carrier-pigeon.so"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find(kShipped), std::string::npos);
  }
}

TEST(PluginRegistry, LoadsOnlyPlainNamesFromThePluginDirectories) {
  PluginRegistry registry;
  // A path would reach a library outside the plugin directories.
  const std::string outside = "../../tests/plugins-dir/recorder";
  for (const std::string name : {outside, std::string("/usr/lib/x"), std::string("log.so")}) {
    try {
      registry.load(name, {kShipped});
      FAIL() << "expected a PluginError for " << name;
    } catch (const PluginError& e) {
      EXPECT_NE(std::string(e.what()).find("not a plain plugin name"), std::string::npos)
          << e.what();
    }
  }
}

TEST(PluginRegistry, RefusesAnotherAbiVersionNamingBothVersionsAndTheFile) {
  const auto file = kFixtures + "/bad-abi.so";
  const auto message = refusal(file);
  EXPECT_NE(message.find(file), std::string::npos) << message;
  EXPECT_NE(message.find("ABI version " + std::to_string(kAbiVersion + 1000)), std::string::npos)
      << message;
  EXPECT_NE(message.find("ABI version " + std::to_string(kAbiVersion) + ";"), std::string::npos)
      << message;
}

/// The refusal of fixture `abi-<field>.so`, checked to name the file.
std::string buildAbiRefusal(const std::string& field) {
  const auto file = kFixtures + "/abi-" + field + ".so";
  const auto message = refusal(file);
  EXPECT_NE(message.find(file), std::string::npos) << message;
  return message;
}

std::string stdlibName(std::uint32_t stdlib) {
  return stdlib == 1 ? "libstdc++" : stdlib == 2 ? "libc++" : "another C++ standard library";
}

TEST(PluginRegistry, RefusesAnotherLibpqxxMajorVersionNamingBoth) {
  const auto message = buildAbiRefusal("pqxx");
  const auto theirs = std::to_string(kBuildAbi.pqxxMajor + 1);
  const auto ours = std::to_string(kBuildAbi.pqxxMajor);
  EXPECT_NE(message.find("built with libpqxx " + theirs + ", this engine has " + ours),
            std::string::npos)
      << message;
}

TEST(PluginRegistry, RefusesAnotherStandardLibraryNamingBoth) {
  const auto message = buildAbiRefusal("stdlib");
  const auto theirs = stdlibName(kBuildAbi.stdlib == 2 ? 1 : 2);
  EXPECT_NE(
      message.find("built with " + theirs + ", this engine has " + stdlibName(kBuildAbi.stdlib)),
      std::string::npos)
      << message;
}

TEST(PluginRegistry, RefusesAnotherLibstdcxxDualAbiNamingBoth) {
  const auto message = buildAbiRefusal("cxx11_abi");
  const auto theirs = std::to_string(kBuildAbi.stdlibCxx11Abi == 0 ? 1 : 0);
  const auto ours = std::to_string(kBuildAbi.stdlibCxx11Abi);
  EXPECT_NE(message.find("built with _GLIBCXX_USE_CXX11_ABI=" + theirs +
                         ", this engine has _GLIBCXX_USE_CXX11_ABI=" + ours),
            std::string::npos)
      << message;
}

TEST(PluginRegistry, RefusesAnotherMajorCxxAbiNamingBoth) {
  const auto message = buildAbiRefusal("cxx_abi");
  const auto theirs = std::to_string(kBuildAbi.cxxAbiVersion + 1000);
  const auto ours = std::to_string(kBuildAbi.cxxAbiVersion);
  EXPECT_NE(message.find("built with C++ ABI (__GXX_ABI_VERSION) " + theirs + ", this engine has " +
                         ours),
            std::string::npos)
      << message;
}

TEST(BuildAbiMismatch, AcceptsTheSameBuildAndMinorCxxAbiRevisions) {
  EXPECT_EQ(buildAbiMismatch(kBuildAbi, kBuildAbi), "");
  BuildAbi clang = kBuildAbi;
  clang.cxxAbiVersion = 1002;  // Clang against libstdc++
  BuildAbi gcc = kBuildAbi;
  gcc.cxxAbiVersion = 1017;
  EXPECT_EQ(buildAbiMismatch(clang, gcc), "");
}

TEST(BuildAbiMismatch, AcceptsAPluginBuiltWithoutLibpqxx) {
  BuildAbi plugin = kBuildAbi;
  plugin.pqxxMajor = 0;  // cannot touch Database or Outbox
  EXPECT_EQ(buildAbiMismatch(plugin, kBuildAbi), "");
}

TEST(BuildAbiMismatch, NamesEveryDifferenceWithBothValues) {
  const BuildAbi engine{1, 1, 1017, 6};
  const BuildAbi plugin{1, 0, 1017, 7};
  EXPECT_EQ(buildAbiMismatch(plugin, engine),
            "built with _GLIBCXX_USE_CXX11_ABI=0, this engine has _GLIBCXX_USE_CXX11_ABI=1; "
            "built with libpqxx 7, this engine has 6");
  EXPECT_EQ(buildAbiMismatch({2, 0, 1002, 6}, engine),
            "built with libc++, this engine has libstdc++");
}

TEST(PluginRegistry, RefusesALibraryWithoutDescriptor) {
  const auto file = kFixtures + "/no-descriptor.so";
  const auto message = refusal(file);
  EXPECT_NE(message.find(file), std::string::npos) << message;
  EXPECT_NE(message.find("no 'commsvc_plugin' descriptor"), std::string::npos) << message;
}

TEST(PluginRegistry, RefusesADuplicateNameNamingBothFiles) {
  PluginRegistry registry;
  registry.load("transport-log", {kShipped});
  try {
    registry.loadFile(kFixtures + "/duplicate-log.so");
    FAIL() << "expected a PluginError";
  } catch (const PluginError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("duplicate-log.so"), std::string::npos) << message;
    EXPECT_NE(message.find("transport-log.so"), std::string::npos) << message;
    EXPECT_NE(message.find("'log'"), std::string::npos) << message;
  }
}

TEST(PluginRegistry, RefusesWrongOptionDeclarationsNamingThePluginAndEachProblem) {
  const auto file = kFixtures + "/bad-options.so";
  const auto message = refusal(file);
  EXPECT_NE(message.find(file), std::string::npos) << message;
  EXPECT_NE(message.find("channel plugin 'bad-options' declares its options wrongly"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find(
                "option 'retries': the settings struct's default 500 is outside range() [1, 10]"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("option 'name': declared twice"), std::string::npos) << message;
  EXPECT_NE(message.find("option 'mode': the settings struct's default is none of its choices"),
            std::string::npos)
      << message;
  PluginRegistry registry;
  EXPECT_THROW(registry.loadFile(file), PluginError);
  EXPECT_EQ(registry.find(PluginKind::Channel, "bad-options"), nullptr) << "nothing registered";
}

TEST(PluginRegistry, RefusesAFileThatIsNotALibrary) {
  const auto message = refusal(std::string(COMMSVC_SOURCE_DIR) + "/CMakeLists.txt");
  EXPECT_NE(message.find("cannot load"), std::string::npos) << message;
}

}  // namespace
}  // namespace commsvc::plugin
