// Faults injected into the catalog (through CatalogWrapper) while the real Ingestor stores
// uploads into a real catalog and blob store, on both backends:
//   - a catalog write that fails: the file is reported, the others of the upload are stored,
//     and nothing half-written remains;
//   - a crash between the blob file's write and the image row's commit: after reopening, no row
//     points at a missing file, and uploading the file again stores it as new content.
// What holds, and why: the ingestor writes the blob file first (BlobStore::Put, atomic) and the
// rows second (one catalog transaction), so a row never exists without its file. A file whose
// row failed is removed at once unless the catalog has (or may have) a row for its content;
// one left by a crash is removed by CollectGarbage once older than the grace period.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "catalog/catalog_wrapper.h"
#include "common/crypto.h"
#include "common/files.h"
#include "ingest/ingestor.h"
#include "store/blob_store.h"
#include "support/postgres_test_db.h"
#include "support/test_support.h"

namespace samcache {
namespace {

namespace fs = std::filesystem;
using testing::MakeImageFile;
using testing::PostgresTestDatabase;
using testing::TempDir;

// Thrown by the catalog to stand for the process dying in the middle of a call.
struct SimulatedCrash : std::runtime_error {
  SimulatedCrash() : std::runtime_error("simulated crash") {}
};

// The real catalog, except for the calls a test makes fail.
class FaultyCatalog : public CatalogWrapper {
 public:
  FaultyCatalog(Catalog& target, const BlobStore& blobs) : CatalogWrapper(target), blobs_(blobs) {}

  enum class Fault {
    kNone,
    kFailBeforeWrite,  // returns IoError, writes nothing
    kFailAfterWrite,   // the rows are committed, but the caller is told IoError (reply lost)
    kCrash,            // throws SimulatedCrash, writes nothing
  };

  // AddImage of files with this name.
  void FaultOn(const std::string& filename, Fault fault) {
    fault_filename_ = filename;
    fault_ = fault;
  }
  void FailHasBlob(bool fail) { fail_has_blob_ = fail; }

  Result<AddImageOutcome> AddImage(const NewImage& image) override {
    // The ingestor's order: the file is written before the row is asked for.
    if (!blobs_.Contains(image.blob.content_hash)) ++rows_before_files_;
    if (image.filename != fault_filename_) return CatalogWrapper::AddImage(image);
    switch (fault_) {
      case Fault::kNone:
        break;
      case Fault::kFailBeforeWrite:
        return Status::IoError("injected: the catalog cannot write");
      case Fault::kFailAfterWrite: {
        Result<AddImageOutcome> added = CatalogWrapper::AddImage(image);
        if (!added.ok()) return added;
        return Status::IoError("injected: the catalog's reply was lost");
      }
      case Fault::kCrash:
        throw SimulatedCrash();
    }
    return CatalogWrapper::AddImage(image);
  }

  Result<bool> HasBlob(const std::string& content_hash) override {
    if (fail_has_blob_) return Status::IoError("injected: the catalog cannot read");
    return CatalogWrapper::HasBlob(content_hash);
  }

  int rows_before_files() const { return rows_before_files_; }

 private:
  const BlobStore& blobs_;
  std::string fault_filename_;
  Fault fault_ = Fault::kNone;
  bool fail_has_blob_ = false;
  int rows_before_files_ = 0;
};

using Fault = FaultyCatalog::Fault;

enum class Backend { kSqlite, kPostgres };

std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kSqlite ? "Sqlite" : "Postgres";
}

IncomingFile File(const std::string& filename, const std::string& bytes) {
  return IncomingFile{filename, bytes, ""};
}

// A blob store and a catalog of the backend under test, with an ingestor over the faulty
// wrapper; Reopen() drops them all (as a process that died would) and opens them again.
class CatalogFaultTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kSqlite) {
      location_ = (dir_ / "catalog.db").string();
    } else {
      ASSERT_FALSE(testing::TestPostgresUrl().empty()) << testing::kNoPostgresMessage;
      postgres_ = std::make_unique<PostgresTestDatabase>();
      location_ = postgres_->url();
    }
    Reopen();
  }

  void Reopen() {
    ingestor_.reset();
    faulty_.reset();
    catalog_.reset();
    blobs_.reset();
    blobs_ = std::make_unique<BlobStore>(dir_ / "store");
    ASSERT_TRUE(blobs_->Init().ok());
    Result<std::unique_ptr<Catalog>> catalog = OpenCatalog(location_);
    ASSERT_TRUE(catalog.ok()) << catalog.status().message();
    catalog_ = std::move(catalog).value();
    faulty_ = std::make_unique<FaultyCatalog>(*catalog_, *blobs_);
    IngestOptions options;
    options.prepare_threads = 2;
    ingestor_ = std::make_unique<Ingestor>(*faulty_, *blobs_, options);
  }

  std::vector<std::string> Filenames(const std::string& dataset_id) {
    Result<std::vector<ImageRecord>> images = catalog_->ListImages(dataset_id);
    EXPECT_TRUE(images.ok()) << images.status().message();
    std::vector<std::string> names;
    if (images.ok()) {
      for (const ImageRecord& image : *images) names.push_back(image.filename);
    }
    return names;
  }

  bool HasBlobRow(const std::string& content_hash) {
    Result<bool> has = catalog_->HasBlob(content_hash);
    EXPECT_TRUE(has.ok()) << has.status().message();
    return has.ok() && *has;
  }

  size_t BlobFiles() const { return testing::ListFiles(dir_ / "store" / "blobs").size(); }

  // Every image row of every dataset has its blob row and its file.
  void ExpectNoRowWithoutItsFile() {
    Result<std::vector<DatasetRecord>> datasets = catalog_->ListDatasets();
    ASSERT_TRUE(datasets.ok()) << datasets.status().message();
    for (const DatasetRecord& dataset : *datasets) {
      Result<std::vector<ImageRecord>> images = catalog_->ListImages(dataset.id);
      ASSERT_TRUE(images.ok()) << images.status().message();
      for (const ImageRecord& image : *images) {
        EXPECT_TRUE(HasBlobRow(image.content_hash)) << image.filename;
        EXPECT_TRUE(blobs_->Contains(image.content_hash)) << image.filename;
      }
    }
  }

  void MakeOld(const std::string& content_hash) {
    fs::last_write_time(blobs_->PathFor(content_hash),
                        fs::file_time_type::clock::now() - std::chrono::hours(2));
  }

  TempDir dir_;
  std::unique_ptr<PostgresTestDatabase> postgres_;  // dropped after the catalog is closed
  std::string location_;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<FaultyCatalog> faulty_;
  std::unique_ptr<Ingestor> ingestor_;
};

INSTANTIATE_TEST_SUITE_P(Backends, CatalogFaultTest, ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         BackendName);

TEST_P(CatalogFaultTest, AFailedImageWriteRejectsThatFileAndStoresTheRestOfTheUpload) {
  const std::string a = MakeImageFile(40, 30, 1, ".png");
  const std::string b = MakeImageFile(40, 30, 2, ".png");
  const std::string c = MakeImageFile(40, 30, 3, ".png");
  faulty_->FaultOn("b.png", Fault::kFailBeforeWrite);

  UploadBatch batch(*ingestor_, *faulty_, "upload");
  batch.Add(File("a.png", a));
  batch.Add(File("b.png", b));
  batch.Add(File("c.png", c));
  batch.Finish();

  ASSERT_EQ(batch.rejected().size(), 1u);
  EXPECT_EQ(batch.rejected()[0].filename, "b.png");
  EXPECT_EQ(batch.rejected()[0].code, StatusCode::kIoError);
  EXPECT_EQ(batch.rejected()[0].error, "injected: the catalog cannot write");
  ASSERT_EQ(batch.stored().size(), 2u);
  EXPECT_EQ(batch.stored()[0].image.filename, "a.png");
  EXPECT_EQ(batch.stored()[1].image.filename, "c.png");
  EXPECT_EQ(batch.stored()[1].image.position, 1);  // the failed file took no position

  // Nothing of b.png remains: no image row, no blob row, no file.
  EXPECT_EQ(Filenames(batch.dataset_id()), (std::vector<std::string>{"a.png", "c.png"}));
  EXPECT_FALSE(HasBlobRow(Sha256Hex(b)));
  EXPECT_FALSE(blobs_->Contains(Sha256Hex(b)));
  EXPECT_EQ(BlobFiles(), 2u);
  ExpectNoRowWithoutItsFile();
  EXPECT_EQ(faulty_->rows_before_files(), 0);
}

// A failed write of content that is already stored must not take the file from the image
// that has it.
TEST_P(CatalogFaultTest, AFailedWriteOfKnownContentKeepsTheOtherImagesFile) {
  const std::string a = MakeImageFile(40, 30, 1, ".png");
  faulty_->FaultOn("again.png", Fault::kFailBeforeWrite);

  UploadBatch batch(*ingestor_, *faulty_, "upload");
  batch.Add(File("a.png", a));
  batch.Add(File("again.png", a));
  batch.Finish();

  ASSERT_EQ(batch.rejected().size(), 1u);
  EXPECT_EQ(batch.rejected()[0].filename, "again.png");
  EXPECT_EQ(Filenames(batch.dataset_id()), (std::vector<std::string>{"a.png"}));
  EXPECT_TRUE(blobs_->Contains(Sha256Hex(a)));
  ExpectNoRowWithoutItsFile();
}

// When the write failed and the catalog cannot even say whether the content is recorded, the
// file is kept (it may be another image's); garbage collection removes it later.
TEST_P(CatalogFaultTest, AFileTheCatalogCannotAccountForIsKeptThenCollected) {
  const std::string a = MakeImageFile(40, 30, 1, ".png");
  const std::string b = MakeImageFile(40, 30, 2, ".png");
  faulty_->FaultOn("b.png", Fault::kFailBeforeWrite);
  faulty_->FailHasBlob(true);

  UploadBatch batch(*ingestor_, *faulty_, "upload");
  batch.Add(File("a.png", a));
  batch.Add(File("b.png", b));
  batch.Finish();

  ASSERT_EQ(batch.rejected().size(), 1u);
  EXPECT_EQ(Filenames(batch.dataset_id()), (std::vector<std::string>{"a.png"}));
  EXPECT_FALSE(HasBlobRow(Sha256Hex(b)));
  EXPECT_TRUE(blobs_->Contains(Sha256Hex(b)));

  faulty_->FailHasBlob(false);
  MakeOld(Sha256Hex(a));
  MakeOld(Sha256Hex(b));
  const BlobStore::GarbageReport report = ingestor_->CollectGarbage(std::chrono::hours(1), /*dry_run=*/false);
  EXPECT_EQ(report.files_removed, 1u);
  EXPECT_FALSE(blobs_->Contains(Sha256Hex(b)));
  EXPECT_TRUE(blobs_->Contains(Sha256Hex(a)));
  ExpectNoRowWithoutItsFile();
}

// The rows were committed but the reply was lost: the upload reports an error, yet the file
// stays, because a row refers to it.
TEST_P(CatalogFaultTest, AWriteWhoseReplyWasLostKeepsTheFileItsRowNeeds) {
  const std::string b = MakeImageFile(40, 30, 2, ".png");
  faulty_->FaultOn("b.png", Fault::kFailAfterWrite);

  UploadBatch batch(*ingestor_, *faulty_, "upload");
  batch.Add(File("b.png", b));
  batch.Finish();

  ASSERT_EQ(batch.rejected().size(), 1u);
  EXPECT_EQ(Filenames(batch.dataset_id()), (std::vector<std::string>{"b.png"}));
  EXPECT_TRUE(blobs_->Contains(Sha256Hex(b)));
  ExpectNoRowWithoutItsFile();
}

TEST_P(CatalogFaultTest, ACrashBetweenBlobWriteAndRowCommitLeavesAConsistentStore) {
  ASSERT_TRUE(faulty_->CreateDataset(DatasetRecord{"d1", "one", NowIso8601(), 0}).ok());
  const std::string a = MakeImageFile(40, 30, 1, ".png");
  const std::string b = MakeImageFile(40, 30, 2, ".png");
  ASSERT_TRUE(ingestor_->Ingest("d1", File("a.png", a)).ok());
  faulty_->FaultOn("b.png", Fault::kCrash);

  EXPECT_THROW((void)ingestor_->Ingest("d1", File("b.png", b)), SimulatedCrash);
  EXPECT_TRUE(blobs_->Contains(Sha256Hex(b)));  // written before the crash, and left behind
  EXPECT_EQ(faulty_->rows_before_files(), 0);

  Reopen();
  EXPECT_EQ(Filenames("d1"), (std::vector<std::string>{"a.png"}));
  EXPECT_FALSE(HasBlobRow(Sha256Hex(b)));
  ExpectNoRowWithoutItsFile();

  // The same file again is new content, not a duplicate of the one that never got its row.
  Result<IngestedImage> again = ingestor_->Ingest("d1", File("b.png", b));
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_FALSE(again->duplicate);
  EXPECT_EQ(again->image.position, 1);
  EXPECT_EQ(Filenames("d1"), (std::vector<std::string>{"a.png", "b.png"}));
  EXPECT_TRUE(HasBlobRow(Sha256Hex(b)));
  EXPECT_TRUE(blobs_->Contains(Sha256Hex(b)));
  ExpectNoRowWithoutItsFile();
}

TEST_P(CatalogFaultTest, TheFileACrashLeftWithoutARowIsCollected) {
  ASSERT_TRUE(faulty_->CreateDataset(DatasetRecord{"d1", "one", NowIso8601(), 0}).ok());
  const std::string a = MakeImageFile(40, 30, 1, ".png");
  const std::string b = MakeImageFile(40, 30, 2, ".png");
  ASSERT_TRUE(ingestor_->Ingest("d1", File("a.png", a)).ok());
  faulty_->FaultOn("b.png", Fault::kCrash);
  EXPECT_THROW((void)ingestor_->Ingest("d1", File("b.png", b)), SimulatedCrash);

  Reopen();
  MakeOld(Sha256Hex(a));
  MakeOld(Sha256Hex(b));
  const BlobStore::GarbageReport report = ingestor_->CollectGarbage(std::chrono::hours(1), /*dry_run=*/false);
  EXPECT_EQ(report.files_seen, 2u);
  EXPECT_EQ(report.files_removed, 1u);
  EXPECT_FALSE(blobs_->Contains(Sha256Hex(b)));
  EXPECT_TRUE(blobs_->Contains(Sha256Hex(a)));
  ExpectNoRowWithoutItsFile();
}

}  // namespace
}  // namespace samcache
