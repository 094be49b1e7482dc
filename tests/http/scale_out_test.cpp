// Several instances, as deployed (docs/OPERATIONS.md, "Deploying several instances"): two real `samcache
// serve` processes A and B and one `samcache worker` W, each with a data folder (and so a
// local embedding cache) of its own, sharing one PostgreSQL database (catalog and prewarm
// queue), one real redis-server (shared embedding tier and per-key leases) and one blob
// folder. Upload through A, prewarm through B, predict through A; the same dataset prewarmed
// through A and B at once is encoded once per distinct image in total (the encoder runs of
// every process's /metrics); a `serve` killed mid-prewarm has its job finished by another
// process; Redis restarted mid-run is invisible to users.
#include <gtest/gtest.h>

#include <httplib.h>
#include <csignal>

#include <atomic>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>

#include "support/http_reply.h"
#include "support/postgres_test_db.h"
#include "support/redis_server.h"
#include "support/test_support.h"

namespace samcache::testing {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

std::vector<NamedFile> MakeImages(int count, int first_seed, int width, int height) {
  std::vector<NamedFile> files;
  for (int i = 0; i < count; ++i) {
    files.push_back({"img" + std::to_string(first_seed + i) + ".jpg",
                     MakeImageFile(width, height, first_seed + i, ".jpg")});
  }
  return files;
}

// Polls until `done()` is true or a minute has passed; returns done().
bool Eventually(const std::function<bool()>& done) {
  for (int i = 0; i < 3000 && !done(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return done();
}

// One process (serve or worker) and a client for it.
struct Node {
  Node(const fs::path& data, const std::vector<std::string>& args, const std::string& command)
      : server(data, args, SAMCACHE_BINARY, command), client("127.0.0.1", server.port()) {
    client.set_read_timeout(120, 0);
  }
  Reply Get(const std::string& path) { return ToReply(client.Get(path.c_str())); }
  Reply Upload(const std::vector<NamedFile>& files) {
    return ToReply(client.Post("/api/sam/dataset/init", ImageItems(files)));
  }
  // One positive click in the middle of the image.
  Reply Predict(const std::string& image_id, int width, int height) {
    const json body = {{"image_id", image_id},
                       {"points", json::array({{{"x", width / 2}, {"y", height / 2}, {"label", 1}}})}};
    return ToReply(client.Post("/api/sam/predict", body.dump(), "application/json"));
  }
  double EncoderRuns() {
    Reply metrics = Get("/metrics");
    EXPECT_EQ(metrics.status, 200);
    return Metric(metrics.raw, "samcache_encoder_runs_total");
  }

  ServerProcess server;
  httplib::Client client;
};

// The seed's completion text, with the counts it names.
struct Ready {
  bool matched = false;
  int cache = 0;
  int computed = 0;
  int skipped = 0;
};
Ready ParseReady(const json& snapshot) {
  static const std::regex ready(
      R"(Dataset ready \(cache: (\d+) embeddings, computed: (\d+), skipped: (\d+)\))");
  Ready out;
  std::smatch m;
  const std::string message = snapshot.value("message", "");
  if (!std::regex_match(message, m, ready)) return out;
  out.matched = true;
  out.cache = std::stoi(m[1]);
  out.computed = std::stoi(m[2]);
  out.skipped = std::stoi(m[3]);
  return out;
}

class ScaleOutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(TestPostgresUrl().empty()) << kNoPostgresMessage;
    db_ = std::make_unique<PostgresTestDatabase>();
  }

  // Every process: the shared catalog, Redis and blob folder, a data folder of its own, and
  // fast polling and takeovers so that the tests do not wait for the production defaults.
  std::unique_ptr<Node> Start(const std::string& name, const std::string& command,
                              std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--db",
                                     db_->url(),
                                     "--redis",
                                     redis_.url(),
                                     "--blobs",
                                     blobs(),
                                     "--prewarm-poll-ms",
                                     "50",
                                     "--prewarm-stale-seconds",
                                     "2"};
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<Node>(tmp_ / name, args, command);
  }
  std::string blobs() const { return (tmp_ / "shared-blobs").string(); }
  // Embeddings stored in Redis (leases not counted).
  size_t RedisEmbeddings() {
    const std::string keys = redis_.Cli({"KEYS", "samcache:emb:*"});
    size_t n = 0;
    std::istringstream lines(keys);
    for (std::string line; std::getline(lines, line);) n += !line.empty();
    return n;
  }

  TempDir tmp_;
  RedisServer redis_;
  std::unique_ptr<PostgresTestDatabase> db_;
};

// The issue's flow: upload through A; the same files through B are exact duplicates across
// instances; B lists A's dataset and prewarms it (run by B or W, A runs no jobs); A and B follow the shared
// job to the end; predict through A finds every embedding through Redis with no encoder run on A; each image
// was encoded once over all processes.
TEST_F(ScaleOutTest, UploadOnAPrewarmOnBPredictOnA) {
  // A runs no prewarm jobs: every serve takes jobs from the shared queue, and A taking this one
  // would fill its own cache, not show that A reads what the others computed.
  auto a = Start("a", "serve", {"--prewarm-jobs", "0"});
  auto b = Start("b", "serve");
  auto w = Start("w", "worker");
  constexpr int kImages = 6;
  const std::vector<NamedFile> files = MakeImages(kImages, 1, 800, 600);

  Reply on_a = a->Upload(files);
  ASSERT_EQ(on_a.status, 200) << on_a.raw;
  EXPECT_EQ(on_a.body["duplicates_found"], 0);
  const std::string dataset_id = on_a.body["dataset_id"];

  Reply on_b = b->Upload(files);
  ASSERT_EQ(on_b.status, 200) << on_b.raw;
  EXPECT_EQ(on_b.body["duplicates_found"], kImages);
  EXPECT_EQ(on_b.body["embeddings_cached"], 0);
  EXPECT_EQ(on_b.body["duplicates_pending"], kImages);
  for (int i = 0; i < kImages; ++i) {
    EXPECT_EQ(on_b.body["images"][i]["duplicate"], true) << on_b.raw;
    EXPECT_EQ(on_b.body["images"][i]["content_hash"], on_a.body["images"][i]["content_hash"]);
    EXPECT_EQ(on_b.body["images"][i]["embedding_cached"], false);
  }
  EXPECT_NE(b->server.Log().find("[DEDUP] Found duplicate image: img1.jpg"), std::string::npos)
      << b->server.Log();
  EXPECT_EQ(ListFiles(blobs()).size(), static_cast<size_t>(kImages)) << "one file per distinct content";

  Reply list = b->Get("/api/sam/datasets");
  ASSERT_EQ(list.status, 200) << list.raw;
  bool listed = false;
  for (const json& d : list.body["datasets"]) {
    if (d["id"] == dataset_id) {
      listed = true;
      EXPECT_EQ(d["image_count"], kImages);
    }
  }
  EXPECT_TRUE(listed) << "B does not list A's dataset: " << list.raw;

  Reply started = StartPrewarm(b->client, dataset_id);
  ASSERT_EQ(started.status, 202) << started.raw;
  const std::string job_id = started.body["job_id"];
  Reply done_b = WaitForPrewarm(b->client, job_id);
  ASSERT_EQ(done_b.body["status"], "completed") << done_b.raw;
  const std::string ready = "Dataset ready (cache: 6 embeddings, computed: 6, skipped: 0)";
  EXPECT_EQ(done_b.body["message"], ready);
  EXPECT_EQ(done_b.body["done"], kImages);
  EXPECT_EQ(done_b.body["failed"], 0);
  // The job row is shared: A follows it too.
  Reply done_a = WaitForPrewarm(a->client, job_id);
  EXPECT_EQ(done_a.status, 200) << done_a.raw;
  EXPECT_EQ(done_a.body["status"], "completed") << done_a.raw;
  EXPECT_EQ(done_a.body["message"], ready);
  EXPECT_EQ(RedisEmbeddings(), static_cast<size_t>(kImages));

  for (int i = 0; i < kImages; ++i) {
    Reply predicted = a->Predict(on_a.body["images"][i]["id"], 800, 600);
    ASSERT_EQ(predicted.status, 200) << predicted.raw;
    EXPECT_EQ(predicted.body["embedding"], "cached") << "image " << i;
    EXPECT_FALSE(predicted.body["masks"].empty());
  }
  Reply metrics = a->Get("/metrics");
  EXPECT_EQ(Metric(metrics.raw, "samcache_encoder_runs_total"), 0) << "A encoded what B's side had computed";
  EXPECT_EQ(Metric(metrics.raw, "samcache_embedding_cache_hits_total{tier=\"redis\"}"), kImages);
  EXPECT_EQ(a->EncoderRuns() + b->EncoderRuns() + w->EncoderRuns(), kImages);
  // And B's upload answer now knows the pictures are cached.
  Reply again = b->Upload({files[0]});
  ASSERT_EQ(again.status, 200) << again.raw;
  EXPECT_EQ(again.body["images"][0]["embedding_cached"], true);
  EXPECT_EQ(again.body["duplicates_message"], "1 image(s) already cached, prewarm will be faster");
}

// Two POSTs at the same time, on A and B, for one dataset, with W running too: whichever
// process runs whichever job, each distinct image is encoded exactly once in total.
TEST_F(ScaleOutTest, OneDatasetPrewarmedThroughAAndBAtOnceIsEncodedOnce) {
  auto a = Start("a", "serve");
  auto b = Start("b", "serve");
  auto w = Start("w", "worker");
  constexpr int kImages = 8;
  Reply uploaded = a->Upload(MakeImages(kImages, 20, 1200, 900));
  ASSERT_EQ(uploaded.status, 200) << uploaded.raw;
  const std::string dataset_id = uploaded.body["dataset_id"];

  std::atomic<bool> go{false};
  Reply started[2];
  std::vector<std::thread> posts;
  for (int i = 0; i < 2; ++i) {
    posts.emplace_back([&, i] {
      httplib::Client client("127.0.0.1", (i == 0 ? a : b)->server.port());
      client.set_read_timeout(120, 0);
      while (!go.load()) std::this_thread::yield();
      started[i] = StartPrewarm(client, dataset_id);
    });
  }
  go = true;
  for (auto& t : posts) t.join();
  std::set<std::string> job_ids;
  for (const Reply& r : started) {
    ASSERT_EQ(r.status, 202) << r.raw;
    job_ids.insert(r.body["job_id"].get<std::string>());
  }
  // The catalog holds one unfinished job per dataset and model: the POST that lost the race
  // answers with the winner's job.
  EXPECT_EQ(job_ids.size(), 1u);

  for (const std::string& id : job_ids) {
    for (Node* follower : {a.get(), b.get()}) {
      Reply done = WaitForPrewarm(follower->client, id);
      ASSERT_EQ(done.body["status"], "completed") << done.raw;
      EXPECT_EQ(done.body["done"], kImages);
      EXPECT_EQ(done.body["failed"], 0);
      const Ready counts = ParseReady(done.body);
      ASSERT_TRUE(counts.matched) << done.raw;
      EXPECT_EQ(counts.cache, kImages) << done.raw;
      EXPECT_EQ(counts.computed + counts.skipped, kImages) << done.raw;
    }
  }
  EXPECT_EQ(a->EncoderRuns() + b->EncoderRuns() + w->EncoderRuns(), kImages)
      << "an image was encoded twice (or not at all); jobs: " << job_ids.size();
  EXPECT_EQ(RedisEmbeddings(), static_cast<size_t>(kImages));
  EXPECT_EQ(redis_.Cli({"KEYS", "samcache:lease:*"}), "") << "a lease was left behind";
  EXPECT_EQ(db_->Scalar("SELECT COUNT(*) FROM prewarm_jobs WHERE status NOT IN ('completed')"), "0");
}

// A serve process that runs a prewarm job is killed (SIGKILL) mid-run; a worker started
// afterwards takes the job over and computes only what was not stored in the shared tier;
// B, which runs no jobs, follows it to the end and then finds every embedding cached.
TEST_F(ScaleOutTest, AServeKilledMidPrewarmHasItsJobFinishedByAnother) {
  auto a = Start("a", "serve", {"--prewarm-jobs", "1"});
  auto b = Start("b", "serve", {"--prewarm-jobs", "0"});
  constexpr int kImages = 16;
  Reply uploaded = a->Upload(MakeImages(kImages, 100, 2400, 1800));
  ASSERT_EQ(uploaded.status, 200) << uploaded.raw;
  Reply started = StartPrewarm(a->client, uploaded.body["dataset_id"]);
  ASSERT_EQ(started.status, 202) << started.raw;
  const std::string job_id = started.body["job_id"];

  // After A's third picture, from A's own log (the saved progress lags by a save interval, in
  // which the demo model may finish the job), A is stopped and then killed: mid-job on a
  // machine of any speed.
  ASSERT_TRUE(Eventually([&] { return a->server.LogCount("[ENCODE]") >= 3; })) << a->server.Log();
  a->server.Signal(SIGSTOP);
  a->server.Kill();
  const size_t stored = RedisEmbeddings();
  ASSERT_LT(stored, static_cast<size_t>(kImages)) << "the job finished before the kill; nothing to take over";
  EXPECT_EQ(b->Get("/api/sam/prewarm/" + job_id).body["status"], "running");

  auto w = Start("w", "worker");
  Reply done = WaitForPrewarm(b->client, job_id);
  ASSERT_EQ(done.body["status"], "completed") << done.raw << "\n" << w->server.Log();
  EXPECT_EQ(done.body["done"], kImages);
  EXPECT_EQ(done.body["failed"], 0);
  const Ready counts = ParseReady(done.body);
  EXPECT_TRUE(counts.matched) << done.raw;
  EXPECT_EQ(counts.cache, kImages) << done.raw;
  EXPECT_EQ(w->EncoderRuns(), static_cast<double>(kImages - stored))
      << "an embedding stored before the kill was recomputed, or one was never computed";
  EXPECT_EQ(b->EncoderRuns(), 0);
  const std::string log = w->server.Log();
  EXPECT_NE(log.find("[WORKER] claimed job " + job_id), std::string::npos) << log;
  EXPECT_NE(log.find("[PREWARM] job " + job_id + " resumed at"), std::string::npos) << log;

  for (int i = 0; i < kImages; ++i) {
    Reply predicted = b->Predict(uploaded.body["images"][i]["id"], 2400, 1800);
    ASSERT_EQ(predicted.status, 200) << predicted.raw;
    EXPECT_EQ(predicted.body["embedding"], "cached") << "image " << i;
  }
  EXPECT_EQ(b->EncoderRuns(), 0);
  EXPECT_EQ(RedisEmbeddings(), static_cast<size_t>(kImages));
}

// Redis stopped and started again (empty) while a prewarm runs through the queue and users
// predict on A and B: every user request is answered 2xx, the job completes, the processes
// log the Redis errors, and afterwards both instances still segment.
TEST_F(ScaleOutTest, RedisRestartedMidRunIsInvisibleToUsers) {
  auto a = Start("a", "serve");
  auto b = Start("b", "serve");
  auto w = Start("w", "worker");
  constexpr int kImages = 16;
  Reply uploaded = a->Upload(MakeImages(kImages, 200, 1600, 1200));
  ASSERT_EQ(uploaded.status, 200) << uploaded.raw;
  std::vector<std::string> ids;
  for (const json& image : uploaded.body["images"]) ids.push_back(image["id"]);

  // Users: predicts and stats on both instances, one after the other, until told to stop.
  std::mutex failures_mutex;
  std::vector<std::string> failures;
  auto note = [&](const std::string& what, const Reply& reply) {
    if (reply.status >= 200 && reply.status < 300) return;
    std::lock_guard lock(failures_mutex);
    failures.push_back(what + " -> " + std::to_string(reply.status) + " " + reply.raw);
  };
  std::atomic<bool> stop{false};
  std::atomic<int> requests{0};
  std::thread users([&] {
    httplib::Client clients[2] = {httplib::Client("127.0.0.1", a->server.port()),
                                  httplib::Client("127.0.0.1", b->server.port())};
    for (auto& c : clients) c.set_read_timeout(120, 0);
    for (int i = 0; !stop.load(); ++i) {
      httplib::Client& c = clients[i % 2];
      const std::string& id = ids[(i / 2) % ids.size()];
      const json body = {{"image_id", id}, {"points", json::array({{{"x", 800}, {"y", 600}, {"label", 1}}})}};
      note("predict " + id + " on " + (i % 2 == 0 ? "A" : "B"),
           ToReply(c.Post("/api/sam/predict", body.dump(), "application/json")));
      note("stats", ToReply(c.Get("/api/sam/stats")));
      ++requests;
    }
  });

  Reply started = StartPrewarm(b->client, uploaded.body["dataset_id"]);
  note("prewarm", started);
  ASSERT_EQ(started.status, 202) << started.raw;
  const std::string job_id = started.body["job_id"];
  auto snapshot = [&] {
    Reply r = a->Get("/api/sam/prewarm/" + job_id);
    note("snapshot", r);
    return r;
  };
  ASSERT_TRUE(Eventually([&] { return snapshot().body.value("done", 0) >= 2; }));

  redis_.Stop();
  const int before = requests.load();
  // Down for a while: the job moves on and users are answered meanwhile.
  const int done_at_stop = snapshot().body.value("done", 0);
  ASSERT_LT(done_at_stop, kImages) << "the job finished before Redis stopped";
  EXPECT_TRUE(Eventually([&] {
    const Reply r = snapshot();
    return requests.load() >= before + 4 &&
           (r.body.value("done", 0) >= done_at_stop + 2 || r.body.value("status", "") == "completed");
  }));
  redis_.Start();

  Reply done = WaitForPrewarm(a->client, job_id);
  stop = true;
  users.join();
  ASSERT_EQ(done.body["status"], "completed") << done.raw;
  EXPECT_EQ(done.body["done"], kImages);
  EXPECT_EQ(done.body["failed"], 0);
  EXPECT_TRUE(ParseReady(done.body).matched) << done.raw;
  EXPECT_TRUE(failures.empty()) << failures.size() << " failed request(s), first: " << failures.front();

  for (Node* node : {a.get(), b.get()}) {
    const std::string log = node->server.Log();
    EXPECT_NE(log.find("the shared tier is skipped meanwhile"), std::string::npos) << log;
    for (const std::string& id : {ids.front(), ids.back()}) {
      Reply predicted = node->Predict(id, 1600, 1200);
      EXPECT_EQ(predicted.status, 200) << predicted.raw;
      EXPECT_FALSE(predicted.body["masks"].empty()) << predicted.raw;
    }
  }
  // Redis is used again: both instances reconnect by themselves.
  EXPECT_TRUE(Eventually([&] {
    return a->Get("/api/sam/stats").body["embeddings"]["redis"]["connected"] == true &&
           b->Get("/api/sam/stats").body["embeddings"]["redis"]["connected"] == true;
  }));
}

}  // namespace
}  // namespace samcache::testing

namespace samcache::testing {
namespace {

// Accounts across instances sharing PostgreSQL and Redis: a token or session made on A works
// on B, a token revoked on A is refused on B within a second, and a rate limit counts the
// requests of both instances together.
TEST_F(ScaleOutTest, TokensSessionsAndRateLimitsWorkAcrossInstances) {
  auto a = Start("a", "serve", {kWithAccounts, "--rate-limit-uploads", "3"});
  auto b = Start("b", "serve", {kWithAccounts, "--rate-limit-uploads", "3"});
  // One of them created the admin at its first start; its log has the link.
  std::smatch link;
  const std::string logs = a->server.Log() + b->server.Log();
  ASSERT_TRUE(std::regex_search(logs, link, std::regex(R"(/login\?token=(sc_[0-9a-f]{64}))"))) << logs;
  httplib::Client on_a("127.0.0.1", a->server.port()), on_b("127.0.0.1", b->server.port());
  const Reply login =
      ToReply(on_a.Post("/api/sam/login", json{{"token", link[1].str()}}.dump(), "application/json"));
  ASSERT_EQ(login.status, 200) << login.raw;
  const std::string cookie = login.header("Set-Cookie").substr(0, login.header("Set-Cookie").find(';'));
  // The session made on A is good on B.
  EXPECT_EQ(ToReply(on_b.Get("/api/sam/me", {{"Cookie", cookie}})).status, 200);
  const Reply token = ToReply(on_b.Post("/api/sam/tokens", {{"Cookie", cookie}},
                                        json{{"name", "shared"}}.dump(), "application/json"));
  ASSERT_EQ(token.status, 201) << token.raw;
  const httplib::Headers bearer = {{"Authorization", "Bearer " + token.body["secret"].get<std::string>()}};

  // Three uploads a minute for this token over both instances; a minute boundary in between
  // starts the count over, so the test tries again once.
  int refused = 0;
  for (int attempt = 0; attempt < 2 && refused == 0; ++attempt) {
    const auto minute =
        std::chrono::duration_cast<std::chrono::minutes>(std::chrono::system_clock::now().time_since_epoch());
    std::vector<int> statuses;
    for (int i = 0; i < 4; ++i) {
      httplib::Client& client = i % 2 == 0 ? on_a : on_b;
      statuses.push_back(ToReply(client.Post("/api/sam/dataset/init", bearer,
                                             ImageItems(MakeImages(1, 100 + 10 * i + attempt, 120, 90))))
                             .status);
    }
    const bool same_minute = minute == std::chrono::duration_cast<std::chrono::minutes>(
                                           std::chrono::system_clock::now().time_since_epoch());
    if (same_minute) {
      EXPECT_EQ(statuses, (std::vector<int>{200, 200, 200, 429}));
      refused = statuses[3] == 429 ? 1 : -1;
    }
  }
  EXPECT_EQ(refused, 1);

  // Revoked on A, refused on B within a second.
  ASSERT_EQ(ToReply(on_b.Get("/api/sam/me", bearer)).status, 200);
  const std::string id = token.body["token"]["id"];
  ASSERT_EQ(ToReply(on_a.Delete(("/api/sam/token/" + id).c_str(), {{"Cookie", cookie}})).status, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  EXPECT_EQ(ToReply(on_b.Get("/api/sam/me", bearer)).status, 401);
  // Logged out on B, refused on A.
  ASSERT_EQ(ToReply(on_b.Post("/api/sam/logout", {{"Cookie", cookie}}, "", "application/json")).status, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  EXPECT_EQ(ToReply(on_a.Get("/api/sam/me", {{"Cookie", cookie}})).status, 401);
}

}  // namespace
}  // namespace samcache::testing
