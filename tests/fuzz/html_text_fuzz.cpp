// Fuzz target: HTML → text (plugins/email/html_text.hpp), which the email
// API runs on inhalt_html of POST /api/emails when no inhalt_text is given.
// The input is the HTML. It must run in time linear in the input (no regex,
// no recursion): run with -timeout, slow inputs are findings.
//
// Oracles: no exception; the result has no surrounding white space and no
// run of three line breaks (both documented).

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_support.hpp"
#include "html_text.hpp"

namespace {

using commsvc::fuzz::fail;

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view html = commsvc::fuzz::asText(data, size);
  const std::string text = commsvc::plugins::email::htmlToText(html);
  if (!text.empty() && (isSpace(text.front()) || isSpace(text.back()))) {
    fail("html_text", "surrounding white space kept");
  }
  if (text.find("\n\n\n") != std::string::npos) fail("html_text", "three line breaks in a row");
  return 0;
}
