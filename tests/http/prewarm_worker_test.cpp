// Prewarm as a queue shared by processes: `samcache serve --prewarm-jobs 0` queues jobs and
// `samcache worker` processes on the same data folder (one SQLite catalog, one embedding
// cache) run them. Real processes and real HTTP: serve's snapshots and events follow a job
// another process runs, workers killed or hung lose their job to another, two workers never
// run one job twice, and cancelling through serve stops a worker's job.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sqlite3.h>

#include <future>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "support/http_reply.h"
#include "support/test_support.h"

namespace samcache::testing {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// Fast polling and takeovers, so that the tests do not wait for the production defaults.
const std::vector<std::string> kWorkerArgs = {"--prewarm-poll-ms", "50", "--prewarm-stale-seconds", "1"};

std::vector<NamedFile> MakeImages(int count, int first_seed, int width = 320, int height = 240) {
  std::vector<NamedFile> files;
  for (int i = 0; i < count; ++i) {
    files.push_back({"img" + std::to_string(first_seed + i) + ".jpg",
                     MakeImageFile(width, height, first_seed + i, ".jpg")});
  }
  return files;
}

size_t CacheFiles(const fs::path& data) {
  size_t n = 0;
  if (!fs::exists(data / "embeddings")) return 0;
  for (const fs::path& p : ListFiles(data / "embeddings")) {
    const fs::path relative = p.lexically_relative(data / "embeddings");
    if (p.extension() == ".safetensors" && *relative.begin() != "tmp") ++n;
  }
  return n;
}

size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// Polls until `done()` is true or a minute has passed; returns done().
bool Eventually(const std::function<bool()>& done) {
  for (int i = 0; i < 3000 && !done(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return done();
}

class PrewarmWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    serve_ = std::make_unique<ServerProcess>(data(), std::vector<std::string>{"--prewarm-jobs", "0"});
    client_ = std::make_unique<httplib::Client>("127.0.0.1", serve_->port());
    client_->set_read_timeout(120, 0);
    ASSERT_NE(serve_->Log().find("runs no prewarm jobs (--prewarm-jobs 0)"), std::string::npos)
        << serve_->Log();
  }
  fs::path data() const { return tmp_ / "data"; }

  std::unique_ptr<ServerProcess> StartWorker(std::vector<std::string> args = kWorkerArgs) {
    return std::make_unique<ServerProcess>(data(), std::move(args), SAMCACHE_BINARY, "worker");
  }
  static double EncoderRuns(const ServerProcess& process) {
    httplib::Client c("127.0.0.1", process.port());
    auto res = c.Get("/metrics");
    EXPECT_TRUE(res && res->status == 200);
    return res ? Metric(res->body, "samcache_encoder_runs_total") : -1;
  }

  Reply Upload(const std::vector<NamedFile>& files) {
    Reply reply = ToReply(client_->Post("/api/sam/dataset/init", ImageItems(files)));
    EXPECT_EQ(reply.status, 200) << reply.raw;
    return reply;
  }
  Reply Get(const std::string& path) { return ToReply(client_->Get(path)); }

  TempDir tmp_;
  std::unique_ptr<ServerProcess> serve_;
  std::unique_ptr<httplib::Client> client_;
};

// POST on serve, run by the worker, followed on serve (snapshot and events) to the seed's
// completion text; the encoder runs are the worker's.
TEST_F(PrewarmWorkerTest, AWorkerRunsWhatServeQueues) {
  auto worker = StartWorker();
  Reply upload = Upload(MakeImages(6, 1, 1200, 900));
  const std::string dataset_id = upload.body["dataset_id"];
  Reply started = StartPrewarm(*client_, dataset_id);
  ASSERT_EQ(started.status, 202) << started.raw;
  const std::string job_id = started.body["job_id"];
  EXPECT_EQ(started.body["existing"], false);

  std::string stream;
  auto res = client_->Get(started.body["events_url"].get<std::string>(), [&](const char* data, size_t n) {
    stream.append(data, n);
    return true;
  });
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  std::vector<json> done_events;
  std::regex event_re(R"(event: (\w+)\ndata: (.*)\n\n)");
  for (auto it = std::sregex_iterator(stream.begin(), stream.end(), event_re); it != std::sregex_iterator();
       ++it) {
    const std::string name = (*it)[1];
    json data = json::parse((*it)[2].str());
    if (name == "progress") {
      EXPECT_TRUE(data["status"] == "queued" || data["status"] == "running") << data.dump();
      EXPECT_LE(data["done"].get<int>(), 6);
    }
    if (name == "done") done_events.push_back(data);
  }
  ASSERT_EQ(done_events.size(), 1u) << stream;
  const std::string ready = "Dataset ready (cache: 6 embeddings, computed: 6, skipped: 0)";
  EXPECT_EQ(done_events[0]["message"], ready);

  Reply done = Get("/api/sam/prewarm/" + job_id);
  ASSERT_EQ(done.body["status"], "completed") << done.raw;
  EXPECT_EQ(done.body["message"], ready);
  EXPECT_EQ(done.body["progress_text"], "Pre-warming cache... 6/6");
  EXPECT_GT(done.body["avg_seconds_per_image"].get<double>(), 0);
  EXPECT_NE(done.body["runner"].get<std::string>(), "");
  EXPECT_EQ(EncoderRuns(*worker), 6);
  EXPECT_EQ(EncoderRuns(*serve_), 0) << "serve --prewarm-jobs 0 must not run the job";
  const std::string log = worker->Log();
  EXPECT_NE(log.find("[WORKER] claimed job " + job_id), std::string::npos) << log;
  EXPECT_NE(log.find("[WORKER] finished job " + job_id + ": " + ready), std::string::npos) << log;

  // Everything is cached now, for every process: serve's dataset view and a second job.
  EXPECT_EQ(Get("/api/sam/dataset/" + dataset_id).body["embeddings_cached"], 6);
  Reply again = Prewarm(*client_, dataset_id);
  EXPECT_EQ(again.body["message"], "Dataset ready (cache: 6 embeddings, computed: 0, skipped: 6)")
      << again.raw;
  EXPECT_EQ(EncoderRuns(*worker), 6);

  // The worker serves its metrics and health, nothing else.
  httplib::Client w("127.0.0.1", worker->port());
  Reply health = ToReply(w.Get("/healthz"));
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body["status"], "ok");
  Reply api = ToReply(w.Get("/api/sam/datasets"));
  EXPECT_EQ(api.status, 404);
  EXPECT_EQ(api.body["error"], "no such endpoint: GET /api/sam/datasets");

  // SIGTERM: a clean stop.
  EXPECT_EQ(worker->Stop(), 0);
}

// A worker killed mid-job: another takes the job over at the saved position and computes
// only what was not stored.
TEST_F(PrewarmWorkerTest, AKilledWorkersJobIsFinishedByAnother) {
  auto first = StartWorker();
  Reply upload = Upload(MakeImages(16, 100, 2400, 1800));
  Reply started = StartPrewarm(*client_, upload.body["dataset_id"]);
  ASSERT_EQ(started.status, 202) << started.raw;
  const std::string job_id = started.body["job_id"];
  // Killed after its third picture: the demo model encodes one in a few tens of ms, so the
  // worker is stopped first, which keeps the job unfinished on a machine of any speed.
  ASSERT_TRUE(Eventually([&] { return first->LogCount("[ENCODE]") >= 3; })) << first->Log();
  first->Signal(SIGSTOP);
  first->Kill();
  const size_t stored = CacheFiles(data());
  ASSERT_LT(stored, 16u) << "the job finished before the kill; nothing to take over";

  auto second = StartWorker();
  Reply done = WaitForPrewarm(*client_, job_id);
  ASSERT_EQ(done.body["status"], "completed") << done.raw;
  EXPECT_EQ(done.body["done"], 16);
  EXPECT_EQ(done.body["failed"], 0);
  EXPECT_EQ(done.body["message"], "Dataset ready (cache: 16 embeddings, computed: " +
                                      std::to_string(done.body["computed"].get<int>()) +
                                      ", skipped: " + std::to_string(done.body["skipped"].get<int>()) + ")");
  EXPECT_EQ(EncoderRuns(*second), static_cast<double>(16 - stored))
      << "an embedding stored before the kill was recomputed";
  EXPECT_EQ(CacheFiles(data()), 16u);
  const std::string log = second->Log();
  EXPECT_NE(log.find("[WORKER] claimed job " + job_id), std::string::npos) << log;
  EXPECT_NE(log.find("[PREWARM] job " + job_id + " resumed at"), std::string::npos) << log;
}

// True when no process holds the catalog's write lock (checked by taking it, briefly).
bool CatalogWritable(const fs::path& db_path) {
  sqlite3* db = nullptr;
  bool writable = false;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK &&
      sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK) {
    writable = true;
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  sqlite3_close(db);
  return writable;
}

// A hung worker (SIGSTOP: alive, silent) loses its job once its heartbeat is older than
// --prewarm-stale-seconds; woken up, it finds the job taken and writes nothing more.
TEST_F(PrewarmWorkerTest, AHungWorkerLosesItsJobAfterTheStaleInterval) {
  std::vector<std::unique_ptr<ServerProcess>> workers;
  workers.push_back(StartWorker());
  workers.push_back(StartWorker());
  Reply upload = Upload(MakeImages(16, 200, 2400, 1800));
  Reply started = StartPrewarm(*client_, upload.body["dataset_id"]);
  ASSERT_EQ(started.status, 202) << started.raw;
  const std::string job_id = started.body["job_id"];
  const std::string claimed = "[WORKER] claimed job " + job_id;
  ASSERT_TRUE(Eventually([&] {
    return workers[0]->Log().find(claimed) != std::string::npos ||
           workers[1]->Log().find(claimed) != std::string::npos;
  }));
  const size_t holder = workers[0]->Log().find(claimed) != std::string::npos ? 0 : 1;
  ServerProcess& hung = *workers[holder];
  ServerProcess& other = *workers[1 - holder];
  // After its second picture, from its own log: the job's saved progress lags by up to a
  // save interval, in which the demo model may finish the rest.
  ASSERT_TRUE(Eventually([&] { return hung.LogCount("[ENCODE]") >= 2; })) << hung.Log();

  // Stop it outside a catalog write: a process stopped while holding SQLite's write lock
  // would block every process, which is not what this test is about.
  bool stopped = false;
  for (int attempt = 0; attempt < 100 && !stopped; ++attempt) {
    hung.Signal(SIGSTOP);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    stopped = CatalogWritable(data() / "samcache.db");
    if (!stopped) {
      hung.Signal(SIGCONT);
      std::this_thread::sleep_for(std::chrono::milliseconds(37));
    }
  }
  ASSERT_TRUE(stopped) << "the worker always held the catalog's write lock";

  Reply done = WaitForPrewarm(*client_, job_id);
  ASSERT_EQ(done.body["status"], "completed") << done.raw;
  EXPECT_EQ(done.body["done"], 16);
  EXPECT_EQ(done.body["failed"], 0);
  EXPECT_NE(other.Log().find(claimed), std::string::npos) << other.Log();
  EXPECT_NE(other.Log().find("[PREWARM] job " + job_id + " resumed at"), std::string::npos) << other.Log();

  hung.Signal(SIGCONT);
  ASSERT_TRUE(Eventually([&] { return hung.Log().find("[WORKER] lost job " + job_id) != std::string::npos; }))
      << hung.Log();
  Reply after = Get("/api/sam/prewarm/" + job_id);
  EXPECT_EQ(after.body["status"], "completed") << "the woken worker must not write over the finished job";
  EXPECT_EQ(after.body["done"], 16);
  EXPECT_EQ(after.body["runner"], done.body["runner"]);
  // Every image was encoded once, except the few the hung worker had in flight when it
  // stopped (at most the job's pipeline depth, 3), which it finished after waking.
  const double total = EncoderRuns(hung) + EncoderRuns(other);
  EXPECT_GE(total, 16);
  EXPECT_LE(total, 16 + 3);
  EXPECT_EQ(CacheFiles(data()), 16u);
}

// Two workers and several jobs at once: each job is claimed by one worker, and each image
// encoded once in total.
TEST_F(PrewarmWorkerTest, TwoWorkersRunEachJobOnce) {
  auto a = StartWorker();
  auto b = StartWorker();
  std::vector<std::string> job_ids;
  for (int d = 0; d < 3; ++d) {
    Reply upload = Upload(MakeImages(4, 300 + 10 * d, 1600, 1200));
    Reply started = StartPrewarm(*client_, upload.body["dataset_id"]);
    ASSERT_EQ(started.status, 202) << started.raw;
    job_ids.push_back(started.body["job_id"]);
    Reply again = StartPrewarm(*client_, upload.body["dataset_id"]);
    EXPECT_EQ(again.body["job_id"], job_ids.back());
    EXPECT_EQ(again.body["existing"], true);
  }
  for (const std::string& id : job_ids) {
    Reply done = WaitForPrewarm(*client_, id);
    ASSERT_EQ(done.body["status"], "completed") << done.raw;
    EXPECT_EQ(done.body["computed"], 4) << done.raw;
  }
  EXPECT_EQ(EncoderRuns(*a) + EncoderRuns(*b), 12);
  const std::string logs = a->Log() + b->Log();
  for (const std::string& id : job_ids) EXPECT_EQ(Count(logs, "[WORKER] claimed job " + id), 1u) << logs;
  EXPECT_EQ(Count(logs, "[WORKER] lost job"), 0u) << logs;
}

// DELETE on serve stops the job a worker runs, after the images in flight.
TEST_F(PrewarmWorkerTest, CancelThroughServeStopsTheWorkersJob) {
  auto worker = StartWorker({"--prewarm-poll-ms", "50"});  // default stale interval: the row, not a takeover
  Reply upload = Upload(MakeImages(16, 400, 2400, 1800));
  Reply started = StartPrewarm(*client_, upload.body["dataset_id"]);
  const std::string job_id = started.body["job_id"];
  // The demo model encodes a picture in ~20 ms, so the whole job takes less than two progress
  // saves: the worker is stopped after its first picture while serve cancels, so that the
  // cancel lands in the middle of the job whatever the machine's speed. The DELETE runs
  // beside, since a worker stopped inside a catalog write holds the lock until it resumes.
  ASSERT_TRUE(Eventually([&] { return worker->Log().find("[ENCODE]") != std::string::npos; }))
      << worker->Log();
  worker->Signal(SIGSTOP);
  auto cancelling =
      std::async(std::launch::async, [&] { return ToReply(client_->Delete("/api/sam/prewarm/" + job_id)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  worker->Signal(SIGCONT);
  Reply cancel = cancelling.get();
  EXPECT_EQ(cancel.status, 202) << cancel.raw;
  EXPECT_EQ(cancel.body["status"], "cancelled") << cancel.raw;
  const int handled = cancel.body["done"];
  EXPECT_LT(handled, 16);
  EXPECT_EQ(cancel.body["message"], "Pre-warming cancelled at " + std::to_string(handled) + "/16");

  ASSERT_TRUE(Eventually([&] {
    return worker->Log().find("[WORKER] finished job " + job_id + ": cancelled at") != std::string::npos;
  })) << worker->Log();
  Reply after = Get("/api/sam/prewarm/" + job_id);
  EXPECT_EQ(after.body["status"], "cancelled");
  EXPECT_EQ(after.body["done"], handled) << "the worker wrote after the cancel";
  EXPECT_LT(EncoderRuns(*worker), 16) << worker->Log();
  EXPECT_EQ(ToReply(client_->Delete("/api/sam/prewarm/" + job_id)).status, 409);
}

}  // namespace
}  // namespace samcache::testing
