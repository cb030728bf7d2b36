#include "markdown.hpp"

#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm-extension_api.h>
#include <cmark-gfm.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace commsvc::plugins::email {
namespace {

// The GFM extensions attached to every parser.
constexpr const char* kExtensions[] = {"table", "strikethrough", "autolink"};

struct ParserDeleter {
  void operator()(cmark_parser* parser) const { cmark_parser_free(parser); }
};
struct NodeDeleter {
  void operator()(cmark_node* node) const { cmark_node_free(node); }
};
struct IteratorDeleter {
  void operator()(cmark_iter* iter) const { cmark_iter_free(iter); }
};

// Takes ownership of a string cmark allocated with the default allocator.
std::string adopt(char* rendered) {
  if (rendered == nullptr) throw std::runtime_error("cmark-gfm could not render the document");
  std::string out(rendered);
  std::free(rendered);
  return out;
}

// The text of a link node's children when it is a single text node.
std::string singleText(cmark_node* link) {
  cmark_node* child = cmark_node_first_child(link);
  if (child == nullptr || cmark_node_next(child) != nullptr ||
      cmark_node_get_type(child) != CMARK_NODE_TEXT) {
    return {};
  }
  const char* literal = cmark_node_get_literal(child);
  return literal == nullptr ? std::string() : std::string(literal);
}

// Appends " (url)" after every link whose visible text is not its URL, so
// the plain-text rendering keeps the targets.
void spellOutLinks(cmark_node* document) {
  std::vector<cmark_node*> links;
  std::unique_ptr<cmark_iter, IteratorDeleter> iter(cmark_iter_new(document));
  for (cmark_event_type ev; (ev = cmark_iter_next(iter.get())) != CMARK_EVENT_DONE;) {
    cmark_node* node = cmark_iter_get_node(iter.get());
    if (ev == CMARK_EVENT_ENTER && cmark_node_get_type(node) == CMARK_NODE_LINK) {
      links.push_back(node);
    }
  }
  iter.reset();
  for (cmark_node* link : links) {
    const char* urlText = cmark_node_get_url(link);
    const std::string url = urlText == nullptr ? std::string() : std::string(urlText);
    if (url.empty()) continue;
    const std::string text = singleText(link);
    if (text == url || "mailto:" + text == url || "http://" + text == url) continue;
    cmark_node* suffix = cmark_node_new(CMARK_NODE_TEXT);
    const std::string literal = " (" + url + ")";
    cmark_node_set_literal(suffix, literal.c_str());
    cmark_node_insert_after(link, suffix);
  }
}

// True for a GFM table delimiter row: only '|', '-', ':' and blanks, with
// at least one '-' ("|---|:--:|", "--- | ---").
bool isDelimiterRow(std::string_view line) {
  bool dash = false;
  for (char c : line) {
    if (c == '-') {
      dash = true;
    } else if (c != '|' && c != ':' && c != ' ' && c != '\t' && c != '\r') {
      return false;
    }
  }
  return dash;
}

// `line` without surrounding blanks (a delimiter row is never empty).
std::string_view trimmed(std::string_view line) {
  const auto first = line.find_first_not_of(" \t\r");
  const auto last = line.find_last_not_of(" \t\r");
  return line.substr(first, last - first + 1);
}

bool isBlank(std::string_view line) {
  return line.find_first_not_of(" \t\r") == std::string_view::npos;
}

}  // namespace

void checkMarkdownBounds(std::string_view markdown, const MarkdownBounds& bounds) {
  if (markdown.size() > bounds.maxBytes) {
    throw MarkdownTooComplex("is longer than " + std::to_string(bounds.maxBytes) + " bytes");
  }
  std::vector<std::string_view> lines;
  for (std::size_t start = 0; start <= markdown.size();) {
    const std::size_t end = std::min(markdown.find('\n', start), markdown.size());
    lines.push_back(markdown.substr(start, end - start));
    start = end + 1;
  }
  std::size_t cells = 0;
  std::size_t openBrackets = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    std::size_t depth = 0;
    for (char c : line) {
      if (c == '>') {
        ++depth;
      } else if (c != ' ' && c != '\t') {
        break;
      }
    }
    if (depth > bounds.maxNesting) {
      throw MarkdownTooComplex("nests block quotes deeper than " +
                               std::to_string(bounds.maxNesting));
    }
    for (char c : line) {
      if (c == '[' && ++openBrackets > bounds.maxNesting) {
        throw MarkdownTooComplex("nests '[' deeper than " + std::to_string(bounds.maxNesting));
      }
      if (c == ']' && openBrackets > 0) --openBrackets;
    }
    if (!isDelimiterRow(line)) continue;
    // Cells between pipes; a leading or trailing pipe opens no cell.
    const std::string_view row = trimmed(line);
    std::size_t columns = static_cast<std::size_t>(std::count(row.begin(), row.end(), '|')) + 1;
    if (row.front() == '|' && columns > 1) --columns;
    if (row.back() == '|' && row.size() > 1 && columns > 1) --columns;
    if (columns > bounds.maxTableColumns) {
      throw MarkdownTooComplex("has a table with more than " +
                               std::to_string(bounds.maxTableColumns) + " columns");
    }
    std::size_t rows = 2;  // the header and the delimiter row
    for (std::size_t j = i + 1; j < lines.size() && !isBlank(lines[j]); ++j) ++rows;
    cells += columns * rows;
    if (cells > bounds.maxTableCells) {
      throw MarkdownTooComplex("has tables of more than " + std::to_string(bounds.maxTableCells) +
                               " cells");
    }
  }
}

RenderedMarkdown renderMarkdown(std::string_view markdown) {
  checkMarkdownBounds(markdown);
  static std::once_flag registered;
  std::call_once(registered, [] { cmark_gfm_core_extensions_ensure_registered(); });

  const int options = CMARK_OPT_DEFAULT;
  std::unique_ptr<cmark_parser, ParserDeleter> parser(cmark_parser_new(options));
  if (!parser) throw std::runtime_error("cmark-gfm could not create a parser");
  for (const char* name : kExtensions) {
    cmark_syntax_extension* extension = cmark_find_syntax_extension(name);
    if (extension == nullptr) {
      throw std::runtime_error(std::string("cmark-gfm extension missing: ") + name);
    }
    cmark_parser_attach_syntax_extension(parser.get(), extension);
  }
  cmark_parser_feed(parser.get(), markdown.data(), markdown.size());
  std::unique_ptr<cmark_node, NodeDeleter> document(cmark_parser_finish(parser.get()));
  if (!document) throw std::runtime_error("cmark-gfm could not parse the document");

  cmark_llist* extensions = cmark_parser_get_syntax_extensions(parser.get());
  RenderedMarkdown out;
  out.html = adopt(cmark_render_html(document.get(), options, extensions));
  spellOutLinks(document.get());
  out.text = adopt(cmark_render_plaintext(document.get(), options, /*width=*/0));
  return out;
}

}  // namespace commsvc::plugins::email
