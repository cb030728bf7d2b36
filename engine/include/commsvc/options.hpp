#pragma once

// Plugin options, declared once: each option is bound to a field of the
// plugin's own settings struct. The declaration gives the YAML key, a
// description and, where they apply, a range, choices or "required"; the
// type comes from the field and the default from the struct's member
// initialiser. The engine validates a pipelines.yaml block against the
// declarations, fills a settings struct and hands it to the plugin's
// factory; `commsvc plugins` prints the same declarations.
//
//   struct SmtpSettings {
//     std::string host = "localhost";
//     std::int64_t port = 587;
//     TlsMode tls = TlsMode::StartTls;
//     std::chrono::milliseconds timeout{30000};
//   };
//   using Opt = commsvc::Option<SmtpSettings>;
//   constexpr commsvc::OptionChoice kTlsModes[] = {
//       commsvc::choice("none", TlsMode::None), commsvc::choice("tls", TlsMode::Tls), ...};
//   constexpr auto kOptions = commsvc::optionList(
//       Opt::field<&SmtpSettings::host>("host", "server host name"),
//       Opt::field<&SmtpSettings::port>("port", "server port").range(1, 65535),
//       Opt::field<&SmtpSettings::tls>("tls", "none, starttls or tls").choices(kTlsModes),
//       Opt::field<&SmtpSettings::timeout>("timeout_ms", "bound of a delivery").range(1, 600000));
//
// Field types: std::string, bool, any integer type, double, a
// std::chrono::duration (an integer in the duration's own unit), an enum
// (text in YAML, one of its declared choices), std::map<std::string,
// std::string> and std::vector<std::string>. A field may sit in a nested
// struct: field<&Settings::sender, &Sender::address>(...).

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

namespace commsvc {

/// The type of an option as written in pipelines.yaml.
enum class OptionType {
  String,      ///< a scalar, kept as text (also an enum field: one of its choices)
  Integer,     ///< a whole number (64-bit), range-checked
  Boolean,     ///< true/false (also yes/no, on/off)
  Number,      ///< a floating-point number
  StringMap,   ///< a mapping of scalar keys to scalar values
  StringList,  ///< a sequence of scalars
};

/// One configured value after validation.
using ConfigValue = std::variant<std::string, std::int64_t, bool, double,
                                 std::map<std::string, std::string>, std::vector<std::string>>;

/// One allowed text of a choice option and the (enum) value it stands for.
struct OptionChoice {
  const char* name;    ///< as written in pipelines.yaml
  std::int64_t value;  ///< the enum value; ignored for std::string fields
};

/// A choice for an enum field: choice("tls", TlsMode::Tls).
template <typename Enum>
constexpr OptionChoice choice(const char* name, Enum value) {
  static_assert(std::is_enum_v<Enum>, "choice() takes an enum value");
  return {name, static_cast<std::int64_t>(value)};
}

/// One option as the engine sees it: built by Option<Settings>::field and
/// its refinements; plugins never fill it by hand.
struct OptionSpec {
  const char* name = "";                 ///< key in the YAML block
  OptionType type = OptionType::String;  ///< from the field's type
  const char* description = "";          ///< one line for `commsvc plugins`
  bool isRequired = false;               ///< no default: the key must be written
  bool isSecret = false;                 ///< the value is never printed in logs or `plugins`
  bool isEnum = false;                   ///< bound to an enum field: choices are required
  std::int64_t minimum = std::numeric_limits<std::int64_t>::min();  ///< Integer lower bound
  std::int64_t maximum = std::numeric_limits<std::int64_t>::max();  ///< Integer upper bound
  const OptionChoice* choiceList = nullptr;  ///< allowed texts (String), nullptr = any
  std::size_t choiceCount = 0;               ///< entries in choiceList
  /// Writes a validated value (of `type`) into the field of `settings`.
  void (*assign)(const OptionSpec& spec, void* settings, const ConfigValue& value) = nullptr;
  /// The field's value in a default-constructed settings struct.
  ConfigValue (*defaultOf)(const OptionSpec& spec) = nullptr;
  /// The field's value in `settings` (e.g. to compare two configurations).
  ConfigValue (*read)(const OptionSpec& spec, const void* settings) = nullptr;

  /// The declared choices.
  constexpr std::span<const OptionChoice> choiceSpan() const { return {choiceList, choiceCount}; }
  /// The choice written as `text`, nullptr when there is none.
  constexpr const OptionChoice* findChoice(std::string_view text) const {
    for (const OptionChoice& c : choiceSpan()) {
      if (text == c.name) return &c;
    }
    return nullptr;
  }
  /// The choice standing for `value`, nullptr when there is none.
  constexpr const OptionChoice* findChoice(std::int64_t value) const {
    for (const OptionChoice& c : choiceSpan()) {
      if (c.value == value) return &c;
    }
    return nullptr;
  }
};

namespace detail {

template <typename T>
struct IsDuration : std::false_type {};
template <typename Rep, typename Period>
struct IsDuration<std::chrono::duration<Rep, Period>> : std::true_type {};

template <typename T>
inline constexpr bool kAlwaysFalse = false;

// The option type that stands for a field of type T.
template <typename T>
constexpr OptionType optionTypeOf() {
  if constexpr (std::is_same_v<T, bool>) {
    return OptionType::Boolean;
  } else if constexpr (std::is_same_v<T, std::string> || std::is_enum_v<T>) {
    return OptionType::String;
  } else if constexpr (std::is_integral_v<T> || IsDuration<T>::value) {
    return OptionType::Integer;
  } else if constexpr (std::is_floating_point_v<T>) {
    return OptionType::Number;
  } else if constexpr (std::is_same_v<T, std::map<std::string, std::string>>) {
    return OptionType::StringMap;
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    return OptionType::StringList;
  } else {
    static_assert(kAlwaysFalse<T>, "unsupported option field type");
  }
}

// The widest range a field of integer (or duration) type T can hold.
template <typename T>
constexpr std::int64_t lowestOf() {
  using Rep = typename std::conditional_t<IsDuration<T>::value, T, std::chrono::duration<T>>::rep;
  if constexpr (std::is_unsigned_v<Rep>) {
    return 0;
  } else {
    return static_cast<std::int64_t>(std::numeric_limits<Rep>::lowest());
  }
}
template <typename T>
constexpr std::int64_t highestOf() {
  using Rep = typename std::conditional_t<IsDuration<T>::value, T, std::chrono::duration<T>>::rep;
  if constexpr (sizeof(Rep) >= sizeof(std::int64_t)) {
    return std::numeric_limits<std::int64_t>::max();
  } else {
    return static_cast<std::int64_t>(std::numeric_limits<Rep>::max());
  }
}

// The field at the end of a member-pointer path: (object.*A).*B ...
template <auto... Path, typename Object>
constexpr auto& fieldAt(Object& object) {
  return (object.*....*Path);
}

template <typename Settings, auto... Path>
void assignField(const OptionSpec& spec, void* settings, const ConfigValue& value) {
  auto& field = fieldAt<Path...>(*static_cast<Settings*>(settings));
  using T = std::remove_cvref_t<decltype(field)>;
  if constexpr (std::is_same_v<T, bool>) {
    field = std::get<bool>(value);
  } else if constexpr (std::is_enum_v<T>) {
    const OptionChoice* c = spec.findChoice(std::string_view(std::get<std::string>(value)));
    if (c != nullptr) field = static_cast<T>(c->value);
  } else if constexpr (IsDuration<T>::value) {
    field = T(static_cast<typename T::rep>(std::get<std::int64_t>(value)));
  } else if constexpr (std::is_integral_v<T>) {
    field = static_cast<T>(std::get<std::int64_t>(value));
  } else {
    field = std::get<T>(value);
  }
}

template <typename Settings, auto... Path>
ConfigValue readField(const OptionSpec& spec, const void* settings) {
  const auto& field = fieldAt<Path...>(*static_cast<const Settings*>(settings));
  using T = std::remove_cvref_t<decltype(field)>;
  if constexpr (std::is_same_v<T, bool>) {
    return ConfigValue(field);
  } else if constexpr (std::is_enum_v<T>) {
    const OptionChoice* c = spec.findChoice(static_cast<std::int64_t>(field));
    return ConfigValue(std::string(c != nullptr ? c->name : ""));
  } else if constexpr (IsDuration<T>::value) {
    return ConfigValue(static_cast<std::int64_t>(field.count()));
  } else if constexpr (std::is_integral_v<T>) {
    return ConfigValue(static_cast<std::int64_t>(field));
  } else {
    return ConfigValue(field);
  }
}

template <typename Settings, auto... Path>
ConfigValue defaultField(const OptionSpec& spec) {
  const Settings defaults{};
  return readField<Settings, Path...>(spec, &defaults);
}

}  // namespace detail

/// The option declarations of one settings struct, as the plugin descriptor
/// and the engine take them (see optionList).
template <typename Settings, std::size_t N>
struct OptionList {
  using SettingsType = Settings;    ///< the struct the options fill
  std::array<OptionSpec, N> specs;  ///< one per option, in declaration order

  /// The declarations, as PluginInfo and the validator take them.
  constexpr std::span<const OptionSpec> span() const { return {specs.data(), N}; }
};

/// One option of `Settings`: Option<Settings>::field<&Settings::x>(name,
/// description), refined with range(), choices(), required(), secret().
template <typename Settings>
struct Option {
  OptionSpec spec;  ///< what the engine reads

  /// The option `name` bound to the field at Path (a member pointer of
  /// Settings, then of nested structs). Its type gives the option's type,
  /// its value in `Settings{}` the default.
  template <auto... Path>
  static constexpr Option field(const char* name, const char* description) {
    using T = std::remove_cvref_t<decltype(detail::fieldAt<Path...>(std::declval<Settings&>()))>;
    Option out;
    out.spec.name = name;
    out.spec.type = detail::optionTypeOf<T>();
    out.spec.description = description;
    out.spec.isEnum = std::is_enum_v<T>;
    if constexpr ((std::is_integral_v<T> && !std::is_same_v<T, bool>) ||
                  detail::IsDuration<T>::value) {
      out.spec.minimum = detail::lowestOf<T>();
      out.spec.maximum = detail::highestOf<T>();
    }
    out.spec.assign = &detail::assignField<Settings, Path...>;
    out.spec.defaultOf = &detail::defaultField<Settings, Path...>;
    out.spec.read = &detail::readField<Settings, Path...>;
    return out;
  }
  /// The allowed range of an Integer option (inclusive); within what the
  /// field's type holds (a constant declaration outside it does not compile).
  constexpr Option range(std::int64_t low, std::int64_t high) const {
    if (low < spec.minimum || high > spec.maximum || low > high) {
      throw std::out_of_range("Option::range: outside the field type's range, or empty");
    }
    Option out = *this;
    out.spec.minimum = low;
    out.spec.maximum = high;
    return out;
  }
  /// The allowed texts of a String or enum option.
  template <std::size_t N>
  constexpr Option choices(const OptionChoice (&list)[N]) const {
    Option out = *this;
    out.spec.choiceList = list;
    out.spec.choiceCount = N;
    return out;
  }
  /// No default: a block without this key is refused.
  constexpr Option required() const {
    Option out = *this;
    out.spec.isRequired = true;
    return out;
  }
  /// A secret: the value is never printed.
  constexpr Option secret() const {
    Option out = *this;
    out.spec.isSecret = true;
    return out;
  }
};

namespace detail {

template <typename Settings>
constexpr std::array<OptionSpec, 1> specsOf(const Option<Settings>& option) {
  return {option.spec};
}
template <typename Settings, std::size_t N>
constexpr std::array<OptionSpec, N> specsOf(const OptionList<Settings, N>& list) {
  return list.specs;
}

template <typename T>
struct OptionPart {};  // what optionList() takes: an Option or an OptionList
template <typename S>
struct OptionPart<Option<S>> {
  using Settings = S;
  static constexpr std::size_t kCount = 1;
};
template <typename S, std::size_t N>
struct OptionPart<OptionList<S, N>> {
  using Settings = S;
  static constexpr std::size_t kCount = N;
};

}  // namespace detail

/// The options of one settings struct, from Option<Settings> declarations
/// and other lists for the same struct (e.g. a shared library's options).
/// Every part must be declared for the same Settings type.
template <typename First, typename... Rest>
constexpr auto optionList(const First& first, const Rest&... rest) {
  using Settings = typename detail::OptionPart<First>::Settings;
  static_assert((std::is_same_v<Settings, typename detail::OptionPart<Rest>::Settings> && ...),
                "optionList: every option must be declared for the same settings struct");
  constexpr std::size_t n =
      detail::OptionPart<First>::kCount + (std::size_t{0} + ... + detail::OptionPart<Rest>::kCount);
  OptionList<Settings, n> out{};
  std::size_t at = 0;
  const auto append = [&](const auto& part) {
    for (const OptionSpec& spec : detail::specsOf(part)) out.specs[at++] = spec;
  };
  append(first);
  (append(rest), ...);
  return out;
}

/// What is wrong with a list of declarations: a name declared twice or not a
/// plain key, an enum without choices, a default outside its choices or
/// range. Empty when sound. The plugin loader refuses a plugin whose list
/// has problems; a plugin's own test can assert the list is empty.
std::vector<std::string> optionDeclarationProblems(std::span<const OptionSpec> options);

/// The default of `spec` as `commsvc plugins` prints it: "587",
/// "\"localhost\"", "true", "[a, b]", "{k: v}"; "(required)" or "(secret)".
std::string describeDefault(const OptionSpec& spec);

/// Settings of a plugin that has no options.
struct NoSettings {};

/// The option list of a plugin without options.
inline constexpr OptionList<NoSettings, 0> kNoOptions{};

}  // namespace commsvc
