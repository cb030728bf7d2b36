// Fuzz target: Markdown rendering (plugins/email/markdown.hpp), which the
// email API runs on inhalt_markdown of POST /api/emails. The input is the
// Markdown text. Slow inputs (cmark-gfm is superlinear on some nesting)
// count as findings: run with -timeout.
//
// Oracles: no exception but MarkdownTooComplex (a document beyond the
// bounds that keep rendering linear, refused before cmark sees it); raw
// HTML in the input never reaches the output as a tag (safe mode).

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "fuzz_support.hpp"
#include "markdown.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = commsvc::fuzz::asText(data, size);
  commsvc::plugins::email::RenderedMarkdown rendered;
  try {
    rendered = commsvc::plugins::email::renderMarkdown(text);
  } catch (const commsvc::plugins::email::MarkdownTooComplex&) {
    return 0;
  }
  if (rendered.html.find("<script") != std::string::npos) {
    commsvc::fuzz::fail("markdown", "raw <script> passed through: " + rendered.html);
  }
  return 0;
}
