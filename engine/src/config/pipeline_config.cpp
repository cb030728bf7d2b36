// Loading pipelines.yaml: syntax, variables, top-level structure.

#include "config/pipeline_config.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>

#include "commsvc/plugin.hpp"
#include "config/yaml_util.hpp"

namespace commsvc::config {
namespace {

using detail::childPath;
using detail::columnOf;
using detail::describeKind;
using detail::indexPath;
using detail::isAbsent;
using detail::lineOf;
using detail::problemAt;

constexpr std::string_view kTopLevelKeys[] = {"plugins", "engine",   "kafka",      "database",
                                              "http",    "channels", "publishers", "handlers"};

// Expands variables in every scalar value of `node` (never in keys), in
// place so that marks are kept. Nodes shared through YAML aliases are
// expanded once.
class Expander {
 public:
  Expander(const EnvLookup& env, const std::string& file, std::vector<Problem>& problems)
      : env_(env), file_(file), problems_(problems) {}

  void expand(YAML::Node node, const std::string& path) {
    switch (node.Type()) {
      case YAML::NodeType::Scalar:
        expandScalar(node, path);
        break;
      case YAML::NodeType::Sequence:
        for (std::size_t i = 0; i < node.size(); ++i) expand(node[i], indexPath(path, i));
        break;
      case YAML::NodeType::Map:
        for (auto entry : node) {
          const std::string key = entry.first.IsScalar() ? entry.first.Scalar() : "?";
          expand(entry.second, childPath(path, key));
        }
        break;
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        break;
    }
  }

 private:
  void expandScalar(YAML::Node node, const std::string& path) {
    const std::string& text = node.Scalar();
    if (text.find('$') == std::string::npos) return;
    for (const YAML::Node& seen : expanded_) {
      if (seen.is(node)) return;
    }
    std::string error;
    std::string value = expandVariables(text, env_, error);
    if (!error.empty()) {
      problems_.push_back(problemAt(file_, node.Mark(), path, std::move(error)));
      return;
    }
    node = value;  // keeps the node's mark
    expanded_.push_back(node);
  }

  const EnvLookup& env_;
  const std::string& file_;
  std::vector<Problem>& problems_;
  std::vector<YAML::Node> expanded_;
};

// Reads an optional text key of a plugin block; reports a non-text value.
std::string textKey(const YAML::Node& block, std::string_view key, const std::string& file,
                    const std::string& path, std::vector<Problem>& problems) {
  const YAML::Node value = block[std::string(key)];
  if (!value.IsDefined() || value.IsNull()) return "";
  if (!value.IsScalar()) {
    problems.push_back(problemAt(file, value.Mark(), childPath(path, key),
                                 std::string("expected a text value, got ") + describeKind(value)));
    return "";
  }
  return value.Scalar();
}

// Reads a required text key of a plugin block; reports it when missing/empty.
std::string requiredTextKey(const YAML::Node& block, std::string_view key, const std::string& file,
                            const std::string& path, std::vector<Problem>& problems) {
  const std::size_t before = problems.size();
  std::string value = textKey(block, key, file, path, problems);
  if (value.empty() && problems.size() == before) {
    problems.push_back(
        problemAt(file, block.Mark(), path, "missing required key '" + std::string(key) + "'"));
  }
  return value;
}

// Parses `channels:` or `publishers:`: a mapping of name → block with `type`.
std::vector<PluginBlock> parseBlocks(const YAML::Node& section, const std::string& sectionName,
                                     const char* kind, const std::string& file,
                                     std::vector<Problem>& problems) {
  std::vector<PluginBlock> blocks;
  if (isAbsent(section)) return blocks;
  if (!section.IsMap()) {
    problems.push_back(problemAt(file, section.Mark(), sectionName,
                                 std::string("expected a mapping of ") + kind +
                                     " name to block, got " + describeKind(section)));
    return blocks;
  }
  for (const auto& entry : section) {
    if (!entry.first.IsScalar() || entry.first.Scalar().empty()) {
      problems.push_back(problemAt(file, entry.first.Mark(), sectionName,
                                   std::string(kind) + " names must be non-empty text"));
      continue;
    }
    const std::string name = entry.first.Scalar();
    const std::string path = childPath(sectionName, name);
    const bool duplicate = std::any_of(blocks.begin(), blocks.end(),
                                       [&](const PluginBlock& b) { return b.name == name; });
    if (duplicate) {
      problems.push_back(problemAt(file, entry.first.Mark(), sectionName,
                                   std::string(kind) + " '" + name + "' is declared twice"));
      continue;
    }
    const YAML::Node& block = entry.second;
    if (!block.IsMap()) {
      problems.push_back(
          problemAt(file, isAbsent(block) ? entry.first.Mark() : block.Mark(), path,
                    std::string("expected a mapping with a 'type', got ") + describeKind(block)));
      continue;
    }
    PluginBlock parsed;
    parsed.name = name;
    parsed.path = path;
    parsed.type = requiredTextKey(block, "type", file, path, problems);
    parsed.line = lineOf(block.Mark());
    parsed.column = columnOf(block.Mark());
    parsed.node = block;
    blocks.push_back(std::move(parsed));
  }
  return blocks;
}

std::string declaredNames(const std::vector<PluginBlock>& blocks, const char* kinds) {
  if (blocks.empty()) return std::string("no ") + kinds + " are declared";
  std::string out = std::string("declared ") + kinds + ": ";
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    if (i > 0) out += ", ";
    out += blocks[i].name;
  }
  return out;
}

// Checks that a handler's channel/publisher reference names a declared block.
void checkReference(const HandlerEntry& handler, const std::string& name, const char* key,
                    const char* kind, const char* kinds, const std::vector<PluginBlock>& declared,
                    const std::string& file, std::vector<Problem>& problems) {
  if (name.empty()) return;
  const bool found = std::any_of(declared.begin(), declared.end(),
                                 [&](const PluginBlock& b) { return b.name == name; });
  if (found) return;
  const YAML::Node value = handler.block.node[key];
  problems.push_back(problemAt(file, value.Mark(), childPath(handler.block.path, key),
                               std::string(kind) + " '" + name + "' is not declared (" +
                                   declaredNames(declared, kinds) + ")"));
}

std::vector<HandlerEntry> parseHandlers(const YAML::Node& section, const std::string& file,
                                        std::vector<Problem>& problems) {
  std::vector<HandlerEntry> handlers;
  if (isAbsent(section)) return handlers;
  if (!section.IsSequence()) {
    problems.push_back(
        problemAt(file, section.Mark(), "handlers",
                  std::string("expected a list of handler blocks, got ") + describeKind(section)));
    return handlers;
  }
  for (std::size_t i = 0; i < section.size(); ++i) {
    const YAML::Node block = section[i];
    const std::string path = indexPath("handlers", i);
    if (!block.IsMap()) {
      problems.push_back(problemAt(
          file, block.Mark(), path,
          std::string("expected a mapping with 'event' and 'type', got ") + describeKind(block)));
      continue;
    }
    HandlerEntry handler;
    handler.block.name = path;
    handler.block.path = path;
    handler.block.line = lineOf(block.Mark());
    handler.block.column = columnOf(block.Mark());
    handler.block.node = block;
    handler.event = requiredTextKey(block, "event", file, path, problems);
    handler.block.type = requiredTextKey(block, "type", file, path, problems);
    handler.channel = textKey(block, "channel", file, path, problems);
    handler.publisher = textKey(block, "publisher", file, path, problems);
    handlers.push_back(std::move(handler));
  }
  return handlers;
}

// Checks the `plugins:` list: a sequence of distinct non-empty names.
std::vector<std::string> parsePlugins(const YAML::Node& section, const std::string& file,
                                      std::vector<Problem>& problems) {
  std::vector<std::string> plugins;
  if (!section.IsSequence()) {
    problems.push_back(
        problemAt(file, section.Mark(), "plugins",
                  std::string("expected a list of plugin names, got ") + describeKind(section)));
    return plugins;
  }
  for (std::size_t i = 0; i < section.size(); ++i) {
    const YAML::Node item = section[i];
    if (!item.IsScalar() || item.Scalar().empty()) {
      problems.push_back(problemAt(file, item.Mark(), indexPath("plugins", i),
                                   std::string("expected a plugin name, got ") +
                                       (item.IsScalar() ? "an empty text" : describeKind(item))));
      continue;
    }
    if (!isPlainPluginName(item.Scalar())) {
      problems.push_back(problemAt(file, item.Mark(), indexPath("plugins", i),
                                   "'" + item.Scalar() +
                                       "' is not a plugin name: use the plain name (letters, "
                                       "digits, '-', '_'), e.g. transport-smtp; plugins load only "
                                       "from the plugin directories"));
      continue;
    }
    if (std::find(plugins.begin(), plugins.end(), item.Scalar()) != plugins.end()) {
      problems.push_back(problemAt(file, item.Mark(), indexPath("plugins", i),
                                   "plugin '" + item.Scalar() + "' is listed twice"));
      continue;
    }
    plugins.push_back(item.Scalar());
  }
  return plugins;
}

// engine.plugin_dir may be one colon-separated string ("a:b"): rewritten in
// place as the list it means, so the option is a StringList either way.
void splitPluginDirString(YAML::Node engine) {
  if (!engine.IsMap()) return;
  const YAML::Node& readOnly = engine;
  const YAML::Node value = readOnly["plugin_dir"];
  if (!value.IsDefined() || !value.IsScalar()) return;
  YAML::Node list(YAML::NodeType::Sequence);
  for (const auto& dir : splitPluginDirs(value.Scalar())) list.push_back(dir);
  engine["plugin_dir"] = list;
}

}  // namespace

std::vector<std::string> splitPluginDirs(std::string_view list) {
  std::vector<std::string> dirs;
  while (!list.empty()) {
    const auto colon = list.find(':');
    const auto part = list.substr(0, colon);
    if (!part.empty()) dirs.emplace_back(part);
    if (colon == std::string_view::npos) break;
    list.remove_prefix(colon + 1);
  }
  return dirs;
}

void sortProblems(std::vector<Problem>& problems) {
  std::stable_sort(problems.begin(), problems.end(), [](const Problem& a, const Problem& b) {
    return std::tie(a.line, a.column) < std::tie(b.line, b.column);
  });
}

PipelineConfig parsePipeline(const std::string& text, const std::string& file,
                             const EnvLookup& env) {
  std::vector<Problem> problems;
  PipelineConfig config = parsePipeline(text, file, env, problems);
  if (!problems.empty()) {
    sortProblems(problems);
    throw ConfigErrors(std::move(problems));
  }
  return config;
}

PipelineConfig parsePipeline(const std::string& text, const std::string& file, const EnvLookup& env,
                             std::vector<Problem>& problems) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw ConfigErrors({problemAt(file, e.mark, "", "invalid YAML: " + e.msg)});
  } catch (const YAML::Exception& e) {
    throw ConfigErrors({problemAt(file, e.mark, "", "invalid YAML: " + e.msg)});
  }

  PipelineConfig config;
  config.file = file;

  if (!isAbsent(root) && !root.IsMap()) {
    throw ConfigErrors(
        {problemAt(file, root.Mark(), "",
                   std::string("expected a mapping at the top level, got ") + describeKind(root))});
  }

  Expander(env, file, problems).expand(root, "");

  // Top-level keys.
  std::map<std::string, YAML::Node, std::less<>> sections;
  if (root.IsMap()) {
    for (const auto& entry : root) {
      if (!entry.first.IsScalar()) {
        problems.push_back(problemAt(file, entry.first.Mark(), "", "keys must be plain text"));
        continue;
      }
      const std::string key = entry.first.Scalar();
      if (std::find(std::begin(kTopLevelKeys), std::end(kTopLevelKeys), key) ==
          std::end(kTopLevelKeys)) {
        problems.push_back(
            problemAt(file, entry.first.Mark(), "", detail::unknownKeyMessage(key, kTopLevelKeys)));
        continue;
      }
      if (!sections.emplace(key, entry.second).second) {
        problems.push_back(problemAt(file, entry.first.Mark(), "", "duplicate key '" + key + "'"));
      }
    }
  }
  const auto section = [&](std::string_view key) {
    const auto it = sections.find(key);
    return it == sections.end() ? YAML::Node(YAML::NodeType::Undefined) : it->second;
  };
  const YAML::Mark rootMark = root.IsDefined() ? root.Mark() : YAML::Mark::null_mark();

  if (const YAML::Node plugins = section("plugins"); plugins.IsDefined()) {
    config.plugins = parsePlugins(plugins, file, problems);
  } else {
    problems.push_back(
        problemAt(file, rootMark, "", "missing required key 'plugins' (the plugins to load)"));
  }

  // Each engine section is validated against its declarations, then the
  // values (defaults for what is not written or was refused) fill its
  // typed settings.
  const auto readSection = [&](const YAML::Node& node, std::span<const OptionSpec> options,
                               const std::string& path, auto& settings) {
    validateBlock(node, options, {}, file, path, problems).fill(&settings, options);
  };

  const std::size_t beforeEngine = problems.size();
  splitPluginDirString(section("engine"));
  readSection(section("engine"), engineOptions(), "engine", config.settings.engine);
  const EngineSettings& engine = config.settings.engine;
  if (problems.size() == beforeEngine && engine.retryBackoffMax < engine.retryBackoff) {
    const YAML::Node node = section("engine");
    const YAML::Node value = node.IsMap() ? node["retry_backoff_max_ms"] : YAML::Node();
    problems.push_back(problemAt(
        file, value.IsDefined() ? value.Mark() : node.Mark(), "engine.retry_backoff_max_ms",
        "retry_backoff_max_ms (" + std::to_string(engine.retryBackoffMax.count()) +
            ") is less than retry_backoff_ms (" + std::to_string(engine.retryBackoff.count()) +
            ")"));
  }

  if (const YAML::Node kafka = section("kafka"); kafka.IsDefined()) {
    readSection(kafka, kafkaOptions(), "kafka", config.settings.kafka);
  } else {
    problems.push_back(
        problemAt(file, rootMark, "", "missing required key 'kafka' (at least 'brokers')"));
  }
  readSection(section("database"), databaseOptions(), "database", config.settings.database);
  readSection(section("http"), httpOptions(), "http", config.settings.http);

  config.channels = parseBlocks(section("channels"), "channels", "channel", file, problems);
  config.publishers = parseBlocks(section("publishers"), "publishers", "publisher", file, problems);
  config.handlers = parseHandlers(section("handlers"), file, problems);

  std::map<std::string, std::string> eventOwners;  // event type → handler path
  for (const HandlerEntry& handler : config.handlers) {
    checkReference(handler, handler.channel, "channel", "channel", "channels", config.channels,
                   file, problems);
    checkReference(handler, handler.publisher, "publisher", "publisher", "publishers",
                   config.publishers, file, problems);
    if (handler.event.empty()) continue;
    const auto [it, inserted] = eventOwners.emplace(handler.event, handler.block.path);
    if (!inserted) {
      problems.push_back(problemAt(
          file, handler.block.node["event"].Mark(), childPath(handler.block.path, "event"),
          "event '" + handler.event + "' is already handled by " + it->second));
    }
  }

  return config;
}

PipelineConfig loadPipeline(const std::string& path, const EnvLookup& env) {
  std::vector<Problem> problems;
  PipelineConfig config = loadPipeline(path, env, problems);
  if (!problems.empty()) {
    sortProblems(problems);
    throw ConfigErrors(std::move(problems));
  }
  return config;
}

PipelineConfig loadPipeline(const std::string& path, const EnvLookup& env,
                            std::vector<Problem>& problems) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error("cannot read pipelines file '" + path + "': " + std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    throw std::runtime_error("cannot read pipelines file '" + path + "': " + std::strerror(errno));
  }
  return parsePipeline(text.str(), path, env, problems);
}

}  // namespace commsvc::config
