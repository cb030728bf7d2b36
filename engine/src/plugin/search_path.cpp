#include "plugin/search_path.hpp"

#include <boost/dll/runtime_symbol_info.hpp>
#include <filesystem>
#include <system_error>

#include "plugin/registry.hpp"

namespace commsvc::plugin {
namespace {

std::string normalized(const std::string& dir) {
  std::error_code ec;
  auto path = std::filesystem::weakly_canonical(std::filesystem::absolute(dir), ec);
  if (ec) return std::filesystem::path(dir).lexically_normal().string();
  return path.string();
}

}  // namespace

std::string builtinPluginDir() {
  const std::filesystem::path exe = boost::dll::program_location().string();
  return (exe.parent_path() / COMMSVC_PLUGIN_DIR_FROM_BINARY).lexically_normal().string();
}

std::vector<std::string> pluginSearchPath(const std::vector<std::string>& extra) {
  std::vector<std::string> dirs{builtinPluginDir()};
  std::vector<std::string> seen{normalized(dirs.front())};
  for (const auto& dir : extra) {
    auto key = normalized(dir);
    bool duplicate = false;
    for (const auto& s : seen) duplicate = duplicate || s == key;
    if (duplicate) continue;
    seen.push_back(std::move(key));
    dirs.push_back(dir);
  }
  return dirs;
}

std::vector<std::string> findPluginFiles(std::string_view name,
                                         const std::vector<std::string>& dirs) {
  std::vector<std::string> files;
  for (const auto& dir : dirs) {
    const auto candidate = std::filesystem::path(dir) / (std::string(name) + ".so");
    std::error_code ec;
    if (std::filesystem::exists(candidate, ec)) files.push_back(candidate.string());
  }
  return files;
}

void requireUnambiguous(std::string_view name, const std::vector<std::string>& dirs) {
  const auto files = findPluginFiles(name, dirs);
  if (files.size() < 2) return;
  throw PluginError("plugin '" + std::string(name) + "': found in two plugin directories, " +
                    files[0] + " and " + files[1] +
                    "; remove one or drop its directory from --plugin-dir / engine.plugin_dir");
}

}  // namespace commsvc::plugin
