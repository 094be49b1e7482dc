// The limits on what a client may send, below HTTP: ids checked by form and echoed short,
// annotation fields (category, prompt, RLE runs) and the names an export lets out.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "annotate/annotation_rules.h"
#include "annotate/coco_export.h"
#include "common/crypto.h"
#include "http/ids.h"
#include "model/mask_codec.h"

namespace samcache {
namespace {

using json = nlohmann::json;

TEST(IdsTest, OnlyTheServersOwnFormIsAnId) {
  EXPECT_TRUE(IsId(RandomId()));
  EXPECT_TRUE(IsId("0123456789abcdef"));
  for (const char* bad : {"", "nope", "0123456789abcde", "0123456789abcdef0", "0123456789ABCDEF",
                          "0123456789abcdeg", "../../etc/passw", "0123456789abcde\n"}) {
    EXPECT_FALSE(IsId(bad)) << bad;
  }
  EXPECT_FALSE(IsId(std::string("0123456789abcde\0", 16)));
}

TEST(IdsTest, MalformedIdsAreNotFoundAndEchoedShort) {
  EXPECT_TRUE(CheckId("0123456789abcdef", "image").ok());
  Status st = CheckId("nope", "image");
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  EXPECT_EQ(st.message(), "no image with id 'nope'");
  Status huge = CheckId(std::string(50 << 20, 'a'), "image");
  EXPECT_EQ(huge.message(), "no image with id '" + std::string(16, 'a') + "…'");
  // Cut between characters, not inside one: 20 two-byte characters.
  std::string accents;
  for (int i = 0; i < 20; ++i) accents += "\xc3\xa9";
  EXPECT_EQ(ShortPrefix(accents), accents.substr(0, 32) + "…");
  EXPECT_EQ(ShortPrefix("short"), "short");
}

TEST(ExportTextTest, ControlAndBidiCharactersAreStripped) {
  EXPECT_EQ(ExportText("cat.png"), "cat.png");
  EXPECT_EQ(ExportText(std::string("a\0b\x01\x1f\x7f"
                                   "c",
                                   7)),
            "abc");
  EXPECT_EQ(ExportText("a\xc2\x80\xc2\x85\xc2\x9f"
                       "b"),
            "ab");                                                        // C1
  EXPECT_EQ(ExportText("invoice\xe2\x80\xaegnp.exe"), "invoicegnp.exe");  // RLO
  EXPECT_EQ(ExportText("\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad"
                       "x"),
            "x");                                                                   // LRE..LRO
  EXPECT_EQ(ExportText("\xe2\x81\xa6\xe2\x81\xa7\xe2\x81\xa8y\xe2\x81\xa9"), "y");  // LRI..PDI
  // Neighbours that are ordinary text stay: U+00A0, U+2029, U+202F, U+2065, U+206A, é, 猫.
  for (const char* keep : {"\xc2\xa0", "\xe2\x80\xa9", "\xe2\x80\xaf", "\xe2\x81\xa5", "\xe2\x81\xaa",
                           "caf\xc3\xa9", "\xe7\x8c\xab"}) {
    EXPECT_EQ(ExportText(keep), keep);
  }
  EXPECT_EQ(ExportText("\x01\xe2\x80\xae"), "unnamed");
  // A truncated sequence at the end is left to the JSON writer (which replaces it).
  EXPECT_EQ(ExportText("a\xe2\x80"), "a\xe2\x80");
}

class AnnotationLimitsTest : public ::testing::Test {
 protected:
  ImageRecord Image(int height, int width) {
    ImageRecord image;
    image.id = "0123456789abcdef";
    image.height = height;
    image.width = width;
    return image;
  }
  static json Body(const json& counts, int height, int width) {
    return json{{"category", "cat"}, {"segmentation", {{"size", {height, width}}, {"counts", counts}}}};
  }
  Status Apply(const json& body, const ImageRecord& image) {
    return ApplyAnnotationFields(body, image, /*creating=*/true, record_);
  }
  AnnotationRecord record_;
};

// `n` runs of one pixel each, then the rest of a height x width mask as one last run.
std::vector<uint32_t> OnePixelRuns(size_t n, uint32_t pixels) {
  std::vector<uint32_t> runs(n - 1, 1);
  runs.push_back(pixels - static_cast<uint32_t>(n - 1));
  return runs;
}

TEST_F(AnnotationLimitsTest, RleRunsAreCappedInBothForms) {
  const int h = 1000, w = 600;  // 600,000 pixels: room for more runs than the cap
  const ImageRecord image = Image(h, w);
  const std::vector<uint32_t> at_cap = OnePixelRuns(kMaxRleRuns, h * w);
  const std::vector<uint32_t> over = OnePixelRuns(kMaxRleRuns + 1, h * w);
  EXPECT_TRUE(Apply(Body(CompressRleCounts(at_cap), h, w), image).ok());
  EXPECT_TRUE(Apply(Body(at_cap, h, w), image).ok());
  for (const json& counts : {json(CompressRleCounts(over)), json(over)}) {
    Status st = Apply(Body(counts, h, w), image);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(st.message(), "segmentation.counts: at most 500000 runs");
  }
}

TEST_F(AnnotationLimitsTest, TwentyMillionRunsAreRefusedBeforeTheyAreRead) {
  // L3 of the issue: 20 M one-pixel runs of a 5000 x 4000 image, as pycocotools writes them
  // (after the first three counts, each is "same as two before": one '0').
  const int h = 5000, w = 4000;
  const std::string counts = "111" + std::string(20'000'000 - 3, '0');
  Status st = Apply(Body(counts, h, w), Image(h, w));
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "segmentation.counts: at most 500000 runs");
  EXPECT_TRUE(record_.rle_counts.empty());
}

TEST_F(AnnotationLimitsTest, RunsMustCoverTheMaskExactly) {
  const ImageRecord image = Image(4, 3);
  EXPECT_NE(Apply(Body(json::array({5, 6}), 4, 3), image).message().find("RLE counts sum to 11, not 4x3"),
            std::string::npos);
  EXPECT_NE(Apply(Body(json::array({5, 8}), 4, 3), image).message().find("sum to 13"), std::string::npos);
  EXPECT_NE(Apply(Body(json::array({12}), 4, 3), image).message().find("segmentation is empty"),
            std::string::npos);
  EXPECT_NE(Apply(Body(json::array({UINT32_MAX, UINT32_MAX}), 4, 3), image).message().find("sum to"),
            std::string::npos);
}

TEST_F(AnnotationLimitsTest, AreaAndBoxFromTheRunsMatchTheDecodedMask) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    const int h = 1 + static_cast<int>(rng() % 40), w = 1 + static_cast<int>(rng() % 40);
    BinaryMask mask{h, w, std::vector<uint8_t>(static_cast<size_t>(h * w), 0)};
    // A few rectangles, sometimes a whole column or more, so runs wrap across columns.
    const int rects = 1 + static_cast<int>(rng() % 3);
    for (int r = 0; r < rects; ++r) {
      const int x0 = static_cast<int>(rng() % w), y0 = static_cast<int>(rng() % h);
      const int x1 = x0 + static_cast<int>(rng() % (w - x0)), y1 = y0 + static_cast<int>(rng() % (h - y0));
      for (int y = y0; y <= y1; ++y)
        for (int x = x0; x <= x1; ++x) mask.data[static_cast<size_t>(y * w + x)] = 1;
    }
    ASSERT_TRUE(Apply(Body(EncodeRle(mask).counts, h, w), Image(h, w)).ok());
    const std::array<int, 4> box = MaskBbox(mask);
    EXPECT_EQ(record_.area, static_cast<int64_t>(MaskArea(mask))) << trial;
    for (size_t i = 0; i < 4; ++i) EXPECT_EQ(record_.bbox[i], box[i]) << trial << " " << i;
  }
}

TEST_F(AnnotationLimitsTest, CategoryAndPromptHaveTheirLimits) {
  const ImageRecord image = Image(4, 3);
  const json counts = json::array({0, 12});
  json body = Body(counts, 4, 3);
  body["category"] = std::string(kMaxCategoryChars, 'x');
  EXPECT_TRUE(Apply(body, image).ok());
  body["category"] = std::string(kMaxCategoryChars + 1, 'x');
  EXPECT_EQ(Apply(body, image).message(), "category: at most 200 characters");
  std::string accents;  // 200 two-byte characters: counted as characters
  for (size_t i = 0; i < kMaxCategoryChars; ++i) accents += "\xc3\xa9";
  body["category"] = accents;
  EXPECT_TRUE(Apply(body, image).ok());

  body["category"] = "cat";
  body["prompt"] = std::string(kMaxPromptBytes, 'p');  // plus two quotes: over
  EXPECT_EQ(Apply(body, image).message(), "prompt: at most 65536 bytes of JSON");
  body["prompt"] = json{{"points", json::array({{{"x", 1}, {"y", 2}}})}};
  EXPECT_TRUE(Apply(body, image).ok());
}

}  // namespace
}  // namespace samcache
