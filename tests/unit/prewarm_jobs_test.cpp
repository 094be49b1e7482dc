// PrewarmJobs in-process, on a real App (SQLite catalog, blob store, demo model, memory and
// disk tiers in a temp folder): the ETA's arithmetic, cancel and resume, and the seed's texts.
#include "jobs/prewarm_jobs.h"

#include <gtest/gtest.h>

#include <thread>

#include "app/app.h"
#include "common/crypto.h"
#include "support/test_support.h"

namespace samcache::testing {
namespace {

class PrewarmJobsTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open(PrewarmJobs::Options prewarm = {}) {
    app_.reset();
    AppOptions options;
    options.data_dir = tmp_ / "data";
    options.load_model = true;
    options.prewarm = prewarm;
    Result<std::unique_ptr<App>> app = App::Open(options);
    ASSERT_TRUE(app.ok()) << app.status().message();
    app_ = std::move(app).value();
  }

  // A new dataset with one image per seed; returns its id.
  std::string AddDataset(const std::vector<int>& seeds, int width = 160, int height = 120) {
    UploadBatch batch(app_->ingestor(), app_->catalog(), "set", std::nullopt);
    for (int seed : seeds) {
      std::string bytes = MakeImageFile(width, height, seed, ".jpg");
      const std::string hash = Sha256Hex(bytes);
      batch.Add(IncomingFile{std::string("s") + std::to_string(seed) + ".jpg", std::move(bytes), hash});
    }
    batch.Finish();
    EXPECT_EQ(batch.stored().size(), seeds.size());
    return batch.dataset_id();
  }

  // Follows a job to its end, checking every snapshot on the way; returns the last.
  PrewarmSnapshot Follow(const std::string& job_id, std::vector<PrewarmSnapshot>* seen = nullptr) {
    int64_t seq = 0;
    for (int i = 0; i < 100000; ++i) {
      Result<PrewarmUpdate> update = app_->prewarm()->WaitForUpdate(job_id, seq, std::chrono::seconds(5));
      EXPECT_TRUE(update.ok());
      if (!update.ok()) break;
      seq = update->snapshot.seq;
      if (seen) seen->push_back(update->snapshot);
      if (IsFinishedPrewarmStatus(update->snapshot.job.status)) return update->snapshot;
    }
    ADD_FAILURE() << "job " << job_id << " did not finish";
    return {};
  }

  TempDir tmp_;
  std::unique_ptr<App> app_;
};

// The average is over computed images only, and the ETA is that average times the images
// left that need the encoder: skipped images change neither.
TEST_F(PrewarmJobsTest, EtaCountsOnlyImagesToCompute) {
  PrewarmSnapshot warm = Follow(app_->prewarm()->Start(AddDataset({1, 2, 3, 4}))->snapshot.job.id);
  ASSERT_EQ(warm.job.computed, 4);

  // Cached and new images interleaved.
  Result<PrewarmJobs::Started> started = app_->prewarm()->Start(AddDataset({1, 11, 2, 12, 3, 13, 4, 14}));
  ASSERT_TRUE(started.ok());
  std::vector<PrewarmSnapshot> seen;
  PrewarmSnapshot last = Follow(started->snapshot.job.id, &seen);
  ASSERT_EQ(last.job.status, "completed");
  EXPECT_EQ(last.job.computed, 4);
  EXPECT_EQ(last.job.skipped, 4);
  EXPECT_EQ(last.job.to_compute, 0);
  ASSERT_TRUE(last.avg_seconds_per_image.has_value());
  EXPECT_DOUBLE_EQ(*last.avg_seconds_per_image, last.job.compute_seconds / 4);

  bool saw_remaining = false;
  for (const PrewarmSnapshot& s : seen) {
    if (s.job.status != "running") continue;
    // Just claimed, before the run has asked the store what is cached: every image may need
    // the encoder, and there is no ETA yet.
    if (s.job.done == 0 && s.job.to_compute == s.job.total) {
      EXPECT_FALSE(s.eta_seconds.has_value());
      continue;
    }
    // Images left to compute: the new ones not yet handled.
    EXPECT_LE(s.job.to_compute, 4);
    EXPECT_EQ(s.job.to_compute, 4 - s.job.computed - s.job.failed) << "at " << s.job.done;
    if (s.job.computed == 0) {
      EXPECT_FALSE(s.avg_seconds_per_image.has_value());
      EXPECT_FALSE(s.eta_seconds.has_value()) << "no ETA before the first computed image";
      continue;
    }
    ASSERT_TRUE(s.avg_seconds_per_image && s.eta_seconds);
    EXPECT_DOUBLE_EQ(*s.avg_seconds_per_image, s.job.compute_seconds / static_cast<double>(s.job.computed));
    EXPECT_DOUBLE_EQ(*s.eta_seconds, *s.avg_seconds_per_image * static_cast<double>(s.job.to_compute));
    saw_remaining = saw_remaining || s.job.to_compute > 0;
  }
  EXPECT_TRUE(saw_remaining) << "no snapshot between the first and the last computed image";
}

TEST_F(PrewarmJobsTest, StartReturnsTheUnfinishedJobAndCancelStopsIt) {
  std::vector<int> seeds;
  for (int i = 0; i < 12; ++i) seeds.push_back(100 + i);
  const std::string dataset = AddDataset(seeds, 2000, 1500);
  Result<PrewarmJobs::Started> first = app_->prewarm()->Start(dataset);
  ASSERT_TRUE(first.ok());
  Result<PrewarmJobs::Started> second = app_->prewarm()->Start(dataset);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->existing);
  EXPECT_EQ(second->snapshot.job.id, first->snapshot.job.id);

  ASSERT_TRUE(app_->prewarm()->Cancel(first->snapshot.job.id).ok());
  PrewarmSnapshot last = Follow(first->snapshot.job.id);
  EXPECT_EQ(last.job.status, "cancelled");
  EXPECT_LT(last.job.done, 12);
  Result<PrewarmJobRecord> stored = app_->catalog().GetPrewarmJob(first->snapshot.job.id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->status, "cancelled");
  EXPECT_EQ(stored->done, last.job.done);
  EXPECT_EQ(app_->prewarm()->Cancel(first->snapshot.job.id).status().code(), StatusCode::kConflict);
}

// A job left "running" by a runner that no longer exists is taken over where it stopped.
TEST_F(PrewarmJobsTest, ResumeTakesOverAJobWhoseRunnerIsGone) {
  // Runners that take only what this process starts or resumes: otherwise they would take
  // the stale job from the queue by themselves (ThePoolTakesOverAStaleJobByItself).
  PrewarmJobs::Options options;
  options.take_from_queue = false;
  Open(options);
  const std::string dataset = AddDataset({200, 201, 202, 203});
  PrewarmJobRecord orphan;
  orphan.id = "orphan-job";
  orphan.dataset_id = dataset;
  orphan.model_id = app_->model()->info().id;
  orphan.status = "running";
  orphan.total = 4;
  orphan.runner = "no-such-host-anywhere:1";  // another machine, silent for long
  orphan.heartbeat_ms = 1;
  orphan.created_at = "2026-01-01T00:00:00.000Z";
  ASSERT_TRUE(app_->catalog().CreatePrewarmJob(orphan).ok());
  // It had handled the first two images (upload positions 0 and 1) before dying.
  orphan.done = 2;
  orphan.skipped = 2;
  orphan.next_position = 2;
  ASSERT_TRUE(app_->catalog().SavePrewarmProgress(orphan, {}).value());

  Result<std::vector<std::string>> resumed = app_->prewarm()->ResumeOrphaned();
  ASSERT_TRUE(resumed.ok());
  ASSERT_EQ(*resumed, std::vector<std::string>{"orphan-job"});
  PrewarmSnapshot last = Follow("orphan-job");
  EXPECT_EQ(last.job.status, "completed");
  EXPECT_EQ(last.job.done, 4);
  EXPECT_EQ(last.job.computed, 2) << "only the images after the saved position";
  EXPECT_EQ(app_->embeddings()->Stats().runs, 2u);
  EXPECT_EQ(last.job.runner, app_->prewarm()->runner_id());
  // The runner's snapshot says "completed" a moment before its last save reaches the row
  // (the claims of the last images are written first); Resume reads the row.
  for (int i = 0; i < 250 && app_->catalog().GetPrewarmJob("orphan-job")->status != "completed"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(app_->prewarm()->Resume("orphan-job").status().code(), StatusCode::kConflict);
}

TEST_F(PrewarmJobsTest, ALiveRunnerIsNotTakenOver) {
  const std::string dataset = AddDataset({300});
  PrewarmJobRecord job;
  job.id = "live-job";
  job.dataset_id = dataset;
  job.model_id = app_->model()->info().id;
  job.status = "running";
  job.runner = "another-host:1";
  job.heartbeat_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  job.created_at = "2026-01-01T00:00:00.000Z";
  ASSERT_TRUE(app_->catalog().CreatePrewarmJob(job).ok());
  EXPECT_TRUE(app_->prewarm()->ResumeOrphaned()->empty());
  Result<PrewarmSnapshot> resume = app_->prewarm()->Resume("live-job");
  EXPECT_EQ(resume.status().code(), StatusCode::kConflict);
  EXPECT_NE(resume.status().message().find("another-host:1"), std::string::npos);
}

// Without any call, idle runners find a job whose heartbeat is stale and finish it.
TEST_F(PrewarmJobsTest, ThePoolTakesOverAStaleJobByItself) {
  PrewarmJobs::Options options;
  // Long, so the runner that took the job keeps it on a loaded machine; the job below is
  // stale anyway (its last heartbeat is from 1970).
  options.stale_after = std::chrono::seconds(30);
  options.poll_interval = std::chrono::milliseconds(20);
  Open(options);
  const std::string dataset = AddDataset({250, 251, 252});
  PrewarmJobRecord stale;
  stale.id = "stale-job";
  stale.dataset_id = dataset;
  stale.model_id = app_->model()->info().id;
  stale.status = "running";
  stale.total = 3;
  stale.runner = "a-host-far-away:42";
  stale.heartbeat_ms = 1;
  stale.created_at = "2026-01-01T00:00:00.000Z";
  ASSERT_TRUE(app_->catalog().CreatePrewarmJob(stale).ok());
  stale.done = 1;
  stale.computed = 1;
  stale.next_position = 1;
  ASSERT_TRUE(app_->catalog().SavePrewarmProgress(stale, {}).value());

  PrewarmSnapshot last = Follow("stale-job");
  EXPECT_EQ(last.job.status, "completed");
  EXPECT_EQ(last.job.done, 3);
  EXPECT_EQ(last.job.computed, 3);
  EXPECT_EQ(last.job.runner, app_->prewarm()->runner_id());
  EXPECT_EQ(app_->embeddings()->Stats().runs, 2u) << "only the images after the saved position";
}

// Two processes on one data folder, here two Apps in one test: one that only queues
// (max_running_jobs 0) and one that runs. The first follows the job from the catalog to the
// seed's final text and can cancel it.
class PrewarmQueueOnlyTest : public PrewarmJobsTest {
 protected:
  void SetUp() override {
    PrewarmJobs::Options queue_only;
    queue_only.max_running_jobs = 0;
    queue_only.runner_id = "queue-only";
    Open(queue_only);
    AppOptions options;
    options.data_dir = tmp_ / "data";
    options.load_model = true;
    options.prewarm.runner_id = "runner-b";
    options.prewarm.poll_interval = std::chrono::milliseconds(20);
    Result<std::unique_ptr<App>> runner = App::Open(options);
    ASSERT_TRUE(runner.ok()) << runner.status().message();
    runner_ = std::move(runner).value();
  }
  void TearDown() override { runner_.reset(); }

  std::unique_ptr<App> runner_;
};

TEST_F(PrewarmQueueOnlyTest, FollowsAJobRunElsewhereToTheEnd) {
  Result<PrewarmJobs::Started> started = app_->prewarm()->Start(AddDataset({500, 501, 502, 503}));
  ASSERT_TRUE(started.ok()) << started.status().message();
  EXPECT_FALSE(started->snapshot.runs_here);
  std::vector<PrewarmSnapshot> seen;
  PrewarmSnapshot last = Follow(started->snapshot.job.id, &seen);
  ASSERT_EQ(last.job.status, "completed");
  for (const PrewarmSnapshot& s : seen) EXPECT_FALSE(s.runs_here);
  EXPECT_EQ(last.job.runner, "runner-b");
  EXPECT_EQ(PrewarmReadyText(last), "Dataset ready (cache: 4 embeddings, computed: 4, skipped: 0)");
  ASSERT_TRUE(last.avg_seconds_per_image.has_value());
  EXPECT_EQ(app_->embeddings()->Stats().runs, 0u);
  EXPECT_EQ(runner_->embeddings()->Stats().runs, 4u);
}

TEST_F(PrewarmQueueOnlyTest, CancelStopsTheJobInTheOtherProcess) {
  std::vector<int> seeds;
  for (int i = 0; i < 12; ++i) seeds.push_back(600 + i);
  Result<PrewarmJobs::Started> started = app_->prewarm()->Start(AddDataset(seeds, 2000, 1500));
  ASSERT_TRUE(started.ok());
  const std::string id = started->snapshot.job.id;
  for (int i = 0; i < 6000; ++i) {
    Result<PrewarmSnapshot> s = runner_->prewarm()->Snapshot(id);
    if (s.ok() && s->runs_here && s->job.done >= 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  Result<PrewarmSnapshot> cancelled = app_->prewarm()->Cancel(id);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status().message();
  EXPECT_EQ(cancelled->job.status, "cancelled");
  PrewarmSnapshot last;
  for (int i = 0; i < 1000; ++i) {
    Result<PrewarmUpdate> update = runner_->prewarm()->WaitForUpdate(id, last.seq, std::chrono::seconds(5));
    ASSERT_TRUE(update.ok());
    last = update->snapshot;
    if (IsFinishedPrewarmStatus(last.job.status) && !last.runs_here) break;
  }
  EXPECT_EQ(last.job.status, "cancelled");
  EXPECT_LT(last.job.done, 12);
  EXPECT_EQ(app_->catalog().GetPrewarmJob(id)->done, cancelled->job.done)
      << "the runner wrote after the cancel";
}

// The heartbeat thread keeps a job while its runner waits for an image: another process
// that takes over jobs silent for 300 ms never gets it, although the runner saves its
// progress only between images (at most every 200 ms) and each of these images takes longer.
TEST_F(PrewarmJobsTest, HeartbeatsKeepAJobWhileImagesTakeLong) {
  PrewarmJobs::Options holder;
  holder.runner_id = "holder";
  holder.stale_after = std::chrono::milliseconds(300);
  holder.heartbeat_interval = std::chrono::milliseconds(20);
  holder.take_from_queue = false;
  Open(holder);
  AppOptions options;
  options.data_dir = tmp_ / "data";
  options.load_model = true;
  options.prewarm.runner_id = "thief";
  options.prewarm.stale_after = std::chrono::milliseconds(300);
  options.prewarm.poll_interval = std::chrono::milliseconds(10);
  Result<std::unique_ptr<App>> thief = App::Open(options);
  ASSERT_TRUE(thief.ok()) << thief.status().message();

  Result<PrewarmJobs::Started> started = app_->prewarm()->Start(AddDataset({700, 701, 702}, 4000, 3000));
  ASSERT_TRUE(started.ok());
  ASSERT_TRUE(started->snapshot.runs_here);
  PrewarmSnapshot last = Follow(started->snapshot.job.id);
  EXPECT_EQ(last.job.status, "completed");
  EXPECT_EQ(last.job.runner, "holder");
  EXPECT_EQ(app_->embeddings()->Stats().runs, 3u);
  EXPECT_EQ((*thief)->embeddings()->Stats().runs, 0u);
}

TEST(PrewarmTextTest, SeedTexts) {
  EXPECT_EQ(FormatDuration(225), "3m 45s");
  EXPECT_EQ(FormatDuration(330), "5m 30s");
  EXPECT_EQ(FormatDuration(7.4), "7s");
  EXPECT_EQ(FormatDuration(3 * 3600 + 125), "3h 2m");

  PrewarmSnapshot s;
  s.job.total = 50;
  s.job.done = 25;
  s.job.computed = 10;
  s.job.skipped = 15;
  s.job.to_compute = 12;
  s.avg_seconds_per_image = 18.5;
  s.eta_seconds = 225;
  s.current = PrewarmImageEvent{1, "id", "a.jpg", PrewarmImageState::kSkipped, "cached"};
  EXPECT_EQ(PrewarmProgressText(s), "Pre-warming cache... 25/50");
  EXPECT_EQ(PrewarmDetailText(s), "skipped (cached) \u2022 Est. remaining: 3m 45s");
  EXPECT_EQ(PrewarmAverageText(s), "(avg 18.5s per image)");
  s.avg_seconds_per_image = 0.042;
  EXPECT_EQ(PrewarmAverageText(s), "(avg 0.04s per image)");
  s.avg_seconds_per_image.reset();
  EXPECT_EQ(PrewarmAverageText(s), "");

  s.job.total = 50;
  s.job.computed = 35;
  s.job.skipped = 15;
  s.cache_embeddings = 150;
  EXPECT_EQ(PrewarmReadyText(s), "Dataset ready (cache: 150 embeddings, computed: 35, skipped: 15)");
  s.job.failed = 2;
  EXPECT_EQ(PrewarmReadyText(s),
            "Dataset ready (cache: 150 embeddings, computed: 35, skipped: 15, failed: 2)");
}

}  // namespace
}  // namespace samcache::testing
