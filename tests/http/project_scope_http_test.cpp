// Two projects holding the same picture, through the real binary: project A (the default one)
// uploads and prewarms it over HTTP; project B's dataset is made in the catalog file (the API
// cannot choose a project yet) and filled over HTTP. B's answers reveal nothing of A's copy,
// the picture is encoded once in all, and `samcache gc` keeps the embedding while a project
// claims it and removes it once none does.
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

#include "catalog/catalog.h"
#include "common/files.h"
#include "support/http_reply.h"
#include "support/near_dup_images.h"
#include "support/test_support.h"

namespace samcache::testing {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

const std::string kProjectB = "bbbbbbbbbbbbbbbb";
const std::string kDatasetB = "b0b0b0b0b0b0b0b0";

size_t CacheFiles(const fs::path& data) {
  size_t count = 0;
  if (!fs::exists(data / "embeddings")) return 0;
  for (const fs::path& p : ListFiles(data / "embeddings")) count += p.extension() == ".safetensors" ? 1 : 0;
  return count;
}

class ProjectScopeHttpTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }
  void Start() {
    client_.reset();
    server_.reset();
    server_ = std::make_unique<ServerProcess>(data());
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(120, 0);
  }
  fs::path data() const { return tmp_ / "data"; }

  Reply Upload(const std::string& path, const std::vector<NamedFile>& files) {
    Reply reply = ToReply(client_->Post(path.c_str(), ImageItems(files)));
    EXPECT_EQ(reply.status, 200) << reply.raw;
    return reply;
  }
  Reply Get(const std::string& path) { return ToReply(client_->Get(path.c_str())); }
  Reply Delete(const std::string& path) { return ToReply(client_->Delete(path.c_str())); }
  int64_t EncoderRuns() { return Get("/api/sam/stats").body["embeddings"]["encoder_runs"].get<int64_t>(); }
  CommandResult Gc(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"gc", "--data", data().string(), "--grace-minutes", "0"};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunSamcache(args);
  }

  TempDir tmp_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<httplib::Client> client_;
  const DecodedImage photo_ = MakePhoto(320, 240, 31);
  const NamedFile original_{"photo.png", EncodeOrDie(photo_, ".png")};
  const NamedFile bright_{"bright.png", EditedFile(photo_, Edit::kBrighter, ".png")};
};

TEST_F(ProjectScopeHttpTest, ProjectBSeesNothingOfProjectAAndGcFollowsTheClaims) {
  // Project A: the photo and a brighter copy, prewarmed.
  Reply a = Upload("/api/sam/dataset/init", {original_, bright_});
  ASSERT_EQ(a.body["images"][1]["near_duplicates"].size(), 1u) << a.raw;
  const std::string a_id = a.body["dataset_id"];
  Reply a_job = Prewarm(*client_, a_id);
  ASSERT_EQ(a_job.body["computed"], 2) << a_job.raw;
  ASSERT_EQ(EncoderRuns(), 2);

  {  // Project B and its empty dataset, next to the running server (SQLite in WAL mode).
    Result<std::unique_ptr<Catalog>> catalog = OpenSqliteCatalog((data() / "samcache.db").string());
    ASSERT_TRUE(catalog.ok()) << catalog.status().message();
    ASSERT_TRUE((*catalog)->CreateProject(ProjectRecord{kProjectB, "b", NowIso8601()}).ok());
    DatasetRecord dataset{kDatasetB, "b-set", NowIso8601(), 0, kProjectB};
    ASSERT_TRUE((*catalog)->CreateDataset(dataset).ok());
  }

  // B uploads the same photo: nothing says A has it.
  Reply b = Upload("/api/sam/dataset/" + kDatasetB + "/images", {original_});
  const json& b_image = b.body["images"][0];
  EXPECT_EQ(b_image["duplicate"], false) << b.raw;
  EXPECT_EQ(b_image["embedding_cached"], false);
  EXPECT_TRUE(b_image["near_duplicates"].empty());
  EXPECT_EQ(b.body["duplicates_found"], 0);
  EXPECT_EQ(b.body["near_duplicates_found"], 0);
  EXPECT_EQ(b.body["embeddings_cached"], 0);
  EXPECT_FALSE(b.body.contains("duplicates_message"));
  EXPECT_FALSE(b.body.contains("duplicates_pending_message"));
  const std::string b_image_id = b_image["id"];

  Reply view = Get("/api/sam/dataset/" + kDatasetB);
  EXPECT_EQ(view.body["embeddings_cached"], 0) << view.raw;
  EXPECT_TRUE(view.body["images"][0]["duplicate_of"].is_null());
  Reply similar = Get("/api/sam/image/" + b_image_id + "/similar?max_distance=32");
  ASSERT_EQ(similar.status, 200) << similar.raw;
  EXPECT_TRUE(similar.body["similar"].empty()) << similar.raw;

  // B's prewarm: computed, not skipped; no encoder run (the global scope shares compute).
  Reply b_job = Prewarm(*client_, kDatasetB);
  EXPECT_EQ(b_job.body["computed"], 1) << b_job.raw;
  EXPECT_EQ(b_job.body["skipped"], 0);
  EXPECT_EQ(b_job.body["message"], "Dataset ready (cache: 1 embeddings, computed: 1, skipped: 0)");
  EXPECT_EQ(EncoderRuns(), 2) << "the picture was encoded once in all";

  // B asked for it: now B is told.
  Reply again = Upload("/api/sam/dataset/" + kDatasetB + "/images", {original_});
  EXPECT_EQ(again.body["images"][0]["duplicate"], true);
  EXPECT_EQ(again.body["images"][0]["embedding_cached"], true);
  EXPECT_EQ(again.body["duplicates_message"], "1 image(s) already cached, prewarm will be faster");
  EXPECT_TRUE(again.body["images"][0]["near_duplicates"].empty());
  view = Get("/api/sam/dataset/" + kDatasetB);
  EXPECT_EQ(view.body["images"][1]["duplicate_of"], b_image_id);

  // A's delete drops A's claims: gc removes the brighter copy's embedding (no project
  // claims it) and keeps the photo's, which B claims.
  ASSERT_EQ(Delete("/api/sam/dataset/" + a_id).status, 200);
  ASSERT_EQ(server_->Stop(), 0);
  ASSERT_EQ(CacheFiles(data()), 2u);
  CommandResult dry = Gc({"--dry-run"});
  ASSERT_EQ(dry.exit_code, 0) << dry.output;
  EXPECT_NE(dry.output.find("would remove 1 embedding(s) no project claims"), std::string::npos)
      << dry.output;
  EXPECT_EQ(CacheFiles(data()), 2u);
  CommandResult young = RunSamcache({"gc", "--data", data().string()});  // within the grace period
  ASSERT_EQ(young.exit_code, 0) << young.output;
  EXPECT_NE(young.output.find("removed 0 embedding(s) no project claims"), std::string::npos) << young.output;
  CommandResult gc = Gc();
  ASSERT_EQ(gc.exit_code, 0) << gc.output;
  EXPECT_NE(gc.output.find("removed 1 embedding(s) no project claims"), std::string::npos) << gc.output;
  EXPECT_EQ(CacheFiles(data()), 1u);

  Start();
  Reply predict = ToReply(client_->Post(
      "/api/sam/predict",
      json{{"image_id", b_image_id}, {"points", json::array({{{"x", 160}, {"y", 120}, {"label", 1}}})}}
          .dump(),
      "application/json"));
  ASSERT_EQ(predict.status, 200) << predict.raw;
  EXPECT_EQ(predict.body["embedding"], "cached");
  EXPECT_EQ(EncoderRuns(), 0) << "kept on disk: no run after the restart";
  ASSERT_EQ(Delete("/api/sam/dataset/" + kDatasetB).status, 200);
  ASSERT_EQ(server_->Stop(), 0);
  gc = Gc();
  ASSERT_EQ(gc.exit_code, 0) << gc.output;
  EXPECT_NE(gc.output.find("removed 1 embedding(s) no project claims"), std::string::npos) << gc.output;
  EXPECT_EQ(CacheFiles(data()), 0u);
}

// In the project scope a legacy claim ("*", from before projects) keeps the embedding under
// its plain pixel-hash key, and a project's claim keeps its own key only.
TEST_F(ProjectScopeHttpTest, GcInTheProjectScopeKeepsTheKeysTheScopeUses) {
  Reply a = Upload("/api/sam/dataset/init", {original_});
  ASSERT_EQ(Prewarm(*client_, a.body["dataset_id"]).body["computed"], 1);
  ASSERT_EQ(server_->Stop(), 0);
  ASSERT_EQ(CacheFiles(data()), 1u);
  // The server ran in the global scope: its entry's key is the plain pixel hash, which no
  // claim maps to in the project scope.
  CommandResult gc = Gc({"--cache-scope", "project", "--dry-run"});
  ASSERT_EQ(gc.exit_code, 0) << gc.output;
  EXPECT_NE(gc.output.find("would remove 1 embedding(s) no project claims"), std::string::npos) << gc.output;
  {
    Result<std::unique_ptr<Catalog>> catalog = OpenSqliteCatalog((data() / "samcache.db").string());
    ASSERT_TRUE(catalog.ok());
    ASSERT_TRUE(
        (*catalog)
            ->AddClaims(kDefaultProjectId, "*", {a.body["images"][0]["pixel_hash"].get<std::string>()})
            .ok());
  }
  gc = Gc({"--cache-scope", "project"});
  ASSERT_EQ(gc.exit_code, 0) << gc.output;
  EXPECT_NE(gc.output.find("removed 0 embedding(s) no project claims"), std::string::npos) << gc.output;
  EXPECT_EQ(CacheFiles(data()), 1u);
  CommandResult bad = Gc({"--cache-scope", "tenant"});
  EXPECT_NE(bad.exit_code, 0);
}

}  // namespace
}  // namespace samcache::testing
