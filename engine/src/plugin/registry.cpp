#include "plugin/registry.hpp"

#include <algorithm>
#include <boost/dll/shared_library.hpp>
#include <filesystem>

namespace commsvc::plugin {

std::string_view kindName(PluginKind kind) {
  switch (kind) {
    case PluginKind::Handler:
      return "handler";
    case PluginKind::Channel:
      return "channel";
    case PluginKind::Publisher:
      return "publisher";
  }
  return "unknown";
}

namespace {

std::string_view stdlibName(std::uint32_t stdlib) {
  switch (stdlib) {
    case 1:
      return "libstdc++";
    case 2:
      return "libc++";
    default:
      return "another C++ standard library";
  }
}

}  // namespace

std::string buildAbiMismatch(const BuildAbi& plugin, const BuildAbi& engine) {
  std::string out;
  const auto add = [&out](const std::string& what, const std::string& theirs,
                          const std::string& ours) {
    out +=
        (out.empty() ? "" : "; ") + ("built with " + what + theirs) + ", this engine has " + ours;
  };
  if (plugin.stdlib != engine.stdlib) {
    add("", std::string(stdlibName(plugin.stdlib)), std::string(stdlibName(engine.stdlib)));
  } else if (plugin.stdlibCxx11Abi != engine.stdlibCxx11Abi) {
    add("_GLIBCXX_USE_CXX11_ABI=", std::to_string(plugin.stdlibCxx11Abi),
        "_GLIBCXX_USE_CXX11_ABI=" + std::to_string(engine.stdlibCxx11Abi));
  }
  if (plugin.cxxAbiVersion / 1000 != engine.cxxAbiVersion / 1000) {
    add("C++ ABI (__GXX_ABI_VERSION) ", std::to_string(plugin.cxxAbiVersion),
        std::to_string(engine.cxxAbiVersion));
  }
  if (plugin.pqxxMajor != 0 && plugin.pqxxMajor != engine.pqxxMajor) {
    add("libpqxx ", std::to_string(plugin.pqxxMajor),
        engine.pqxxMajor == 0 ? std::string("no libpqxx") : std::to_string(engine.pqxxMajor));
  }
  return out;
}

const LoadedPlugin& PluginRegistry::load(const std::string& name,
                                         const std::vector<std::string>& dirs) {
  if (!isPlainPluginName(name)) {
    throw PluginError("plugin '" + name +
                      "': not a plain plugin name (letters, digits, '-', '_'); plugins load "
                      "only from the plugin directories");
  }
  for (const auto& dir : dirs) {
    const auto candidate = std::filesystem::path(dir) / (name + ".so");
    if (std::filesystem::exists(candidate)) return loadFile(candidate.string());
  }
  std::string searched;
  for (const auto& dir : dirs) searched += (searched.empty() ? "" : ", ") + dir;
  throw PluginError("plugin '" + name + "': no file " + name + ".so in " +
                    (searched.empty() ? std::string("(no plugin directory)") : searched));
}

const LoadedPlugin& PluginRegistry::loadFile(const std::string& path) {
  auto library = std::make_shared<boost::dll::shared_library>();
  boost::system::error_code ec;
  library->load(path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, ec);
  if (ec) throw PluginError(path + ": cannot load: " + ec.message());
  if (!library->has(kPluginSymbol)) {
    throw PluginError(path + ": not a commsvc plugin: it exports no '" +
                      std::string(kPluginSymbol) + "' descriptor");
  }
  const auto& info = library->get<const PluginInfo>(kPluginSymbol);
  if (info.abiVersion != kAbiVersion) {
    throw PluginError(path + ": built for plugin ABI version " + std::to_string(info.abiVersion) +
                      ", but this engine has ABI version " + std::to_string(kAbiVersion) +
                      "; rebuild the plugin against this engine's SDK");
  }
  if (const auto why = buildAbiMismatch(info.build, kBuildAbi); !why.empty()) {
    throw PluginError(path + ": " + why +
                      "; rebuild the plugin with this engine's compiler, standard library and "
                      "libraries");
  }
  if (info.name == nullptr || *info.name == '\0') {
    throw PluginError(path + ": descriptor has no name");
  }
  const bool factoryOk = (info.kind == PluginKind::Handler && info.createHandler) ||
                         (info.kind == PluginKind::Channel && info.createChannel) ||
                         (info.kind == PluginKind::Publisher && info.createPublisher);
  if (kindName(info.kind) == "unknown") {
    throw PluginError(path + ": descriptor has an unknown kind " +
                      std::to_string(static_cast<std::uint32_t>(info.kind)));
  }
  if (!factoryOk) {
    throw PluginError(path + ": " + std::string(kindName(info.kind)) + " plugin '" + info.name +
                      "' has no " + std::string(kindName(info.kind)) + " factory");
  }
  if (info.optionCount > 0 && info.options == nullptr) {
    throw PluginError(path + ": descriptor declares options but gives none");
  }
  if (const auto problems =
          optionDeclarationProblems(std::span<const OptionSpec>(info.options, info.optionCount));
      !problems.empty()) {
    std::string list;
    for (const auto& p : problems) list += (list.empty() ? "" : "; ") + p;
    throw PluginError(path + ": " + std::string(kindName(info.kind)) + " plugin '" + info.name +
                      "' declares its options wrongly: " + list);
  }
  if (const auto* existing = find(info.kind, info.name)) {
    throw PluginError(path + ": duplicate " + std::string(kindName(info.kind)) + " plugin name '" +
                      info.name + "', already loaded from " + existing->file);
  }
  plugins_.push_back(LoadedPlugin{path, &info, std::move(library)});
  return plugins_.back();
}

const LoadedPlugin* PluginRegistry::find(PluginKind kind, std::string_view name) const {
  for (const auto& p : plugins_) {
    if (p.info->kind == kind && name == p.info->name) return &p;
  }
  return nullptr;
}

std::vector<std::string> PluginRegistry::names(PluginKind kind) const {
  std::vector<std::string> out;
  for (const auto& p : plugins_) {
    if (p.info->kind == kind) out.emplace_back(p.info->name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace commsvc::plugin
