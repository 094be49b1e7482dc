#include "ingest/ingestor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "common/crypto.h"
#include "common/files.h"
#include "image/image_decoder.h"
#include "image/image_format.h"
#include "support/test_support.h"

namespace samcache {
namespace {

namespace fs = std::filesystem;
using testing::ListFiles;
using testing::MakeImageFile;
using testing::MakeScene;
using testing::ReadFileOrDie;
using testing::TempDir;

std::string Be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

uint32_t Crc32(const std::string& bytes) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char c : bytes) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

std::string PngChunk(const std::string& type, const std::string& data) {
  return Be32(static_cast<uint32_t>(data.size())) + type + data + Be32(Crc32(type + data));
}

// A structurally valid PNG (correct CRCs, complete to IEND) whose header declares a huge
// size; its pixel data is never reached because the size is refused first.
std::string PngDeclaring(uint32_t width, uint32_t height) {
  const std::string ihdr = Be32(width) + Be32(height) + std::string("\x08\x02\x00\x00\x00", 5);
  return std::string("\x89PNG\r\n\x1A\n", 8) + PngChunk("IHDR", ihdr) +
         PngChunk("IDAT", std::string("\x78\x9C\x03\x00\x00\x00\x00\x01", 8)) + PngChunk("IEND", "");
}

bool IsValidUtf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t extra = c < 0x80             ? 0
                         : (c & 0xE0) == 0xC0 ? 1
                         : (c & 0xF0) == 0xE0 ? 2
                         : (c & 0xF8) == 0xF0 ? 3
                                              : 99;
    if (extra == 99 || i + extra >= s.size()) return false;  // bad lead or cut short
    for (size_t k = 1; k <= extra; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += extra + 1;
  }
  return true;
}

IncomingFile File(const std::string& filename, const std::string& bytes) {
  return IncomingFile{filename, bytes, ""};
}

// A store, a catalog and an ingestor in a fresh folder.
class IngestorTest : public ::testing::Test {
 protected:
  void SetUp() override { Build(IngestOptions{}); }

  void Build(const IngestOptions& options, fs::path root = {}) {
    ingestor_.reset();
    catalog_.reset();
    blobs_.reset();
    root_ = root.empty() ? dir_ / "store" : root;
    blobs_ = std::make_unique<BlobStore>(root_);
    ASSERT_TRUE(blobs_->Init().ok());
    if (catalog_path_.empty()) catalog_path_ = (dir_ / "catalog.db").string();
    Result<std::unique_ptr<Catalog>> catalog = OpenSqliteCatalog(catalog_path_);
    ASSERT_TRUE(catalog.ok()) << catalog.status().message();
    catalog_ = std::move(catalog).value();
    ingestor_ = std::make_unique<Ingestor>(*catalog_, *blobs_, options);
  }

  void CreateDataset(const std::string& id) {
    ASSERT_TRUE(catalog_->CreateDataset(DatasetRecord{id, "name-" + id, NowIso8601(), 0}).ok());
  }

  IngestedImage IngestOrDie(const std::string& dataset_id, IncomingFile file) {
    Result<IngestedImage> r = ingestor_->Ingest(dataset_id, std::move(file));
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? *r : IngestedImage{};
  }

  std::vector<fs::path> BlobFiles() const { return ListFiles(root_ / "blobs"); }
  std::vector<fs::path> TempFiles() const { return ListFiles(root_ / "tmp"); }

  CatalogStats Stats() {
    Result<CatalogStats> s = catalog_->Stats();
    EXPECT_TRUE(s.ok());
    return s.ok() ? *s : CatalogStats{};
  }

  TempDir dir_;
  fs::path root_;
  std::string catalog_path_;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<Ingestor> ingestor_;
};

// Files a crash left without a row are removed once older than the grace period; recorded
// files and fresh orphans (maybe mid-upload in another process) stay.
TEST_F(IngestorTest, CollectGarbageRemovesOnlyOldUnrecordedFiles) {
  CreateDataset("d1");
  const IngestedImage kept = IngestOrDie("d1", File("kept.png", MakeImageFile(20, 20, 1, ".png")));
  const std::string old_orphan = MakeImageFile(20, 20, 2, ".png");
  const std::string new_orphan = MakeImageFile(20, 20, 3, ".png");
  ASSERT_TRUE(blobs_->Put(Sha256Hex(old_orphan), old_orphan).ok());
  ASSERT_TRUE(blobs_->Put(Sha256Hex(new_orphan), new_orphan).ok());
  const auto two_hours_ago = fs::file_time_type::clock::now() - std::chrono::hours(2);
  fs::last_write_time(blobs_->PathFor(Sha256Hex(old_orphan)), two_hours_ago);
  fs::last_write_time(blobs_->PathFor(kept.image.content_hash), two_hours_ago);

  BlobStore::GarbageReport dry = ingestor_->CollectGarbage(std::chrono::hours(1), /*dry_run=*/true);
  EXPECT_EQ(dry.files_seen, 3u);
  EXPECT_EQ(dry.files_removed, 1u);
  EXPECT_EQ(dry.bytes_removed, old_orphan.size());
  EXPECT_EQ(BlobFiles().size(), 3u);

  BlobStore::GarbageReport real = ingestor_->CollectGarbage(std::chrono::hours(1), /*dry_run=*/false);
  EXPECT_EQ(real.files_removed, 1u);
  EXPECT_FALSE(fs::exists(blobs_->PathFor(Sha256Hex(old_orphan))));
  EXPECT_TRUE(fs::exists(blobs_->PathFor(Sha256Hex(new_orphan))));
  EXPECT_TRUE(fs::exists(blobs_->PathFor(kept.image.content_hash)));
}

// Re-using a stored file renews its time, so garbage collection cannot take it from under
// an upload that is about to record it.
TEST_F(IngestorTest, PutOfAnExistingBlobRenewsItsTime) {
  const std::string bytes = MakeImageFile(20, 20, 4, ".png");
  const std::string hash = Sha256Hex(bytes);
  ASSERT_TRUE(blobs_->Put(hash, bytes).ok());
  const auto old = fs::file_time_type::clock::now() - std::chrono::hours(2);
  fs::last_write_time(blobs_->PathFor(hash), old);
  ASSERT_TRUE(blobs_->Put(hash, bytes).ok());
  EXPECT_GT(fs::last_write_time(blobs_->PathFor(hash)), old + std::chrono::hours(1));
}

TEST_F(IngestorTest, IngestsPngIntoStoreAndCatalog) {
  CreateDataset("d1");
  const std::string png = MakeImageFile(80, 60, 1, ".png");
  const IngestedImage out = IngestOrDie("d1", File("photo.png", png));

  const std::string hash = Sha256Hex(png);
  EXPECT_FALSE(out.duplicate);
  EXPECT_FALSE(out.embedding_cached);
  EXPECT_EQ(out.image.content_hash, hash);
  EXPECT_EQ(blobs_->PathFor(hash), root_ / "blobs" / hash.substr(0, 2) / hash);
  ASSERT_TRUE(fs::exists(blobs_->PathFor(hash)));
  EXPECT_EQ(ReadFileOrDie(blobs_->PathFor(hash)), png);
  EXPECT_EQ(BlobFiles().size(), 1u);
  EXPECT_TRUE(TempFiles().empty());

  EXPECT_EQ(out.image.dataset_id, "d1");
  EXPECT_EQ(out.image.filename, "photo.png");
  EXPECT_EQ(out.image.pixel_hash, PixelHash(MakeScene(80, 60, 1)));
  EXPECT_EQ(out.image.format, "png");
  EXPECT_EQ(out.image.mime_type, "image/png");
  EXPECT_EQ(out.image.byte_size, static_cast<int64_t>(png.size()));
  EXPECT_EQ(out.image.width, 80);
  EXPECT_EQ(out.image.height, 60);
  EXPECT_EQ(out.image.position, 0);
  EXPECT_EQ(out.image.id.size(), 16u);
  EXPECT_FALSE(out.image.created_at.empty());

  // The thumbnail is a real JPEG of the (not enlarged) picture.
  ASSERT_FALSE(out.thumb_jpeg.empty());
  Result<DecodedImage> thumb = DecodeImage(out.thumb_jpeg, SniffFormat(out.thumb_jpeg));
  ASSERT_TRUE(thumb.ok());
  EXPECT_EQ(thumb->width, 80u);
  EXPECT_EQ(thumb->height, 60u);

  Result<ImageRecord> row = catalog_->GetImage(out.image.id);
  ASSERT_TRUE(row.ok());
  EXPECT_EQ(row->content_hash, hash);
  EXPECT_EQ(row->filename, "photo.png");
  auto blob = catalog_->FindBlob(hash);
  ASSERT_TRUE(blob.ok());
  ASSERT_TRUE(blob->has_value());
  EXPECT_EQ((*blob)->thumb_jpeg, out.thumb_jpeg);
  EXPECT_EQ((*blob)->byte_size, static_cast<int64_t>(png.size()));
  EXPECT_EQ(blobs_->Read(hash).value(), png);
}

TEST_F(IngestorTest, StreamedHashIsUsed) {
  CreateDataset("d1");
  const std::string jpeg = MakeImageFile(40, 30, 2, ".jpg");
  const IngestedImage out = IngestOrDie("d1", IncomingFile{"a.jpg", jpeg, Sha256Hex(jpeg)});
  EXPECT_EQ(out.image.content_hash, Sha256Hex(jpeg));
  EXPECT_EQ(out.image.format, "jpeg");
  EXPECT_EQ(out.image.mime_type, "image/jpeg");
  EXPECT_EQ(ReadFileOrDie(blobs_->PathFor(Sha256Hex(jpeg))), jpeg);
}

TEST_F(IngestorTest, SameBytesAgainIsADuplicateWithOneBlob) {
  CreateDataset("d1");
  CreateDataset("d2");
  const std::string png = MakeImageFile(50, 50, 3, ".png");
  const IngestedImage first = IngestOrDie("d1", File("a.png", png));
  const IngestedImage again = IngestOrDie("d1", File("a-again.png", png));
  const IngestedImage elsewhere = IngestOrDie("d2", File("b.png", png));

  EXPECT_FALSE(first.duplicate);
  EXPECT_TRUE(again.duplicate);
  EXPECT_TRUE(elsewhere.duplicate);
  EXPECT_EQ(again.image.content_hash, first.image.content_hash);
  EXPECT_EQ(again.image.pixel_hash, first.image.pixel_hash);
  EXPECT_NE(again.image.id, first.image.id);
  EXPECT_EQ(again.image.position, 1);
  EXPECT_EQ(elsewhere.image.position, 0);
  EXPECT_EQ(again.thumb_jpeg, first.thumb_jpeg);  // reused, not recomputed

  EXPECT_EQ(BlobFiles().size(), 1u);
  EXPECT_TRUE(TempFiles().empty());
  const CatalogStats stats = Stats();
  EXPECT_EQ(stats.images, 3);
  EXPECT_EQ(stats.blobs, 1);
  EXPECT_EQ(stats.blob_bytes, static_cast<int64_t>(png.size()));
}

TEST_F(IngestorTest, SamePixelsInAnotherFormatIsNotADuplicate) {
  CreateDataset("d1");
  const std::string png = MakeImageFile(33, 21, 4, ".png");
  const std::string bmp = MakeImageFile(33, 21, 4, ".bmp");
  const IngestedImage a = IngestOrDie("d1", File("a.png", png));
  const IngestedImage b = IngestOrDie("d1", File("a.bmp", bmp));

  EXPECT_NE(a.image.content_hash, b.image.content_hash);
  EXPECT_EQ(a.image.pixel_hash, b.image.pixel_hash);
  EXPECT_FALSE(a.duplicate);
  EXPECT_FALSE(b.duplicate);  // duplicates are by content hash
  EXPECT_EQ(b.image.format, "bmp");
  EXPECT_EQ(b.image.mime_type, "image/bmp");
  EXPECT_EQ(BlobFiles().size(), 2u);
  EXPECT_EQ(ReadFileOrDie(blobs_->PathFor(b.image.content_hash)), bmp);
}

TEST_F(IngestorTest, ExifOrientationIsAppliedToStoredSize) {
  CreateDataset("d1");
  const std::string jpeg = testing::WithExifOrientation(MakeImageFile(64, 32, 5, ".jpg"), 6);
  const IngestedImage out = IngestOrDie("d1", File("rotated.jpg", jpeg));
  EXPECT_EQ(out.image.width, 32);
  EXPECT_EQ(out.image.height, 64);
}

struct BadInput {
  std::string label;
  std::string filename;
  std::string bytes;
  StatusCode code;
  std::vector<std::string> message_contains;
};

TEST_F(IngestorTest, BadInputsAreRefusedAndStoreNothing) {
  CreateDataset("d1");
  const std::string png = MakeImageFile(64, 64, 6, ".png");
  const std::string jpeg = MakeImageFile(64, 64, 6, ".jpg");
  ASSERT_GT(jpeg.size(), 400u);
  const std::vector<BadInput> inputs = {
      {"empty", "empty.png", "", StatusCode::kInvalidArgument, {"empty"}},
      {"text", "x.jpg", "hello world", StatusCode::kUnsupported, {"text"}},
      {"html",
       "x.png",
       "<!DOCTYPE html><html><head><title>404</title></head></html>",
       StatusCode::kUnsupported,
       {"HTML"}},
      {"half png", "half.png", png.substr(0, png.size() / 2), StatusCode::kCorrupt, {"truncated", "PNG"}},
      {"cut jpeg", "cut.jpg", jpeg.substr(0, jpeg.size() - 100), StatusCode::kCorrupt, {"truncated", "JPEG"}},
      {"gif",
       "anim.gif",
       std::string("GIF89a\x01\x00\x01\x00\x80\x00\x00", 13),
       StatusCode::kUnsupported,
       {"GIF"}},
      {"huge png",
       "huge.png",
       PngDeclaring(20000, 20000),
       StatusCode::kTooLarge,
       {"20000x20000", "400.0 megapixels", "100.0 megapixels"}},
  };
  for (const BadInput& in : inputs) {
    Result<IngestedImage> r = ingestor_->Ingest("d1", File(in.filename, in.bytes));
    ASSERT_FALSE(r.ok()) << in.label;
    EXPECT_EQ(r.status().code(), in.code) << in.label << ": " << r.status().message();
    for (const std::string& part : in.message_contains) {
      EXPECT_NE(r.status().message().find(part), std::string::npos)
          << in.label << ": '" << r.status().message() << "' should mention '" << part << "'";
    }
    EXPECT_TRUE(BlobFiles().empty()) << in.label;
    EXPECT_TRUE(TempFiles().empty()) << in.label;
    const CatalogStats stats = Stats();
    EXPECT_EQ(stats.images, 0) << in.label;
    EXPECT_EQ(stats.blobs, 0) << in.label;
  }
}

TEST_F(IngestorTest, OverPixelLimitIsTooLarge) {
  IngestOptions options;
  options.max_image_pixels = 1000;
  Build(options);
  CreateDataset("d1");
  Result<IngestedImage> r = ingestor_->Ingest("d1", File("big.png", MakeImageFile(40, 40, 7, ".png")));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTooLarge);
  EXPECT_NE(r.status().message().find("40x40"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("limit"), std::string::npos) << r.status().message();
  EXPECT_TRUE(BlobFiles().empty());
  EXPECT_EQ(Stats().images, 0);

  // Exactly at the limit is fine.
  options.max_image_pixels = 1600;
  Build(options);
  EXPECT_TRUE(ingestor_->Ingest("d1", File("ok.png", MakeImageFile(40, 40, 7, ".png"))).ok());
}

// Small limits are named in pixels: in megapixels with one decimal they would read 0.0.
TEST_F(IngestorTest, SmallPixelLimitIsNamedInTheMessage) {
  IngestOptions options;
  options.max_image_pixels = 1000;
  Build(options);
  CreateDataset("d1");
  Result<IngestedImage> r = ingestor_->Ingest("d1", File("big.png", MakeImageFile(40, 40, 7, ".png")));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().find("0.0 megapixels"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("(1600 pixels), above the limit of 1000 pixels"), std::string::npos)
      << r.status().message();
}

TEST_F(IngestorTest, UploadBatchKeepsGoodFilesAndReportsBadOnes) {
  UploadBatch batch(*ingestor_, *catalog_, "holiday");
  EXPECT_FALSE(batch.dataset_exists());
  const std::string a = MakeImageFile(30, 20, 11, ".png");
  const std::string b = MakeImageFile(30, 20, 12, ".jpg");
  const std::string c = MakeImageFile(30, 20, 13, ".webp");
  batch.Add(File("a.png", a));
  batch.Add(File("notes.txt", "hello world"));
  batch.Add(File("b.jpg", b));
  batch.Add(File("broken.png", a.substr(0, a.size() / 2)));
  batch.Add(File("c.webp", c));
  batch.Finish();

  ASSERT_EQ(batch.stored().size(), 3u);
  ASSERT_EQ(batch.rejected().size(), 2u);
  EXPECT_EQ(batch.rejected()[0].filename, "notes.txt");
  EXPECT_EQ(batch.rejected()[0].code, StatusCode::kUnsupported);
  EXPECT_NE(batch.rejected()[0].error.find("text"), std::string::npos);
  EXPECT_EQ(batch.rejected()[1].filename, "broken.png");
  EXPECT_EQ(batch.rejected()[1].code, StatusCode::kCorrupt);
  EXPECT_NE(batch.rejected()[1].error.find("truncated"), std::string::npos);
  EXPECT_EQ(batch.duplicates_found(), 0);
  EXPECT_EQ(batch.bytes_received(), static_cast<int64_t>(a.size() + 11 + b.size() + a.size() / 2 + c.size()));

  ASSERT_TRUE(batch.dataset_exists());
  Result<DatasetRecord> ds = catalog_->GetDataset(batch.dataset_id());
  ASSERT_TRUE(ds.ok());
  EXPECT_EQ(ds->name, "holiday");
  EXPECT_EQ(ds->image_count, 3);
  Result<std::vector<ImageRecord>> images = catalog_->ListImages(batch.dataset_id());
  ASSERT_TRUE(images.ok());
  ASSERT_EQ(images->size(), 3u);
  EXPECT_EQ((*images)[0].filename, "a.png");
  EXPECT_EQ((*images)[1].filename, "b.jpg");
  EXPECT_EQ((*images)[2].filename, "c.webp");
  EXPECT_EQ((*images)[2].format, "webp");
  EXPECT_EQ(BlobFiles().size(), 3u);

  batch.set_dataset_name("renamed");  // no effect once the dataset exists
  EXPECT_EQ(batch.dataset_name(), "holiday");
}

TEST_F(IngestorTest, UploadBatchOfOnlyBadFilesLeavesNothing) {
  UploadBatch batch(*ingestor_, *catalog_, "");
  batch.Add(File("a.png", "<html><body>not an image</body></html>"));
  batch.Add(File("", ""));
  batch.Finish();
  EXPECT_TRUE(batch.stored().empty());
  ASSERT_EQ(batch.rejected().size(), 2u);
  EXPECT_EQ(batch.rejected()[1].filename, "unnamed");
  EXPECT_FALSE(batch.dataset_exists());
  Result<std::vector<DatasetRecord>> datasets = catalog_->ListDatasets();
  ASSERT_TRUE(datasets.ok());
  EXPECT_TRUE(datasets->empty());
  EXPECT_TRUE(BlobFiles().empty());
  // An unnamed batch is named after its id.
  EXPECT_EQ(batch.dataset_name(), "dataset-" + batch.dataset_id().substr(0, 6));
}

TEST_F(IngestorTest, UploadBatchCountsDuplicatesWithinTheBatch) {
  const std::string a = MakeImageFile(24, 24, 21, ".png");
  const std::string b = MakeImageFile(24, 24, 22, ".png");
  UploadBatch first(*ingestor_, *catalog_, "first");
  first.Add(File("a.png", a));
  first.Add(File("b.png", b));
  first.Add(File("a-copy.png", a));  // a duplicate of an earlier file of this upload
  first.Finish();
  ASSERT_EQ(first.stored().size(), 3u);
  EXPECT_FALSE(first.stored()[0].duplicate);
  EXPECT_FALSE(first.stored()[1].duplicate);
  EXPECT_TRUE(first.stored()[2].duplicate);
  EXPECT_EQ(first.duplicates_found(), 1);

  UploadBatch second(*ingestor_, *catalog_, "second");
  second.Add(File("a.png", a));
  second.Add(File("b.png", b));
  second.Add(File("new.png", MakeImageFile(24, 24, 23, ".png")));
  second.Finish();
  EXPECT_EQ(second.duplicates_found(), 2);
  EXPECT_NE(second.dataset_id(), first.dataset_id());
  EXPECT_EQ(DuplicatesMessage(second.duplicates_found()),
            "2 image(s) already cached, prewarm will be faster");
  EXPECT_EQ(BlobFiles().size(), 3u);
}

TEST_F(IngestorTest, UploadBatchIntoExistingDataset) {
  CreateDataset("d1");
  IngestOrDie("d1", File("first.png", MakeImageFile(16, 16, 31, ".png")));
  UploadBatch batch(*ingestor_, *catalog_, "ignored", std::string("d1"));
  EXPECT_TRUE(batch.dataset_exists());
  batch.Add(File("second.png", MakeImageFile(16, 16, 32, ".png")));
  batch.Finish();
  ASSERT_EQ(batch.stored().size(), 1u);
  EXPECT_EQ(batch.stored()[0].image.dataset_id, "d1");
  EXPECT_EQ(batch.stored()[0].image.position, 1);
  Result<std::vector<DatasetRecord>> datasets = catalog_->ListDatasets();
  ASSERT_TRUE(datasets.ok());
  EXPECT_EQ(datasets->size(), 1u);
}

TEST_F(IngestorTest, DuplicatesMessage) {
  EXPECT_EQ(DuplicatesMessage(2), "2 image(s) already cached, prewarm will be faster");
  EXPECT_EQ(DuplicatesMessage(0), "0 image(s) already cached, prewarm will be faster");
}

TEST_F(IngestorTest, DeleteDatasetRemovesOnlyUnsharedBlobFiles) {
  CreateDataset("d1");
  CreateDataset("d2");
  const std::string shared = MakeImageFile(20, 20, 41, ".png");
  const IngestedImage one = IngestOrDie("d1", File("s.png", shared));
  IngestOrDie("d2", File("s.png", shared));
  const fs::path path = blobs_->PathFor(one.image.content_hash);
  ASSERT_TRUE(fs::exists(path));

  Result<DeleteOutcome> first = ingestor_->DeleteDataset("d1");
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_EQ(first->blobs_removed, 0u);
  EXPECT_TRUE(fs::exists(path));  // d2 still uses it
  EXPECT_EQ(ReadFileOrDie(path), shared);

  Result<DeleteOutcome> second = ingestor_->DeleteDataset("d2");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->blobs_removed, 1u);
  EXPECT_FALSE(fs::exists(path));
  EXPECT_TRUE(BlobFiles().empty());
  EXPECT_EQ(Stats().blobs, 0);

  Result<DeleteOutcome> unknown = ingestor_->DeleteDataset("d2");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
}

TEST_F(IngestorTest, ReuploadAfterDeleteStoresTheFileAgain) {
  CreateDataset("d1");
  const std::string png = MakeImageFile(20, 20, 42, ".png");
  const IngestedImage first = IngestOrDie("d1", File("a.png", png));
  ASSERT_EQ(ingestor_->DeleteDataset("d1")->blobs_removed, 1u);
  CreateDataset("d2");
  const IngestedImage again = IngestOrDie("d2", File("a.png", png));
  EXPECT_FALSE(again.duplicate);
  EXPECT_EQ(ReadFileOrDie(blobs_->PathFor(first.image.content_hash)), png);
}

TEST_F(IngestorTest, PathLikeFilenameIsStoredAsData) {
  // A store nested deep enough that "../../etc/passwd" would still land inside our TempDir.
  Build(IngestOptions{}, dir_ / "a" / "b" / "store");
  CreateDataset("d1");
  const IngestedImage out = IngestOrDie("d1", File("../../etc/passwd", MakeImageFile(16, 16, 51, ".png")));
  EXPECT_EQ(out.image.filename, "../../etc/passwd");
  Result<ImageRecord> row = catalog_->GetImage(out.image.id);
  ASSERT_TRUE(row.ok());
  EXPECT_EQ(row->filename, "../../etc/passwd");

  EXPECT_FALSE(fs::exists(dir_ / "a" / "etc"));
  EXPECT_FALSE(fs::exists(root_ / "etc"));
  EXPECT_FALSE(fs::exists(root_ / "blobs" / "etc"));
  for (const fs::path& file : ListFiles(dir_.path())) {
    const std::string p = file.string();
    const bool in_store = p.starts_with((root_ / "blobs").string() + "/");
    const bool catalog =
        file.parent_path() == dir_.path() && file.filename().string().starts_with("catalog.db");
    EXPECT_TRUE(in_store || catalog) << "unexpected file " << p;
  }
  EXPECT_EQ(BlobFiles().size(), 1u);
}

TEST_F(IngestorTest, ControlCharactersInFilenamesAreReplaced) {
  CreateDataset("d1");
  const IngestedImage out =
      IngestOrDie("d1", File("line1\nline2\r\t.png", MakeImageFile(16, 16, 52, ".png")));
  EXPECT_EQ(out.image.filename, "line1_line2__.png");
  EXPECT_EQ(catalog_->GetImage(out.image.id)->filename, "line1_line2__.png");
  // UTF-8 names pass through untouched.
  const IngestedImage utf8 =
      IngestOrDie("d1", File("caf\xC3\xA9 \xE2\x9C\x93.png", MakeImageFile(16, 16, 53, ".png")));
  EXPECT_EQ(utf8.image.filename, "caf\xC3\xA9 \xE2\x9C\x93.png");
  // An empty name gets a placeholder.
  const IngestedImage unnamed = IngestOrDie("d1", File("", MakeImageFile(16, 16, 54, ".png")));
  EXPECT_EQ(unnamed.image.filename, "unnamed");
}

TEST_F(IngestorTest, LongFilenamesAreBounded) {
  CreateDataset("d1");
  const IngestedImage out =
      IngestOrDie("d1", File(std::string(1000, 'n'), MakeImageFile(16, 16, 55, ".png")));
  EXPECT_EQ(out.image.filename, std::string(255, 'n'));
}

// A multi-byte character that straddles the 255-byte limit is dropped whole.
TEST_F(IngestorTest, LongUtf8FilenameIsCutAtACharacterBoundary) {
  CreateDataset("d1");
  for (size_t ascii : {size_t{253}, size_t{254}}) {
    std::string name(ascii, 'n');
    for (int i = 0; i < 10; ++i) name += "\xE2\x9C\x93";  // 3-byte check marks
    const IngestedImage out =
        IngestOrDie("d1", File(name, MakeImageFile(16, 16, 56 + static_cast<int>(ascii), ".png")));
    EXPECT_LE(out.image.filename.size(), 255u);
    EXPECT_TRUE(IsValidUtf8(out.image.filename)) << "prefix " << ascii;
  }
}

// Commit writes the blob file before the catalog refuses the row: the file must not stay.
TEST_F(IngestorTest, IngestIntoUnknownDatasetLeavesNoBlobFile) {
  Result<IngestedImage> r = ingestor_->Ingest("ghost", File("a.png", MakeImageFile(16, 16, 57, ".png")));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(BlobFiles().empty());
}

// A rejected file is listed (and logged) under its cleaned name, never with raw control characters.
TEST_F(IngestorTest, RejectedFilenameIsCleanedToo) {
  UploadBatch batch(*ingestor_, *catalog_, "b");
  batch.Add(File("evil\nname.png", "not an image"));
  batch.Finish();
  ASSERT_EQ(batch.rejected().size(), 1u);
  EXPECT_EQ(batch.rejected()[0].filename, "evil_name.png");
}

TEST_F(IngestorTest, IngestIntoUnknownDatasetIsNotFound) {
  Result<IngestedImage> r = ingestor_->Ingest("ghost", File("a.png", MakeImageFile(16, 16, 58, ".png")));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Stats().images, 0);
  EXPECT_EQ(Stats().blobs, 0);
}

TEST(IsValidUtf8Test, HelperWorks) {
  EXPECT_TRUE(IsValidUtf8("abc"));
  EXPECT_TRUE(IsValidUtf8("\xE2\x9C\x93"));
  EXPECT_FALSE(IsValidUtf8("a\xE2\x9C"));
  EXPECT_FALSE(IsValidUtf8("a\xE2"));
  EXPECT_FALSE(IsValidUtf8("\x9C"));
}

// Files are decoded on several workers, big and small mixed so that later files finish
// first; they must still be stored in the order they were added.
TEST_F(IngestorTest, ParallelPreparationKeepsUploadOrder) {
  IngestOptions options;
  options.prepare_threads = 4;
  Build(options);
  UploadBatch batch(*ingestor_, *catalog_, "ordered");
  std::vector<std::string> names;
  for (int i = 0; i < 16; ++i) {
    const int side = i % 2 == 0 ? 900 : 16;
    names.push_back(std::string("f") + std::to_string(i) + ".png");
    batch.Add(File(names.back(), MakeImageFile(side, side, 700 + i, ".png")));
  }
  batch.Add(File("again.png", MakeImageFile(16, 16, 701, ".png")));  // same as f1
  batch.Finish();
  ASSERT_EQ(batch.stored().size(), 17u);
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(batch.stored()[i].image.filename, names[i]);
    EXPECT_EQ(batch.stored()[i].image.position, static_cast<int64_t>(i));
    EXPECT_FALSE(batch.stored()[i].duplicate);
  }
  EXPECT_TRUE(batch.stored()[16].duplicate);
}

TEST_F(IngestorTest, UnreadableFileIsRejectedWithItsReason) {
  UploadBatch batch(*ingestor_, *catalog_, "d");
  batch.Add(File("a.png", MakeImageFile(20, 20, 1, ".png")));
  batch.AddUnreadable("locked.jpg", Status::IoError("cannot open locked.jpg: Permission denied"));
  batch.Add(File("b.png", MakeImageFile(20, 20, 2, ".png")));
  batch.Finish();
  ASSERT_EQ(batch.stored().size(), 2u);
  EXPECT_EQ(batch.stored()[1].image.filename, "b.png");
  ASSERT_EQ(batch.rejected().size(), 1u);
  EXPECT_EQ(batch.rejected()[0].filename, "locked.jpg");
  EXPECT_EQ(batch.rejected()[0].code, StatusCode::kIoError);
  EXPECT_NE(batch.rejected()[0].error.find("Permission denied"), std::string::npos);
}

}  // namespace
}  // namespace samcache
