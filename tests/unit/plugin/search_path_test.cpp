// Plugin search path: the binary's own directory plus added ones, each once;
// a plugin name found in two directories is refused naming both files.
#include "plugin/search_path.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "plugin/registry.hpp"

namespace commsvc::plugin {
namespace {

namespace fs = std::filesystem;

class PluginSearchPath : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("commsvc-search-path-" +
             std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "a");
    fs::create_directories(root_ / "b");
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_;
};

TEST_F(PluginSearchPath, TheBinarysOwnDirectoryComesFirstAndAddedOnesFollowOnce) {
  const auto own = builtinPluginDir();
  EXPECT_TRUE(fs::path(own).is_absolute()) << own;
  EXPECT_NE(own.find("commsvc/plugins"), std::string::npos) << own;
  const auto a = (root_ / "a").string();
  const auto b = (root_ / "b").string();
  const auto dirs = pluginSearchPath({a, b, a + "/", own, (root_ / "b" / ".." / "a").string()});
  EXPECT_EQ(dirs, (std::vector<std::string>{own, a, b}));
}

TEST_F(PluginSearchPath, APluginInOneDirectoryIsFound) {
  fs::copy_file(fs::path(COMMSVC_TEST_PLUGIN_DIR) / "recorder.so", root_ / "b" / "recorder.so");
  const std::vector<std::string> dirs{(root_ / "a").string(), (root_ / "b").string()};
  EXPECT_EQ(findPluginFiles("recorder", dirs),
            std::vector<std::string>{(root_ / "b" / "recorder.so").string()});
  EXPECT_NO_THROW(requireUnambiguous("recorder", dirs));
  EXPECT_NO_THROW(requireUnambiguous("absent", dirs));
}

TEST_F(PluginSearchPath, APluginNameInTwoDirectoriesIsRefusedNamingBothFiles) {
  for (const char* dir : {"a", "b"}) {
    fs::copy_file(fs::path(COMMSVC_TEST_PLUGIN_DIR) / "recorder.so", root_ / dir / "recorder.so");
  }
  const std::vector<std::string> dirs{(root_ / "a").string(), (root_ / "b").string()};
  try {
    requireUnambiguous("recorder", dirs);
    FAIL() << "not refused";
  } catch (const PluginError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find((root_ / "a" / "recorder.so").string()), std::string::npos) << message;
    EXPECT_NE(message.find((root_ / "b" / "recorder.so").string()), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace commsvc::plugin
