// Black-box tests of `samcache serve --db postgresql://... --blobs DIR`: the real binary on
// loopback with its catalog in a database of its own on the test PostgreSQL server, alone and
// as two instances sharing that database and one blob folder.
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "common/crypto.h"
#include "image/image_decoder.h"
#include "similar/near_duplicates.h"
#include "support/http_reply.h"
#include "support/near_dup_images.h"
#include "support/postgres_test_db.h"
#include "support/scenes.h"
#include "support/test_support.h"

namespace samcache::testing {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// One `serve` process and a client for it.
struct Instance {
  Instance(const fs::path& data_dir, const std::vector<std::string>& args)
      : server(data_dir, args), client("127.0.0.1", server.port()) {
    client.set_read_timeout(120, 0);
  }
  Reply Get(const std::string& path) { return ToReply(client.Get(path.c_str())); }
  Reply Upload(const std::vector<NamedFile>& files) {
    return ToReply(client.Post("/api/sam/dataset/init", ImageItems(files)));
  }
  Reply Delete(const std::string& path) { return ToReply(client.Delete(path.c_str())); }

  ServerProcess server;
  httplib::Client client;
};

class PostgresHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(TestPostgresUrl().empty()) << kNoPostgresMessage;
    db_ = std::make_unique<PostgresTestDatabase>();
  }

  // Each instance has a data folder of its own (embedding cache, temp files) and shares the
  // catalog and the blob folder.
  std::unique_ptr<Instance> Start(const std::string& name) {
    return std::make_unique<Instance>(tmp_ / name,
                                      std::vector<std::string>{"--db", db_->url(), "--blobs", blobs_dir()});
  }
  std::string blobs_dir() const { return (tmp_ / "shared-blobs").string(); }

  TempDir tmp_;
  std::unique_ptr<PostgresTestDatabase> db_;
};

std::string ScenePng(int seed) {
  Result<std::string> png = EncodeImage(MakeShapesScene(400, 300, seed).image, ".png");
  EXPECT_TRUE(png.ok());
  return png.ok() ? *png : std::string();
}

TEST_F(PostgresHttpTest, UploadListPredictAndDeleteWithTheCatalogInPostgres) {
  std::unique_ptr<Instance> a = Start("a");
  EXPECT_NE(a->server.Log().find("catalog postgresql://"), std::string::npos) << a->server.Log();
  const Scene scene = MakeShapesScene(400, 300, 7);
  const std::string png = *EncodeImage(scene.image, ".png");
  const std::vector<NamedFile> files = {{"scene.png", png}, {"other.png", ScenePng(8)}};

  Reply uploaded = a->Upload(files);
  ASSERT_EQ(uploaded.status, 200) << uploaded.raw;
  EXPECT_EQ(uploaded.body["duplicates_found"], 0);
  ASSERT_EQ(uploaded.body["images"].size(), 2u);
  const std::string dataset_id = uploaded.body["dataset_id"];
  const std::string image_id = uploaded.body["images"][0]["id"];
  // The files are in the given blob folder, not in the data folder.
  EXPECT_EQ(ListFiles(blobs_dir()).size(), 2u);
  EXPECT_TRUE(fs::is_regular_file(fs::path(blobs_dir()) / Sha256Hex(png).substr(0, 2) / Sha256Hex(png)));
  EXPECT_FALSE(fs::exists(tmp_ / "a" / "blobs"));
  EXPECT_FALSE(fs::exists(tmp_ / "a" / "samcache.db"));
  EXPECT_EQ(db_->Scalar("SELECT COUNT(*) FROM images"), "2");

  Reply list = a->Get("/api/sam/datasets");
  ASSERT_EQ(list.status, 200) << list.raw;
  ASSERT_EQ(list.body["datasets"].size(), 1u);
  EXPECT_EQ(list.body["datasets"][0]["id"], dataset_id);
  EXPECT_EQ(list.body["datasets"][0]["image_count"], 2);
  Reply dataset = a->Get("/api/sam/dataset/" + dataset_id);
  ASSERT_EQ(dataset.status, 200) << dataset.raw;
  EXPECT_EQ(dataset.body["images"][1]["filename"], "other.png");
  auto original = a->client.Get(("/api/sam/image/" + image_id).c_str());
  ASSERT_TRUE(original);
  EXPECT_EQ(original->status, 200);
  EXPECT_EQ(original->body, png);

  const SceneObject& circle = scene.Object("circle");
  const json click = {
      {"image_id", image_id},
      {"points", json::array({{{"x", circle.click_x}, {"y", circle.click_y}, {"label", 1}}})}};
  Reply predicted = ToReply(a->client.Post("/api/sam/predict", click.dump(), "application/json"));
  ASSERT_EQ(predicted.status, 200) << predicted.raw;
  EXPECT_EQ(predicted.body["embedding"], "computed");
  ASSERT_EQ(predicted.body["masks"].size(), 1u);
  EXPECT_EQ(predicted.body["masks"][0]["rle"]["size"], json::array({300, 400}));
  Reply again = ToReply(a->client.Post("/api/sam/predict", click.dump(), "application/json"));
  ASSERT_EQ(again.status, 200) << again.raw;
  EXPECT_EQ(again.body["embedding"], "cached");

  Reply health = a->Get("/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body["schema_version"],
            std::stoi(db_->Scalar("SELECT MAX(version) FROM schema_migrations")));

  Reply deleted = a->Delete("/api/sam/dataset/" + dataset_id);
  ASSERT_EQ(deleted.status, 200) << deleted.raw;
  EXPECT_EQ(deleted.body["blobs_removed"], 2);
  EXPECT_EQ(a->Get("/api/sam/dataset/" + dataset_id).status, 404);
  EXPECT_EQ(a->Get("/api/sam/image/" + image_id).status, 404);
  EXPECT_TRUE(ListFiles(blobs_dir()).empty()) << "both files went with their last dataset";
  EXPECT_EQ(db_->Scalar("SELECT COUNT(*) FROM blobs"), "0");
}

TEST_F(PostgresHttpTest, TwoInstancesShareDatasetsDuplicatesAndFiles) {
  std::unique_ptr<Instance> a = Start("a");
  std::unique_ptr<Instance> b = Start("b");
  const std::string shared = ScenePng(21);
  const std::string only_b = ScenePng(22);

  Reply through_a = a->Upload({{"first.png", shared}});
  ASSERT_EQ(through_a.status, 200) << through_a.raw;
  EXPECT_EQ(through_a.body["images"][0]["duplicate"], false);
  const std::string a_dataset = through_a.body["dataset_id"];
  const std::string a_image = through_a.body["images"][0]["id"];

  // The same file through B is known: B found A's row in the shared catalog.
  Reply through_b = b->Upload({{"again.png", shared}, {"new.png", only_b}});
  ASSERT_EQ(through_b.status, 200) << through_b.raw;
  EXPECT_EQ(through_b.body["duplicates_found"], 1);
  EXPECT_EQ(through_b.body["images"][0]["duplicate"], true);
  EXPECT_EQ(through_b.body["images"][1]["duplicate"], false);
  EXPECT_NE(b->server.Log().find("[DEDUP] Found duplicate image"), std::string::npos) << b->server.Log();
  const std::string b_dataset = through_b.body["dataset_id"];
  EXPECT_EQ(ListFiles(blobs_dir()).size(), 2u) << "one file per distinct content, in the shared folder";

  // A lists B's dataset (newest first) and serves B's file; B serves A's.
  Reply list = a->Get("/api/sam/datasets");
  ASSERT_EQ(list.status, 200) << list.raw;
  ASSERT_EQ(list.body["datasets"].size(), 2u);
  EXPECT_EQ(list.body["datasets"][0]["id"], b_dataset);
  EXPECT_EQ(list.body["datasets"][0]["image_count"], 2);
  EXPECT_EQ(list.body["datasets"][1]["id"], a_dataset);
  const std::string b_new_image = through_b.body["images"][1]["id"];
  auto from_a = a->client.Get(("/api/sam/image/" + b_new_image).c_str());
  ASSERT_TRUE(from_a);
  EXPECT_EQ(from_a->status, 200);
  EXPECT_EQ(from_a->body, only_b);
  auto from_b = b->client.Get(("/api/sam/image/" + a_image).c_str());
  ASSERT_TRUE(from_b);
  EXPECT_EQ(from_b->status, 200);
  EXPECT_EQ(from_b->body, shared);

  // Deleting A's dataset through B keeps the file B's dataset still uses.
  Reply deleted = b->Delete("/api/sam/dataset/" + a_dataset);
  ASSERT_EQ(deleted.status, 200) << deleted.raw;
  EXPECT_EQ(deleted.body["blobs_removed"], 0);
  EXPECT_EQ(a->Get("/api/sam/dataset/" + a_dataset).status, 404);
  Reply kept = a->Get("/api/sam/dataset/" + b_dataset);
  ASSERT_EQ(kept.status, 200) << kept.raw;
  EXPECT_EQ(kept.body["images"].size(), 2u);
  auto still = a->client.Get(("/api/sam/image/" + std::string(through_b.body["images"][0]["id"])).c_str());
  ASSERT_TRUE(still);
  EXPECT_EQ(still->status, 200);
  EXPECT_EQ(still->body, shared);
}

// Each instance's near-duplicate index takes in what the others stored since it started.
TEST_F(PostgresHttpTest, NearDuplicatesAreFoundAcrossInstances) {
  std::unique_ptr<Instance> a = Start("a");
  std::unique_ptr<Instance> b = Start("b");
  const DecodedImage photo = MakePhoto(640, 480, 31);

  Reply through_a = a->Upload({{"photo.jpg", EncodeOrDie(photo, ".jpg")}});
  ASSERT_EQ(through_a.status, 200) << through_a.raw;
  const std::string a_image = through_a.body["images"][0]["id"];
  // An index looks at the catalog at most once per catch-up interval.
  std::this_thread::sleep_for(NearDuplicateFinder::kDefaultCatchUpInterval + std::chrono::milliseconds(200));

  Reply through_b = b->Upload({{"photo-bright.png", EditedFile(photo, Edit::kBrighter, ".png")}});
  ASSERT_EQ(through_b.status, 200) << through_b.raw;
  EXPECT_EQ(through_b.body["near_duplicates_found"], 1);
  const json& near = through_b.body["images"][0]["near_duplicates"];
  ASSERT_EQ(near.size(), 1u) << through_b.raw;
  EXPECT_EQ(near[0]["image_id"], a_image);
  EXPECT_EQ(near[0]["relation"], "near_duplicate");
  const std::string b_image = through_b.body["images"][0]["id"];

  std::this_thread::sleep_for(NearDuplicateFinder::kDefaultCatchUpInterval + std::chrono::milliseconds(200));
  Reply similar = a->Get("/api/sam/image/" + a_image + "/similar");
  ASSERT_EQ(similar.status, 200) << similar.raw;
  ASSERT_EQ(similar.body["similar"].size(), 1u) << similar.raw;
  EXPECT_EQ(similar.body["similar"][0]["image_id"], b_image);
}

TEST_F(PostgresHttpTest, AnUnreachableDatabaseStopsServeWithAClearMessage) {
  CommandResult r = RunSamcache({"serve", "--port", "0", "--data", (tmp_ / "data").string(), "--db",
                                 "postgresql://someone:hunter2-secret@127.0.0.1:1/samcache"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("cannot connect to PostgreSQL at postgresql://someone@127.0.0.1:1/samcache"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("hunter2"), std::string::npos) << r.output;
}

TEST_F(PostgresHttpTest, MigrateAndStatsWorkOnPostgres) {
  CommandResult migrated = RunSamcache({"migrate", "--data", (tmp_ / "data").string(), "--db", db_->url()});
  ASSERT_EQ(migrated.exit_code, 0) << migrated.output;
  EXPECT_NE(migrated.output.find("is at schema version " +
                                 db_->Scalar("SELECT MAX(version) FROM schema_migrations")),
            std::string::npos)
      << migrated.output;
  CommandResult stats = RunSamcache({"stats", "--data", (tmp_ / "data").string(), "--db", db_->url()});
  ASSERT_EQ(stats.exit_code, 0) << stats.output;
  EXPECT_NE(stats.output.find("datasets:        0"), std::string::npos) << stats.output;
}

}  // namespace
}  // namespace samcache::testing
