#include "html_text.hpp"

#include <gtest/gtest.h>

#include <string>

namespace commsvc::plugins::email {
namespace {

TEST(HtmlToTextTest, DropsTagsAndBreaksAtBlockEnds) {
  EXPECT_EQ(htmlToText("<p>Hallo <b>Welt</b></p><p>zweiter</p>"), "Hallo Welt\nzweiter");
  EXPECT_EQ(htmlToText("eins<br>zwei<BR/>drei<hr class=x>vier"), "eins\nzwei\ndrei\nvier");
  EXPECT_EQ(htmlToText("<h2>Titel</h2><ul><li>a</li><li>b</li></ul>"), "Titel\na\nb");
  EXPECT_EQ(htmlToText("<table><tr><td>1</td></tr><tr><td>2</td></tr></table>"), "1\n2");
}

TEST(HtmlToTextTest, DropsScriptAndStyleWithTheirContent) {
  EXPECT_EQ(htmlToText("a<script type=\"x\">alert('<p>')</script >b<STYLE>p{}</style>c"), "abc");
  // Without a closing tag only the opening tag goes.
  EXPECT_EQ(htmlToText("a<script>b"), "ab");
}

TEST(HtmlToTextTest, DecodesEntitiesOnce) {
  EXPECT_EQ(htmlToText("&lt;b&gt; &amp;lt; &quot;x&quot; &#39;y&#39;&nbsp;z &copy;"),
            "<b> &lt; \"x\" 'y' z &copy;");
}

TEST(HtmlToTextTest, CollapsesRunsOfBlankLinesAndTrims) {
  EXPECT_EQ(htmlToText("  <p>a</p>\n\n\n\n<p>b</p>  \n"), "a\n\nb");
  EXPECT_EQ(htmlToText("a\n \t\n  \n b"), "a\n\n b");
  EXPECT_EQ(htmlToText("a\n\nb"), "a\n\nb");  // one blank line stays
  EXPECT_EQ(htmlToText("<p></p>"), "");
}

TEST(HtmlToTextTest, KeepsAnUnclosedAngleBracketAsText) {
  EXPECT_EQ(htmlToText("1 < 2 and <b>bold"), "1 bold");  // a tag runs to the next '>'
  EXPECT_EQ(htmlToText("a > b < c"), "a > b < c");
  EXPECT_EQ(htmlToText("x <"), "x <");
}

// These crashed the service (std::regex recursed per character) or would
// take minutes with a quadratic scan; now they are linear.
TEST(HtmlToTextTest, HostileInputsAreLinear) {
  const std::string unclosed = "<" + std::string(300'000, 'a');
  EXPECT_EQ(htmlToText(unclosed), unclosed);
  const std::string brackets(300'000, '<');
  EXPECT_EQ(htmlToText(brackets), brackets);
  std::string openers;
  for (int i = 0; i < 50'000; ++i) openers += "<script>";
  EXPECT_EQ(htmlToText(openers + "x"), "x");
  std::string lines;
  for (int i = 0; i < 100'000; ++i) lines += "\n \t";
  EXPECT_EQ(htmlToText("a" + lines + "b"), "a\n\n \tb");
  std::string entities;
  for (int i = 0; i < 100'000; ++i) entities += "&amp;";
  EXPECT_EQ(htmlToText(entities), std::string(100'000, '&'));
}

}  // namespace
}  // namespace commsvc::plugins::email
