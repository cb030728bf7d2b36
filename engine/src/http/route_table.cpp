#include "http/route_table.hpp"

#include <stdexcept>

namespace commsvc::http {
namespace {

// Splits "/a/b/c" into {"a", "b", "c"}; "/" gives {""}.
std::vector<std::string_view> splitPath(std::string_view path) {
  std::vector<std::string_view> out;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  for (;;) {
    const auto slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string percentDecode(std::string_view text, bool plusIsSpace) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%' && i + 2 < text.size()) {
      const int hi = hexValue(text[i + 1]);
      const int lo = hexValue(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plusIsSpace && c == '+' ? ' ' : c);
  }
  return out;
}

std::map<std::string, std::string> parseQuery(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    if (!pair.empty()) {
      const auto eq = pair.find('=');
      std::string name = percentDecode(pair.substr(0, eq), true);
      std::string value =
          eq == std::string_view::npos ? std::string() : percentDecode(pair.substr(eq + 1), true);
      if (!name.empty()) out[std::move(name)] = std::move(value);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return out;
}

RouteTable::RouteTable(std::vector<Route> routes) : routes_(std::move(routes)) {
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    const Route& route = routes_[i];
    if (route.pattern.empty() || route.pattern.front() != '/') {
      throw std::invalid_argument("route pattern '" + route.pattern + "' must start with '/'");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (routes_[j].method == route.method && routes_[j].pattern == route.pattern) {
        throw std::invalid_argument("route " + route.method + " " + route.pattern +
                                    " registered twice");
      }
    }
    Compiled compiled;
    for (const auto segment : splitPath(route.pattern)) {
      const bool open = segment.find('{') != std::string_view::npos;
      const bool close = segment.find('}') != std::string_view::npos;
      if (open || close) {
        if (segment.size() < 3 || segment.front() != '{' || segment.back() != '}' ||
            segment.substr(1, segment.size() - 2).find_first_of("{}") != std::string_view::npos) {
          throw std::invalid_argument("route pattern '" + route.pattern +
                                      "': a parameter must be a whole segment like {id}");
        }
        compiled.segments.push_back({std::string(segment.substr(1, segment.size() - 2)), true});
      } else {
        compiled.segments.push_back({std::string(segment), false});
        ++compiled.literals;
      }
    }
    compiled_.push_back(std::move(compiled));
  }
}

RouteMatch RouteTable::match(std::string_view method, std::string_view path) const {
  RouteMatch result;
  const auto segments = splitPath(path);
  // Ranks a matching pattern: a literal segment beats a parameter at the
  // first position where two patterns differ.
  std::string bestRank;
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    const Compiled& compiled = compiled_[i];
    if (compiled.segments.size() != segments.size()) continue;
    std::string rank;
    bool matches = true;
    for (std::size_t s = 0; s < segments.size(); ++s) {
      const Segment& seg = compiled.segments[s];
      if (seg.param ? segments[s].empty() : seg.text != segments[s]) {
        matches = false;
        break;
      }
      rank.push_back(seg.param ? '1' : '0');
    }
    if (!matches) continue;
    result.pathKnown = true;
    result.allowed.push_back(routes_[i].method);
    if (routes_[i].method != method) continue;
    if (result.route == nullptr || rank < bestRank) {
      result.route = &routes_[i];
      bestRank = std::move(rank);
    }
  }
  if (result.route != nullptr) {
    const Compiled& compiled = compiled_[result.route - routes_.data()];
    for (std::size_t s = 0; s < segments.size(); ++s) {
      if (compiled.segments[s].param) {
        result.params[compiled.segments[s].text] = percentDecode(segments[s]);
      }
    }
  }
  return result;
}

}  // namespace commsvc::http
