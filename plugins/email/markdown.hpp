#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

namespace commsvc::plugins::email {

/// An email body rendered from Markdown.
struct RenderedMarkdown {
  std::string html;  ///< the HTML body
  std::string text;  ///< the plain-text body
};

/// Thrown when a Markdown document is beyond the bounds renderMarkdown
/// accepts; what() says which bound.
class MarkdownTooComplex : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// The bounds of a Markdown document renderMarkdown accepts. cmark-gfm
/// 0.29.0.gfm.6 is superlinear on some inputs: a table fills every row up to
/// its column count (1,000 columns x 1,000 lines, 7 KB of input: 2 s and
/// 258 MB), nested block quotes and brackets take seconds.
struct MarkdownBounds {
  std::size_t maxBytes = 128 * 1024;   ///< document size
  std::size_t maxTableColumns = 100;   ///< columns of one table (its delimiter row)
  std::size_t maxTableCells = 50'000;  ///< columns x rows, summed over all tables
  std::size_t maxNesting = 32;         ///< block quote depth, and open '[' at once
};

/// Throws MarkdownTooComplex when `markdown` exceeds `bounds`. One linear
/// pass; never renders.
void checkMarkdownBounds(std::string_view markdown, const MarkdownBounds& bounds = {});

/// Renders `markdown` (CommonMark plus the GitHub extensions `table`,
/// `strikethrough` and `autolink`, so bare URLs become links) to HTML, and
/// derives a plain-text body from the same document in which a link whose
/// text differs from its target reads "text (url)". Raw HTML in the input is
/// omitted (cmark's safe mode). Thread-safe. Throws MarkdownTooComplex
/// beyond the default MarkdownBounds (checked first), std::runtime_error when
/// cmark cannot allocate or render.
RenderedMarkdown renderMarkdown(std::string_view markdown);

}  // namespace commsvc::plugins::email
