// Two projects holding the same picture, in-process on a real App (SQLite catalog file, blob
// store, demo model, memory and disk tiers in a temp folder): nothing project B is told
// (duplicates, near duplicates, "cached", /similar, the dataset view, prewarm counts, a click)
// reveals project A's copy, while the shared cache still encodes the picture once in the
// global scope; the project scope keys each project's embeddings apart (one run each).
#include <gtest/gtest.h>

#include <optional>

#include "app/app.h"
#include "common/crypto.h"
#include "common/files.h"
#include "service/dataset_view.h"
#include "support/near_dup_images.h"
#include "support/test_support.h"

namespace samcache::testing {
namespace {

const std::string kProjectB = "bbbbbbbbbbbbbbbb";
const std::string kProjectC = "cccccccccccccccc";

class ProjectScopeTest : public ::testing::Test {
 protected:
  void Open(CacheScope scope) {
    app_.reset();
    AppOptions options;
    options.data_dir = tmp_ / "data";
    options.load_model = true;
    options.ingest.prepare_threads = 2;
    options.cache_scope = scope;
    Result<std::unique_ptr<App>> app = App::Open(options);
    ASSERT_TRUE(app.ok()) << app.status().message();
    app_ = std::move(app).value();
    ASSERT_TRUE(app_->EnableNearDuplicates().ok());
    for (const std::string& id : {kProjectB, kProjectC}) {
      ASSERT_TRUE(
          app_->catalog().CreateProject(ProjectRecord{id, "project-" + id.substr(0, 1), NowIso8601()}).ok());
    }
  }

  struct Uploaded {
    std::string dataset_id;
    std::vector<IngestedImage> images;
    int64_t duplicates_found = 0;
  };
  // An upload of named files into a new dataset of the project (or into `existing`).
  Uploaded Upload(const std::string& project_id,
                  const std::vector<std::pair<std::string, std::string>>& files,
                  std::optional<std::string> existing = std::nullopt) {
    UploadBatch batch(app_->ingestor(), app_->catalog(), "set", existing, {}, project_id);
    for (const auto& [name, bytes] : files) batch.Add(IncomingFile{name, bytes, Sha256Hex(bytes)});
    batch.Finish();
    EXPECT_EQ(batch.stored().size(), files.size());
    EXPECT_TRUE(batch.rejected().empty());
    return {batch.dataset_id(), batch.stored(), batch.duplicates_found()};
  }

  PrewarmSnapshot Prewarm(const std::string& dataset_id) {
    Result<PrewarmJobs::Started> started = app_->prewarm()->Start(dataset_id);
    EXPECT_TRUE(started.ok()) << started.status().message();
    if (!started.ok()) return {};
    int64_t seq = 0;
    for (int i = 0; i < 100000; ++i) {
      Result<PrewarmUpdate> update =
          app_->prewarm()->WaitForUpdate(started->snapshot.job.id, seq, std::chrono::seconds(5));
      EXPECT_TRUE(update.ok());
      if (!update.ok()) break;
      seq = update->snapshot.seq;
      if (IsFinishedPrewarmStatus(update->snapshot.job.status)) return update->snapshot;
    }
    ADD_FAILURE() << "the job did not finish";
    return {};
  }

  uint64_t EncoderRuns() { return app_->embeddings()->Stats().runs; }

  Result<PredictResult> Click(const ImageRecord& image) {
    PredictRequest request;
    request.image_id = image.id;
    request.points = {
        PromptPoint{static_cast<float>(image.width) / 2, static_cast<float>(image.height) / 2, 1}};
    return app_->segmenter()->Predict(request);
  }

  TempDir tmp_;
  std::unique_ptr<App> app_;
  const DecodedImage photo_ = MakePhoto(320, 240, 21);
  const std::string photo_png_ = EncodeOrDie(photo_, ".png");
  const std::string bright_png_ = EditedFile(photo_, Edit::kBrighter, ".png");
};

TEST_F(ProjectScopeTest, ProjectBLearnsNothingOfProjectAsCopyAndTheEncoderRunsOnce) {
  Open(CacheScope::kGlobal);
  // Project A (the default one) has the photo and a brighter copy, prewarmed.
  const Uploaded a = Upload(kDefaultProjectId, {{"photo.png", photo_png_}, {"bright.png", bright_png_}});
  ASSERT_EQ(a.images[1].near_duplicates.size(), 1u) << "the copy is a near duplicate within A";
  const PrewarmSnapshot a_job = Prewarm(a.dataset_id);
  ASSERT_EQ(a_job.job.computed, 2);
  EXPECT_EQ(a_job.cache_embeddings, 2);
  ASSERT_EQ(EncoderRuns(), 2u);

  // Project B uploads the same photo: not a duplicate, not cached, no near duplicate.
  const Uploaded b = Upload(kProjectB, {{"mine.png", photo_png_}});
  const IngestedImage& b_image = b.images.front();
  EXPECT_FALSE(b_image.duplicate);
  EXPECT_FALSE(b_image.embedding_cached);
  EXPECT_TRUE(b_image.near_duplicates.empty());
  EXPECT_EQ(b.duplicates_found, 0);
  Result<DatasetRecord> b_dataset = app_->catalog().GetDataset(b.dataset_id);
  ASSERT_TRUE(b_dataset.ok());
  EXPECT_EQ(b_dataset->project_id, kProjectB);

  Result<DatasetView> view = LoadDatasetView(app_->catalog(), app_->project_cache(), b.dataset_id);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->embeddings_cached, 0);
  EXPECT_FALSE(view->images.front().embedding_cached);
  EXPECT_FALSE(view->images.front().duplicate_of.has_value());
  Result<std::vector<SimilarImage>> similar =
      app_->near_duplicates()->FindSimilar(b_image.image, kProjectB, kMaxNearDuplicateDistance, 1000);
  ASSERT_TRUE(similar.ok());
  EXPECT_TRUE(similar->empty()) << similar->front().image.filename;
  // The same question in A finds A's copies (same pixels and the near duplicate).
  similar = app_->near_duplicates()->FindSimilar(a.images[0].image, kDefaultProjectId, 10, 1000);
  ASSERT_TRUE(similar.ok());
  EXPECT_EQ(similar->size(), 1u);

  // B's prewarm computes it (from the store: no encoder run), never "skipped".
  const PrewarmSnapshot b_job = Prewarm(b.dataset_id);
  EXPECT_EQ(b_job.job.computed, 1);
  EXPECT_EQ(b_job.job.skipped, 0);
  EXPECT_EQ(b_job.cache_embeddings, 1) << "B's embeddings, not the store's";
  EXPECT_EQ(PrewarmReadyText(b_job), "Dataset ready (cache: 1 embeddings, computed: 1, skipped: 0)");
  EXPECT_EQ(EncoderRuns(), 2u) << "one encoder run per picture in all";

  // Now B has asked for it: B's next upload of it is a duplicate and cached, still alone.
  const Uploaded again = Upload(kProjectB, {{"again.png", photo_png_}}, b.dataset_id);
  EXPECT_TRUE(again.images.front().duplicate);
  EXPECT_TRUE(again.images.front().embedding_cached);
  EXPECT_TRUE(again.images.front().near_duplicates.empty());
  view = LoadDatasetView(app_->catalog(), app_->project_cache(), b.dataset_id);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->embeddings_cached, 2);
  ASSERT_TRUE(view->images[1].duplicate_of.has_value());
  EXPECT_EQ(*view->images[1].duplicate_of, b_image.image.id) << "the original is B's own";
  EXPECT_EQ(Prewarm(b.dataset_id).job.skipped, 2);

  // A click in project C on the same photo: computed (to C) first, cached after; no run.
  const Uploaded c = Upload(kProjectC, {{"c.png", photo_png_}});
  Result<PredictResult> first = Click(c.images.front().image);
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_FALSE(first->embedding_cached);
  Result<PredictResult> second = Click(c.images.front().image);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->embedding_cached);
  EXPECT_EQ(EncoderRuns(), 2u);

  // A's delete drops A's claims, not B's.
  ASSERT_TRUE(app_->ingestor().DeleteDataset(a.dataset_id).ok());
  EXPECT_EQ(app_->CachedFor(kProjectB, {b_image.image}), std::vector<bool>{true});
  EXPECT_EQ(app_->CachedFor(kDefaultProjectId, {a.images[0].image}), std::vector<bool>{false});
}

// With the project scope each project's embedding has its own key: B's prewarm runs the
// encoder again, and a click of B is fast only after B computed it.
TEST_F(ProjectScopeTest, ProjectScopeEncodesOncePerProject) {
  Open(CacheScope::kProject);
  const Uploaded a = Upload(kDefaultProjectId, {{"photo.png", photo_png_}});
  ASSERT_EQ(Prewarm(a.dataset_id).job.computed, 1);
  ASSERT_EQ(EncoderRuns(), 1u);

  const Uploaded b = Upload(kProjectB, {{"photo.png", photo_png_}});
  const ImageRecord& b_image = b.images.front().image;
  EXPECT_FALSE(b.images.front().embedding_cached);
  const ImageSource source = app_->SourceFor(b_image, kProjectB);
  EXPECT_EQ(source.pixel_hash, b_image.pixel_hash);
  EXPECT_NE(source.cache_hash, b_image.pixel_hash);
  EXPECT_NE(source.cache_hash, app_->SourceFor(b_image, kDefaultProjectId).cache_hash);
  EXPECT_FALSE(app_->embeddings()->AreCached({source.cache_hash}).front());

  const PrewarmSnapshot b_job = Prewarm(b.dataset_id);
  EXPECT_EQ(b_job.job.computed, 1);
  EXPECT_EQ(EncoderRuns(), 2u) << "once per picture and project";
  EXPECT_TRUE(app_->embeddings()->AreCached({source.cache_hash}).front());
  Result<PredictResult> click = Click(b_image);
  ASSERT_TRUE(click.ok()) << click.status().message();
  EXPECT_TRUE(click->embedding_cached);
  EXPECT_EQ(EncoderRuns(), 2u);
  EXPECT_TRUE(Upload(kProjectB, {{"again.png", photo_png_}}).images.front().embedding_cached);
}

// A project that deletes its picture and brings it back claims it again at once (the claim
// book's memory of recent claims is no reason to skip the write the delete undid).
TEST_F(ProjectScopeTest, APictureBroughtBackAfterADeleteIsClaimedAgain) {
  Open(CacheScope::kGlobal);
  const Uploaded first = Upload(kProjectB, {{"photo.png", photo_png_}});
  ASSERT_EQ(Prewarm(first.dataset_id).job.computed, 1);
  ASSERT_TRUE(app_->ingestor().DeleteDataset(first.dataset_id).ok());
  const Uploaded back = Upload(kProjectB, {{"photo.png", photo_png_}});
  EXPECT_FALSE(back.images.front().embedding_cached) << "the delete dropped the claim";
  const PrewarmSnapshot job = Prewarm(back.dataset_id);
  EXPECT_EQ(job.job.computed, 1);
  EXPECT_EQ(EncoderRuns(), 1u);
  EXPECT_TRUE(
      Upload(kProjectB, {{"again.png", photo_png_}}, back.dataset_id).images.front().embedding_cached);
}

// What the catalog cannot answer is "not cached", never an error or a "cached".
TEST_F(ProjectScopeTest, ClaimsOfAnUnknownProjectSayNotCached) {
  Open(CacheScope::kGlobal);
  const Uploaded a = Upload(kDefaultProjectId, {{"photo.png", photo_png_}});
  ASSERT_EQ(Prewarm(a.dataset_id).job.computed, 1);
  EXPECT_EQ(app_->CachedFor(kDefaultProjectId, {a.images[0].image}), std::vector<bool>{true});
  EXPECT_EQ(app_->CachedFor("dddddddddddddddd", {a.images[0].image}), std::vector<bool>{false});
  EXPECT_TRUE(app_->CachedFor(kProjectB, {}).empty());
}

}  // namespace
}  // namespace samcache::testing
