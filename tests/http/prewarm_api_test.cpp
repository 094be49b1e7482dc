// Black-box tests of the persistent embedding cache and prewarm jobs: the real samcache
// binary over loopback, its data folder on disk, servers stopped, killed and restarted.
#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "support/http_reply.h"
#include "support/test_support.h"

namespace samcache::testing {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

std::vector<NamedFile> MakeImages(int count, int first_seed, int width = 320, int height = 240) {
  std::vector<NamedFile> files;
  for (int i = 0; i < count; ++i) {
    files.push_back({"img" + std::to_string(first_seed + i) + ".jpg",
                     MakeImageFile(width, height, first_seed + i, ".jpg")});
  }
  return files;
}

std::vector<fs::path> CacheFiles(const fs::path& data) {
  std::vector<fs::path> files;
  if (!fs::exists(data / "embeddings")) return files;
  for (const fs::path& p : ListFiles(data / "embeddings")) {
    if (p.extension() == ".safetensors") files.push_back(p);
  }
  return files;
}

class PrewarmApiTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }

  void Start(std::vector<std::string> args = {}) {
    client_.reset();
    server_.reset();
    server_ = std::make_unique<ServerProcess>(data(), std::move(args));
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(120, 0);
  }
  fs::path data() const { return tmp_ / "data"; }

  Reply Upload(const std::vector<NamedFile>& files) {
    Reply reply = ToReply(client_->Post("/api/sam/dataset/init", ImageItems(files)));
    EXPECT_EQ(reply.status, 200) << reply.raw;
    return reply;
  }
  Reply Get(const std::string& path) { return ToReply(client_->Get(path)); }
  std::string Metrics() {
    auto res = client_->Get("/metrics");
    EXPECT_TRUE(res && res->status == 200);
    EXPECT_NE(res->get_header_value("Content-Type").find("text/plain"), std::string::npos);
    return res ? res->body : "";
  }
  double EncoderRuns() { return Metric(Metrics(), "samcache_encoder_runs_total"); }
  Reply PredictCenter(const json& image) {
    json body{
        {"image_id", image["id"]},
        {"points",
         json::array(
             {{{"x", image["width"].get<int>() / 2}, {"y", image["height"].get<int>() / 2}, {"label", 1}}})}};
    return ToReply(client_->Post("/api/sam/predict", body.dump(), "application/json"));
  }
  // Polls until the job has handled at least `done` images.
  Reply WaitForDone(const std::string& job_id, int done) {
    Reply reply;
    for (int i = 0; i < 6000; ++i) {
      reply = Get("/api/sam/prewarm/" + job_id);
      if (reply.status != 200 || reply.body["done"].get<int>() >= done) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return reply;
  }

  TempDir tmp_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<httplib::Client> client_;
};

// The seed's three scenarios, end to end: a new dataset, the same images again, half of them.
TEST_F(PrewarmApiTest, SeedScenariosComputeOnceAndSkipWhatIsCached) {
  const auto first_files = MakeImages(6, 1);
  Reply first = Upload(first_files);
  EXPECT_EQ(first.body["duplicates_found"], 0);
  EXPECT_FALSE(first.body.contains("duplicates_message"));
  Reply job = Prewarm(*client_, first.body["dataset_id"]);
  ASSERT_EQ(job.body["status"], "completed") << job.raw;
  EXPECT_EQ(job.body["total"], 6);
  EXPECT_EQ(job.body["computed"], 6);
  EXPECT_EQ(job.body["skipped"], 0);
  EXPECT_EQ(job.body["failed"], 0);
  EXPECT_EQ(job.body["message"], "Dataset ready (cache: 6 embeddings, computed: 6, skipped: 0)");
  EXPECT_GT(job.body["avg_seconds_per_image"].get<double>(), 0);
  EXPECT_EQ(job.body["progress_text"], "Pre-warming cache... 6/6");
  EXPECT_EQ(job.body["eta_seconds"], 0);

  // Scenario 2: every image again, into a new dataset: all cached, all skipped.
  Reply second = Upload(first_files);
  EXPECT_EQ(second.body["duplicates_found"], 6);
  EXPECT_EQ(second.body["duplicates_message"], "6 image(s) already cached, prewarm will be faster");
  EXPECT_EQ(second.body["duplicates_pending"], 0);
  for (const json& image : second.body["images"]) EXPECT_EQ(image["embedding_cached"], true);
  EXPECT_NE(server_->Log().find("[DEDUP] Found duplicate image: img1.jpg (hash: "), std::string::npos);
  EXPECT_NE(server_->Log().find("..., cached: True)"), std::string::npos);
  job = Prewarm(*client_, second.body["dataset_id"]);
  ASSERT_EQ(job.body["status"], "completed") << job.raw;
  EXPECT_EQ(job.body["computed"], 0);
  EXPECT_EQ(job.body["skipped"], 6);
  EXPECT_EQ(job.body["message"], "Dataset ready (cache: 6 embeddings, computed: 0, skipped: 6)");
  EXPECT_TRUE(job.body["avg_seconds_per_image"].is_null()) << "no image was computed";

  // Scenario 3: half seen before, half new.
  auto fresh = MakeImages(3, 100);
  std::vector<NamedFile> mixed = {first_files[0], fresh[0],       first_files[1],
                                  fresh[1],       first_files[2], fresh[2]};
  Reply third = Upload(mixed);
  EXPECT_EQ(third.body["duplicates_message"], "3 image(s) already cached, prewarm will be faster");
  for (size_t i = 0; i < mixed.size(); ++i)
    EXPECT_EQ(third.body["images"][i]["embedding_cached"], i % 2 == 0);
  job = Prewarm(*client_, third.body["dataset_id"]);
  ASSERT_EQ(job.body["status"], "completed") << job.raw;
  EXPECT_EQ(job.body["computed"], 3);
  EXPECT_EQ(job.body["skipped"], 3);
  EXPECT_EQ(job.body["message"], "Dataset ready (cache: 9 embeddings, computed: 3, skipped: 3)");

  const std::string metrics = Metrics();
  EXPECT_EQ(Metric(metrics, "samcache_encoder_runs_total"), 9);
  EXPECT_EQ(Metric(metrics, R"(samcache_embedding_cache_entries{tier="disk"})"), 9);
  EXPECT_EQ(Metric(metrics, R"(samcache_prewarm_jobs{status="completed"})"), 3);
  EXPECT_EQ(CacheFiles(data()).size(), 9u);
}

// Duplicates inside one dataset (same pixels twice) are computed once.
TEST_F(PrewarmApiTest, SamePixelsTwiceInOneDatasetAreComputedOnce) {
  auto files = MakeImages(3, 10);
  files.push_back({"copy.jpg", files[0].bytes});
  Reply upload = Upload(files);
  EXPECT_EQ(upload.body["duplicates_pending"], 1);
  Reply job = Prewarm(*client_, upload.body["dataset_id"]);
  EXPECT_EQ(job.body["computed"], 3) << job.raw;
  EXPECT_EQ(job.body["skipped"], 1);
  EXPECT_EQ(EncoderRuns(), 3);
}

// The event stream: one event per image outcome, then "done" with the seed's final text.
TEST_F(PrewarmApiTest, EventStreamReportsEveryImageAndTheEnd) {
  const auto files = MakeImages(5, 20);
  Reply first = Upload(files);
  ASSERT_EQ(Prewarm(*client_, first.body["dataset_id"]).body["computed"], 5);
  auto mixed = files;
  mixed.resize(3);
  for (const auto& f : MakeImages(2, 200)) mixed.push_back(f);
  Reply upload = Upload(mixed);
  Reply started = StartPrewarm(*client_, upload.body["dataset_id"]);
  ASSERT_EQ(started.status, 202) << started.raw;
  EXPECT_EQ(started.header("Location"), "/api/sam/prewarm/" + started.body["job_id"].get<std::string>());

  std::string stream;
  auto res = client_->Get(started.body["events_url"].get<std::string>(), [&](const char* data, size_t n) {
    stream.append(data, n);
    return true;
  });
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->get_header_value("Content-Type").find("text/event-stream"), std::string::npos);

  std::map<std::string, std::string> outcome;  // image id -> last state
  std::vector<json> done_events;
  std::regex event_re(R"(event: (\w+)\ndata: (.*)\n\n)");
  for (auto it = std::sregex_iterator(stream.begin(), stream.end(), event_re); it != std::sregex_iterator();
       ++it) {
    const std::string name = (*it)[1];
    json data = json::parse((*it)[2].str());
    if (name == "image") outcome[data["image_id"]] = data["state"];
    if (name == "done") done_events.push_back(data);
  }
  ASSERT_EQ(outcome.size(), 5u) << stream;
  for (size_t i = 0; i < mixed.size(); ++i) {
    EXPECT_EQ(outcome[upload.body["images"][i]["id"]], i < 3 ? "skipped" : "computed") << i;
  }
  ASSERT_EQ(done_events.size(), 1u) << stream;
  EXPECT_EQ(done_events[0]["message"], "Dataset ready (cache: 7 embeddings, computed: 2, skipped: 3)");
}

// Restart: embeddings are found on disk; a predict runs no encoder.
TEST_F(PrewarmApiTest, RestartLosesNothing) {
  Reply upload = Upload(MakeImages(3, 30));
  ASSERT_EQ(Prewarm(*client_, upload.body["dataset_id"]).body["computed"], 3);
  ASSERT_EQ(server_->Stop(), 0);
  Start();
  Reply dataset = Get("/api/sam/dataset/" + upload.body["dataset_id"].get<std::string>());
  for (const json& image : dataset.body["images"]) EXPECT_EQ(image["embedding_cached"], true);
  EXPECT_EQ(dataset.body["embeddings_cached"], 3);
  EXPECT_TRUE(dataset.body["prewarm_job"].is_null());
  for (const json& image : upload.body["images"]) {
    Reply predict = PredictCenter(image);
    ASSERT_EQ(predict.status, 200) << predict.raw;
    EXPECT_EQ(predict.body["embedding"], "cached");
  }
  const std::string metrics = Metrics();
  EXPECT_EQ(Metric(metrics, "samcache_encoder_runs_total"), 0);
  EXPECT_EQ(Metric(metrics, R"(samcache_embedding_cache_hits_total{tier="disk"})"), 3);
  Reply again = Prewarm(*client_, upload.body["dataset_id"]);
  EXPECT_EQ(again.body["skipped"], 3);
  EXPECT_EQ(again.body["message"], "Dataset ready (cache: 3 embeddings, computed: 0, skipped: 3)");
}

// A truncated file and a flipped byte: both are misses, logged, removed and recomputed.
TEST_F(PrewarmApiTest, CorruptCacheFilesAreRecomputedNeverServed) {
  Reply upload = Upload(MakeImages(2, 40));
  ASSERT_EQ(Prewarm(*client_, upload.body["dataset_id"]).body["computed"], 2);
  ASSERT_EQ(server_->Stop(), 0);
  std::vector<fs::path> files = CacheFiles(data());
  ASSERT_EQ(files.size(), 2u);
  fs::resize_file(files[0], fs::file_size(files[0]) / 2);
  {
    std::fstream f(files[1], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(files[1]) - 100));
    f.put('\x7f');
  }
  Start();
  for (const json& image : upload.body["images"]) {
    Reply predict = PredictCenter(image);
    ASSERT_EQ(predict.status, 200) << predict.raw;
    EXPECT_EQ(predict.body["embedding"], "computed") << "a corrupt entry must not be served";
  }
  const std::string metrics = Metrics();
  EXPECT_EQ(Metric(metrics, "samcache_encoder_runs_total"), 2);
  EXPECT_EQ(Metric(metrics, R"(samcache_embedding_cache_corrupt_total{tier="disk"})"), 2);
  const std::string log = server_->Log();
  EXPECT_NE(log.find(files[0].filename().string()), std::string::npos) << log;
  EXPECT_NE(log.find(files[1].filename().string()), std::string::npos) << log;
  // Stored again, whole: a restart serves them.
  ASSERT_EQ(server_->Stop(), 0);
  Start();
  for (const json& image : upload.body["images"]) EXPECT_EQ(PredictCenter(image).body["embedding"], "cached");
}

// Two model folders: one model's embeddings are never served to the other.
TEST_F(PrewarmApiTest, ModelSwitchNeverSharesEmbeddings) {
  Reply upload = Upload(MakeImages(3, 50));
  const std::string dataset_id = upload.body["dataset_id"];
  ASSERT_EQ(Prewarm(*client_, dataset_id).body["computed"], 3);
  const std::string demo_id = Get("/api/sam/model").body["id"];
  ASSERT_EQ(server_->Stop(), 0);

  Start({"--model", std::string(SAMCACHE_SOURCE_DIR) + "/tests/fixtures/models/demo-hwc"});
  const std::string other_id = Get("/api/sam/model").body["id"];
  ASSERT_NE(other_id, demo_id);
  const Reply dataset = Get("/api/sam/dataset/" + dataset_id);
  for (const json& image : dataset.body["images"]) EXPECT_EQ(image["embedding_cached"], false);
  Reply job = Prewarm(*client_, dataset_id);
  EXPECT_EQ(job.body["computed"], 3) << job.raw;
  EXPECT_EQ(job.body["skipped"], 0);
  EXPECT_EQ(job.body["model_id"], other_id);
  EXPECT_EQ(job.body["message"], "Dataset ready (cache: 3 embeddings, computed: 3, skipped: 0)");
  auto npy =
      client_->Get("/api/sam/image/" + upload.body["images"][0]["id"].get<std::string>() + "/embedding.npy");
  ASSERT_TRUE(npy);
  EXPECT_EQ(npy->get_header_value("X-Model-Id"), other_id);
  EXPECT_EQ(npy->get_header_value("X-Embedding"), "cached");
  EXPECT_EQ(CacheFiles(data()).size(), 6u);
  EXPECT_TRUE(fs::is_directory(data() / "embeddings" / demo_id));
  EXPECT_TRUE(fs::is_directory(data() / "embeddings" / other_id));
}

// Two prewarm jobs and predicts that need the same images at once: one encoder run each.
TEST_F(PrewarmApiTest, SingleflightAcrossJobsAndPredicts) {
  const auto files = MakeImages(8, 60, 1600, 1200);
  Reply a = Upload(files);
  Reply b = Upload(files);
  Reply job_a = StartPrewarm(*client_, a.body["dataset_id"]);
  Reply job_b = StartPrewarm(*client_, b.body["dataset_id"]);
  ASSERT_EQ(job_a.status, 202);
  ASSERT_EQ(job_b.status, 202);
  std::vector<std::thread> clicks;
  std::vector<int> statuses(files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    clicks.emplace_back([&, i] {
      httplib::Client c("127.0.0.1", server_->port());
      c.set_read_timeout(120, 0);
      json image = a.body["images"][i];
      json body{{"image_id", image["id"]}, {"points", json::array({{{"x", 10}, {"y", 10}, {"label", 1}}})}};
      auto res = c.Post("/api/sam/predict", body.dump(), "application/json");
      statuses[i] = res ? res->status : 0;
    });
  }
  for (auto& t : clicks) t.join();
  Reply done_a = WaitForPrewarm(*client_, job_a.body["job_id"]);
  Reply done_b = WaitForPrewarm(*client_, job_b.body["job_id"]);
  for (int status : statuses) EXPECT_EQ(status, 200);
  ASSERT_EQ(done_a.body["status"], "completed") << done_a.raw;
  ASSERT_EQ(done_b.body["status"], "completed") << done_b.raw;
  EXPECT_EQ(done_a.body["failed"], 0);
  EXPECT_EQ(done_b.body["failed"], 0);
  // Each job counts what its project had not asked for when it began as computed, even when
  // the other job's run (or a click's) made it ("skipped" would tell a project that someone
  // else has the picture); the encoder still ran once per image.
  EXPECT_EQ(done_a.body["computed"].get<int>() + done_a.body["skipped"].get<int>(), 8);
  EXPECT_EQ(done_b.body["computed"].get<int>() + done_b.body["skipped"].get<int>(), 8);
  const std::string metrics = Metrics();
  EXPECT_EQ(Metric(metrics, "samcache_encoder_runs_total"), 8) << metrics;
  EXPECT_EQ(Metric(metrics, R"(samcache_embedding_cache_entries{tier="disk"})"), 8);
}

// Cancel: the job stops early, says so, and what it computed stays cached.
TEST_F(PrewarmApiTest, CancelStopsTheJobAndKeepsWhatWasComputed) {
  Reply upload = Upload(MakeImages(16, 70, 2400, 1800));
  const std::string dataset_id = upload.body["dataset_id"];
  Reply started = StartPrewarm(*client_, dataset_id);
  ASSERT_EQ(started.status, 202) << started.raw;
  const std::string job_id = started.body["job_id"];
  Reply again = StartPrewarm(*client_, dataset_id);
  EXPECT_EQ(again.body["job_id"], job_id) << "one unfinished job per dataset and model";
  EXPECT_EQ(again.body["existing"], true);
  EXPECT_EQ(Get("/api/sam/dataset/" + dataset_id).body["prewarm_job"]["job_id"], job_id);

  WaitForDone(job_id, 1);
  Reply cancel = ToReply(client_->Delete("/api/sam/prewarm/" + job_id));
  EXPECT_EQ(cancel.status, 202) << cancel.raw;
  Reply done = WaitForPrewarm(*client_, job_id);
  ASSERT_EQ(done.body["status"], "cancelled") << done.raw;
  const int handled = done.body["done"];
  EXPECT_LT(handled, 16);
  EXPECT_EQ(done.body["message"], "Pre-warming cancelled at " + std::to_string(handled) + "/16");
  EXPECT_EQ(ToReply(client_->Delete("/api/sam/prewarm/" + job_id)).status, 409);

  Reply rest = Prewarm(*client_, dataset_id);
  ASSERT_EQ(rest.body["status"], "completed") << rest.raw;
  EXPECT_NE(rest.body["job_id"], job_id);
  EXPECT_EQ(rest.body["skipped"], done.body["computed"]);
  EXPECT_EQ(rest.body["computed"].get<int>() + done.body["computed"].get<int>(), 16);
  EXPECT_EQ(EncoderRuns(), 16);
}

// kill -9 mid-job: the next server resumes it and recomputes nothing that was stored.
TEST_F(PrewarmApiTest, ResumesAfterKillWithoutRecomputing) {
  Reply upload = Upload(MakeImages(16, 90, 2400, 1800));
  Reply started = StartPrewarm(*client_, upload.body["dataset_id"]);
  const std::string job_id = started.body["job_id"];
  Reply progress = WaitForDone(job_id, 3);
  ASSERT_GE(progress.body["done"].get<int>(), 3) << progress.raw;
  server_->Kill();
  const size_t stored = CacheFiles(data()).size();
  ASSERT_LT(stored, 16u) << "the job finished before the kill; nothing to resume";

  Start();
  Reply done = WaitForPrewarm(*client_, job_id);
  ASSERT_EQ(done.body["status"], "completed") << done.raw;
  EXPECT_EQ(done.body["done"], 16);
  EXPECT_EQ(done.body["failed"], 0);
  EXPECT_EQ(done.body["computed"].get<int>() + done.body["skipped"].get<int>(), 16);
  EXPECT_EQ(EncoderRuns(), static_cast<double>(16 - stored))
      << "an embedding stored before the kill was recomputed";
  EXPECT_EQ(CacheFiles(data()).size(), 16u);
  EXPECT_NE(server_->Log().find("[PREWARM] job " + job_id + " resumed"), std::string::npos) << server_->Log();
}

// An image whose stored file is damaged fails with a reason; the others are computed.
TEST_F(PrewarmApiTest, FailedImagesAreCountedAndTheJobGoesOn) {
  const auto files = MakeImages(4, 110);
  Reply upload = Upload(files);
  const std::string hash = upload.body["images"][1]["content_hash"];
  WriteFile(data() / "blobs" / hash.substr(0, 2) / hash, "not an image any more");
  Reply job = Prewarm(*client_, upload.body["dataset_id"]);
  ASSERT_EQ(job.body["status"], "completed") << job.raw;
  EXPECT_EQ(job.body["computed"], 3);
  EXPECT_EQ(job.body["failed"], 1);
  ASSERT_EQ(job.body["failures"].size(), 1u);
  EXPECT_EQ(job.body["failures"][0]["filename"], files[1].filename);
  EXPECT_FALSE(job.body["failures"][0]["reason"].get<std::string>().empty());
  EXPECT_EQ(job.body["message"], "Dataset ready (cache: 3 embeddings, computed: 3, skipped: 0, failed: 1)");
}

// A job's JSON lists the first 100 failed images and says how many more there are.
TEST_F(PrewarmApiTest, AJobListsAtMostAHundredFailures) {
  const auto files = MakeImages(103, 200, 32, 24);
  Reply upload = Upload(files);
  ASSERT_EQ(upload.status, 200) << upload.raw;
  for (const json& image : upload.body["images"]) {
    const std::string hash = image["content_hash"];
    WriteFile(data() / "blobs" / hash.substr(0, 2) / hash, "not an image any more");
  }
  Reply job = Prewarm(*client_, upload.body["dataset_id"]);
  ASSERT_EQ(job.body["status"], "completed") << job.raw;
  EXPECT_EQ(job.body["failed"], 103);
  ASSERT_EQ(job.body["failures"].size(), 100u);
  EXPECT_EQ(job.body["failures_not_listed"], 3);
  EXPECT_EQ(job.body["failures"][0]["filename"], files[0].filename);
  Reply small = Prewarm(*client_, Upload(MakeImages(1, 400)).body["dataset_id"]);
  EXPECT_EQ(small.body["failures_not_listed"], 0) << small.raw;
}

TEST_F(PrewarmApiTest, BadRequestsGetClearErrors) {
  Reply unknown = StartPrewarm(*client_, "no-such-dataset");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_NE(unknown.body["error"].get<std::string>().find("no-such-dataset"), std::string::npos);
  EXPECT_EQ(Get("/api/sam/prewarm/nope").status, 404);
  EXPECT_EQ(Get("/api/sam/prewarm/nope/events").status, 404);
  EXPECT_EQ(ToReply(client_->Delete("/api/sam/prewarm/nope")).status, 404);
  Reply upload = Upload(MakeImages(1, 120));
  Reply job = Prewarm(*client_, upload.body["dataset_id"]);
  Reply resume = ToReply(client_->Post(
      "/api/sam/prewarm/" + job.body["job_id"].get<std::string>() + "/resume", "", "application/json"));
  EXPECT_EQ(resume.status, 409);
  EXPECT_NE(resume.body["error"].get<std::string>().find("already completed"), std::string::npos)
      << resume.raw;
}

}  // namespace
}  // namespace samcache::testing
