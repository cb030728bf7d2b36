#pragma once

// The `http` publisher's URL and body templates (`{field}` placeholders
// filled from an event's payload), and the small text helpers around them.

#include <nlohmann/json_fwd.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace commsvc::plugins::publisher_http {

/// How a template's `{field}` placeholders are filled in.
enum class TemplateKind {
  /// URL path (and query): every brace must be a placeholder or doubled
  /// (`{{`, `}}`); values must be strings or integers and are percent-encoded
  /// as one path segment.
  Path,
  /// JSON body: `{field}` (a name of letters, digits, '_' or '-' in braces)
  /// becomes the value's JSON form, or its escaped text inside a JSON string
  /// literal; other braces are JSON's own; `{{` is a literal `{`. The
  /// template must be valid JSON once filled in (checked at parse time).
  Json,
  /// Any other body: placeholders as for Json; strings are inserted as they
  /// are, other values in their JSON form.
  Text,
};

/// Why a template cannot be filled in for one event (a field is missing or
/// of an unusable type). The text is meant for PublishResult::rejected.
class TemplateError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A template parsed once at config time and rendered per event.
class Template {
 public:
  /// An empty template (renders as "").
  Template() = default;

  /// Parses `text`. Throws ConfigError starting with "`option`: " when it is
  /// unusable (unclosed or unmatched brace, empty or bad field name in a
  /// path, characters a URL cannot hold, invalid JSON for a Json body).
  static Template parse(std::string_view text, TemplateKind kind, std::string_view option);

  /// True when the template has at least one `{field}`.
  bool hasFields() const;

  /// The field names used, each once, in order of first use.
  std::vector<std::string> fields() const;

  /// Fills in the template from `payload` (a JSON object). Throws
  /// TemplateError when a field is missing ("payload has no field 'x'") or
  /// cannot be used here (e.g. an object in a path, an empty path segment).
  std::string render(const nlohmann::json& payload) const;

 private:
  // One piece of the template: literal text, or a field and how it is filled in.
  enum class Mode { Literal, PathSegment, JsonValue, JsonStringContent, Text };
  struct Part {
    Mode mode;
    std::string text;  // the literal, or the field name
  };
  std::vector<Part> parts_;
};

/// `text` percent-encoded as one URL path segment: every byte except
/// RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~) becomes %XX.
std::string percentEncodeSegment(std::string_view text);

/// The first at most `maxBytes` bytes of `bytes` as one line of valid UTF-8
/// for error messages: invalid sequences become U+FFFD, control characters
/// (CR, LF, tab, ...) a space, runs of spaces one space; a cut is marked
/// with "...". Never splits a character.
std::string singleLineSnippet(std::string_view bytes, std::size_t maxBytes = 200);

}  // namespace commsvc::plugins::publisher_http
