// Model families on the real-architecture graphs (random weights, exact I/O) and through the
// Segmenter: frames and shapes checked against the graphs' own outputs, point limits refused.
//
// The graphs are in SAMCACHE_SHARED_MODELS_DIR (../shared/models next to the checkout; the
// environment variable of the same name overrides it); tests needing them are skipped with a
// message when the folder is absent. The SAM 2.1 decoder is paired with the small SAM 2 encoder
// of tests/fixtures/models/families/sam2 (same outputs, meaningless features).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "catalog/catalog.h"
#include "common/files.h"
#include "image/image_decoder.h"
#include "ingest/ingestor.h"
#include "model/embedding_service.h"
#include "model/mask_codec.h"
#include "model/preprocess.h"
#include "model/sam_model.h"
#include "model/segmenter.h"
#include "store/blob_store.h"
#include "store/memory_tier.h"
#include "support/scenes.h"
#include "support/test_support.h"

namespace samcache {
namespace {

namespace fs = std::filesystem;

const fs::path kFamilies = fs::path(SAMCACHE_SOURCE_DIR) / "tests" / "fixtures" / "models" / "families";

fs::path SharedModels() {
  if (const char* env = std::getenv("SAMCACHE_SHARED_MODELS")) return env;
  return SAMCACHE_SHARED_MODELS_DIR;
}

#define REQUIRE_SHARED(folder)                                                                        \
  if (!fs::exists(SharedModels() / (folder) / "decoder.onnx"))                                        \
  GTEST_SKIP() << "the shared real-architecture graphs are not here: " << (SharedModels() / (folder)) \
               << " (set SAMCACHE_SHARED_MODELS)"

std::unique_ptr<SamModel> Open(const fs::path& dir, bool trim_decoder = true) {
  ModelOptions options{2};
  options.trim_decoder = trim_decoder;
  Result<std::unique_ptr<SamModel>> model = SamModel::OpenFolder(dir, options);
  EXPECT_TRUE(model.ok()) << dir << ": " << model.status().message();
  return model.ok() ? std::move(model).value() : nullptr;
}

DecoderPrompt Prompt(int width, int height, std::vector<PromptPoint> points) {
  DecoderPrompt prompt;
  prompt.original_width = width;
  prompt.original_height = height;
  prompt.points = std::move(points);
  return prompt;
}

double IoU(const std::vector<float>& graph_logits, const std::vector<uint8_t>& ours) {
  size_t both = 0;
  size_t any = 0;
  for (size_t i = 0; i < ours.size(); ++i) {
    both += (graph_logits[i] > 0) && ours[i];
    any += (graph_logits[i] > 0) || ours[i];
  }
  return any == 0 ? 1.0 : static_cast<double>(both) / static_cast<double>(any);
}

// ---- MobileSAM: the official SAM decoder ----------------------------------------------------

TEST(SharedGraphsTest, MobileSamIsSamAndOurUpsampleMatchesTheGraphs) {
  REQUIRE_SHARED("mobilesam-arch");
  std::unique_ptr<SamModel> model = Open(SharedModels() / "mobilesam-arch");
  ASSERT_TRUE(model);
  EXPECT_EQ(model->info().family, ModelFamily::kSam);
  EXPECT_EQ(model->info().frame_fit, FrameFit::kLongestSide);
  testing::Scene scene = testing::MakeShapesScene(800, 600);
  Result<Embedding> embedding = model->Encode(model->Prepare(scene.image));
  ASSERT_TRUE(embedding.ok()) << embedding.status().message();
  Result<DecoderResult> full = model->DecodeWithGraphMasks(*embedding, Prompt(800, 600, {{300, 200, 1}}));
  ASSERT_TRUE(full.ok()) << full.status().message();
  ASSERT_EQ(full->mask_count, 4);
  ASSERT_EQ(full->graph_height, 600);
  ASSERT_EQ(full->graph_width, 800);
  const size_t plane = 256u * 256u;
  for (int m = 0; m < 4; ++m) {
    BinaryMask ours =
        UpsampleForModel(model->info(), full->low_res_logits.data() + plane * m, 256, 256, 600, 800);
    std::vector<float> graph(full->graph_masks.begin() + 480000 * m,
                             full->graph_masks.begin() + 480000 * (m + 1));
    EXPECT_GE(IoU(graph, ours.data), 0.99) << "mask " << m;
  }
}

// The official export computes its full-size `masks` on every run; clicks run the graph without
// those nodes, and what they read is the whole graph's, bit for bit.
TEST(SharedGraphsTest, ClicksOnTheTrimmedDecoderGiveTheWholeGraphsResultBitForBit) {
  for (const char* folder : {"mobilesam-arch", "efficientsam-arch"}) {
    SCOPED_TRACE(folder);
    REQUIRE_SHARED(folder);
    std::unique_ptr<SamModel> trimmed = Open(SharedModels() / folder);
    std::unique_ptr<SamModel> whole = Open(SharedModels() / folder, /*trim_decoder=*/false);
    ASSERT_TRUE(trimmed && whole);
    EXPECT_GT(trimmed->info().decoder_nodes_trimmed, 0);
    EXPECT_EQ(whole->info().decoder_nodes_trimmed, 0);
    testing::Scene scene = testing::MakeShapesScene(800, 600);
    Result<Embedding> embedding = whole->Encode(whole->Prepare(scene.image));
    ASSERT_TRUE(embedding.ok()) << embedding.status().message();
    DecoderPrompt prompt = Prompt(800, 600, {{300, 200, 1}, {700, 500, 0}});
    Result<DecoderResult> a = trimmed->Decode(*embedding, prompt);
    Result<DecoderResult> b = whole->Decode(*embedding, prompt);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->low_res_logits, b->low_res_logits);
    EXPECT_EQ(a->scores, b->scores);
  }
}

// ---- EfficientSAM ---------------------------------------------------------------------------

class EfficientSamTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(SharedModels() / "efficientsam-arch" / "decoder.onnx")) return;
    model_ = Open(SharedModels() / "efficientsam-arch").release();
    scene_ = new testing::Scene(testing::MakeShapesScene(500, 375));
    Result<Embedding> embedding = model_->Encode(model_->Prepare(scene_->image));
    EXPECT_TRUE(embedding.ok()) << embedding.status().message();
    if (embedding.ok()) embedding_ = new Embedding(std::move(embedding).value());
  }
  void SetUp() override {
    REQUIRE_SHARED("efficientsam-arch");
    ASSERT_TRUE(model_ && embedding_);
  }
  static SamModel* model_;
  static testing::Scene* scene_;
  static Embedding* embedding_;
};
SamModel* EfficientSamTest::model_ = nullptr;
testing::Scene* EfficientSamTest::scene_ = nullptr;
Embedding* EfficientSamTest::embedding_ = nullptr;

TEST_F(EfficientSamTest, DescribesItself) {
  const ModelInfo& info = model_->info();
  EXPECT_EQ(info.family, ModelFamily::kEfficientSam);
  EXPECT_EQ(info.frame_fit, FrameFit::kStretch);
  EXPECT_EQ(info.max_points, 6);
  EXPECT_EQ(info.embedding_bytes, 4u << 20);
  EXPECT_FALSE(info.takes_mask_input);
}

TEST_F(EfficientSamTest, SmallImagesGoInAtTheirSizeLargeOnesAreShrunkToTheFrame) {
  EXPECT_EQ(model_->Prepare(scene_->image).shape, (std::vector<int64_t>{1, 3, 375, 500}));
  EXPECT_EQ(model_->Prepare(testing::MakeShapesScene(1600, 900).image).shape,
            (std::vector<int64_t>{1, 3, 900, 1024}));
  EXPECT_EQ(model_->Prepare(testing::MakeShapesScene(3000, 2000).image).shape,
            (std::vector<int64_t>{1, 3, 1024, 1024}));
  // 0..1 RGB, not normalised: the graph normalises.
  PreparedImage prepared = model_->Prepare(scene_->image);
  EXPECT_GE(*std::min_element(prepared.values.begin(), prepared.values.end()), 0.0f);
  EXPECT_LE(*std::max_element(prepared.values.begin(), prepared.values.end()), 1.0f);
}

TEST_F(EfficientSamTest, ASmallOrigImSizeGivesTheSameLowResMasksAndOursMatchTheGraphsFullSize) {
  DecoderPrompt prompt = Prompt(500, 375, {{120, 90, 1}, {400, 300, 0}});
  prompt.box = std::array<float, 4>{50, 40, 300, 250};
  Result<DecoderResult> fast = model_->Decode(*embedding_, prompt);
  Result<DecoderResult> full = model_->DecodeWithGraphMasks(*embedding_, prompt);
  ASSERT_TRUE(fast.ok()) << fast.status().message();
  ASSERT_TRUE(full.ok()) << full.status().message();
  ASSERT_EQ(fast->mask_count, 3);
  EXPECT_EQ(full->graph_height, 375);
  EXPECT_EQ(full->graph_width, 500);
  // Points scaled to the small frame are the same points once the graph rescales them.
  ASSERT_EQ(fast->low_res_logits.size(), full->low_res_logits.size());
  float max_diff = 0;
  for (size_t i = 0; i < fast->low_res_logits.size(); ++i) {
    max_diff = std::max(max_diff, std::fabs(fast->low_res_logits[i] - full->low_res_logits[i]));
  }
  EXPECT_LT(max_diff, 1e-2f);
  for (size_t i = 0; i < fast->scores.size(); ++i) EXPECT_NEAR(fast->scores[i], full->scores[i], 1e-3f);
  // The graph's output_masks are a bicubic resize of the same logits: ours is bilinear, to the
  // same size, and agrees but for edge pixels.
  const size_t plane = 256u * 256u;
  const size_t pixels = 375u * 500u;
  for (int m = 0; m < 3; ++m) {
    BinaryMask ours =
        UpsampleForModel(model_->info(), fast->low_res_logits.data() + plane * m, 256, 256, 375, 500);
    ASSERT_EQ(ours.data.size(), pixels);
    std::vector<float> graph(full->graph_masks.begin() + pixels * m,
                             full->graph_masks.begin() + pixels * (m + 1));
    EXPECT_GE(IoU(graph, ours.data), 0.95) << "mask " << m;
  }
}

TEST_F(EfficientSamTest, SixPointsRunMoreAreRefusedNamingTheLimit) {
  DecoderPrompt prompt = Prompt(500, 375, {{10, 10, 1}, {20, 20, 1}, {30, 30, 0}, {40, 40, 1}});
  prompt.box = std::array<float, 4>{5, 5, 100, 100};
  Result<DecoderResult> six = model_->Decode(*embedding_, prompt);
  ASSERT_TRUE(six.ok()) << six.status().message();
  prompt.points.push_back({50, 50, 1});
  Result<DecoderResult> seven = model_->Decode(*embedding_, prompt);
  ASSERT_FALSE(seven.ok());
  EXPECT_EQ(seven.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(seven.status().message().find("at most 6 points"), std::string::npos) << seven.status().message();
}

// ---- SAM 2.1 (samexporter's decoder) --------------------------------------------------------

class Sam2Test : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_SHARED("sam2.1-tiny-arch-decoder");
    fs::create_symlink(kFamilies / "sam2" / "encoder.onnx", dir_ / "encoder.onnx");
    fs::create_symlink(SharedModels() / "sam2.1-tiny-arch-decoder" / "decoder.onnx", dir_ / "decoder.onnx");
    model_ = Open(dir_.path());
    ASSERT_TRUE(model_);
  }

  // Random features of the right shapes, as the real encoder would give.
  Embedding Synthetic() const {
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    Embedding embedding;
    embedding.model_id = model_->info().id;
    for (size_t i = 0; i < model_->info().embedding_names.size(); ++i) {
      NamedTensor tensor{model_->info().embedding_names[i], model_->info().embedding_shapes[i], {}};
      size_t count = 1;
      for (int64_t d : tensor.shape) count *= static_cast<size_t>(d);
      tensor.values.resize(count);
      for (float& v : tensor.values) v = normal(rng);
      embedding.tensors.push_back(std::move(tensor));
    }
    return embedding;
  }

  testing::TempDir dir_;
  std::unique_ptr<SamModel> model_;
};

TEST_F(Sam2Test, ThreeTensorsSixteenMebibytesStretchedFrame) {
  const ModelInfo& info = model_->info();
  EXPECT_EQ(info.family, ModelFamily::kSam2);
  EXPECT_EQ(info.frame_fit, FrameFit::kStretch);
  EXPECT_EQ(info.embedding_names,
            (std::vector<std::string>{"image_embed", "high_res_feats_0", "high_res_feats_1"}));
  EXPECT_EQ(info.embedding_bytes, 16u << 20);
  // The encoder declares every dim symbolic: the run gives the shapes.
  testing::Scene scene = testing::MakeShapesScene(640, 360);
  PreparedImage prepared = model_->Prepare(scene.image);
  EXPECT_EQ(prepared.shape, (std::vector<int64_t>{1, 3, 1024, 1024}));
  Result<Embedding> embedding = model_->Encode(prepared);
  ASSERT_TRUE(embedding.ok()) << embedding.status().message();
  EXPECT_EQ(embedding->bytes(), 16u << 20);
  Result<DecoderResult> decoded = model_->Decode(*embedding, Prompt(640, 360, {{100, 100, 1}}));
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
}

TEST_F(Sam2Test, SyntheticEmbeddingGivesThreeLowResMasksAndSigmoidScores) {
  Embedding embedding = Synthetic();
  DecoderPrompt prompt = Prompt(1600, 900, {{400, 300, 1}, {1200, 700, 0}});
  prompt.box = std::array<float, 4>{100, 100, 900, 800};
  Result<DecoderResult> decoded = model_->Decode(embedding, prompt);
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  EXPECT_EQ(decoded->mask_count, 3);
  EXPECT_EQ(decoded->low_res_height, 256);
  EXPECT_EQ(decoded->low_res_width, 256);
  for (float score : decoded->scores) {
    EXPECT_GT(score, 0.0f);
    EXPECT_LT(score, 1.0f);
  }
  for (float v : decoded->low_res_logits) ASSERT_LE(std::fabs(v), 32.0f);  // the export clamps
  // A refinement with the previous low-res mask runs too.
  std::vector<float> previous(decoded->low_res_logits.begin(), decoded->low_res_logits.begin() + 256 * 256);
  prompt.mask_input = &previous;
  Result<DecoderResult> refined = model_->Decode(embedding, prompt);
  ASSERT_TRUE(refined.ok()) << refined.status().message();
  EXPECT_NE(refined->low_res_logits, decoded->low_res_logits);
}

TEST_F(Sam2Test, APointMapsIntoTheStretchedFrame) {
  Embedding embedding = Synthetic();
  // (400, 300) in 1600x900 is (256, 341.33) in the 1024x1024 frame: the same as that point
  // on a 1024x1024 image, where the mapping is the identity.
  Result<DecoderResult> wide = model_->Decode(embedding, Prompt(1600, 900, {{400, 300, 1}}));
  Result<DecoderResult> square =
      model_->Decode(embedding, Prompt(1024, 1024, {{256, 300 * 1024.0f / 900, 1}}));
  ASSERT_TRUE(wide.ok() && square.ok());
  float max_diff = 0;
  for (size_t i = 0; i < wide->low_res_logits.size(); ++i) {
    max_diff = std::max(max_diff, std::fabs(wide->low_res_logits[i] - square->low_res_logits[i]));
  }
  EXPECT_LT(max_diff, 1e-3f);
  // The longest-side mapping (y * 1024 / 1600) would be another point, another answer.
  Result<DecoderResult> longest = model_->Decode(embedding, Prompt(1024, 1024, {{256, 192, 1}}));
  ASSERT_TRUE(longest.ok());
  EXPECT_NE(longest->low_res_logits, wide->low_res_logits);
}

TEST(Sam2PairingTest, TheDemoSam2EncoderPairsWithTheRealDecoderWithoutModelJson) {
  REQUIRE_SHARED("sam2.1-tiny-arch-decoder");
  const fs::path demo = fs::path(SAMCACHE_SOURCE_DIR) / "models" / "demo-sam2" / "encoder.onnx";
  if (!fs::exists(demo)) GTEST_SKIP() << "no " << demo;
  testing::TempDir dir;
  fs::create_symlink(demo, dir / "encoder.onnx");
  fs::create_symlink(SharedModels() / "sam2.1-tiny-arch-decoder" / "decoder.onnx", dir / "decoder.onnx");
  std::unique_ptr<SamModel> model = Open(dir.path());
  ASSERT_TRUE(model);
  EXPECT_EQ(model->info().family, ModelFamily::kSam2);  // detected from the graphs alone
  testing::Scene scene = testing::MakeShapesScene(800, 500);
  Result<Embedding> embedding = model->Encode(model->Prepare(scene.image));
  ASSERT_TRUE(embedding.ok()) << embedding.status().message();
  const testing::SceneObject& circle = scene.Object("circle");
  Result<DecoderResult> decoded =
      model->Decode(*embedding, Prompt(800, 500, {{circle.click_x, circle.click_y, 1}}));
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  EXPECT_EQ(decoded->mask_count, 3);
  BinaryMask mask = UpsampleForModel(model->info(), decoded->low_res_logits.data(), 256, 256, 500, 800);
  EXPECT_EQ(mask.data.size(), 800u * 500u);
}

// ---- Through the Segmenter ------------------------------------------------------------------

class FamilySegmenterTest : public ::testing::Test {
 protected:
  void Start(const fs::path& model_dir) {
    ASSERT_TRUE(blobs_.Init().ok());
    Result<std::unique_ptr<Catalog>> catalog = OpenSqliteCatalog((dir_.path() / "catalog.db").string());
    ASSERT_TRUE(catalog.ok()) << catalog.status().message();
    catalog_ = std::move(catalog).value();
    model_ = Open(model_dir);
    ASSERT_TRUE(model_);
    ingestor_ = std::make_unique<Ingestor>(*catalog_, blobs_, IngestOptions{});
    embeddings_ = std::make_unique<EmbeddingService>(*model_, tier_, blobs_, EmbeddingService::Options{});
    ASSERT_TRUE(catalog_->CreateDataset(DatasetRecord{"d", "d", NowIso8601(), 0}).ok());
  }

  std::string AddScene(int width, int height) {
    testing::Scene scene = testing::MakeShapesScene(width, height);
    Result<std::string> png = EncodeImage(scene.image, ".png");
    EXPECT_TRUE(png.ok());
    Result<IngestedImage> stored = ingestor_->Ingest("d", IncomingFile{"scene.png", *png, ""});
    EXPECT_TRUE(stored.ok()) << stored.status().message();
    return stored.ok() ? stored->image.id : std::string();
  }

  testing::TempDir dir_;
  BlobStore blobs_{dir_.path() / "store"};
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<SamModel> model_;
  MemoryTier tier_{uint64_t{1} << 30};
  std::unique_ptr<Ingestor> ingestor_;
  std::unique_ptr<EmbeddingService> embeddings_;
};

TEST_F(FamilySegmenterTest, PointLimitIsRefusedNamingItAndMasksHaveTheImagesSize) {
  Start(kFamilies / "efficientsam");
  Segmenter segmenter(*catalog_, *embeddings_, *model_);
  PredictRequest request;
  request.image_id = AddScene(700, 300);
  for (int i = 0; i < 5; ++i) request.points.push_back({10.0f + i, 20.0f, 1});
  request.multimask = true;
  Result<PredictResult> five = segmenter.Predict(request);
  ASSERT_TRUE(five.ok()) << five.status().message();
  ASSERT_EQ(five->masks.size(), 3u);
  EXPECT_EQ(five->masks[0].rle.height, 300);
  EXPECT_EQ(five->masks[0].rle.width, 700);
  EXPECT_GE(five->masks[0].score, five->masks[1].score);
  request.box = std::array<float, 4>{1, 1, 50, 50};  // 5 points + 2 corners
  Result<PredictResult> seven = segmenter.Predict(request);
  ASSERT_FALSE(seven.ok());
  EXPECT_EQ(seven.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(seven.status().message().find("efficientsam) takes at most 6 points"), std::string::npos)
      << seven.status().message();
}

TEST_F(FamilySegmenterTest, Sam2MasksComeBackAtTheImagesSize) {
  Start(kFamilies / "sam2");
  Segmenter segmenter(*catalog_, *embeddings_, *model_);
  PredictRequest request;
  request.image_id = AddScene(900, 500);
  request.points.push_back({450, 250, 1});
  Result<PredictResult> result = segmenter.Predict(request);
  ASSERT_TRUE(result.ok()) << result.status().message();
  ASSERT_EQ(result->masks.size(), 1u);
  EXPECT_EQ(result->masks[0].rle.height, 500);
  EXPECT_EQ(result->masks[0].rle.width, 900);
  // A refinement of a SAM 2 answer feeds its low-res mask back.
  request.refine_from = result->prediction_id;
  EXPECT_TRUE(segmenter.Predict(request).ok());
}

}  // namespace
}  // namespace samcache
