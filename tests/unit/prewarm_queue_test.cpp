// The prewarm queue in the catalog, on SQLite and PostgreSQL: ClaimNextPrewarmJob takes the oldest waiting
// or stale job exactly once, finished jobs never; HeartbeatPrewarmJob renews only the
// owner's unfinished job. Several catalog objects on one database stand for several processes.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "catalog/catalog.h"
#include "support/postgres_test_db.h"
#include "support/test_support.h"

namespace samcache {
namespace {

using testing::PostgresTestDatabase;
using testing::TempDir;

constexpr const char* kModel = "model-a";

std::unique_ptr<Catalog> Open(const std::string& path) {
  Result<std::unique_ptr<Catalog>> catalog = OpenCatalog(path);
  EXPECT_TRUE(catalog.ok()) << catalog.status().message();
  return catalog.ok() ? std::move(catalog).value() : nullptr;
}

PrewarmJobRecord Job(const std::string& id, const std::string& created_at,
                     const std::string& status = "queued", const std::string& runner = "",
                     int64_t heartbeat_ms = 0, const std::string& model = kModel) {
  PrewarmJobRecord j;
  j.id = id;
  j.dataset_id = "dataset-" + id;
  j.model_id = model;
  j.status = status;
  j.total = 10;
  j.to_compute = 10;
  j.runner = runner;
  j.heartbeat_ms = heartbeat_ms;
  j.created_at = created_at;
  return j;
}

enum class Backend { kSqlite, kPostgres };

class PrewarmQueueTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kSqlite) {
      path_ = (dir_ / "catalog.db").string();
    } else {
      ASSERT_FALSE(testing::TestPostgresUrl().empty()) << testing::kNoPostgresMessage;
      postgres_ = std::make_unique<PostgresTestDatabase>();
      path_ = postgres_->url();
    }
    catalog_ = Open(path_);
    ASSERT_NE(catalog_, nullptr);
  }

  void Create(const PrewarmJobRecord& job) {
    const Status st = catalog_->CreatePrewarmJob(job);
    ASSERT_TRUE(st.ok()) << st.message();
  }

  // The id of the job `runner` claims, or "" when none qualifies.
  std::string Claim(const std::string& runner, int64_t now_ms, int64_t stale_before_ms,
                    const std::string& model = kModel) {
    Result<std::optional<PrewarmJobRecord>> claimed =
        catalog_->ClaimNextPrewarmJob(model, runner, now_ms, stale_before_ms);
    EXPECT_TRUE(claimed.ok()) << claimed.status().message();
    if (!claimed.ok() || !*claimed) return "";
    EXPECT_EQ((*claimed)->runner, runner);
    EXPECT_EQ((*claimed)->heartbeat_ms, now_ms);
    EXPECT_EQ((*claimed)->status, "running");
    return (*claimed)->id;
  }

  PrewarmJobRecord Get(const std::string& id) {
    Result<PrewarmJobRecord> job = catalog_->GetPrewarmJob(id);
    EXPECT_TRUE(job.ok()) << job.status().message();
    return job.ok() ? *job : PrewarmJobRecord{};
  }

  TempDir dir_;
  std::unique_ptr<PostgresTestDatabase> postgres_;  // dropped after the catalogs are closed
  std::string path_;
  std::unique_ptr<Catalog> catalog_;
};

INSTANTIATE_TEST_SUITE_P(Backends, PrewarmQueueTest, ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return info.param == Backend::kSqlite ? "Sqlite" : "Postgres";
                         });

TEST_P(PrewarmQueueTest, ClaimsTheOldestWaitingJobFirst) {
  Create(Job("second", "2026-01-01T00:00:02.000Z"));
  Create(Job("first", "2026-01-01T00:00:01.000Z"));
  Create(Job("third-a", "2026-01-01T00:00:03.000Z"));
  Create(Job("third-b", "2026-01-01T00:00:03.000Z"));  // same time: insertion order
  EXPECT_EQ(Claim("w1:1", 1000, 0), "first");
  EXPECT_EQ(Claim("w2:2", 1001, 0), "second");
  EXPECT_EQ(Claim("w1:1", 1002, 0), "third-a");
  EXPECT_EQ(Claim("w1:1", 1003, 0), "third-b");
  EXPECT_EQ(Claim("w1:1", 1004, 0), "") << "every job has a live runner now";

  const PrewarmJobRecord second = Get("second");
  EXPECT_EQ(second.status, "running");
  EXPECT_EQ(second.runner, "w2:2");
  EXPECT_EQ(second.heartbeat_ms, 1001);
  EXPECT_EQ(second.total, 10) << "a claim changes runner, heartbeat and status only";
}

TEST_P(PrewarmQueueTest, TakesOnlyJobsOfItsModel) {
  Create(Job("other", "2026-01-01T00:00:01.000Z", "queued", "", 0, "model-b"));
  Create(Job("mine", "2026-01-01T00:00:02.000Z"));
  EXPECT_EQ(Claim("w:1", 1000, 0), "mine");
  EXPECT_EQ(Claim("w:1", 1000, 0), "");
  EXPECT_EQ(Claim("w:1", 1000, 0, "model-b"), "other");
}

// A runner that stopped renewing its heartbeat loses its job to the next claim; it then can
// neither renew it nor save progress.
TEST_P(PrewarmQueueTest, TakesOverAJobWhoseHeartbeatIsStale) {
  Create(Job("job", "2026-01-01T00:00:01.000Z", "running", "dead:1", 5000));
  EXPECT_EQ(Claim("w:2", 9000, 5000), "") << "heartbeat 5000 is not older than 5000";
  EXPECT_EQ(Claim("w:2", 9000, 5001), "job");
  EXPECT_EQ(Get("job").runner, "w:2");

  Result<bool> heartbeat = catalog_->HeartbeatPrewarmJob("job", "dead:1", 9500);
  ASSERT_TRUE(heartbeat.ok());
  EXPECT_FALSE(*heartbeat);
  PrewarmJobRecord progress = Get("job");
  progress.runner = "dead:1";
  progress.done = 7;
  Result<bool> saved = catalog_->SavePrewarmProgress(progress, {});
  ASSERT_TRUE(saved.ok());
  EXPECT_FALSE(*saved);
  EXPECT_EQ(Get("job").done, 0);
  EXPECT_EQ(Get("job").heartbeat_ms, 9000);
}

// A queued job that a process took directly (ClaimPrewarmJob) waits for that process while
// its heartbeat is fresh; handed back (runner "", heartbeat 0), anyone takes it at once.
TEST_P(PrewarmQueueTest, AQueuedJobWithARunnerWaitsForItUntilStale) {
  Create(Job("job", "2026-01-01T00:00:01.000Z"));
  ASSERT_TRUE(catalog_->ClaimPrewarmJob("job", "", "cli:7", 8000).value());
  EXPECT_EQ(Get("job").status, "queued");
  EXPECT_EQ(Claim("w:1", 9000, 7000), "");
  EXPECT_EQ(Claim("w:1", 9000, 8001), "job");

  ASSERT_TRUE(catalog_->ClaimPrewarmJob("job", "w:1", "", 0).value());
  EXPECT_EQ(Claim("w:2", 9100, 100), "job");
  EXPECT_EQ(Get("job").runner, "w:2");
}

TEST_P(PrewarmQueueTest, FinishedJobsAreNeverClaimed) {
  Create(Job("done", "2026-01-01T00:00:01.000Z"));
  Create(Job("stopped", "2026-01-01T00:00:02.000Z"));
  Create(Job("broken", "2026-01-01T00:00:03.000Z"));
  ASSERT_EQ(Claim("w:1", 1000, 0), "done");
  ASSERT_EQ(Claim("w:1", 1000, 0), "stopped");
  ASSERT_EQ(Claim("w:1", 1000, 0), "broken");
  for (const auto& [id, status] :
       std::map<std::string, std::string>{{"done", "completed"}, {"broken", "failed"}}) {
    PrewarmJobRecord j = Get(id);
    j.status = status;
    j.finished_at = "2026-01-01T00:01:00.000Z";
    ASSERT_TRUE(catalog_->SavePrewarmProgress(j, {}).value());
  }
  ASSERT_TRUE(catalog_->CancelPrewarmJob("stopped", "2026-01-01T00:01:00.000Z").value());
  Create(Job("cancelled-while-queued", "2026-01-01T00:00:04.000Z"));
  ASSERT_TRUE(catalog_->CancelPrewarmJob("cancelled-while-queued", "2026-01-01T00:01:00.000Z").value());

  // Heartbeats of 1000 are ancient for a claim at any later time: still nothing to take.
  EXPECT_EQ(Claim("w:2", 1'000'000, 999'999), "");
  EXPECT_EQ(Get("done").status, "completed");
  EXPECT_EQ(Get("stopped").status, "cancelled");
  EXPECT_EQ(Get("broken").status, "failed");
  EXPECT_EQ(Get("cancelled-while-queued").runner, "");
}

TEST_P(PrewarmQueueTest, HeartbeatOnlyForTheOwnerOfAnUnfinishedJob) {
  Create(Job("job", "2026-01-01T00:00:01.000Z"));
  ASSERT_EQ(Claim("owner:1", 1000, 0), "job");

  EXPECT_TRUE(catalog_->HeartbeatPrewarmJob("job", "owner:1", 2000).value());
  EXPECT_EQ(Get("job").heartbeat_ms, 2000);
  EXPECT_FALSE(catalog_->HeartbeatPrewarmJob("job", "intruder:2", 3000).value());
  EXPECT_EQ(Get("job").heartbeat_ms, 2000) << "a refused heartbeat writes nothing";
  EXPECT_FALSE(catalog_->HeartbeatPrewarmJob("no-such-job", "owner:1", 3000).value());

  ASSERT_TRUE(catalog_->CancelPrewarmJob("job", "2026-01-01T00:01:00.000Z").value());
  EXPECT_FALSE(catalog_->HeartbeatPrewarmJob("job", "owner:1", 4000).value())
      << "cancelled: the runner must stop";
  EXPECT_EQ(Get("job").heartbeat_ms, 2000);
}

// Claims from several connections (as from several processes) at once: each job goes to
// exactly one of them.
TEST_P(PrewarmQueueTest, ConcurrentClaimsTakeEachJobOnce) {
  constexpr int kJobs = 40;
  for (int i = 0; i < kJobs; ++i) {
    char created[32];
    std::snprintf(created, sizeof created, "2026-01-01T00:00:%02d.000Z", i);
    Create(Job(std::string("job") + std::to_string(i), created));
  }
  constexpr int kConnections = 4;
  std::vector<std::unique_ptr<Catalog>> connections;
  for (int c = 0; c < kConnections; ++c) connections.push_back(Open(path_));
  std::mutex mu;
  std::map<std::string, int> claims;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kConnections * 2; ++t) {
    threads.emplace_back([&, t] {
      Catalog& catalog = *connections[static_cast<size_t>(t % kConnections)];
      const std::string runner = "runner:" + std::to_string(t);
      for (;;) {
        Result<std::optional<PrewarmJobRecord>> claimed =
            catalog.ClaimNextPrewarmJob(kModel, runner, 1000, 0);
        if (!claimed.ok()) {
          ++errors;
          return;
        }
        if (!*claimed) return;
        std::lock_guard lock(mu);
        ++claims[(*claimed)->id];
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  ASSERT_EQ(claims.size(), static_cast<size_t>(kJobs));
  for (const auto& [id, count] : claims) EXPECT_EQ(count, 1) << id;
}

}  // namespace
}  // namespace samcache
