// Model families: detection from the graph signature, each family end to end on small graphs
// with its exact signature (tests/fixtures/models/families/, make_family_fixtures.py), and
// refusals naming the closest family. model_families_graphs_test runs the real architectures.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "model/mask_codec.h"
#include "model/preprocess.h"
#include "model/sam_model.h"
#include "model/segmenter.h"
#include "support/scenes.h"
#include "support/test_support.h"

namespace samcache {
namespace {

namespace fs = std::filesystem;

const fs::path kFamilies = fs::path(SAMCACHE_SOURCE_DIR) / "tests" / "fixtures" / "models" / "families";

std::unique_ptr<SamModel> Open(const fs::path& dir, bool trim_decoder = true) {
  ModelOptions options{2};
  options.trim_decoder = trim_decoder;
  Result<std::unique_ptr<SamModel>> model = SamModel::OpenFolder(dir, options);
  EXPECT_TRUE(model.ok()) << dir << ": " << model.status().message();
  return model.ok() ? std::move(model).value() : nullptr;
}

std::string Refusal(const fs::path& dir) {
  Result<std::unique_ptr<SamModel>> model = SamModel::OpenFolder(dir, ModelOptions{1});
  EXPECT_FALSE(model.ok()) << dir << " was accepted";
  return model.ok() ? "" : model.status().message();
}

// A folder of symbolic links: one graph from here, one from there (and a model.json).
fs::path Combine(const testing::TempDir& dir, const fs::path& encoder, const fs::path& decoder,
                 const std::string& model_json = "") {
  fs::create_symlink(encoder, dir / "encoder.onnx");
  fs::create_symlink(decoder, dir / "decoder.onnx");
  if (!model_json.empty()) testing::WriteFile(dir / "model.json", model_json);
  return dir.path();
}

DecoderPrompt Prompt(int width, int height, std::vector<PromptPoint> points) {
  DecoderPrompt prompt;
  prompt.original_width = width;
  prompt.original_height = height;
  prompt.points = std::move(points);
  return prompt;
}

TEST(ModelFamiliesTest, TheDemoIsSam) {
  Result<std::unique_ptr<SamModel>> demo = SamModel::OpenDemo(ModelOptions{1});
  ASSERT_TRUE(demo.ok()) << demo.status().message();
  const ModelInfo& info = (*demo)->info();
  EXPECT_EQ(info.family, ModelFamily::kSam);
  EXPECT_EQ(info.frame_fit, FrameFit::kLongestSide);
  EXPECT_EQ(info.embedding_names, std::vector<std::string>{"image_embeddings"});
  EXPECT_EQ(info.embedding_shapes, (std::vector<std::vector<int64_t>>{{1, 256, 64, 64}}));
  EXPECT_EQ(info.embedding_bytes, 4u << 20);
  EXPECT_EQ(info.max_points, 0);
}

struct FixtureCase {
  const char* folder;
  ModelFamily family;
  FrameFit frame_fit;
  std::vector<std::string> embedding_names;
  int max_points;
};

class FamilyFixtureTest : public ::testing::TestWithParam<FixtureCase> {};

TEST_P(FamilyFixtureTest, IsDetectedAndRunsEndToEnd) {
  const FixtureCase& c = GetParam();
  std::unique_ptr<SamModel> model = Open(kFamilies / c.folder);
  ASSERT_TRUE(model);
  const ModelInfo& info = model->info();
  EXPECT_EQ(info.family, c.family);
  EXPECT_EQ(info.frame_fit, c.frame_fit);
  EXPECT_EQ(info.embedding_names, c.embedding_names);
  EXPECT_EQ(info.max_points, c.max_points);
  EXPECT_GT(info.embedding_bytes, 0u);

  testing::Scene scene = testing::MakeShapesScene(640, 480);
  Result<Embedding> embedding = model->Encode(model->Prepare(scene.image));
  ASSERT_TRUE(embedding.ok()) << embedding.status().message();
  ASSERT_EQ(embedding->tensors.size(), c.embedding_names.size());
  EXPECT_EQ(embedding->bytes(), info.embedding_bytes);
  for (size_t i = 0; i < c.embedding_names.size(); ++i) {
    EXPECT_EQ(embedding->tensors[i].name, c.embedding_names[i]);
    EXPECT_EQ(embedding->tensors[i].shape, info.embedding_shapes[i]);
  }
  DecoderPrompt prompt = Prompt(640, 480, {{100, 200, 1}});
  prompt.box = std::array<float, 4>{10, 20, 300, 400};
  Result<DecoderResult> decoded = model->Decode(*embedding, prompt);
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  EXPECT_EQ(decoded->low_res_height, 256);
  EXPECT_EQ(decoded->low_res_width, 256);
  EXPECT_EQ(decoded->scores.size(), static_cast<size_t>(decoded->mask_count));
  const std::vector<int> chosen = ChooseMasks(decoded->scores, false, info.mask_ranking);
  ASSERT_EQ(chosen.size(), 1u);
  BinaryMask mask = UpsampleForModel(info, decoded->low_res_logits.data(), 256, 256, 480, 640);
  EXPECT_EQ(mask.height, 480);
  EXPECT_EQ(mask.width, 640);
}

// Clicks run the decoder trimmed to the outputs they read: the same nodes compute those outputs,
// so the masks and scores are the whole graph's, bit for bit.
TEST_P(FamilyFixtureTest, ClicksOnTheTrimmedDecoderGiveTheWholeGraphsResultBitForBit) {
  std::unique_ptr<SamModel> trimmed = Open(kFamilies / GetParam().folder);
  std::unique_ptr<SamModel> whole = Open(kFamilies / GetParam().folder, /*trim_decoder=*/false);
  ASSERT_TRUE(trimmed && whole);
  EXPECT_EQ(whole->info().decoder_nodes_trimmed, 0);
  // The fixtures' SAM-HQ and EfficientSAM decoders have a full-size output clicks do not read.
  const bool full_size_output =
      GetParam().family == ModelFamily::kSamHq || GetParam().family == ModelFamily::kEfficientSam;
  EXPECT_EQ(trimmed->info().decoder_nodes_trimmed > 0, full_size_output);
  testing::Scene scene = testing::MakeShapesScene(640, 480);
  Result<Embedding> embedding = whole->Encode(whole->Prepare(scene.image));
  ASSERT_TRUE(embedding.ok()) << embedding.status().message();
  DecoderPrompt prompt = Prompt(640, 480, {{100, 200, 1}, {500, 60, 0}});
  Result<DecoderResult> a = trimmed->Decode(*embedding, prompt);
  Result<DecoderResult> b = whole->Decode(*embedding, prompt);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->mask_count, b->mask_count);
  EXPECT_EQ(a->low_res_logits, b->low_res_logits);
  EXPECT_EQ(a->scores, b->scores);
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, FamilyFixtureTest,
    ::testing::Values(
        FixtureCase{"sam-hq",
                    ModelFamily::kSamHq,
                    FrameFit::kLongestSide,
                    {"image_embeddings", "interm_embeddings"},
                    0},
        FixtureCase{"edgesam", ModelFamily::kEdgeSam, FrameFit::kLongestSide, {"image_embeddings"}, 0},
        FixtureCase{"sam2",
                    ModelFamily::kSam2,
                    FrameFit::kStretch,
                    {"image_embed", "high_res_feats_0", "high_res_feats_1"},
                    0},
        FixtureCase{"sam2-full-size",
                    ModelFamily::kSam2FullSize,
                    FrameFit::kStretch,
                    {"image_embed", "high_res_feats_0", "high_res_feats_1"},
                    0},
        FixtureCase{"efficientsam", ModelFamily::kEfficientSam, FrameFit::kStretch, {"image_embeddings"}, 6}),
    [](const ::testing::TestParamInfo<FixtureCase>& info) {
      std::string name = info.param.folder;
      for (char& ch : name) ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
      return name;
    });

TEST(ModelFamiliesTest, SamHqCachesTheIntermediateFeatures) {
  std::unique_ptr<SamModel> model = Open(kFamilies / "sam-hq");
  ASSERT_TRUE(model);
  EXPECT_EQ(model->info().embedding_shapes.at(1), (std::vector<int64_t>{4, 1, 64, 64, 8}));
  // 4 MiB of image embedding plus 4 x 64 x 64 x C floats.
  EXPECT_EQ(model->info().embedding_bytes, (4u << 20) + 4u * 64 * 64 * 8 * 4);
}

TEST(ModelFamiliesTest, EdgeSamRanksAllFourMasksByStability) {
  std::unique_ptr<SamModel> model = Open(kFamilies / "edgesam");
  ASSERT_TRUE(model);
  EXPECT_EQ(model->info().mask_ranking, MaskRanking::kAllByScore);
  EXPECT_FALSE(model->info().takes_mask_input);
  testing::Scene scene = testing::MakeShapesScene(320, 240);
  Result<Embedding> embedding = model->Encode(model->Prepare(scene.image));
  ASSERT_TRUE(embedding.ok());
  Result<DecoderResult> decoded = model->Decode(*embedding, Prompt(320, 240, {{10, 10, 1}}));
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  ASSERT_EQ(decoded->mask_count, 4);
  // The fixture's masks are one plane shifted by -1, 0, 1, 2: their stability scores differ,
  // each in [0, 1].
  for (float score : decoded->scores) {
    EXPECT_GE(score, 0.0f);
    EXPECT_LE(score, 1.0f);
  }
  // Every one of the four competes, index 0 included.
  EXPECT_EQ(ChooseMasks({0.9f, 0.1f, 0.5f, 0.7f}, false, MaskRanking::kAllByScore), std::vector<int>{0});
  EXPECT_EQ(ChooseMasks({0.2f, 0.1f, 0.5f, 0.7f}, true, MaskRanking::kAllByScore),
            (std::vector<int>{3, 2, 0}));
}

TEST(ModelFamiliesTest, FullSizeSam2AsksForLowResMasksAndGivesTheGraphsOnRequest) {
  std::unique_ptr<SamModel> model = Open(kFamilies / "sam2-full-size");
  ASSERT_TRUE(model);
  testing::Scene scene = testing::MakeShapesScene(500, 300);
  Result<Embedding> embedding = model->Encode(model->Prepare(scene.image));
  ASSERT_TRUE(embedding.ok());
  Result<DecoderResult> full = model->DecodeWithGraphMasks(*embedding, Prompt(500, 300, {{50, 60, 1}}));
  ASSERT_TRUE(full.ok()) << full.status().message();
  EXPECT_EQ(full->low_res_height, 256);
  EXPECT_EQ(full->graph_height, 300);
  EXPECT_EQ(full->graph_width, 500);
  // The graph resizes the low-res logits straight to orig_im_size: our stretched upsample
  // of the same logits agrees.
  const size_t plane = 256u * 256u;
  for (int m = 0; m < full->mask_count; ++m) {
    std::vector<float> ours =
        UpsampleStretchedLogitsToLogits(full->low_res_logits.data() + plane * m, 256, 256, 300, 500);
    const float* graph = full->graph_masks.data() + 300u * 500u * m;
    float max_diff = 0;
    for (size_t i = 0; i < ours.size(); ++i) max_diff = std::max(max_diff, std::fabs(ours[i] - graph[i]));
    EXPECT_LT(max_diff, 1e-3f) << "mask " << m;
  }
}

// --- Refusals -------------------------------------------------------------------------------

TEST(ModelFamiliesTest, NearMissesNameTheClosestFamilyAndWhatDiffers) {
  const std::string efficient = Refusal(kFamilies / "efficientsam-near-miss");
  EXPECT_NE(efficient.find("decoder.onnx: looks like EfficientSAM but input 'orig_im_size' is float32, "
                           "expected int64"),
            std::string::npos)
      << efficient;
  const std::string sam2 = Refusal(kFamilies / "sam2-near-miss");
  EXPECT_NE(sam2.find("decoder.onnx: looks like SAM 2 (samexporter format) but input 'mask_input' has shape "
                      "[?,1,128,128], expected [?,1,256,256]"),
            std::string::npos)
      << sam2;
  // SAM 1 near misses keep their message: file, tensor, both shapes.
  const std::string sam = Refusal(fs::path(SAMCACHE_SOURCE_DIR) / "tests/fixtures/models/wrong-decoder");
  EXPECT_NE(sam.find("decoder.onnx: looks like SAM but input 'mask_input' has shape [1,1,128,128], expected "
                     "[1,1,256,256]"),
            std::string::npos)
      << sam;
}

TEST(ModelFamiliesTest, AStatedFamilyMustMatch) {
  testing::TempDir dir;
  const std::string message =
      Refusal(Combine(dir, kFamilies / "sam2/encoder.onnx", kFamilies / "sam2/decoder.onnx",
                      R"({"family": "efficientsam"})"));
  EXPECT_NE(message.find("model.json says EfficientSAM but"), std::string::npos) << message;
  EXPECT_NE(message.find("batched_images"), std::string::npos) << message;

  testing::TempDir right;
  std::unique_ptr<SamModel> model = Open(Combine(right, kFamilies / "sam2/encoder.onnx",
                                                 kFamilies / "sam2/decoder.onnx", R"({"family": "sam2"})"));
  ASSERT_TRUE(model);
  EXPECT_EQ(model->info().family, ModelFamily::kSam2);

  testing::TempDir unknown;
  const std::string bad = Refusal(Combine(unknown, kFamilies / "sam2/encoder.onnx",
                                          kFamilies / "sam2/decoder.onnx", R"({"family": "sam3"})"));
  EXPECT_NE(bad.find("model.json: family must be one of"), std::string::npos) << bad;
}

TEST(ModelFamiliesTest, MismatchedEncoderAndDecoderAreRefused) {
  // An EfficientSAM encoder with a SAM 2 decoder: SAM 2 is closest, its encoder differs.
  testing::TempDir dir;
  const std::string message =
      Refusal(Combine(dir, kFamilies / "efficientsam/encoder.onnx", kFamilies / "sam2/decoder.onnx"));
  EXPECT_NE(message.find("encoder.onnx: looks like SAM 2 (samexporter format) but"), std::string::npos)
      << message;
  EXPECT_NE(message.find("high_res_feats_0"), std::string::npos) << message;
}

}  // namespace
}  // namespace samcache
