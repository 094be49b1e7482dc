// What one click may cost (issue 14, M4): a click whose caller has gone stops at the next
// stage, full-resolution mask work takes turns under a pixel budget, and polygon output is
// bounded. Everything is checked by counts and sizes, never by time.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "catalog/catalog.h"
#include "common/files.h"
#include "image/image_decoder.h"
#include "ingest/ingestor.h"
#include "model/embedding_service.h"
#include "model/segmenter.h"
#include "model/work_budget.h"
#include "store/blob_store.h"
#include "store/memory_tier.h"
#include "support/scenes.h"
#include "support/test_support.h"

namespace samcache {
namespace {

// ---- WorkBudget ---------------------------------------------------------------------------

// Waits (without a time limit) until `condition` holds: for "the other thread is now waiting".
template <typename F>
void Until(F condition) {
  while (!condition()) std::this_thread::yield();
}

TEST(WorkBudgetTest, NeverHoldsMoreThanItsCapacity) {
  WorkBudget budget(10);
  std::atomic<int> running{0};
  std::atomic<int> most{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      for (int k = 0; k < 50; ++k) {
        Result<WorkBudget::Lease> lease = budget.Acquire(4);
        ASSERT_TRUE(lease.ok());
        const int now = ++running;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        --running;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(most.load(), 2);  // 4 + 4 <= 10 < 4 + 4 + 4
  EXPECT_LE(budget.peak(), 10u);
  EXPECT_EQ(budget.in_use(), 0u);
}

TEST(WorkBudgetTest, OversizedRequestsRunAloneAndUnlimitedNeverWaits) {
  WorkBudget budget(10);
  {
    Result<WorkBudget::Lease> huge = budget.Acquire(1'000);
    ASSERT_TRUE(huge.ok());
    EXPECT_EQ(huge->units(), 10u);  // clamped to the whole budget
    EXPECT_EQ(budget.in_use(), 10u);
  }
  EXPECT_EQ(budget.in_use(), 0u);
  WorkBudget unlimited(0);
  Result<WorkBudget::Lease> a = unlimited.Acquire(1'000'000'000);
  Result<WorkBudget::Lease> b = unlimited.Acquire(1'000'000'000);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(unlimited.waited(), 0u);
  EXPECT_EQ(unlimited.in_use(), 2'000'000'000u);
}

TEST(WorkBudgetTest, BigRequestIsNotStarvedBySmallOnes) {
  WorkBudget budget(10);
  std::vector<std::string> order;
  std::mutex mu;
  auto record = [&](const std::string& name) {
    std::lock_guard lock(mu);
    order.push_back(name);
  };
  auto held = std::make_unique<Result<WorkBudget::Lease>>(budget.Acquire(6));
  std::thread big([&] {
    Result<WorkBudget::Lease> lease = budget.Acquire(10);
    record("big");
  });
  Until([&] { return budget.waited() == 1; });
  std::thread small([&] {
    Result<WorkBudget::Lease> lease = budget.Acquire(1);  // would fit now, but waits its turn
    record("small");
  });
  Until([&] { return budget.waited() == 2; });
  held.reset();
  big.join();
  small.join();
  EXPECT_EQ(order, (std::vector<std::string>{"big", "small"}));
}

TEST(WorkBudgetTest, AWaiterWhoseClientLeftGivesUpAndFreesItsTurn) {
  WorkBudget budget(10);
  Result<WorkBudget::Lease> held = budget.Acquire(10);
  std::atomic<bool> gone{false};
  std::atomic<int> probes{0};
  Result<WorkBudget::Lease> abandoned = Status::Internal("not run");
  std::thread waiter([&] {
    abandoned = budget.Acquire(5, [&] {
      ++probes;
      return gone.load();
    });
  });
  Until([&] { return probes.load() > 0; });
  gone = true;
  waiter.join();
  ASSERT_FALSE(abandoned.ok());
  EXPECT_EQ(abandoned.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(abandoned.status().message(), "the client went away");
  // The abandoned turn does not block the next caller.
  held = Status::Internal("released");
  EXPECT_EQ(budget.in_use(), 0u);
  EXPECT_TRUE(budget.Acquire(10).ok());
}

// ---- Segmenter ----------------------------------------------------------------------------

class SegmenterCostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(blobs_.Init().ok());
    Result<std::unique_ptr<Catalog>> catalog = OpenSqliteCatalog((dir_.path() / "catalog.db").string());
    ASSERT_TRUE(catalog.ok()) << catalog.status().message();
    catalog_ = std::move(catalog).value();
    Result<std::unique_ptr<SamModel>> model = SamModel::OpenDemo(ModelOptions{});
    ASSERT_TRUE(model.ok()) << model.status().message();
    model_ = std::move(model).value();
    ingestor_ = std::make_unique<Ingestor>(*catalog_, blobs_, IngestOptions{});
    embeddings_ = std::make_unique<EmbeddingService>(*model_, tier_, blobs_, EmbeddingService::Options{});
    ASSERT_TRUE(catalog_->CreateDataset(DatasetRecord{"d", "d", NowIso8601(), 0}).ok());
  }

  // Stores a generated scene; returns its image id.
  std::string AddScene(int width, int height) {
    scene_ = testing::MakeShapesScene(width, height);
    Result<std::string> png = EncodeImage(scene_.image, ".png");
    EXPECT_TRUE(png.ok());
    Result<IngestedImage> stored = ingestor_->Ingest("d", IncomingFile{"scene.png", *png, ""});
    EXPECT_TRUE(stored.ok()) << stored.status().message();
    return stored.ok() ? stored->image.id : std::string();
  }

  PredictRequest Click(const std::string& id) const {
    PredictRequest request;
    request.image_id = id;
    const testing::SceneObject& circle = scene_.Object("circle");
    request.points.push_back(PromptPoint{circle.click_x, circle.click_y, 1});
    return request;
  }

  testing::TempDir dir_;
  BlobStore blobs_{dir_.path() / "store"};
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<SamModel> model_;
  MemoryTier tier_{uint64_t{1} << 30};
  std::unique_ptr<Ingestor> ingestor_;
  std::unique_ptr<EmbeddingService> embeddings_;
  testing::Scene scene_;
};

TEST_F(SegmenterCostTest, AClickStopsAtTheStageWhereItsClientLeft) {
  Segmenter segmenter(*catalog_, *embeddings_, *model_);
  const std::string id = AddScene(320, 240);
  PredictRequest request = Click(id);
  request.multimask = true;
  request.want_png = true;
  request.want_polygon = true;
  // A full run asks after the embedding and after the decoder, then per mask before the
  // upsampling, the polygons and the PNG.
  int probes = 0;
  Result<PredictResult> full = segmenter.Predict(request, [&] {
    ++probes;
    return false;
  });
  ASSERT_TRUE(full.ok()) << full.status().message();
  const int masks = static_cast<int>(full->masks.size());
  ASSERT_GE(masks, 1);
  ASSERT_EQ(probes, 2 + 3 * masks);
  for (int leave_at = 1; leave_at <= probes; ++leave_at) {
    int asked = 0;
    Result<PredictResult> r = segmenter.Predict(request, [&] { return ++asked >= leave_at; });
    ASSERT_FALSE(r.ok()) << "client left at probe " << leave_at;
    EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
    EXPECT_EQ(r.status().message(), "the client went away");
    EXPECT_EQ(asked, leave_at) << "work went on after the client left";
  }
  // Without a probe nothing changes.
  EXPECT_TRUE(segmenter.Predict(request).ok());
}

TEST_F(SegmenterCostTest, FullResolutionWorkTakesTurnsUnderThePixelBudget) {
  const std::string id = AddScene(640, 480);
  const uint64_t pixels = 640 * 480;
  SegmenterLimits limits;
  limits.mask_pixel_budget = pixels * 3 / 2;  // one click at a time fits, two do not
  Segmenter segmenter(*catalog_, *embeddings_, *model_, 256, limits);
  ASSERT_TRUE(segmenter.Predict(Click(id)).ok());  // the embedding is cached from here on
  PredictRequest request = Click(id);
  request.multimask = true;
  request.want_png = true;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&] { ok += segmenter.Predict(request).ok(); });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 6);
  EXPECT_EQ(segmenter.mask_budget().peak(), pixels);
  EXPECT_EQ(segmenter.mask_budget().in_use(), 0u);
}

TEST_F(SegmenterCostTest, PolygonsAndPngStayBounded) {
  const std::string id = AddScene(1200, 900);
  SegmenterLimits limits;
  limits.max_polygons = 1;
  limits.max_polygon_vertices = 12;
  Segmenter segmenter(*catalog_, *embeddings_, *model_, 256, limits);
  PredictRequest request = Click(id);
  request.multimask = true;
  request.want_png = true;
  request.want_polygon = true;
  Result<PredictResult> r = segmenter.Predict(request);
  ASSERT_TRUE(r.ok()) << r.status().message();
  for (const PredictedMask& mask : r->masks) {
    EXPECT_LE(mask.polygons.size(), 1u);
    size_t vertices = 0;
    for (const std::vector<float>& polygon : mask.polygons) vertices += polygon.size() / 2;
    EXPECT_LE(vertices, 12u);
    // A 1-bit PNG: the IHDR's bit depth (byte 24) is 1, and it is far below a byte a pixel.
    ASSERT_GT(mask.png.size(), 25u);
    EXPECT_EQ(static_cast<int>(mask.png[24]), 1);
    EXPECT_LT(mask.png.size(), 1200u * 900 / 8);
  }
}

}  // namespace
}  // namespace samcache
