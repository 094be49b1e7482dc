// Disk full and crashes never lie (issue 14, L4 and L5), in-process on real files: writes that
// fail leave no empty dataset and no false "computed", deletes go through on a full disk
// thanks to the space reserve, client-facing errors name no server path, leftovers of
// interrupted writes are found, and a blob cleanup never removes a file another process
// sharing the folder is about to record.
//
// A failing write is made with a file-system trick, not a mock: the temp folder a store
// writes through is replaced by a plain file (tests run as root, so permissions would not
// stop a write). The HTTP scenario on a real 30 MB tmpfs is in tests/http/disk_full_http_test.cpp.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "app/app.h"
#include "catalog/catalog.h"
#include "catalog/catalog_wrapper.h"
#include "common/crypto.h"
#include "common/files.h"
#include "common/server_paths.h"
#include "ingest/ingestor.h"
#include "jobs/prewarm_jobs.h"
#include "store/blob_store.h"
#include "store/disk_tier.h"
#include "store/space_reserve.h"
#include "support/test_support.h"

namespace samcache::testing {
namespace {

namespace fs = std::filesystem;

// Every write through `tmp` now fails (ENOTDIR), as writes on a full disk do (ENOSPC).
void BreakWritesThrough(const fs::path& tmp) {
  fs::remove_all(tmp);
  WriteFile(tmp, "not a folder");
}

IncomingFile Png(const std::string& name, int seed) {
  std::string bytes = MakeImageFile(24, 24, seed, ".png");
  std::string hash = Sha256Hex(bytes);
  return IncomingFile{name, std::move(bytes), std::move(hash)};
}

TEST(WithoutServerPathsTest, ReplacesAbsolutePathsAndKeepsTheRest) {
  EXPECT_EQ(WithoutServerPaths("cannot write /var/lib/samcache/tmp/ab12.tmp: No space left on device"),
            "cannot write <server path>: No space left on device");
  EXPECT_EQ(WithoutServerPaths("no such file: '/data/blobs/ab/abcd'"), "no such file: '<server path>'");
  EXPECT_EQ(WithoutServerPaths("(/a/b) and /c"), "(<server path>) and <server path>");
  // Not paths: endpoints, MIME types, fractions, a lone slash.
  EXPECT_EQ(WithoutServerPaths("see POST /api/sam/dataset/{id}/prewarm"),
            "see POST /api/sam/dataset/{id}/prewarm");
  EXPECT_EQ(WithoutServerPaths("expected image/png, 3/4 done / later"),
            "expected image/png, 3/4 done / later");
  EXPECT_EQ(ErrorReason("cannot write /x/y: No space left on device"), "No space left on device");
  EXPECT_EQ(ErrorReason("plain"), "plain");
}

class DiskFullIngestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    blobs_ = std::make_unique<BlobStore>(dir_ / "store");
    ASSERT_TRUE(blobs_->Init().ok());
    Result<std::unique_ptr<Catalog>> catalog = OpenSqliteCatalog((dir_ / "catalog.db").string());
    ASSERT_TRUE(catalog.ok()) << catalog.status().message();
    catalog_ = std::move(catalog).value();
    ingestor_ = std::make_unique<Ingestor>(*catalog_, *blobs_, IngestOptions{});
  }

  size_t DatasetCount() {
    Result<std::vector<DatasetRecord>> datasets = catalog_->ListDatasets();
    EXPECT_TRUE(datasets.ok());
    return datasets.ok() ? datasets->size() : 0;
  }

  TempDir dir_;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<Ingestor> ingestor_;
};

// L4: each failed upload used to leave an empty dataset behind; and its errors named the
// server's folders.
TEST_F(DiskFullIngestTest, UploadWhoseFilesAllFailToStoreLeavesNoDatasetAndNoPath) {
  BreakWritesThrough(dir_ / "store" / "tmp");
  UploadBatch batch(*ingestor_, *catalog_, "doomed");
  batch.Add(Png("a.png", 1));
  batch.Add(Png("b.png", 2));
  batch.Finish();
  EXPECT_TRUE(batch.stored().empty());
  ASSERT_EQ(batch.rejected().size(), 2u);
  for (const RejectedFile& r : batch.rejected()) {
    EXPECT_EQ(r.code, StatusCode::kIoError);
    EXPECT_NE(r.error.find("the server could not write to its data folder: Not a directory"),
              std::string::npos)
        << r.error;
    EXPECT_EQ(r.error.find('/'), std::string::npos) << r.error;
  }
  EXPECT_FALSE(batch.dataset_exists());
  EXPECT_EQ(DatasetCount(), 0u);
}

// A catalog whose image rows fail as SQLite's do once its disk is full.
class FullCatalog : public CatalogWrapper {
 public:
  using CatalogWrapper::CatalogWrapper;
  Result<AddImageOutcome> AddImage(const NewImage&) override {
    return Status::IoError("SQLite step failed: database or disk is full");
  }
};

// The blob is written and the dataset made, then the row fails: both go again.
TEST_F(DiskFullIngestTest, UploadWhoseRowsCannotBeAddedRemovesItsNewDataset) {
  FullCatalog full(*catalog_);
  Ingestor ingestor(full, *blobs_, IngestOptions{});
  UploadBatch batch(ingestor, full, "doomed");
  batch.Add(Png("a.png", 7));
  batch.Finish();
  ASSERT_EQ(batch.rejected().size(), 1u);
  EXPECT_NE(batch.rejected()[0].error.find("disk is full"), std::string::npos);
  EXPECT_FALSE(batch.dataset_exists());
  EXPECT_EQ(DatasetCount(), 0u);
  EXPECT_TRUE(ListFiles(dir_ / "store" / "blobs").empty());
}

// An upload into a dataset that already existed never removes it, even when all fails.
TEST_F(DiskFullIngestTest, FailedUploadIntoAnExistingDatasetKeepsIt) {
  ASSERT_TRUE(catalog_->CreateDataset(DatasetRecord{"d1", "kept", NowIso8601(), 0}).ok());
  BreakWritesThrough(dir_ / "store" / "tmp");
  UploadBatch batch(*ingestor_, *catalog_, "", std::string("d1"));
  batch.Add(Png("a.png", 3));
  batch.Finish();
  EXPECT_EQ(batch.rejected().size(), 1u);
  EXPECT_TRUE(batch.dataset_exists());
  EXPECT_TRUE(catalog_->GetDataset("d1").ok());
}

// A catalog whose deletes fail as SQLite's do on a full disk, as long as the reserve file
// holds the last free space.
class FullWhileReserved : public CatalogWrapper {
 public:
  FullWhileReserved(Catalog& target, fs::path reserve)
      : CatalogWrapper(target), reserve_(std::move(reserve)) {}
  Result<std::vector<std::string>> DeleteDataset(const std::string& id) override {
    ++delete_calls;
    if (fs::exists(reserve_)) return Status::IoError("SQLite step failed: database or disk is full");
    return target().DeleteDataset(id);
  }
  int delete_calls = 0;

 private:
  fs::path reserve_;
};

TEST_F(DiskFullIngestTest, DeleteOnAFullDiskReleasesTheReserveAndIsMadeAgainAfter) {
  SpaceReserve reserve(dir_ / "space-reserve", uint64_t{1} << 20);
  ASSERT_TRUE(reserve.Restore());
  EXPECT_EQ(fs::file_size(reserve.path()), uint64_t{1} << 20);
  FullWhileReserved full(*catalog_, reserve.path());
  Ingestor ingestor(full, *blobs_, IngestOptions{});
  ingestor.set_space_reserve(&reserve);
  ASSERT_TRUE(catalog_->CreateDataset(DatasetRecord{"d1", "full", NowIso8601(), 0}).ok());
  Result<IngestedImage> stored = ingestor.Ingest("d1", Png("a.png", 4));
  ASSERT_TRUE(stored.ok()) << stored.status().message();

  Result<DeleteOutcome> deleted = ingestor.DeleteDataset("d1");
  ASSERT_TRUE(deleted.ok()) << deleted.status().message();
  EXPECT_EQ(full.delete_calls, 2);
  EXPECT_EQ(deleted->blobs_removed, 1u);
  EXPECT_FALSE(blobs_->Contains(stored->image.content_hash));
  // There is room again here, so the reserve is back for the next full disk.
  EXPECT_TRUE(fs::exists(reserve.path()));

  // Without a reserve to release, the failure is the answer.
  ASSERT_TRUE(catalog_->CreateDataset(DatasetRecord{"d2", "full", NowIso8601(), 0}).ok());
  Ingestor no_reserve(full, *blobs_, IngestOptions{});
  EXPECT_EQ(no_reserve.DeleteDataset("d2").status().code(), StatusCode::kIoError);
}

TEST(SpaceReserveTest, DisabledReserveDoesNothing) {
  TempDir dir;
  SpaceReserve none(dir / "space-reserve", 0);
  EXPECT_FALSE(none.Restore());
  EXPECT_FALSE(none.Release());
  EXPECT_FALSE(fs::exists(dir / "space-reserve"));
}

// Two stores on one folder stand for two processes sharing it (flock locks belong to the
// open file, so they exclude each other just as two processes' do). While one writer
// is between Put and its catalog row, the other's cleanup cannot run; once the row is there,
// the cleanup sees it and keeps the file.
TEST_F(DiskFullIngestTest, CleanupWaitsForAnotherProcessBetweenPutAndItsRow) {
  BlobStore other(dir_ / "store");
  ASSERT_TRUE(other.Init().ok());
  const IncomingFile file = Png("shared.png", 5);
  std::atomic<bool> recorded{false};
  std::thread cleaner;
  {
    BlobStore::WritePin pin = blobs_->PinForWrite();
    ASSERT_TRUE(blobs_->Put(file.content_hash, file.bytes).ok());
    // The folder is flocked shared: an exclusive lock (a deletion) must wait.
    Fd probe(::open((dir_ / "store" / "blobs").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_GE(probe.get(), 0);
    EXPECT_NE(::flock(probe.get(), LOCK_EX | LOCK_NB), 0);
    cleaner = std::thread([&] {
      other.RemoveUnreferenced({file.content_hash}, [&](const std::string&) { return recorded.load(); });
    });
    recorded = true;  // the row is committed before the pin goes
  }
  cleaner.join();
  EXPECT_TRUE(fs::exists(blobs_->PathFor(file.content_hash)));
  // With no pin held, the lock is free again.
  Fd probe(::open((dir_ / "store" / "blobs").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  EXPECT_EQ(::flock(probe.get(), LOCK_EX | LOCK_NB), 0);
}

// L5: temp files a crash leaves in either store are found by gc with its own grace.
TEST(CrashLeftoversTest, TempFilesAreRemovedOnceOlderThanTheGrace) {
  TempDir dir;
  DiskTier tier(dir / "embeddings", 0);
  ASSERT_TRUE(tier.Init().ok());
  WriteFile(dir / "embeddings" / "tmp" / "0123456789abcdef.tmp", std::string(1000, 'x'));
  EXPECT_EQ(tier.RemoveStaleTempFiles(DiskTier::kTempFileGrace), 0u);  // maybe a write in progress
  EXPECT_EQ(tier.RemoveStaleTempFiles(std::chrono::seconds(0)), 1u);
  EXPECT_TRUE(ListFiles(dir / "embeddings" / "tmp").empty());

  BlobStore blobs(dir / "data");
  ASSERT_TRUE(blobs.Init().ok());
  WriteFile(dir / "data" / "tmp" / "fedcba9876543210.tmp", "partial");
  auto none_recorded = [](const std::string&) { return false; };
  EXPECT_EQ(blobs.CollectGarbage(none_recorded, std::chrono::hours(1), false).temp_removed, 0u);
  EXPECT_EQ(blobs.CollectGarbage(none_recorded, std::chrono::seconds(0), true).temp_removed, 1u);
  EXPECT_EQ(ListFiles(dir / "data" / "tmp").size(), 1u);  // a dry run only counts
  EXPECT_EQ(blobs.CollectGarbage(none_recorded, std::chrono::seconds(0), false).temp_removed, 1u);
  EXPECT_TRUE(ListFiles(dir / "data" / "tmp").empty());
}

// L4: an embedding whose write failed was counted "computed" and was gone after a restart.
TEST(DiskFullPrewarmTest, AnEmbeddingThatCouldNotBeStoredCountsAsFailed) {
  TempDir dir;
  AppOptions options;
  options.data_dir = dir / "data";
  options.load_model = true;
  Result<std::unique_ptr<App>> app = App::Open(options);
  ASSERT_TRUE(app.ok()) << app.status().message();
  UploadBatch batch((*app)->ingestor(), (*app)->catalog(), "set");
  batch.Add(Png("a.png", 6));
  batch.Finish();
  ASSERT_EQ(batch.stored().size(), 1u);

  BreakWritesThrough(dir / "data" / "embeddings" / "tmp");
  Result<PrewarmJobs::Started> started = (*app)->prewarm()->Start(batch.dataset_id());
  ASSERT_TRUE(started.ok()) << started.status().message();
  PrewarmSnapshot last;
  int64_t seq = 0;
  for (int i = 0; i < 10000 && !IsFinishedPrewarmStatus(last.job.status); ++i) {
    Result<PrewarmUpdate> update =
        (*app)->prewarm()->WaitForUpdate(started->snapshot.job.id, seq, std::chrono::seconds(5));
    ASSERT_TRUE(update.ok()) << update.status().message();
    seq = update->snapshot.seq;
    last = update->snapshot;
  }
  EXPECT_EQ(last.job.computed, 0);
  EXPECT_EQ(last.job.failed, 1);
  ASSERT_EQ(last.failures.size(), 1u);
  EXPECT_NE(last.failures[0].reason.find("could not be stored"), std::string::npos)
      << last.failures[0].reason;
  EXPECT_EQ(last.failures[0].reason.find('/'), std::string::npos) << last.failures[0].reason;
}

}  // namespace
}  // namespace samcache::testing
