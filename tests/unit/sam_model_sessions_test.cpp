// Decoder sessions (ModelOptions::decoder_sessions): a pool gives the masks one shared session
// gives, alone and under concurrent clicks, for every family; its bounds are refused.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "model/mask_codec.h"
#include "model/sam_model.h"
#include "model/segmenter.h"
#include "support/scenes.h"
#include "support/test_support.h"

namespace samcache {
namespace {

namespace fs = std::filesystem;

const fs::path kFamilies = fs::path(SAMCACHE_SOURCE_DIR) / "tests" / "fixtures" / "models" / "families";

std::unique_ptr<SamModel> Open(const std::string& folder, ModelOptions options) {
  Result<std::unique_ptr<SamModel>> model =
      folder.empty() ? SamModel::OpenDemo(options) : SamModel::OpenFolder(kFamilies / folder, options);
  EXPECT_TRUE(model.ok()) << folder << ": " << model.status().message();
  return model.ok() ? std::move(model).value() : nullptr;
}

// The RLE of the mask a click returns.
std::string ClickRle(const SamModel& model, const Embedding& embedding, const DecoderPrompt& prompt,
                     std::vector<float>* logits = nullptr) {
  Result<DecoderResult> decoded = model.Decode(embedding, prompt);
  EXPECT_TRUE(decoded.ok()) << decoded.status().message();
  if (!decoded.ok()) return "";
  const int index = ChooseMasks(decoded->scores, false, model.info().mask_ranking).front();
  const size_t plane = static_cast<size_t>(decoded->low_res_height) * decoded->low_res_width;
  const float* chosen = decoded->low_res_logits.data() + plane * static_cast<size_t>(index);
  if (logits) logits->assign(chosen, chosen + plane);
  return EncodeRle(UpsampleForModel(model.info(), chosen, decoded->low_res_height, decoded->low_res_width,
                                    prompt.original_height, prompt.original_width))
      .counts;
}

// By name: ModelOptions has other fields between these.
ModelOptions Options(int intra_op_threads, int decoder_sessions) {
  ModelOptions options;
  options.intra_op_threads = intra_op_threads;
  options.decoder_sessions = decoder_sessions;
  return options;
}

class DecoderSessionsTest : public ::testing::TestWithParam<std::string> {};

// One-thread sessions throughout, so the float results are the same to the bit; then a pool
// with a wide session (the lone click) against a shared session of as many threads.
TEST_P(DecoderSessionsTest, PoolGivesTheMasksOfOneSharedSession) {
  const std::string folder = GetParam();
  for (int threads : {1, 3}) {
    SCOPED_TRACE("intra-op threads " + std::to_string(threads));
    std::unique_ptr<SamModel> shared = Open(folder, Options(threads, 1));
    std::unique_ptr<SamModel> pool = Open(folder, Options(threads, 3));
    ASSERT_TRUE(shared && pool);
    testing::Scene scene = testing::MakeShapesScene(640, 480);
    Result<Embedding> embedding = shared->Encode(shared->Prepare(scene.image));
    ASSERT_TRUE(embedding.ok()) << embedding.status().message();
    DecoderPrompt prompt;
    prompt.original_width = 640;
    prompt.original_height = 480;
    const auto& circle = scene.Object("circle");
    prompt.points = {{circle.click_x, circle.click_y, 1}, {20, 30, 0}};
    std::vector<float> want_logits, got_logits;
    const std::string want = ClickRle(*shared, *embedding, prompt, &want_logits);
    EXPECT_EQ(ClickRle(*pool, *embedding, prompt, &got_logits), want);
    EXPECT_EQ(got_logits, want_logits);

    // Concurrent clicks on the pool (narrow sessions, waiting when all are out): all the lone
    // click's mask.
    constexpr int kThreads = 8, kEach = 3;
    std::vector<std::vector<std::string>> got(kThreads);
    std::vector<std::thread> clickers;
    for (int t = 0; t < kThreads; ++t) {
      clickers.emplace_back([&, t] {
        for (int i = 0; i < kEach; ++i)
          got[static_cast<size_t>(t)].push_back(ClickRle(*pool, *embedding, prompt));
      });
    }
    for (auto& c : clickers) c.join();
    for (const auto& per_thread : got) {
      for (const std::string& rle : per_thread) EXPECT_EQ(rle, want);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Families, DecoderSessionsTest,
                         ::testing::Values("", "sam-hq", "edgesam", "sam2", "sam2-full-size", "efficientsam"),
                         [](const auto& info) {
                           std::string name = info.param.empty() ? "demo" : info.param;
                           for (char& c : name) {
                             if (c == '-' || c == '.') c = '_';
                           }
                           return name;
                         });

TEST(DecoderSessionsBoundsTest, OutOfRangeIsRefusedNamingTheRange) {
  for (int sessions : {-1, kMaxDecoderSessions + 1, 1000}) {
    Result<std::unique_ptr<SamModel>> model = SamModel::OpenDemo(Options(1, sessions));
    ASSERT_FALSE(model.ok()) << sessions;
    EXPECT_EQ(model.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(model.status().message(), "decoder sessions must be 0 (one per core) to " +
                                            std::to_string(kMaxDecoderSessions) + ", got " +
                                            std::to_string(sessions));
  }
  // Both ends of the range load.
  for (int sessions : {0, 1, kMaxDecoderSessions}) {
    EXPECT_TRUE(SamModel::OpenDemo(Options(1, sessions)).ok()) << sessions;
  }
}

}  // namespace
}  // namespace samcache
