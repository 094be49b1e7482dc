// Deleting a dataset larger than one batch: hidden at once (202), removed in the background in
// batches, resumed after a kill -9, leaving no row and no file behind. A dataset of one batch
// or less is deleted at once, as it always was. Real processes and real HTTP.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sqlite3.h>

#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "model/mask_codec.h"
#include "support/http_reply.h"
#include "support/test_support.h"

namespace samcache::testing {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// Batches of 4 with a pause between them: slow enough to be caught midway.
const std::vector<std::string> kSlowDeletion = {"--delete-batch", "4", "--delete-pause-ms", "400"};

std::vector<NamedFile> MakeImages(int count, int first_seed) {
  std::vector<NamedFile> files;
  for (int i = 0; i < count; ++i) {
    files.push_back(
        {"img" + std::to_string(first_seed + i) + ".png", MakeImageFile(64, 48, first_seed + i, ".png")});
  }
  return files;
}

// A 48x64 mask with a square in it, as COCO's compressed RLE.
std::string SomeMask() {
  BinaryMask mask{48, 64, std::vector<uint8_t>(48 * 64, 0)};
  for (int y = 10; y < 30; ++y)
    for (int x = 10; x < 30; ++x) mask.data[static_cast<size_t>(y * 64 + x)] = 1;
  return CompressRleCounts(RleCounts(mask));
}

// Polls until `done()` is true or a minute has passed; returns done().
bool Eventually(const std::function<bool()>& done) {
  for (int i = 0; i < 3000 && !done(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return done();
}

// Every row of the first column of `sql` in the catalog file.
std::vector<std::string> Column(const fs::path& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  std::vector<std::string> out;
  while (stmt != nullptr && sqlite3_step(stmt) == SQLITE_ROW) {
    const auto* text = sqlite3_column_text(stmt, 0);
    out.emplace_back(text != nullptr ? reinterpret_cast<const char*>(text) : "");
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

class DatasetDeletionTest : public ::testing::Test {
 protected:
  fs::path data() const { return tmp_ / "data"; }
  void Start(std::vector<std::string> args) {
    server_ = std::make_unique<ServerProcess>(data(), std::move(args));
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(60, 0);
  }
  Reply Upload(const std::string& path, const std::vector<NamedFile>& files) {
    return ToReply(client_->Post(path, ImageItems(files)));
  }
  Reply Get(const std::string& path) { return ToReply(client_->Get(path)); }
  Reply Delete(const std::string& path) { return ToReply(client_->Delete(path)); }

  // Blob files on disk, by content hash.
  std::set<std::string> BlobFiles() const {
    std::set<std::string> hashes;
    if (!fs::exists(data() / "blobs")) return hashes;
    for (const fs::path& p : ListFiles(data() / "blobs")) {
      if (p.filename().string().size() == 64) hashes.insert(p.filename().string());
    }
    return hashes;
  }

  TempDir tmp_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(DatasetDeletionTest, ASmallDatasetGoesAtOnceAsBefore) {
  Start(kSlowDeletion);
  const Reply upload = Upload("/api/sam/dataset/init", MakeImages(4, 1));
  ASSERT_EQ(upload.status, 200) << upload.raw;
  const std::string id = upload.body["dataset_id"];
  const Reply deleted = Delete("/api/sam/dataset/" + id);
  ASSERT_EQ(deleted.status, 200) << deleted.raw;
  EXPECT_EQ(deleted.body["deleted"], id);
  EXPECT_EQ(deleted.body["status"], "deleted");
  EXPECT_EQ(deleted.body["blobs_removed"], 4);
  EXPECT_EQ(Get("/api/sam/dataset/" + id).status, 404);
  EXPECT_EQ(Get("/api/sam/dataset/" + id + "/deletion").status, 404) << "nothing ran in the background";
  EXPECT_TRUE(BlobFiles().empty());
}

// The deletion is caught midway, the server killed (-9), and a restart finishes it: no image,
// annotation, claim, blob row or file of the dataset is left, the blob another dataset shares
// stays, and the progress says so.
TEST_F(DatasetDeletionTest, AKilledBackgroundDeletionFinishesAfterARestartLeavingNothingBehind) {
  Start(kSlowDeletion);
  const Reply big = Upload("/api/sam/dataset/init", MakeImages(22, 100));
  ASSERT_EQ(big.status, 200) << big.raw;
  const std::string id = big.body["dataset_id"];
  const std::string first_image = big.body["images"][0]["id"];
  // Another dataset shows the first picture too: its blob must stay.
  const Reply other = Upload("/api/sam/dataset/init", MakeImages(1, 100));
  ASSERT_EQ(other.status, 200) << other.raw;
  const std::string other_id = other.body["dataset_id"];
  const Reply annotated = ToReply(client_->Post(
      "/api/sam/image/" + first_image + "/annotations",
      json{{"category", "cat"}, {"segmentation", {{"size", {48, 64}}, {"counts", SomeMask()}}}}.dump(),
      "application/json"));
  ASSERT_EQ(annotated.status, 201) << annotated.raw;
  ASSERT_EQ(BlobFiles().size(), 22u);

  const Reply begun = Delete("/api/sam/dataset/" + id);
  ASSERT_EQ(begun.status, 202) << begun.raw;
  EXPECT_EQ(begun.body["deleted"], id);
  EXPECT_EQ(begun.body["status"], "deleting");
  EXPECT_EQ(begun.body["images_total"], 22);
  EXPECT_EQ(begun.header("Location"), "/api/sam/dataset/" + id + "/deletion");
  // Hidden at once: no longer listed, shown, served or uploaded into.
  EXPECT_EQ(Get("/api/sam/dataset/" + id).status, 404);
  EXPECT_EQ(Get("/api/sam/datasets").raw.find(id), std::string::npos);
  EXPECT_EQ(Get("/api/sam/image/" + first_image).status, 404);
  EXPECT_EQ(Upload("/api/sam/dataset/" + id + "/images", MakeImages(1, 999)).status, 404);
  EXPECT_EQ(Delete("/api/sam/dataset/" + id).status, 404) << "a hidden dataset is gone for every route";

  ASSERT_TRUE(Eventually(
      [&] { return Get("/api/sam/dataset/" + id + "/deletion").body.value("images_removed", 0) >= 4; }));
  server_->Kill();
  const Reply midway = [&] {
    Start({});
    return Get("/api/sam/dataset/" + id + "/deletion");
  }();
  ASSERT_EQ(midway.status, 200) << midway.raw;
  ASSERT_TRUE(
      Eventually([&] { return Get("/api/sam/dataset/" + id + "/deletion").body["status"] == "deleted"; }));
  const Reply done = Get("/api/sam/dataset/" + id + "/deletion");
  EXPECT_EQ(done.body["images_removed"], 22);
  EXPECT_EQ(done.body["blobs_removed"], 21) << done.raw;
  EXPECT_TRUE(done.body["finished_at"].is_string());
  EXPECT_NE(server_->Log().find("[DATASET] resuming the deletion of " + id), std::string::npos)
      << server_->Log();
  EXPECT_NE(server_->Log().find("[DATASET] deleted " + id), std::string::npos);

  // Nothing of it left, in the catalog or on disk; the shared picture is still served.
  const fs::path db = data() / "samcache.db";
  EXPECT_TRUE(Column(db, "SELECT id FROM images WHERE dataset_id = '" + id + "'").empty());
  EXPECT_TRUE(Column(db, "SELECT id FROM datasets WHERE id = '" + id + "'").empty());
  EXPECT_TRUE(Column(db, "SELECT id FROM annotations").empty());
  EXPECT_TRUE(Column(db, "SELECT content_hash FROM pending_blob_removals").empty());
  const std::vector<std::string> rows = Column(db, "SELECT content_hash FROM blobs");
  EXPECT_EQ(std::set<std::string>(rows.begin(), rows.end()), BlobFiles())
      << "every file has its row and back";
  EXPECT_EQ(rows.size(), 1u);
  EXPECT_EQ(Get("/api/sam/dataset/" + other_id).status, 200);
}

}  // namespace
}  // namespace samcache::testing
