#include "app/pipeline.hpp"

#include <filesystem>

#include "plugin/search_path.hpp"

namespace commsvc::app {
namespace {

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "none loaded" : out;
}

Config validatePluginBlock(const config::PluginBlock& block, PluginKind kind,
                           std::span<const std::string_view> engineKeys,
                           const ValidatedPipeline& pipeline,
                           std::vector<config::Problem>& problems) {
  if (block.type.empty()) return {};  // already reported: the block has no type
  const auto* plugin = pipeline.registry.find(kind, block.type);
  if (plugin == nullptr) {
    problems.push_back({pipeline.config.file, block.line, block.column, block.path + ".type",
                        "no " + std::string(plugin::kindName(kind)) + " plugin named '" +
                            block.type + "' (loaded " + std::string(plugin::kindName(kind)) +
                            " plugins: " + joined(pipeline.registry.names(kind)) +
                            "; add its library to `plugins:`)"});
    return {};
  }
  const std::span<const OptionSpec> options(plugin->info->options, plugin->info->optionCount);
  return config::validateBlock(block.node, options, engineKeys, pipeline.config.file, block.path,
                               problems);
}

}  // namespace

std::vector<std::string> resolvePluginDirs(const config::PipelineConfig& config,
                                           const std::vector<std::string>& extraDirs) {
  // engine.plugin_dir entries are relative to the pipeline file.
  const auto base = std::filesystem::path(config.file).parent_path();
  std::vector<std::string> dirs;
  for (const auto& dir : config.settings.engine.pluginDirs) {
    dirs.push_back(std::filesystem::path(dir).is_absolute() ? dir : (base / dir).string());
  }
  dirs.insert(dirs.end(), extraDirs.begin(), extraDirs.end());
  return plugin::pluginSearchPath(dirs);
}

ValidatedPipeline validatePipeline(const std::string& path,
                                   const std::vector<std::string>& pluginDirs,
                                   const config::EnvLookup& env) {
  ValidatedPipeline pipeline;
  std::vector<config::Problem> problems;
  // Structural problems and plugin-option problems are reported together.
  pipeline.config = config::loadPipeline(path, env, problems);

  const auto dirs = resolvePluginDirs(pipeline.config, pluginDirs);
  for (const auto& name : pipeline.config.plugins) {
    try {
      plugin::requireUnambiguous(name, dirs);
      pipeline.registry.load(name, dirs);
    } catch (const plugin::PluginError& e) {
      problems.push_back({pipeline.config.file, 0, 0, "plugins", e.what()});
    }
  }

  for (const auto& block : pipeline.config.channels) {
    pipeline.channelConfigs.push_back(validatePluginBlock(
        block, PluginKind::Channel, config::kChannelEngineKeys, pipeline, problems));
  }
  for (const auto& block : pipeline.config.publishers) {
    pipeline.publisherConfigs.push_back(validatePluginBlock(
        block, PluginKind::Publisher, config::kPublisherEngineKeys, pipeline, problems));
  }
  for (const auto& entry : pipeline.config.handlers) {
    pipeline.handlerConfigs.push_back(validatePluginBlock(
        entry.block, PluginKind::Handler, config::kHandlerEngineKeys, pipeline, problems));
  }
  if (!problems.empty()) {
    config::sortProblems(problems);
    throw config::ConfigErrors(std::move(problems));
  }
  return pipeline;
}

}  // namespace commsvc::app
