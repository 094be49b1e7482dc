// JSON from the network: the nesting limit holds while parsing (a 100,000-deep body is
// refused, not a stack overflow), the size limit before it, and messages stay short.
#include "common/bounded_json.h"

#include <gtest/gtest.h>

#include <string>

namespace samcache {
namespace {

// `depth` arrays inside each other around a 1.
std::string NestedArrays(int depth) { return std::string(depth, '[') + "1" + std::string(depth, ']'); }
// {"a": {"a": ... 1 ...}}, `depth` objects deep.
std::string NestedObjects(int depth) {
  std::string text;
  for (int i = 0; i < depth; ++i) text += "{\"a\":";
  return text + "1" + std::string(depth, '}');
}

TEST(BoundedJsonTest, SixtyFourLevelsAreAcceptedAndSixtyFiveRefused) {
  for (const auto& nested : {NestedArrays, NestedObjects}) {
    Result<nlohmann::json> ok = ParseBoundedJson(nested(64));
    ASSERT_TRUE(ok.ok()) << ok.status().message();
    Result<nlohmann::json> deep = ParseBoundedJson(nested(65));
    ASSERT_FALSE(deep.ok());
    EXPECT_EQ(deep.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(deep.status().message(), "JSON nested deeper than 64 levels");
  }
  // Arrays and objects count alike: [{"a": [...]}] mixes them.
  std::string mixed;
  for (int i = 0; i < 33; ++i) mixed += "[{\"a\":";
  mixed += "1";
  for (int i = 0; i < 33; ++i) mixed += "}]";
  EXPECT_FALSE(ParseBoundedJson(mixed).ok());  // 66 levels
  EXPECT_TRUE(ParseBoundedJson(mixed, JsonLimits{.max_depth = 66}).ok());
}

TEST(BoundedJsonTest, HostileDepthsAreRefusedWithoutExhaustingTheStack) {
  // The sizes of the H1 bodies: these crashed the server before.
  for (int depth : {60'000, 100'000, 1'000'000}) {
    Result<nlohmann::json> arrays = ParseBoundedJson(NestedArrays(depth), JsonLimits{.max_bytes = 4 << 20});
    ASSERT_FALSE(arrays.ok()) << depth;
    EXPECT_NE(arrays.status().message().find("nested deeper than 64"), std::string::npos);
    Result<nlohmann::json> objects = ParseBoundedJson(NestedObjects(depth), JsonLimits{.max_bytes = 8 << 20});
    ASSERT_FALSE(objects.ok()) << depth;
    EXPECT_NE(objects.status().message().find("nested deeper than 64"), std::string::npos);
  }
  // Deep and unterminated: still the depth that is reported, at level 65.
  EXPECT_NE(ParseBoundedJson(std::string(100'000, '[')).status().message().find("nested deeper"),
            std::string::npos);
}

TEST(BoundedJsonTest, SizeIsCheckedBeforeParsing) {
  const std::string body = "[" + std::string(100, ' ') + "1]";
  EXPECT_TRUE(ParseBoundedJson(body, JsonLimits{.max_bytes = body.size()}).ok());
  Result<nlohmann::json> big = ParseBoundedJson(body, JsonLimits{.max_bytes = body.size() - 1});
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().message(), "JSON larger than " + std::to_string(body.size() - 1) + " bytes");
}

TEST(BoundedJsonTest, ParserMessagesAreShortAndSayWhatIsWrong) {
  Result<nlohmann::json> overflow = ParseBoundedJson("[1e999]");
  ASSERT_FALSE(overflow.ok());
  EXPECT_NE(overflow.status().message().find("1e999"), std::string::npos) << overflow.status().message();
  EXPECT_EQ(overflow.status().message().find("[json.exception"), std::string::npos);

  // nlohmann quotes the token it stopped in: here a megabyte-long string.
  const std::string long_token = "[\"" + std::string(1 << 20, 'x') + "\x01\"]";
  Result<nlohmann::json> bad = ParseBoundedJson(long_token, JsonLimits{.max_bytes = 2 << 20});
  ASSERT_FALSE(bad.ok());
  EXPECT_LT(bad.status().message().size(), 200u) << bad.status().message().substr(0, 300);
  EXPECT_EQ(bad.status().message().rfind("not valid JSON: ", 0), 0u);
  EXPECT_NE(bad.status().message().find("…"), std::string::npos);
}

TEST(BoundedJsonTest, InvalidUtf8IsRefused) {
  EXPECT_FALSE(ParseBoundedJson("[\"\xff\xfe\"]").ok());
  EXPECT_TRUE(ParseBoundedJson("[\"caf\xc3\xa9\"]").ok());
}

}  // namespace
}  // namespace samcache
