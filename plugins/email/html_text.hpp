#pragma once

#include <string>
#include <string_view>

namespace commsvc::plugins::email {

/// A plain-text rendering of an HTML body: `<script>`/`<style>` elements
/// dropped with their content, block ends (`</p>`, `<br>`, `</div>`,
/// `</h1>`..`</h6>`, `</li>`, `</tr>`, `<hr>`) become line breaks, other
/// tags dropped, the common entities decoded, runs of three or more line
/// breaks collapsed to one blank line, surrounding white space trimmed.
/// A `<` without a closing `>` stays as text. Runs in time linear in the
/// input (it parses request bodies: no regex, no recursion). Thread-safe.
std::string htmlToText(std::string_view html);

}  // namespace commsvc::plugins::email
