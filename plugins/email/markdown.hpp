#pragma once

#include <string>
#include <string_view>

namespace commsvc::plugins::email {

/// An email body rendered from Markdown.
struct RenderedMarkdown {
  std::string html;  ///< the HTML body
  std::string text;  ///< the plain-text body
};

/// Renders `markdown` (CommonMark plus the GitHub extensions `table`,
/// `strikethrough` and `autolink`, so bare URLs become links) to HTML, and
/// derives a plain-text body from the same document in which a link whose
/// text differs from its target reads "text (url)". Raw HTML in the input is
/// omitted (cmark's safe mode). Thread-safe. Throws std::runtime_error when
/// cmark cannot allocate or render.
RenderedMarkdown renderMarkdown(std::string_view markdown);

}  // namespace commsvc::plugins::email
