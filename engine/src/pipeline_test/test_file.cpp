#include "pipeline_test/test_file.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>

#include "config/yaml_util.hpp"

namespace commsvc::pipeline_test {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

using Keys = std::vector<std::string_view>;

const Keys kTopKeys = {"pipeline", "database",   "env",        "pass_env",
                       "real",     "partitions", "timeout_ms", "cases"};
const Keys kCaseKeys = {"name",       "database",   "env",      "pass_env", "real",
                        "partitions", "timeout_ms", "fixtures", "inputs",   "expect"};
const Keys kInputKeys = {"type", "key", "payload", "envelope", "raw", "headers", "topic"};
const Keys kExpectKeys = {"messages", "events", "dead_letters", "logs", "queries"};
const Keys kQueryKeys = {"sql", "rows"};

// The keys of one kind of expected item: fields compared whole, fields that
// also take `<field>_contains`, and fields holding a mapping.
struct ItemKeys {
  Keys exact;
  Keys containable;  // `<name>` and `<name>_contains`
  Keys maps;         // string maps (headers, fields) and, for `payload`, JSON subsets
};

const ItemKeys kMessageKeys = {
    {"channel", "id"}, {"from", "from_name", "to", "to_name", "subject", "text", "html"}, {}};
const ItemKeys kEventKeys = {{"publisher", "type", "key", "producer"}, {}, {"payload"}};
const ItemKeys kDeadLetterKeys = {{"reason", "key", "topic"}, {"detail", "value"}, {"headers"}};
const ItemKeys kLogKeys = {{"level", "logger"}, {"message"}, {"fields"}};

std::string joinKeys(const Keys& keys) {
  std::string out;
  for (const auto& k : keys) out += (out.empty() ? "" : ", ") + std::string(k);
  return out;
}

std::vector<std::string> itemKeyNames(const ItemKeys& keys) {
  std::vector<std::string> out;
  for (const auto& k : keys.exact) out.emplace_back(k);
  for (const auto& k : keys.containable) {
    out.emplace_back(k);
    out.push_back(std::string(k) + "_contains");
  }
  for (const auto& k : keys.maps) out.emplace_back(k);
  return out;
}

bool contains(const Keys& keys, std::string_view key) {
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

// The config loader's helpers, under the names this parser uses.
using config::detail::columnOf;
using config::detail::lineOf;
constexpr auto* child = &config::detail::childPath;
constexpr auto* indexed = &config::detail::indexPath;
constexpr auto* kindOf = &config::detail::describeKind;
constexpr auto* absent = &config::detail::isAbsent;

// A plain (unquoted) scalar as JSON: null, true/false, an integer or a
// number when it reads as one; quoted scalars are always text.
template <class Json = json>
Json scalarJson(const YAML::Node& node) {
  if (node.IsNull()) return nullptr;
  const std::string& text = node.Scalar();
  if (node.Tag() != "?") return text;  // quoted or a block scalar
  if (text == "null" || text == "Null" || text == "NULL" || text == "~") return nullptr;
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  std::int64_t integer = 0;
  const char* end = text.data() + text.size();
  if (!text.empty()) {
    const char* begin = text.data() + (text.front() == '+' ? 1 : 0);
    const auto [ptr, ec] = std::from_chars(begin, end, integer);
    if (ec == std::errc() && ptr == end) return integer;
  }
  if (!text.empty() && text.find_first_of("0123456789") != std::string::npos &&
      text.find_first_not_of("0123456789+-.eE") == std::string::npos) {
    char* stop = nullptr;
    const double number = std::strtod(text.c_str(), &stop);
    if (stop == text.c_str() + text.size() && std::isfinite(number)) return number;
  }
  return text;
}

// `node` as JSON (scalars as scalarJson); with nlohmann::ordered_json the
// keys keep the order written.
template <class Json = json>
Json toJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      Json out = Json::object();
      for (const auto& entry : node) out[entry.first.Scalar()] = toJson<Json>(entry.second);
      return out;
    }
    case YAML::NodeType::Sequence: {
      Json out = Json::array();
      for (const auto& item : node) out.push_back(toJson<Json>(item));
      return out;
    }
    case YAML::NodeType::Scalar:
      return scalarJson<Json>(node);
    default:
      return nullptr;
  }
}

// Subset checks for an expected mapping, in the order written: one Equals
// per leaf (lists and scalars compared whole); nested mappings recurse.
void flatten(const YAML::Node& expected, std::vector<std::string>& path,
             std::vector<FieldCheck>& out) {
  for (const auto& entry : expected) {
    path.push_back(entry.first.Scalar());
    if (entry.second.IsMap() && entry.second.size() > 0) {
      flatten(entry.second, path, out);
    } else {
      out.push_back({path, CheckKind::Equals, toJson(entry.second)});
    }
    path.pop_back();
  }
}

// Common defaults of a file, overridden per case.
struct Defaults {
  std::map<std::string, std::string> env;
  std::vector<std::string> passEnv;
  DatabaseMode database = DatabaseMode::None;
  std::map<std::string, int> real;
  int partitions = 1;
  std::chrono::milliseconds timeout{15000};
};

class Parser {
 public:
  Parser(std::string file, std::vector<config::Problem>& problems)
      : file_(std::move(file)), problems_(problems) {}

  TestFile parse(const std::string& text) {
    TestFile out;
    out.path = file_;
    YAML::Node root;
    try {
      root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      problem(e.mark, "", "not valid YAML: " + e.msg);
      return out;
    }
    if (!root.IsMap()) {
      problem(root.Mark(), "",
              std::string("a test file is a mapping (keys: ") + joinKeys(kTopKeys) + "), not " +
                  kindOf(root));
      return out;
    }
    checkKeys(root, kTopKeys, "");
    const YAML::Node pipeline = root["pipeline"];
    if (absent(pipeline)) {
      problem(root.Mark(), "pipeline", "missing: the pipeline file to test, relative to this file");
    } else if (auto text = scalar(pipeline, "pipeline")) {
      const fs::path base = fs::path(file_).parent_path();
      out.pipeline =
          fs::path(*text).is_absolute() ? *text : (base / *text).lexically_normal().string();
      out.pipelineLine = lineOf(pipeline.Mark());
    }
    Defaults defaults;
    readCommon(root, "", defaults);

    const YAML::Node cases = root["cases"];
    if (absent(cases)) {
      problem(root.Mark(), "cases", "missing: a list of test cases");
    } else if (!cases.IsSequence() || cases.size() == 0) {
      problem(cases.Mark(), "cases",
              std::string("must be a non-empty list of test cases, not ") + kindOf(cases));
    } else {
      std::map<std::string, int> names;
      for (std::size_t i = 0; i < cases.size(); ++i) {
        TestCase c = parseCase(cases[i], indexed("cases", i), defaults);
        if (!c.name.empty()) {
          const auto [it, fresh] = names.emplace(c.name, c.line);
          if (!fresh) {
            problem(cases[i].Mark(), indexed("cases", i) + ".name",
                    "case name '" + c.name + "' is used twice (first at line " +
                        std::to_string(it->second) + ")");
          }
        }
        out.cases.push_back(std::move(c));
      }
    }
    return out;
  }

 private:
  void problem(const YAML::Mark& mark, const std::string& path, std::string message) {
    problems_.push_back({file_, lineOf(mark), columnOf(mark), path, std::move(message)});
  }

  // Unknown and duplicate keys of a mapping. At the top level, keys
  // starting with "x-" are free (a place for YAML anchors).
  void checkKeys(const YAML::Node& map, const std::vector<std::string>& valid,
                 const std::string& path) {
    std::vector<std::string> seen;
    std::string list;
    for (const auto& k : valid) list += (list.empty() ? "" : ", ") + k;
    for (const auto& entry : map) {
      const std::string key = entry.first.IsScalar() ? entry.first.Scalar() : "";
      if (path.empty() && key.starts_with("x-")) continue;
      if (std::find(valid.begin(), valid.end(), key) == valid.end()) {
        problem(entry.first.Mark(), child(path, key),
                "unknown key '" + key + "' (valid keys: " + list +
                    (path.empty() ? "; keys starting with x- are ignored" : "") + ")");
      } else if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
        problem(entry.first.Mark(), child(path, key), "key '" + key + "' is given twice");
      }
      seen.push_back(key);
    }
  }

  void checkKeys(const YAML::Node& map, const Keys& valid, const std::string& path) {
    std::vector<std::string> names;
    for (const auto& k : valid) names.emplace_back(k);
    checkKeys(map, names, path);
  }

  std::optional<std::string> scalar(const YAML::Node& node, const std::string& path) {
    if (node.IsScalar()) return node.Scalar();
    problem(node.Mark(), path, std::string("must be a text value, not ") + kindOf(node));
    return std::nullopt;
  }

  std::optional<int> integer(const YAML::Node& node, const std::string& path, int min, int max) {
    const auto text = scalar(node, path);
    if (!text) return std::nullopt;
    int value = 0;
    const auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
    if (ec != std::errc() || ptr != text->data() + text->size() || value < min || value > max) {
      problem(node.Mark(), path,
              "must be an integer from " + std::to_string(min) + " to " + std::to_string(max) +
                  ", not '" + *text + "'");
      return std::nullopt;
    }
    return value;
  }

  // A list of text values (a single text value counts as a list of one).
  std::vector<std::pair<std::string, int>> textList(const YAML::Node& node,
                                                    const std::string& path) {
    std::vector<std::pair<std::string, int>> out;
    if (absent(node)) return out;
    if (node.IsScalar()) {
      out.emplace_back(node.Scalar(), lineOf(node.Mark()));
      return out;
    }
    if (!node.IsSequence()) {
      problem(node.Mark(), path, std::string("must be a list of text values, not ") + kindOf(node));
      return out;
    }
    for (std::size_t i = 0; i < node.size(); ++i) {
      if (auto text = scalar(node[i], indexed(path, i))) {
        out.emplace_back(*text, lineOf(node[i].Mark()));
      }
    }
    return out;
  }

  // A mapping of text values.
  std::map<std::string, std::string> textMap(const YAML::Node& node, const std::string& path) {
    std::map<std::string, std::string> out;
    if (absent(node)) return out;
    if (!node.IsMap()) {
      problem(node.Mark(), path, std::string("must be a mapping, not ") + kindOf(node));
      return out;
    }
    for (const auto& entry : node) {
      const std::string key = entry.first.Scalar();
      if (entry.second.IsNull()) {
        out[key] = "";
      } else if (auto text = scalar(entry.second, child(path, key))) {
        out[key] = *text;
      }
    }
    return out;
  }

  // The keys a file and a case share: env, pass_env, database, real,
  // partitions, timeout_ms.
  void readCommon(const YAML::Node& map, const std::string& path, Defaults& d) {
    for (const auto& [key, value] : textMap(map["env"], child(path, "env"))) d.env[key] = value;
    for (const auto& [name, line] : textList(map["pass_env"], child(path, "pass_env"))) {
      d.passEnv.push_back(name);
    }
    if (const YAML::Node db = map["database"]; !absent(db)) {
      if (auto text = scalar(db, child(path, "database"))) {
        if (*text == "none") {
          d.database = DatabaseMode::None;
        } else if (*text == "postgres") {
          d.database = DatabaseMode::Postgres;
        } else if (*text == "pipeline") {
          d.database = DatabaseMode::Pipeline;
        } else {
          problem(db.Mark(), child(path, "database"),
                  "unknown value '" + *text + "' (valid: none, postgres, pipeline)");
        }
      }
    }
    if (const YAML::Node real = map["real"]; real.IsDefined()) {
      d.real.clear();
      for (const auto& [name, line] : textList(real, child(path, "real"))) d.real[name] = line;
    }
    if (const YAML::Node p = map["partitions"]; !absent(p)) {
      if (auto v = integer(p, child(path, "partitions"), 1, 64)) d.partitions = *v;
    }
    if (const YAML::Node t = map["timeout_ms"]; !absent(t)) {
      if (auto v = integer(t, child(path, "timeout_ms"), 100, 3600000)) {
        d.timeout = std::chrono::milliseconds(*v);
      }
    }
  }

  TestCase parseCase(const YAML::Node& node, const std::string& path, const Defaults& defaults) {
    TestCase c;
    c.line = lineOf(node.Mark());
    if (!node.IsMap()) {
      problem(node.Mark(), path,
              std::string("a case is a mapping (keys: ") + joinKeys(kCaseKeys) + "), not " +
                  kindOf(node));
      return c;
    }
    checkKeys(node, kCaseKeys, path);
    if (const YAML::Node name = node["name"]; absent(name)) {
      problem(node.Mark(), child(path, "name"), "missing: every case needs a name");
    } else if (auto text = scalar(name, child(path, "name"))) {
      c.name = *text;
      if (c.name.empty()) problem(name.Mark(), child(path, "name"), "must not be empty");
    }
    Defaults d = defaults;
    readCommon(node, path, d);
    c.env = d.env;
    c.passEnv = d.passEnv;
    c.database = d.database;
    c.real = d.real;
    c.partitions = d.partitions;
    c.timeout = d.timeout;

    const YAML::Node fixtures = node["fixtures"];
    for (const auto& [sql, line] : textList(fixtures, child(path, "fixtures"))) {
      c.fixtures.push_back(sql);
      c.fixtureLines.push_back(line);
    }
    if (!c.fixtures.empty() && c.database == DatabaseMode::None) {
      problem(fixtures.Mark(), child(path, "fixtures"),
              "fixtures need a database: add `database: postgres` (a throw-away server) or "
              "`database: pipeline`");
    }

    if (const YAML::Node inputs = node["inputs"]; !absent(inputs)) {
      if (!inputs.IsSequence()) {
        problem(inputs.Mark(), child(path, "inputs"),
                std::string("must be a list of records, not ") + kindOf(inputs));
      } else {
        for (std::size_t i = 0; i < inputs.size(); ++i) {
          c.inputs.push_back(parseInput(inputs[i], indexed(child(path, "inputs"), i)));
        }
      }
    }

    const YAML::Node expect = node["expect"];
    if (absent(expect)) {
      problem(node.Mark(), child(path, "expect"),
              "missing: what the case expects (keys: " + joinKeys(kExpectKeys) + ")");
    } else if (!expect.IsMap()) {
      problem(expect.Mark(), child(path, "expect"),
              std::string("must be a mapping (keys: ") + joinKeys(kExpectKeys) + "), not " +
                  kindOf(expect));
    } else {
      parseExpect(expect, child(path, "expect"), c);
    }
    return c;
  }

  InputRecord parseInput(const YAML::Node& node, const std::string& path) {
    InputRecord in;
    in.line = lineOf(node.Mark());
    if (!node.IsMap()) {
      problem(node.Mark(), path,
              std::string("a record is a mapping (keys: ") + joinKeys(kInputKeys) + "), not " +
                  kindOf(node));
      return in;
    }
    checkKeys(node, kInputKeys, path);
    const int kinds = (node["type"].IsDefined() ? 1 : 0) + (node["envelope"].IsDefined() ? 1 : 0) +
                      (node["raw"].IsDefined() ? 1 : 0);
    if (kinds != 1) {
      problem(node.Mark(), path,
              "a record needs exactly one of `type` (an envelope built from type and payload), "
              "`envelope` (a JSON object sent as written) or `raw` (the exact bytes)");
    }
    if (const YAML::Node key = node["key"]; !absent(key)) {
      if (auto text = scalar(key, child(path, "key"))) in.key = *text;
    }
    if (const YAML::Node topic = node["topic"]; !absent(topic)) {
      if (auto text = scalar(topic, child(path, "topic"))) in.topic = *text;
    }
    for (const auto& [name, value] : textMap(node["headers"], child(path, "headers"))) {
      in.headers.emplace_back(name, value);
    }
    if (const YAML::Node type = node["type"]; type.IsDefined()) {
      if (auto text = scalar(type, child(path, "type"))) in.type = *text;
      if (in.type.empty()) problem(type.Mark(), child(path, "type"), "must not be empty");
    }
    if (const YAML::Node payload = node["payload"]; payload.IsDefined()) {
      if (!node["type"].IsDefined()) {
        problem(payload.Mark(), child(path, "payload"),
                "`payload` goes with `type` (put it inside `envelope` or `raw` otherwise)");
      } else if (!payload.IsNull() && !payload.IsMap()) {
        problem(payload.Mark(), child(path, "payload"),
                std::string("must be a mapping (the payload object), not ") + kindOf(payload) +
                    "; a malformed record is written with `raw`");
      } else {
        in.payload = toJson<nlohmann::ordered_json>(payload).dump();
        if (payload.IsNull()) in.payload = "{}";
      }
    }
    if (const YAML::Node envelope = node["envelope"]; envelope.IsDefined()) {
      if (!envelope.IsMap()) {
        problem(envelope.Mark(), child(path, "envelope"),
                std::string("must be a mapping (the JSON object sent), not ") + kindOf(envelope));
      } else {
        in.value = toJson<nlohmann::ordered_json>(envelope).dump();
      }
    }
    if (const YAML::Node raw = node["raw"]; raw.IsDefined()) {
      if (raw.IsNull()) {
        in.value = "";
      } else if (auto text = scalar(raw, child(path, "raw"))) {
        in.value = *text;
      }
    }
    return in;
  }

  void parseExpect(const YAML::Node& node, const std::string& path, TestCase& c) {
    checkKeys(node, kExpectKeys, path);
    if (node.size() == 0) {
      problem(node.Mark(), path, "names nothing to check (keys: " + joinKeys(kExpectKeys) + ")");
    }
    c.expect.messages = parseKind(node["messages"], child(path, "messages"), kMessageKeys);
    c.expect.events = parseKind(node["events"], child(path, "events"), kEventKeys);
    c.expect.deadLetters =
        parseKind(node["dead_letters"], child(path, "dead_letters"), kDeadLetterKeys);
    c.expect.logs = parseKind(node["logs"], child(path, "logs"), kLogKeys);
    if (const YAML::Node queries = node["queries"]; queries.IsDefined()) {
      const std::string qpath = child(path, "queries");
      if (c.database == DatabaseMode::None) {
        problem(queries.Mark(), qpath,
                "queries need a database: add `database: postgres` (a throw-away server) or "
                "`database: pipeline`");
      }
      if (!absent(queries) && !queries.IsSequence()) {
        problem(queries.Mark(), qpath, std::string("must be a list, not ") + kindOf(queries));
      } else if (!absent(queries)) {
        for (std::size_t i = 0; i < queries.size(); ++i) {
          c.expect.queries.push_back(parseQuery(queries[i], indexed(qpath, i)));
        }
      }
    }
  }

  KindExpectation parseKind(const YAML::Node& node, const std::string& path, const ItemKeys& keys) {
    KindExpectation out;
    if (!node.IsDefined()) return out;
    out.given = true;
    if (node.IsNull()) return out;
    if (!node.IsSequence()) {
      problem(node.Mark(), path,
              std::string("must be a list (`[]` for none), not ") + kindOf(node));
      return out;
    }
    const std::vector<std::string> valid = itemKeyNames(keys);
    for (std::size_t i = 0; i < node.size(); ++i) {
      const YAML::Node item = node[i];
      const std::string ipath = indexed(path, i);
      ItemExpectation e;
      e.line = lineOf(item.Mark());
      e.column = columnOf(item.Mark());
      if (!item.IsMap() || item.size() == 0) {
        std::string list;
        for (const auto& k : valid) list += (list.empty() ? "" : ", ") + k;
        problem(item.Mark(), ipath,
                std::string("an expected item is a non-empty mapping (keys: ") + list + "), not " +
                    (item.IsMap() ? "an empty one" : kindOf(item)));
        continue;
      }
      checkKeys(item, valid, ipath);
      for (const auto& entry : item) {
        const std::string key = entry.first.Scalar();
        const std::string kpath = child(ipath, key);
        if (contains(keys.exact, key) || contains(keys.containable, key)) {
          if (entry.second.IsNull()) {
            e.checks.push_back({{key}, CheckKind::Equals, nullptr});
          } else if (auto text = scalar(entry.second, kpath)) {
            e.checks.push_back({{key}, CheckKind::Equals, *text});
          }
        } else if (key.size() > 9 && key.ends_with("_contains") &&
                   contains(keys.containable, std::string_view(key).substr(0, key.size() - 9))) {
          const std::string field = key.substr(0, key.size() - 9);
          for (const auto& [text, line] : textList(entry.second, kpath)) {
            e.checks.push_back({{field}, CheckKind::Contains, text});
          }
        } else if (contains(keys.maps, key)) {
          if (!entry.second.IsMap()) {
            problem(entry.second.Mark(), kpath,
                    std::string("must be a mapping, not ") + kindOf(entry.second));
          } else if (key == "payload") {
            std::vector<std::string> prefix{key};
            flatten(entry.second, prefix, e.checks);
          } else {
            for (const auto& [name, value] : textMap(entry.second, kpath)) {
              e.checks.push_back({{key, name}, CheckKind::Equals, value});
            }
          }
        }
      }
      out.items.push_back(std::move(e));
    }
    return out;
  }

  QueryExpectation parseQuery(const YAML::Node& node, const std::string& path) {
    QueryExpectation q;
    q.line = lineOf(node.Mark());
    q.column = columnOf(node.Mark());
    if (!node.IsMap()) {
      problem(node.Mark(), path,
              std::string("a query is a mapping (keys: sql, rows), not ") + kindOf(node));
      return q;
    }
    checkKeys(node, kQueryKeys, path);
    if (const YAML::Node sql = node["sql"]; absent(sql)) {
      problem(node.Mark(), child(path, "sql"), "missing: the SELECT to run");
    } else if (auto text = scalar(sql, child(path, "sql"))) {
      q.sql = *text;
    }
    const YAML::Node rows = node["rows"];
    if (!rows.IsDefined()) {
      problem(node.Mark(), child(path, "rows"), "missing: the rows expected (`[]` for none)");
    } else if (!absent(rows) && !rows.IsSequence()) {
      problem(rows.Mark(), child(path, "rows"), std::string("must be a list, not ") + kindOf(rows));
    } else if (!absent(rows)) {
      // A row is a mapping (column name -> value) or a list (values by
      // position, checked as columns "#1", "#2", ...); one form per query.
      bool mappings = false;
      for (std::size_t i = 0; i < rows.size(); ++i) {
        const YAML::Node row = rows[i];
        const std::string rpath = indexed(child(path, "rows"), i);
        ItemExpectation e;
        e.line = lineOf(row.Mark());
        e.column = columnOf(row.Mark());
        if (!row.IsMap() && !row.IsSequence()) {
          problem(row.Mark(), rpath,
                  std::string("a row is a mapping of column to value, or a list of values, not ") +
                      kindOf(row));
          continue;
        }
        if ((row.IsSequence() && mappings) || (row.IsMap() && q.positional)) {
          problem(row.Mark(), rpath,
                  "the rows of one query are all mappings (by column name) or all lists (by "
                  "position)");
          continue;
        }
        mappings = mappings || row.IsMap();
        q.positional = q.positional || row.IsSequence();
        std::size_t position = 0;
        for (const auto& entry : row) {
          const YAML::Node key = row.IsMap() ? entry.first : YAML::Node();
          const YAML::Node value = row.IsMap() ? entry.second : YAML::Node(entry);
          const std::string column = row.IsMap() ? key.Scalar() : "#" + std::to_string(++position);
          if (!value.IsNull() && !value.IsScalar()) {
            problem(value.Mark(), child(rpath, column),
                    std::string("must be a text value or null, not ") + kindOf(value));
            continue;
          }
          // Values are compared as PostgreSQL's text output; null is SQL NULL.
          e.checks.push_back({{column},
                              CheckKind::Equals,
                              scalarJson(value).is_null() ? json(nullptr) : json(value.Scalar())});
        }
        q.rows.push_back(std::move(e));
      }
    }
    return q;
  }

  std::string file_;
  std::vector<config::Problem>& problems_;
};

}  // namespace

TestFile parseTestFile(const std::string& text, const std::string& path,
                       std::vector<config::Problem>& problems) {
  return Parser(path, problems).parse(text);
}

TestFile loadTestFile(const std::string& path, std::vector<config::Problem>& problems) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    problems.push_back({path, 0, 0, "", "cannot read the test file"});
    TestFile out;
    out.path = path;
    return out;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parseTestFile(text.str(), path, problems);
}

void checkAgainstPipeline(const TestFile& file, std::vector<config::Problem>& problems) {
  if (file.pipeline.empty()) return;
  YAML::Node root;
  try {
    root = YAML::LoadFile(file.pipeline);
  } catch (const YAML::BadFile&) {
    problems.push_back({file.path, file.pipelineLine, 0, "pipeline",
                        "cannot read the pipeline file " + file.pipeline});
    return;
  } catch (const YAML::Exception& e) {
    problems.push_back({file.path, file.pipelineLine, 0, "pipeline",
                        "the pipeline file " + file.pipeline + " is not valid YAML (line " +
                            std::to_string(e.mark.line + 1) + "): " + e.msg});
    return;
  }
  if (!root.IsMap()) {
    problems.push_back({file.path, file.pipelineLine, 0, "pipeline",
                        "the pipeline file " + file.pipeline + " is not a mapping"});
    return;
  }
  std::vector<std::string> names;
  for (const char* section : {"channels", "publishers"}) {
    const YAML::Node blocks = root[section];
    if (!blocks.IsMap()) continue;
    for (const auto& entry : blocks) names.push_back(entry.first.Scalar());
  }
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  for (std::size_t i = 0; i < file.cases.size(); ++i) {
    for (const auto& [name, line] : file.cases[i].real) {
      if (std::find(names.begin(), names.end(), name) != names.end()) continue;
      problems.push_back({file.path, line, 0, "real",
                          "'" + name + "' is not a channel or publisher of " + file.pipeline +
                              " (it has: " + (list.empty() ? "none" : list) + ")"});
    }
  }
}

}  // namespace commsvc::pipeline_test
