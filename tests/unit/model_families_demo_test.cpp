// Every family end to end with meaningful masks: the demo model's family variants
// (models/demo-<family>, the built-in demo's segmentation behind each family's exact interface)
// through SamModel's adapters, the segmenter's mask choice and upsampling. Clicks in each shape
// and boxes around two, in a wide and a tall image, must give the drawn shape (IoU >= 0.9), as
// for the built-in demo in sam_model_test.
#include <gtest/gtest.h>

#include <filesystem>

#include "model/mask_codec.h"
#include "model/sam_model.h"
#include "model/segmenter.h"
#include "support/scenes.h"
#include "support/test_support.h"

namespace samcache {
namespace {

namespace fs = std::filesystem;
using testing::MaskIoU;
using testing::Scene;
using testing::SceneObject;

const fs::path kModels = fs::path(SAMCACHE_SOURCE_DIR) / "models";

struct Variant {
  const char* folder;
  ModelFamily family;
};

class DemoFamilyTest : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<SamModel>> model =
        SamModel::OpenFolder(kModels / GetParam().folder, ModelOptions{2});
    ASSERT_TRUE(model.ok()) << model.status().message();
    model_ = std::move(model).value();
  }

  // The mask the API would return for this prompt.
  std::vector<uint8_t> Segment(const Embedding& embedding, const Scene& scene,
                               std::vector<PromptPoint> points,
                               std::optional<std::array<float, 4>> box = {}) const {
    DecoderPrompt prompt;
    prompt.original_width = static_cast<int>(scene.image.width);
    prompt.original_height = static_cast<int>(scene.image.height);
    prompt.points = std::move(points);
    prompt.box = box;
    Result<DecoderResult> decoded = model_->Decode(embedding, prompt);
    EXPECT_TRUE(decoded.ok()) << decoded.status().message();
    if (!decoded.ok()) return {};
    const ModelInfo& info = model_->info();
    const int index = ChooseMasks(decoded->scores, false, info.mask_ranking).front();
    const size_t plane = static_cast<size_t>(decoded->low_res_height) * decoded->low_res_width;
    BinaryMask mask =
        UpsampleForModel(info, decoded->low_res_logits.data() + plane * index, decoded->low_res_height,
                         decoded->low_res_width, prompt.original_height, prompt.original_width);
    return mask.data;
  }

  std::unique_ptr<SamModel> model_;
};

TEST_P(DemoFamilyTest, IsItsFamilyAndSegmentsClicksAndBoxes) {
  EXPECT_EQ(model_->info().family, GetParam().family);
  EXPECT_TRUE(model_->info().demo);
  for (auto [w, h] : {std::pair{640, 400}, std::pair{400, 640}}) {
    Scene scene = testing::MakeShapesScene(w, h);
    Result<Embedding> embedding = model_->Encode(model_->Prepare(scene.image));
    ASSERT_TRUE(embedding.ok()) << embedding.status().message();
    EXPECT_EQ(embedding->bytes(), model_->info().embedding_bytes);
    for (const char* name : {"rectangle", "circle", "triangle", "twin"}) {
      const SceneObject& o = scene.Object(name);
      EXPECT_GE(MaskIoU(Segment(*embedding, scene, {{o.click_x, o.click_y, 1}}), o.mask), 0.9)
          << name << " click in " << w << "x" << h;
    }
    for (const char* name : {"circle", "triangle"}) {
      const SceneObject& o = scene.Object(name);
      std::array<float, 4> box{static_cast<float>(o.box[0] - 4), static_cast<float>(o.box[1] - 4),
                               static_cast<float>(o.box[2] + 4), static_cast<float>(o.box[3] + 4)};
      EXPECT_GE(MaskIoU(Segment(*embedding, scene, {}, box), o.mask), 0.9)
          << name << " box in " << w << "x" << h;
    }
  }
}

TEST_P(DemoFamilyTest, NegativeClickRemovesTheNeighbour) {
  Scene scene = testing::MakeShapesScene(640, 400);
  Result<Embedding> embedding = model_->Encode(model_->Prepare(scene.image));
  ASSERT_TRUE(embedding.ok());
  const SceneObject& orange = scene.Object("orange");
  const SceneObject& amber = scene.Object("amber");
  std::vector<uint8_t> only =
      Segment(*embedding, scene, {{orange.click_x, orange.click_y, 1}, {amber.click_x, amber.click_y, 0}});
  EXPECT_GE(MaskIoU(only, orange.mask), 0.9);
  EXPECT_LT(MaskIoU(only, amber.mask), 0.05);
}

INSTANTIATE_TEST_SUITE_P(Variants, DemoFamilyTest,
                         ::testing::Values(Variant{"demo-sam2", ModelFamily::kSam2},
                                           Variant{"demo-sam2-full-size", ModelFamily::kSam2FullSize},
                                           Variant{"demo-efficientsam", ModelFamily::kEfficientSam},
                                           Variant{"demo-edgesam", ModelFamily::kEdgeSam},
                                           Variant{"demo-samhq", ModelFamily::kSamHq}),
                         [](const ::testing::TestParamInfo<Variant>& info) {
                           std::string name = info.param.folder;
                           for (char& ch : name) ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           return name;
                         });

// The full-size formats' own masks (EfficientSAM's output_masks, SAM 2 full-size's masks at
// orig_im_size) against ours from the low-res logits: same size, nearly the same pixels.
TEST(DemoFamilyGraphMasksTest, OurUpsampleAgreesWithTheGraphsFullSizeMasks) {
  for (const char* folder : {"demo-efficientsam", "demo-sam2-full-size"}) {
    Result<std::unique_ptr<SamModel>> model = SamModel::OpenFolder(kModels / folder, ModelOptions{2});
    ASSERT_TRUE(model.ok()) << model.status().message();
    Scene scene = testing::MakeShapesScene(700, 450);
    Result<Embedding> embedding = (*model)->Encode((*model)->Prepare(scene.image));
    ASSERT_TRUE(embedding.ok());
    const SceneObject& circle = scene.Object("circle");
    DecoderPrompt prompt;
    prompt.original_width = 700;
    prompt.original_height = 450;
    prompt.points = {{circle.click_x, circle.click_y, 1}};
    Result<DecoderResult> full = (*model)->DecodeWithGraphMasks(*embedding, prompt);
    ASSERT_TRUE(full.ok()) << full.status().message();
    ASSERT_EQ(full->graph_height, 450) << folder;
    ASSERT_EQ(full->graph_width, 700) << folder;
    const size_t plane = static_cast<size_t>(full->low_res_height) * full->low_res_width;
    const size_t pixels = 700u * 450u;
    for (int m = 0; m < full->mask_count; ++m) {
      BinaryMask ours = UpsampleForModel((*model)->info(), full->low_res_logits.data() + plane * m,
                                         full->low_res_height, full->low_res_width, 450, 700);
      std::vector<uint8_t> graph(pixels);
      for (size_t i = 0; i < pixels; ++i) graph[i] = full->graph_masks[pixels * m + i] > 0;
      EXPECT_GE(MaskIoU(ours.data, graph), 0.97) << folder << " mask " << m;
    }
  }
}

}  // namespace
}  // namespace samcache
