#include "html_text.hpp"

#include <array>
#include <cstddef>
#include <utility>
#include <vector>

namespace commsvc::plugins::email {
namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool isSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// True when `text` at `at` starts with `word` (lower case), ignoring case.
bool startsWithNoCase(std::string_view text, std::size_t at, std::string_view word) {
  if (text.size() - at < word.size()) return false;
  for (std::size_t i = 0; i < word.size(); ++i) {
    if (lower(text[at + i]) != word[i]) return false;
  }
  return true;
}

// The tag name of the tag whose text (without '<' and '>') is `tag`,
// lower-cased, with a leading '/' kept: "/p", "br", "h1".
std::string tagName(std::string_view tag) {
  std::string name;
  std::size_t i = 0;
  if (i < tag.size() && tag[i] == '/') name += tag[i++];
  while (i < tag.size() && !isSpace(tag[i]) && tag[i] != '/' && name.size() < 8) {
    name += lower(tag[i++]);
  }
  return name;
}

bool isBreakTag(const std::string& name) {
  static constexpr std::array<std::string_view, 12> kBreaks = {
      "br", "hr", "/p", "/div", "/li", "/tr", "/h1", "/h2", "/h3", "/h4", "/h5", "/h6"};
  for (std::string_view b : kBreaks) {
    if (name == b) return true;
  }
  return false;
}

// Finds the closing tag "</name" + white space + ">" at or after `from`;
// returns the position after its '>' or npos. `noneAfter` remembers where a
// search already failed, so that many unclosed openers stay linear.
std::size_t findClosing(std::string_view html, std::size_t from, std::string_view name,
                        std::size_t& noneAfter) {
  if (from >= noneAfter) return std::string_view::npos;
  for (std::size_t at = html.find("</", from); at != std::string_view::npos;
       at = html.find("</", at + 2)) {
    if (!startsWithNoCase(html, at + 2, name)) continue;
    std::size_t end = at + 2 + name.size();
    while (end < html.size() && isSpace(html[end])) ++end;
    if (end < html.size() && html[end] == '>') return end + 1;
  }
  noneAfter = from;
  return std::string_view::npos;
}

// Step 1: tags out, breaks in, entities decoded.
std::string stripTags(std::string_view html) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 6> kEntities = {{
      {"&nbsp;", " "},
      {"&lt;", "<"},
      {"&gt;", ">"},
      {"&quot;", "\""},
      {"&#39;", "'"},
      {"&amp;", "&"},
  }};
  std::string out;
  out.reserve(html.size());
  std::size_t nextGt = 0;  // position of the next '>' at or after the scan, or npos
  bool gtKnown = false;
  std::size_t noScriptClose = std::string_view::npos;
  std::size_t noStyleClose = std::string_view::npos;
  std::size_t i = 0;
  while (i < html.size()) {
    const char c = html[i];
    if (c == '&') {
      bool decoded = false;
      for (const auto& [entity, plain] : kEntities) {
        if (html.compare(i, entity.size(), entity) == 0) {
          out += plain;
          i += entity.size();
          decoded = true;
          break;
        }
      }
      if (!decoded) out += html[i++];
      continue;
    }
    if (c != '<') {
      out += c;
      ++i;
      continue;
    }
    if (!gtKnown || (nextGt != std::string_view::npos && nextGt <= i)) {
      nextGt = html.find('>', i + 1);
      gtKnown = true;
    }
    if (nextGt == std::string_view::npos) {  // no tag can close: the rest is text
      out.append(html.substr(i));
      break;
    }
    const std::string name = tagName(html.substr(i + 1, nextGt - i - 1));
    std::size_t next = nextGt + 1;
    if (name == "script" || name == "style") {
      const std::size_t end =
          findClosing(html, next, name, name == "script" ? noScriptClose : noStyleClose);
      if (end != std::string_view::npos) next = end;
    } else if (isBreakTag(name)) {
      out += '\n';
    }
    i = next;
  }
  return out;
}

// Step 2: a line break, spaces or tabs, a line break, then more white space
// ending in a line break, becomes exactly two line breaks.
std::string collapseBlankRuns(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  std::vector<std::size_t> breaks;
  std::size_t i = 0;
  while (i < text.size()) {
    if (!isSpace(text[i])) {
      out += text[i++];
      continue;
    }
    std::size_t end = i;
    breaks.clear();
    while (end < text.size() && isSpace(text[end])) {
      if (text[end] == '\n') breaks.push_back(end);
      ++end;
    }
    std::size_t copied = i;
    for (std::size_t b = 0; b + 2 < breaks.size(); ++b) {
      bool onlyBlanks = true;
      for (std::size_t k = breaks[b] + 1; k < breaks[b + 1]; ++k) {
        if (text[k] != ' ' && text[k] != '\t') {
          onlyBlanks = false;
          break;
        }
      }
      if (!onlyBlanks) continue;
      out.append(text, copied, breaks[b] - copied);
      out += "\n\n";
      copied = breaks.back() + 1;
      break;
    }
    out.append(text, copied, end - copied);
    i = end;
  }
  return out;
}

}  // namespace

std::string htmlToText(std::string_view html) {
  const std::string text = collapseBlankRuns(stripTags(html));
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

}  // namespace commsvc::plugins::email
