#include "pipeline_test/pipeline_rewrite.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <string_view>

namespace commsvc::pipeline_test {
namespace {

namespace fs = std::filesystem;

// A value the pipeline loader will not expand: "$" becomes "$$".
std::string literal(std::string_view text) {
  std::string out;
  for (const char c : text) {
    out += c;
    if (c == '$') out += '$';
  }
  return out;
}

// A channel or publisher name as part of a file name.
std::string fileSafe(std::string_view name) {
  std::string out;
  for (const char c : name) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_';
    out += keep ? c : '_';
  }
  return out;
}

// librdkafka properties that point a client at a secured cluster; the
// embedded broker speaks plain Kafka only.
bool securityProperty(std::string_view key) {
  return key.starts_with("security.") || key.starts_with("sasl.") || key.starts_with("ssl.") ||
         key == "bootstrap.servers" || key == "metadata.broker.list";
}

// A relative plugin directory made absolute against `base`; values holding
// a ${VARIABLE} are left alone.
std::string absoluteDir(const std::string& dir, const fs::path& base) {
  if (dir.empty() || dir.find('$') != std::string::npos || fs::path(dir).is_absolute()) return dir;
  return literal((base / dir).lexically_normal().string());
}

// Whether the engine's `http:` section has the option `name`.
bool engineHttpOption(std::string_view name) {
  const auto options = config::httpOptions();
  return std::any_of(options.begin(), options.end(),
                     [&](const OptionSpec& o) { return o.name != nullptr && o.name == name; });
}

// A `section:` mapping of `root`, created when absent.
YAML::Node section(YAML::Node& root, const char* name) {
  if (!root[name].IsMap()) root[name] = YAML::Node(YAML::NodeType::Map);
  return root[name];
}

// Replaces each block of `blocks` (channels or publishers) not in `real` with
// a recording mock block; returns name -> file.
std::map<std::string, std::string> replaceBlocks(YAML::Node blocks, const std::string& kind,
                                                 const RewriteOptions& options) {
  std::map<std::string, std::string> files;
  if (!blocks.IsMap()) return files;
  std::vector<std::string> names;
  for (const auto& entry : blocks) names.push_back(entry.first.Scalar());
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::string& name = names[i];
    if (std::find(options.real.begin(), options.real.end(), name) != options.real.end()) continue;
    const std::string file = (fs::path(options.workDir) /
                              (kind + "-" + std::to_string(i) + "-" + fileSafe(name) + ".jsonl"))
                                 .string();
    YAML::Node mock(YAML::NodeType::Map);
    mock["type"] = "mock";
    mock["file"] = literal(file);
    blocks[name] = mock;
    files.emplace(name, file);
  }
  return files;
}

void addPlugin(YAML::Node& root, const std::string& name) {
  YAML::Node plugins = root["plugins"];
  if (!plugins.IsSequence()) return;  // the loader reports it
  for (const auto& p : plugins) {
    if (p.IsScalar() && p.Scalar() == name) return;
  }
  plugins.push_back(name);
}

// "handlers[0]" -> ("handlers", {0}).
std::pair<std::string, std::vector<std::size_t>> splitIndexes(const std::string& part) {
  const auto open = part.find('[');
  std::pair<std::string, std::vector<std::size_t>> out{part.substr(0, open), {}};
  for (auto at = open; at != std::string::npos; at = part.find('[', at + 1)) {
    const auto close = part.find(']', at);
    if (close == std::string::npos) break;
    try {
      out.second.push_back(std::stoul(part.substr(at + 1, close - at - 1)));
    } catch (const std::exception&) {
      break;
    }
  }
  return out;
}

}  // namespace

RewrittenPipeline rewritePipeline(const std::string& path, const RewriteOptions& options) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw std::runtime_error("cannot read the pipeline file " + path);
  } catch (const YAML::Exception& e) {
    throw std::runtime_error(path + ":" + std::to_string(e.mark.line + 1) +
                             ": not valid YAML: " + e.msg);
  }
  if (!root.IsMap()) throw std::runtime_error(path + ": the pipeline file is not a mapping");

  RewrittenPipeline out;
  const fs::path base = fs::path(path).parent_path();

  if (YAML::Node engine = root["engine"]; engine.IsMap() && engine["plugin_dir"].IsDefined()) {
    YAML::Node dirs = engine["plugin_dir"];
    if (dirs.IsScalar()) {
      std::string joined;
      for (const auto& dir : config::splitPluginDirs(dirs.Scalar())) {
        joined += (joined.empty() ? "" : ":") + absoluteDir(dir, base);
      }
      engine["plugin_dir"] = joined;
    } else if (dirs.IsSequence()) {
      YAML::Node absolute(YAML::NodeType::Sequence);
      for (const auto& dir : dirs) {
        absolute.push_back(dir.IsScalar() ? YAML::Node(absoluteDir(dir.Scalar(), base))
                                          : YAML::Node(dir));
      }
      engine["plugin_dir"] = absolute;
    }
  }

  YAML::Node kafka = section(root, "kafka");
  kafka["brokers"] = "embedded";
  kafka["bootstrap_file"] = literal((fs::path(options.workDir) / "kafka-bootstrap").string());
  kafka["embedded_partitions"] = std::to_string(options.partitions);
  for (const char* name : {"properties", "consumer_properties", "producer_properties"}) {
    YAML::Node props = kafka[name];
    if (!props.IsMap()) continue;
    std::vector<std::string> drop;
    for (const auto& entry : props) {
      if (securityProperty(entry.first.Scalar())) drop.push_back(entry.first.Scalar());
    }
    for (const auto& key : drop) props.remove(key);
  }

  YAML::Node http = section(root, "http");
  http["port"] = "0";
  http["address"] = "127.0.0.1";
  // An admin listener (pipeline reload) on its own fixed port would collide
  // between cases and with a service running here: off, where the engine
  // has one.
  if (engineHttpOption("admin_address")) http["admin_address"] = "";

  if (!options.databaseUrl.empty()) {
    section(root, "database")["url"] = literal(options.databaseUrl);
  } else if (!options.keepDatabase && root["database"].IsMap()) {
    root["database"]["url"] = "";
  }

  out.channelFiles = replaceBlocks(root["channels"], "channel", options);
  out.publisherFiles = replaceBlocks(root["publishers"], "publisher", options);
  if (!out.channelFiles.empty()) addPlugin(root, "transport-mock");
  if (!out.publisherFiles.empty()) addPlugin(root, "publisher-mock");

  YAML::Emitter emitter;
  emitter << root;
  out.text = std::string(emitter.c_str()) + "\n";
  return out;
}

config::Problem mapProblem(const config::Problem& problem, const std::string& rewrittenFile,
                           const std::string& originalFile) {
  if (problem.file != rewrittenFile) return problem;
  config::Problem out = problem;
  out.file = originalFile;
  out.line = 0;
  out.column = 0;
  YAML::Node root;
  try {
    root = YAML::LoadFile(originalFile);
  } catch (const YAML::Exception&) {
    return out;
  }
  // Walk the dotted path as far as the original has it. Nodes are rebound
  // with reset(): yaml-cpp's operator= would assign into the tree.
  YAML::Node current;
  current.reset(root);
  std::string rest = problem.path;
  const auto moveTo = [&](const YAML::Node& next) {
    current.reset(next);
    out.line = current.Mark().line + 1;
    out.column = current.Mark().column + 1;
  };
  while (!rest.empty()) {
    const auto dot = rest.find('.');
    const std::string part = rest.substr(0, dot);
    rest = dot == std::string::npos ? "" : rest.substr(dot + 1);
    const auto [key, indexes] = splitIndexes(part);
    if (!current.IsMap()) break;
    const YAML::Node& map = current;
    const YAML::Node next = map[key];
    if (!next.IsDefined()) break;
    moveTo(next);
    bool found = true;
    for (const std::size_t i : indexes) {
      if (!current.IsSequence() || i >= current.size()) {
        found = false;
        break;
      }
      const YAML::Node& list = current;
      moveTo(list[i]);
    }
    if (!found) break;
  }
  return out;
}

}  // namespace commsvc::pipeline_test
