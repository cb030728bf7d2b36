#include "commsvc/options.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "commsvc/config.hpp"

namespace commsvc {
namespace {

enum class Mode { Plain, Secure };
constexpr OptionChoice kModes[] = {choice("plain", Mode::Plain), choice("secure", Mode::Secure)};

struct Address {
  std::string address = "noreply@example.com";
  std::string name;
};

struct Settings {
  std::string host = "localhost";
  std::uint16_t port = 587;
  Mode mode = Mode::Secure;
  std::chrono::milliseconds timeout{30000};
  bool verify = true;
  double ratio = 0.25;
  std::vector<std::string> tags{"a", "b"};
  std::map<std::string, std::string> headers{{"X-A", "1"}};
  std::string password;
  Address sender;
};

using O = Option<Settings>;
constexpr auto kOptions = optionList(
    O::field<&Settings::host>("host", "server host"),
    O::field<&Settings::port>("port", "server port").range(1, 65535),
    O::field<&Settings::mode>("mode", "plain or secure").choices(kModes),
    O::field<&Settings::timeout>("timeout_ms", "bound of a delivery").range(1, 600000),
    O::field<&Settings::verify>("verify", "verify certificates"),
    O::field<&Settings::ratio>("ratio", "a fraction"), O::field<&Settings::tags>("tags", "tags"),
    O::field<&Settings::headers>("headers", "headers"),
    O::field<&Settings::password>("password", "secret").secret(),
    O::field<&Settings::sender, &Address::address>("from_address", "sender address"),
    O::field<&Settings::sender, &Address::name>("from_name", "sender name").required());

const OptionSpec& spec(std::string_view name) {
  const auto& specs = kOptions.specs;
  const auto it =
      std::find_if(specs.begin(), specs.end(), [&](const OptionSpec& s) { return name == s.name; });
  if (it == specs.end()) throw std::logic_error("no option " + std::string(name));
  return *it;
}

TEST(OptionsTest, TypesComeFromTheFields) {
  EXPECT_EQ(spec("host").type, OptionType::String);
  EXPECT_EQ(spec("port").type, OptionType::Integer);
  EXPECT_EQ(spec("mode").type, OptionType::String);
  EXPECT_TRUE(spec("mode").isEnum);
  EXPECT_EQ(spec("timeout_ms").type, OptionType::Integer);
  EXPECT_EQ(spec("verify").type, OptionType::Boolean);
  EXPECT_EQ(spec("ratio").type, OptionType::Number);
  EXPECT_EQ(spec("tags").type, OptionType::StringList);
  EXPECT_EQ(spec("headers").type, OptionType::StringMap);
  EXPECT_EQ(spec("from_address").type, OptionType::String);
}

TEST(OptionsTest, DefaultsComeFromTheStruct) {
  EXPECT_EQ(std::get<std::string>(spec("host").defaultOf(spec("host"))), "localhost");
  EXPECT_EQ(std::get<std::int64_t>(spec("port").defaultOf(spec("port"))), 587);
  EXPECT_EQ(std::get<std::string>(spec("mode").defaultOf(spec("mode"))), "secure");
  EXPECT_EQ(std::get<std::int64_t>(spec("timeout_ms").defaultOf(spec("timeout_ms"))), 30000);
  EXPECT_EQ(std::get<std::string>(spec("from_address").defaultOf(spec("from_address"))),
            "noreply@example.com");
  EXPECT_EQ(describeDefault(spec("host")), "\"localhost\"");
  EXPECT_EQ(describeDefault(spec("port")), "587");
  EXPECT_EQ(describeDefault(spec("verify")), "true");
  EXPECT_EQ(describeDefault(spec("ratio")), "0.25");
  EXPECT_EQ(describeDefault(spec("tags")), "[a, b]");
  EXPECT_EQ(describeDefault(spec("headers")), "{X-A: 1}");
  EXPECT_EQ(describeDefault(spec("password")), "(secret)");
  EXPECT_EQ(describeDefault(spec("from_name")), "(required)");
}

TEST(OptionsTest, RangesDefaultToTheFieldType) {
  constexpr auto wide = Option<Settings>::field<&Settings::port>("port", "p");
  EXPECT_EQ(wide.spec.minimum, 0);
  EXPECT_EQ(wide.spec.maximum, 65535);
  EXPECT_EQ(spec("port").minimum, 1);
  EXPECT_THROW(Option<Settings>::field<&Settings::port>("port", "p").range(1, 70000),
               std::out_of_range);
}

TEST(OptionsTest, ConfigFillsTheSettingsStruct) {
  std::map<std::string, ConfigValue> values;
  for (const OptionSpec& s : kOptions.specs) {
    if (!s.isRequired) values.emplace(s.name, s.defaultOf(s));
  }
  values["host"] = std::string("mail.example.org");
  values["port"] = std::int64_t{25};
  values["mode"] = std::string("plain");
  values["timeout_ms"] = std::int64_t{1500};
  values["verify"] = false;
  values["tags"] = std::vector<std::string>{"x"};
  values["from_name"] = std::string("Praxis");
  const Config config(std::move(values), {"host"}, "p.yaml:3");
  const Settings settings = config.settings(kOptions);
  EXPECT_EQ(settings.host, "mail.example.org");
  EXPECT_EQ(settings.port, 25);
  EXPECT_EQ(settings.mode, Mode::Plain);
  EXPECT_EQ(settings.timeout, std::chrono::milliseconds(1500));
  EXPECT_FALSE(settings.verify);
  EXPECT_DOUBLE_EQ(settings.ratio, 0.25);
  EXPECT_EQ(settings.tags, std::vector<std::string>{"x"});
  EXPECT_EQ(settings.sender.address, "noreply@example.com");
  EXPECT_EQ(settings.sender.name, "Praxis");
  EXPECT_EQ(std::get<std::int64_t>(spec("port").read(spec("port"), &settings)), 25);
  EXPECT_EQ(std::get<std::string>(spec("mode").read(spec("mode"), &settings)), "plain");
  EXPECT_EQ(std::get<std::string>(spec("from_name").read(spec("from_name"), &settings)), "Praxis");
}

TEST(OptionsTest, SoundDeclarationsHaveNoProblems) {
  EXPECT_TRUE(optionDeclarationProblems(kOptions.span()).empty());
}

struct Broken {
  Mode mode = static_cast<Mode>(7);
  Mode unchosen = Mode::Plain;
  std::int64_t count = 500;
  std::string name;
};

TEST(OptionsTest, BrokenDeclarationsAreNamed) {
  using B = Option<Broken>;
  constexpr auto broken =
      optionList(B::field<&Broken::mode>("mode", "default is no choice").choices(kModes),
                 B::field<&Broken::unchosen>("unchosen", "enum without choices"),
                 B::field<&Broken::count>("count", "default outside range").range(1, 100),
                 B::field<&Broken::name>("name", "twice"), B::field<&Broken::name>("name", "twice"),
                 B::field<&Broken::name>("Bad-Key", "not a plain key"));
  const auto problems = optionDeclarationProblems(broken.span());
  std::string all;
  for (const auto& p : problems) all += p + "\n";
  EXPECT_EQ(problems.size(), 5u) << all;
  EXPECT_NE(all.find("option 'mode': the settings struct's default is none of its choices"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("option 'unchosen': an enum field needs choices()"), std::string::npos);
  EXPECT_NE(
      all.find("option 'count': the settings struct's default 500 is outside range() [1, 100]"),
      std::string::npos);
  EXPECT_NE(all.find("option 'name': declared twice"), std::string::npos);
  EXPECT_NE(all.find("option 'Bad-Key': a name is"), std::string::npos);
}

}  // namespace
}  // namespace commsvc
