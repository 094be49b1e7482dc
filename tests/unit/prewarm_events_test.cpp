// Followers of a prewarm job on a Redis-backed store cost no store count per update. The
// Redis tier counts a model's embeddings with a SCAN of the whole database
// (RedisTier::EntriesFor); a job's count is taken when it is first seen and when it
// finishes, and shared by every follower. Redis' own `INFO commandstats` counts the SCANs.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "app/app.h"
#include "common/crypto.h"
#include "jobs/prewarm_jobs.h"
#include "support/redis_server.h"
#include "support/test_support.h"

namespace samcache::testing {
namespace {

constexpr int kFollowers = 8;
constexpr int kImages = 10;
// Per process that follows or runs a job: once when first seen, once when finished.
constexpr int64_t kCountsPerProcess = 2;

// Calls of `command` since the server started ("cmdstat_scan:calls=3,usec=..." in INFO).
int64_t CommandCalls(const RedisServer& redis, const std::string& command) {
  const std::string stats = redis.Cli({"INFO", "commandstats"});
  const std::string field = "cmdstat_" + command + ":calls=";
  const size_t at = stats.find(field);
  return at == std::string::npos ? 0 : std::stoll(stats.substr(at + field.size()));
}

class PrewarmEventsTest : public ::testing::Test {
 protected:
  std::unique_ptr<App> Open(PrewarmJobs::Options prewarm) {
    AppOptions options;
    options.data_dir = tmp_ / "data";
    options.load_model = true;
    options.redis_url = redis_.url();
    options.prewarm = std::move(prewarm);
    Result<std::unique_ptr<App>> app = App::Open(options);
    EXPECT_TRUE(app.ok()) << app.status().message();
    return app.ok() ? std::move(app).value() : nullptr;
  }

  std::string AddDataset(App& app, int first_seed) {
    UploadBatch batch(app.ingestor(), app.catalog(), "set", std::nullopt);
    for (int seed = first_seed; seed < first_seed + kImages; ++seed) {
      std::string bytes = MakeImageFile(640, 480, seed, ".jpg");
      const std::string hash = Sha256Hex(bytes);
      batch.Add(IncomingFile{"s" + std::to_string(seed) + ".jpg", std::move(bytes), hash});
    }
    batch.Finish();
    EXPECT_EQ(batch.stored().size(), static_cast<size_t>(kImages));
    return batch.dataset_id();
  }

  // kFollowers threads follow the job to its end, as event streams do; returns the updates
  // they received in all and checks each one's last snapshot.
  int Follow(PrewarmJobs& jobs, const std::string& job_id) {
    std::atomic<int> updates{0};
    std::vector<std::thread> followers;
    for (int f = 0; f < kFollowers; ++f) {
      followers.emplace_back([&] {
        PrewarmSnapshot last;
        for (int i = 0; i < 100000; ++i) {
          Result<PrewarmUpdate> update = jobs.WaitForUpdate(job_id, last.seq, std::chrono::seconds(5));
          ASSERT_TRUE(update.ok()) << update.status().message();
          ++updates;
          last = update->snapshot;
          if (IsFinishedPrewarmStatus(last.job.status)) break;
        }
        EXPECT_EQ(last.job.status, "completed");
        EXPECT_EQ(PrewarmReadyText(last), "Dataset ready (cache: " + std::to_string(kImages) +
                                              " embeddings, computed: " + std::to_string(kImages) +
                                              ", skipped: 0)");
      });
    }
    for (std::thread& follower : followers) follower.join();
    return updates.load();
  }

  RedisServer redis_;
  TempDir tmp_;
};

TEST_F(PrewarmEventsTest, FollowersOfAJobRunHereCostNoScanPerUpdate) {
  std::unique_ptr<App> app = Open({});
  ASSERT_NE(app, nullptr);
  const std::string dataset = AddDataset(*app, 1);
  const int64_t scans_before = CommandCalls(redis_, "scan");

  Result<PrewarmJobs::Started> started = app->prewarm()->Start(dataset);
  ASSERT_TRUE(started.ok()) << started.status().message();
  const int updates = Follow(*app->prewarm(), started->snapshot.job.id);

  const int64_t scans = CommandCalls(redis_, "scan") - scans_before;
  // Counting per update, as before, would SCAN at least once per update received.
  EXPECT_GE(updates, kFollowers);
  EXPECT_LE(scans, kCountsPerProcess) << updates << " updates to " << kFollowers << " followers";
}

// A serve process that runs no jobs follows one that a worker runs: its followers poll the
// catalog row, and share the count too.
TEST_F(PrewarmEventsTest, FollowersOfAJobRunElsewhereCostNoScanPerPoll) {
  PrewarmJobs::Options queue_only;
  queue_only.max_running_jobs = 0;
  queue_only.runner_id = "queue-only";
  std::unique_ptr<App> app = Open(queue_only);
  ASSERT_NE(app, nullptr);
  PrewarmJobs::Options worker;
  worker.runner_id = "worker";
  worker.poll_interval = std::chrono::milliseconds(20);
  std::unique_ptr<App> runner = Open(worker);
  ASSERT_NE(runner, nullptr);
  const std::string dataset = AddDataset(*app, 100);
  const int64_t scans_before = CommandCalls(redis_, "scan");

  Result<PrewarmJobs::Started> started = app->prewarm()->Start(dataset);
  ASSERT_TRUE(started.ok()) << started.status().message();
  const int updates = Follow(*app->prewarm(), started->snapshot.job.id);

  const int64_t scans = CommandCalls(redis_, "scan") - scans_before;
  EXPECT_GE(updates, kFollowers);
  EXPECT_LE(scans, 2 * kCountsPerProcess) << updates << " updates to " << kFollowers << " followers";
}

}  // namespace
}  // namespace samcache::testing
