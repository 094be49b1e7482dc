// The model layer with the demo model: loading and refusing model folders, preprocessing
// conventions, prompt mapping, and segmentation of generated scenes in non-square sizes.
#include "model/sam_model.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <thread>

#include "model/mask_codec.h"
#include "model/preprocess.h"
#include "model/segmenter.h"
#include "support/scenes.h"
#include "support/test_support.h"

namespace samcache {
namespace {

namespace fs = std::filesystem;
using testing::MakeShapesScene;
using testing::MaskIoU;
using testing::Scene;
using testing::SceneObject;

const fs::path kFixtures = fs::path(SAMCACHE_SOURCE_DIR) / "tests" / "fixtures" / "models";

const SamModel& Demo() {
  static std::unique_ptr<SamModel> model = [] {
    Result<std::unique_ptr<SamModel>> opened = SamModel::OpenDemo(ModelOptions{});
    if (!opened.ok()) throw std::runtime_error(opened.status().message());
    return std::move(opened).value();
  }();
  return *model;
}

// The mask the API would return: the decoder's choice, upsampled by us.
std::vector<uint8_t> Segment(const SamModel& model, const Embedding& embedding, const DecodedImage& image,
                             std::vector<PromptPoint> points, std::optional<std::array<float, 4>> box = {},
                             const std::vector<float>* mask_input = nullptr, DecoderResult* raw = nullptr) {
  DecoderPrompt prompt;
  prompt.original_height = static_cast<int>(image.height);
  prompt.original_width = static_cast<int>(image.width);
  prompt.points = std::move(points);
  prompt.box = box;
  prompt.mask_input = mask_input;
  Result<DecoderResult> decoded = model.Decode(embedding, prompt);
  EXPECT_TRUE(decoded.ok()) << decoded.status().message();
  if (!decoded.ok()) return {};
  const int index = ChooseMasks(decoded->scores, false).front();
  ResizedSize input = LongestSideSize(prompt.original_height, prompt.original_width, model.info().input_side);
  const size_t plane = static_cast<size_t>(decoded->low_res_height) * decoded->low_res_width;
  BinaryMask mask = UpsampleLowResLogits(
      decoded->low_res_logits.data() + plane * index, decoded->low_res_height, decoded->low_res_width,
      input.height, input.width, prompt.original_height, prompt.original_width, model.info().input_side);
  if (raw) *raw = std::move(*decoded);
  return mask.data;
}

Embedding Encode(const SamModel& model, const DecodedImage& image) {
  Result<Embedding> embedding = model.Encode(model.Prepare(image));
  EXPECT_TRUE(embedding.ok()) << embedding.status().message();
  return embedding.ok() ? std::move(embedding).value() : Embedding{};
}

PromptPoint Click(const SceneObject& object, int label = 1) {
  return {object.click_x, object.click_y, label};
}

TEST(SamModelTest, DemoModelDescribesItself) {
  const ModelInfo& info = Demo().info();
  EXPECT_TRUE(info.demo);
  EXPECT_NE(info.name.find("demo"), std::string::npos) << info.name;
  EXPECT_NE(info.name.find("not SAM"), std::string::npos) << info.name;
  EXPECT_EQ(info.id.size(), 16u);
  EXPECT_EQ(info.encoder_layout, EncoderLayout::kNchwNormalized);
  EXPECT_EQ(info.input_side, 1024);
  EXPECT_EQ(info.source, "built-in");
  EXPECT_GE(info.intra_op_threads, 1);
}

// The encoder warms up in the background after loading when asked; without a warm-up (the
// default) it is ready at once.
TEST(SamModelTest, EncoderWarmsUpInTheBackgroundWhenAsked) {
  Result<std::unique_ptr<SamModel>> cold = SamModel::OpenDemo(ModelOptions{});
  ASSERT_TRUE(cold.ok()) << cold.status().message();
  EXPECT_TRUE((*cold)->EncoderReady());

  ModelOptions on;
  on.warm_up = true;
  Result<std::unique_ptr<SamModel>> warm = SamModel::OpenDemo(on);
  ASSERT_TRUE(warm.ok()) << warm.status().message();
  while (!(*warm)->EncoderReady()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  // Encodes as before, and a model destroyed while warming up waits for its thread.
  const auto scene = MakeShapesScene(320, 240, 3);
  EXPECT_TRUE((*warm)->Encode((*warm)->Prepare(scene.image)).ok());
  EXPECT_TRUE(SamModel::OpenDemo(on).ok());
}

TEST(SamModelTest, FolderCopyOfTheDemoHasTheSameId) {
  Result<std::unique_ptr<SamModel>> folder =
      SamModel::OpenFolder(fs::path(SAMCACHE_SOURCE_DIR) / "models" / "demo", ModelOptions{1});
  ASSERT_TRUE(folder.ok()) << folder.status().message();
  EXPECT_EQ((*folder)->info().id, Demo().info().id);
  EXPECT_EQ((*folder)->info().intra_op_threads, 1);
}

TEST(SamModelTest, WrongDecoderSignatureIsRefusedNamingFileTensorAndShape) {
  Result<std::unique_ptr<SamModel>> model = SamModel::OpenFolder(kFixtures / "wrong-decoder", ModelOptions{});
  ASSERT_FALSE(model.ok());
  const std::string& message = model.status().message();
  EXPECT_NE(message.find("decoder.onnx"), std::string::npos) << message;
  EXPECT_NE(message.find("mask_input"), std::string::npos) << message;
  EXPECT_NE(message.find("[1,1,256,256]"), std::string::npos) << message;
  EXPECT_NE(message.find("[1,1,128,128]"), std::string::npos) << message;
}

TEST(SamModelTest, MissingFilesAndJunkAreRefusedClearly) {
  testing::TempDir dir;
  Result<std::unique_ptr<SamModel>> empty = SamModel::OpenFolder(dir.path(), ModelOptions{});
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("encoder.onnx"), std::string::npos) << empty.status().message();

  testing::WriteFile(dir / "encoder.onnx", "not an onnx file");
  testing::WriteFile(dir / "decoder.onnx", "not an onnx file either");
  Result<std::unique_ptr<SamModel>> junk = SamModel::OpenFolder(dir.path(), ModelOptions{});
  ASSERT_FALSE(junk.ok());
  EXPECT_NE(junk.status().message().find("encoder.onnx"), std::string::npos) << junk.status().message();

  // A good encoder with the encoder as decoder: the decoder's inputs are all missing.
  fs::copy_file(fs::path(SAMCACHE_SOURCE_DIR) / "models/demo/encoder.onnx", dir / "encoder.onnx",
                fs::copy_options::overwrite_existing);
  fs::copy_file(fs::path(SAMCACHE_SOURCE_DIR) / "models/demo/encoder.onnx", dir / "decoder.onnx",
                fs::copy_options::overwrite_existing);
  Result<std::unique_ptr<SamModel>> swapped = SamModel::OpenFolder(dir.path(), ModelOptions{});
  ASSERT_FALSE(swapped.ok());
  // No family is near; the closest one's differences include the missing prompt inputs.
  EXPECT_NE(swapped.status().message().find("decoder.onnx: looks like"), std::string::npos)
      << swapped.status().message();
  EXPECT_NE(swapped.status().message().find("no input named 'point_coords'"), std::string::npos)
      << swapped.status().message();

  testing::WriteFile(dir / "decoder.onnx",
                     testing::ReadFileOrDie(fs::path(SAMCACHE_SOURCE_DIR) / "models/demo/decoder.onnx"));
  testing::WriteFile(dir / "model.json", "{\"encoder_input\": \"nhwc\"}");
  Result<std::unique_ptr<SamModel>> bad_config = SamModel::OpenFolder(dir.path(), ModelOptions{});
  ASSERT_FALSE(bad_config.ok());
  EXPECT_NE(bad_config.status().message().find("encoder_input"), std::string::npos)
      << bad_config.status().message();
}

TEST(SamModelTest, EmbeddingHasTheOfficialShape) {
  Scene scene = MakeShapesScene(640, 480);
  Embedding embedding = Encode(Demo(), scene.image);
  ASSERT_EQ(embedding.tensors.size(), 1u);
  EXPECT_EQ(embedding.tensors[0].name, "image_embeddings");
  EXPECT_EQ(embedding.tensors[0].shape, (std::vector<int64_t>{1, 256, 64, 64}));
  EXPECT_EQ(embedding.tensors[0].values.size(), 256u * 64 * 64);
  EXPECT_EQ(embedding.model_id, Demo().info().id);
}

class SegmentSceneTest : public ::testing::TestWithParam<std::pair<int, int>> {};

TEST_P(SegmentSceneTest, ClickInsideEachShapeGivesThatShape) {
  const auto [width, height] = GetParam();
  Scene scene = MakeShapesScene(width, height);
  Embedding embedding = Encode(Demo(), scene.image);
  for (const char* name : {"rectangle", "circle", "triangle", "twin"}) {
    const SceneObject& object = scene.Object(name);
    std::vector<uint8_t> mask = Segment(Demo(), embedding, scene.image, {Click(object)});
    EXPECT_GE(MaskIoU(mask, object.mask), 0.9) << name << " in " << width << "x" << height;
  }
}

TEST_P(SegmentSceneTest, SameColouredShapeElsewhereIsNotSelected) {
  const auto [width, height] = GetParam();
  Scene scene = MakeShapesScene(width, height);
  Embedding embedding = Encode(Demo(), scene.image);
  std::vector<uint8_t> mask = Segment(Demo(), embedding, scene.image, {Click(scene.Object("rectangle"))});
  const std::vector<uint8_t>& twin = scene.Object("twin").mask;
  size_t twin_pixels = 0;
  for (size_t i = 0; i < mask.size(); ++i) twin_pixels += mask[i] && twin[i];
  EXPECT_EQ(twin_pixels, 0u);
}

TEST_P(SegmentSceneTest, NegativeClickRemovesTheNeighbour) {
  const auto [width, height] = GetParam();
  Scene scene = MakeShapesScene(width, height);
  Embedding embedding = Encode(Demo(), scene.image);
  const SceneObject& orange = scene.Object("orange");
  const SceneObject& amber = scene.Object("amber");
  // Two clicks, one on each close colour, select both; a background click on amber then
  // leaves orange alone.
  std::vector<uint8_t> both = Segment(Demo(), embedding, scene.image, {Click(orange), Click(amber)});
  EXPECT_GE(MaskIoU(both, testing::MaskUnion(orange.mask, amber.mask)), 0.9);
  std::vector<uint8_t> only = Segment(Demo(), embedding, scene.image, {Click(orange), Click(amber, 0)});
  EXPECT_GE(MaskIoU(only, orange.mask), 0.9);
  EXPECT_LT(MaskIoU(only, amber.mask), 0.05);
}

TEST_P(SegmentSceneTest, BoxAloneSelectsTheShapeInside) {
  const auto [width, height] = GetParam();
  Scene scene = MakeShapesScene(width, height);
  Embedding embedding = Encode(Demo(), scene.image);
  for (const char* name : {"circle", "triangle"}) {
    const SceneObject& object = scene.Object(name);
    std::array<float, 4> box{static_cast<float>(object.box[0] - 4), static_cast<float>(object.box[1] - 4),
                             static_cast<float>(object.box[2] + 4), static_cast<float>(object.box[3] + 4)};
    std::vector<uint8_t> mask = Segment(Demo(), embedding, scene.image, {}, box);
    EXPECT_GE(MaskIoU(mask, object.mask), 0.9) << name;
  }
}

TEST_P(SegmentSceneTest, BoxRestrictsAClickToItsInside) {
  const auto [width, height] = GetParam();
  Scene scene = MakeShapesScene(width, height);
  Embedding embedding = Encode(Demo(), scene.image);
  // Clicking the background selects most of the picture; a box keeps it inside.
  const SceneObject& circle = scene.Object("circle");
  PromptPoint background{static_cast<float>(circle.box[0] - 10), static_cast<float>(circle.box[1] - 10), 1};
  std::array<float, 4> box{static_cast<float>(circle.box[0] - 30), static_cast<float>(circle.box[1] - 30),
                           static_cast<float>(circle.box[2] + 30), static_cast<float>(circle.box[3] + 30)};
  std::vector<uint8_t> mask = Segment(Demo(), embedding, scene.image, {background}, box);
  size_t outside = 0;
  size_t inside = 0;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      if (!mask[static_cast<size_t>(y) * width + x]) continue;
      const bool in_box = x >= box[0] - 2 && x < box[2] + 2 && y >= box[1] - 2 && y < box[3] + 2;
      (in_box ? inside : outside)++;
    }
  }
  EXPECT_EQ(outside, 0u);
  EXPECT_GT(inside, 0u);
}

TEST_P(SegmentSceneTest, OurUpsampleMatchesTheGraphs) {
  const auto [width, height] = GetParam();
  Scene scene = MakeShapesScene(width, height);
  Embedding embedding = Encode(Demo(), scene.image);
  DecoderPrompt prompt;
  prompt.original_height = height;
  prompt.original_width = width;
  prompt.points = {Click(scene.Object("circle")), Click(scene.Object("rectangle"), 0)};
  Result<DecoderResult> fast = Demo().Decode(embedding, prompt);
  Result<DecoderResult> full = Demo().DecodeWithGraphMasks(embedding, prompt);
  ASSERT_TRUE(fast.ok() && full.ok());
  ASSERT_EQ(full->graph_height, height);
  ASSERT_EQ(full->graph_width, width);
  // The low-resolution logits do not depend on orig_im_size.
  ASSERT_EQ(fast->low_res_logits, full->low_res_logits);
  ResizedSize input = LongestSideSize(height, width);
  const size_t plane = static_cast<size_t>(fast->low_res_height) * fast->low_res_width;
  const size_t pixels = static_cast<size_t>(width) * height;
  for (int m = 0; m < fast->mask_count; ++m) {
    std::vector<float> ours = UpsampleLowResLogitsToLogits(fast->low_res_logits.data() + plane * m, 256, 256,
                                                           input.height, input.width, height, width);
    const float* graph = full->graph_masks.data() + pixels * m;
    size_t disagree = 0;
    float max_diff = 0;
    for (size_t i = 0; i < pixels; ++i) {
      disagree += (ours[i] > 0) != (graph[i] > 0);
      max_diff = std::max(max_diff, std::fabs(ours[i] - graph[i]));
    }
    // Same arithmetic; only float rounding may differ.
    EXPECT_LT(max_diff, 1e-3f) << "mask " << m;
    EXPECT_LE(disagree, pixels / 100000) << "mask " << m;
  }
}

INSTANTIATE_TEST_SUITE_P(NonSquare, SegmentSceneTest,
                         ::testing::Values(std::pair{1600, 900}, std::pair{700, 1200}, std::pair{500, 375}));

TEST(SamModelTest, MaskInputRefinesTheAnswer) {
  Scene scene = MakeShapesScene(800, 600);
  Embedding embedding = Encode(Demo(), scene.image);
  DecoderResult first;
  Segment(Demo(), embedding, scene.image, {Click(scene.Object("orange"))}, {}, nullptr, &first);
  std::vector<float> previous(first.low_res_logits.begin(), first.low_res_logits.begin() + 256 * 256);
  DecoderResult plain;
  DecoderResult refined;
  Segment(Demo(), embedding, scene.image, {Click(scene.Object("amber"))}, {}, nullptr, &plain);
  Segment(Demo(), embedding, scene.image, {Click(scene.Object("amber"))}, {}, &previous, &refined);
  ASSERT_EQ(plain.low_res_logits.size(), refined.low_res_logits.size());
  EXPECT_NE(plain.low_res_logits, refined.low_res_logits);
}

TEST(SamModelTest, HwcConventionGivesTheSameEmbeddingAndMasks) {
  Result<std::unique_ptr<SamModel>> hwc = SamModel::OpenFolder(kFixtures / "demo-hwc", ModelOptions{});
  ASSERT_TRUE(hwc.ok()) << hwc.status().message();
  EXPECT_EQ((*hwc)->info().encoder_layout, EncoderLayout::kHwcResized);
  Scene scene = MakeShapesScene(700, 1200);
  PreparedImage prepared = (*hwc)->Prepare(scene.image);
  EXPECT_EQ(prepared.shape, (std::vector<int64_t>{1024, 597, 3}));
  Embedding a = Encode(Demo(), scene.image);
  Embedding b = Encode(**hwc, scene.image);
  ASSERT_EQ(a.tensors[0].values.size(), b.tensors[0].values.size());
  float max_diff = 0;
  for (size_t i = 0; i < a.tensors[0].values.size(); ++i) {
    max_diff = std::max(max_diff, std::fabs(a.tensors[0].values[i] - b.tensors[0].values[i]));
  }
  EXPECT_LT(max_diff, 1e-3f);
  // One-mask decoder: the only mask is the answer.
  const SceneObject& circle = scene.Object("circle");
  DecoderResult raw;
  std::vector<uint8_t> mask = Segment(**hwc, b, scene.image, {Click(circle)}, {}, nullptr, &raw);
  EXPECT_EQ(raw.mask_count, 1);
  EXPECT_GE(MaskIoU(mask, circle.mask), 0.9);
}

TEST(SamModelTest, ChoosesMasksByTheOfficialConvention) {
  EXPECT_EQ(ChooseMasks({0.1f, 0.5f, 0.9f, 0.7f}, false), (std::vector<int>{0}));
  EXPECT_EQ(ChooseMasks({0.1f, 0.5f, 0.9f, 0.7f}, true), (std::vector<int>{2, 3, 1}));
  EXPECT_EQ(ChooseMasks({0.3f}, true), (std::vector<int>{0}));
  EXPECT_EQ(ChooseMasks({0.2f, 0.8f, 0.5f}, false), (std::vector<int>{1}));
  EXPECT_EQ(ChooseMasks({0.2f, 0.8f, 0.5f}, true), (std::vector<int>{1, 2, 0}));
}

TEST(SamModelTest, PromptsAreMappedWithHeightAndWidthApart) {
  // A very wide image: if x were scaled by the height factor (or orig_im_size swapped), a
  // click on the right-hand shape would land elsewhere.
  Scene scene = MakeShapesScene(2000, 500);
  Embedding embedding = Encode(Demo(), scene.image);
  const SceneObject& twin = scene.Object("twin");
  std::vector<uint8_t> mask = Segment(Demo(), embedding, scene.image, {Click(twin)});
  EXPECT_GE(MaskIoU(mask, twin.mask), 0.85);
}

}  // namespace
}  // namespace samcache
