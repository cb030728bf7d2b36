#include "markdown.hpp"

#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm-extension_api.h>
#include <cmark-gfm.h>

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

}  // namespace

RenderedMarkdown renderMarkdown(std::string_view markdown) {
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
