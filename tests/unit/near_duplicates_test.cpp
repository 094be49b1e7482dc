// Near-duplicate detection through the real parts (SQLite catalog file, blob store, ingestor,
// index): generated photos with known relations stored and found at the default distance,
// same-pixel and same-file copies kept apart, the index kept in step with deletes, rebuilt
// from the catalog, filled for content stored before schema version 3, and the dupes report.
#include "similar/near_duplicates.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <set>
#include <thread>

#include "app/app.h"
#include "catalog/catalog.h"
#include "common/crypto.h"
#include "common/files.h"
#include "similar/duplicate_report.h"
#include "support/near_dup_images.h"
#include "support/test_support.h"

namespace samcache {
namespace {

using testing::Edit;
using testing::EditedFile;
using testing::EditName;
using testing::EncodeOrDie;
using testing::MakePhoto;
using testing::TempDir;

std::set<std::string> Filenames(const std::vector<SimilarImage>& images) {
  std::set<std::string> out;
  for (const SimilarImage& s : images) out.insert(s.image.filename);
  return out;
}

void ExecSql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

class NearDuplicatesTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open() {
    app_.reset();
    AppOptions options;
    options.data_dir = dir_ / "data";
    options.ingest.prepare_threads = 2;
    Result<std::unique_ptr<App>> app = App::Open(options);
    ASSERT_TRUE(app.ok()) << app.status().message();
    app_ = std::move(app).value();
    ASSERT_TRUE(app_->EnableNearDuplicates().ok());
  }

  void CreateDataset(const std::string& id) {
    ASSERT_TRUE(app_->catalog().CreateDataset(DatasetRecord{id, "name-" + id, NowIso8601(), 0}).ok());
  }

  IngestedImage Ingest(const std::string& dataset_id, const std::string& filename, const std::string& bytes) {
    Result<IngestedImage> r = app_->ingestor().Ingest(dataset_id, IncomingFile{filename, bytes, ""});
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? *r : IngestedImage{};
  }

  std::vector<SimilarImage> Similar(const std::string& image_id,
                                    int max_distance = kDefaultNearDuplicateDistance) {
    Result<ImageRecord> image = app_->catalog().GetImage(image_id);
    EXPECT_TRUE(image.ok());
    if (!image.ok()) return {};
    Result<std::vector<SimilarImage>> similar =
        app_->near_duplicates()->FindSimilar(*image, kDefaultProjectId, max_distance, 100);
    EXPECT_TRUE(similar.ok()) << similar.status().message();
    return similar.ok() ? *similar : std::vector<SimilarImage>{};
  }

  NearDuplicateFinder& finder() { return *app_->near_duplicates(); }

  TempDir dir_;
  std::unique_ptr<App> app_;
};

// The relations, at the default distance: each edit of a photo finds the photo (and the
// edits stored before it), never another photo; unrelated photos and other objects on the same
// background find nothing.
TEST_F(NearDuplicatesTest, EditedCopiesFindTheirOriginalAndNothingElse) {
  CreateDataset("originals");
  CreateDataset("edits");
  constexpr int kPhotos = 4;
  for (int p = 0; p < kPhotos; ++p) {
    const IngestedImage stored = Ingest("originals", "photo" + std::to_string(p) + ".jpg",
                                        EncodeOrDie(MakePhoto(640, 480, 100 + p), ".jpg"));
    EXPECT_TRUE(stored.near_duplicates.empty()) << "unrelated photos: " << p;
  }
  const IngestedImage same_background =
      Ingest("originals", "other-objects.jpg", EncodeOrDie(MakePhoto(640, 480, 100, 999), ".jpg"));
  EXPECT_TRUE(same_background.near_duplicates.empty());

  for (int p = 0; p < kPhotos; ++p) {
    const DecodedImage photo = MakePhoto(640, 480, 100 + p);
    const std::string original = "photo" + std::to_string(p) + ".jpg";
    std::set<std::string> family = {original};
    for (Edit edit : testing::kAllEdits) {
      const std::string name = "photo" + std::to_string(p) + "-" + std::string(EditName(edit)) + ".png";
      const IngestedImage stored = Ingest("edits", name, EditedFile(photo, edit, ".png"));
      EXPECT_FALSE(stored.duplicate);
      // The original is found (a mirrored copy through the mirrored hash), and nothing but the
      // photo's family: edits of one photo are usually near each other too, but two edits may
      // each be within the distance of the original and not of each other.
      const std::set<std::string> found = Filenames(stored.near_duplicates);
      EXPECT_EQ(found.count(original), 1u) << name;
      EXPECT_TRUE(std::includes(family.begin(), family.end(), found.begin(), found.end())) << name;
      for (const SimilarImage& s : stored.near_duplicates) {
        EXPECT_LE(s.distance, kDefaultNearDuplicateDistance);
        EXPECT_EQ(s.relation, SimilarImage::Relation::kNearDuplicate);
        EXPECT_EQ(s.mirrored, edit == Edit::kMirrored) << name << " vs " << s.image.filename;
        if (s.image.filename == original) {
          EXPECT_EQ(s.dataset_name, "name-originals");
          EXPECT_EQ(s.image.dataset_id, "originals");
        }
      }
      family.insert(name);
    }
  }
  EXPECT_EQ(finder().picture_count(), static_cast<size_t>(kPhotos * 7 + 1));
}

TEST_F(NearDuplicatesTest, SameFileAndSamePixelsAreNotNearDuplicates) {
  CreateDataset("d");
  const DecodedImage photo = MakePhoto(320, 240, 7);
  const IngestedImage png = Ingest("d", "a.png", EncodeOrDie(photo, ".png"));
  const IngestedImage bmp = Ingest("d", "a.bmp", EncodeOrDie(photo, ".bmp"));          // same pixels
  const IngestedImage again = Ingest("d", "a-again.png", EncodeOrDie(photo, ".png"));  // same bytes
  const IngestedImage jpeg = Ingest("d", "a.jpg", EncodeOrDie(photo, ".jpg"));         // other pixels
  EXPECT_EQ(bmp.image.pixel_hash, png.image.pixel_hash);
  EXPECT_TRUE(bmp.near_duplicates.empty());
  EXPECT_TRUE(again.duplicate);
  EXPECT_TRUE(again.near_duplicates.empty());
  // The JPEG is near all three, which show one picture.
  EXPECT_EQ(Filenames(jpeg.near_duplicates), (std::set<std::string>{"a.png", "a.bmp", "a-again.png"}));
  EXPECT_EQ(finder().picture_count(), 2u);

  const std::vector<SimilarImage> similar = Similar(png.image.id);
  ASSERT_EQ(similar.size(), 3u);
  EXPECT_EQ(similar[0].image.filename, "a-again.png");
  EXPECT_EQ(similar[0].relation, SimilarImage::Relation::kSameFile);
  EXPECT_EQ(similar[1].image.filename, "a.bmp");
  EXPECT_EQ(similar[1].relation, SimilarImage::Relation::kSamePixels);
  EXPECT_EQ(similar[2].image.filename, "a.jpg");
  EXPECT_EQ(similar[2].relation, SimilarImage::Relation::kNearDuplicate);
  // Distance 0 still lists same-pixel copies, and the JPEG only if its hash is equal.
  for (const SimilarImage& s : Similar(png.image.id, 0)) EXPECT_EQ(s.distance, 0);
}

TEST_F(NearDuplicatesTest, DeletesRemovePicturesNoImageShows) {
  CreateDataset("a");
  CreateDataset("b");
  CreateDataset("c");
  const DecodedImage photo = MakePhoto(400, 300, 8);
  const std::string original = EncodeOrDie(photo, ".png");
  Ingest("a", "original.png", original);
  Ingest("b", "original.png", original);
  const IngestedImage edit = Ingest("c", "small.png", EditedFile(photo, Edit::kResized, ".png"));
  ASSERT_EQ(edit.near_duplicates.size(), 2u);

  ASSERT_TRUE(app_->ingestor().DeleteDataset("a").ok());
  EXPECT_EQ(finder().picture_count(), 2u) << "b still shows the original";
  std::vector<SimilarImage> similar = Similar(edit.image.id);
  ASSERT_EQ(similar.size(), 1u);
  EXPECT_EQ(similar[0].image.dataset_id, "b");

  ASSERT_TRUE(app_->ingestor().DeleteDataset("b").ok());
  EXPECT_EQ(finder().picture_count(), 1u);
  EXPECT_TRUE(Similar(edit.image.id).empty());
}

TEST_F(NearDuplicatesTest, IndexIsRebuiltFromTheCatalogAtStart) {
  CreateDataset("d");
  const DecodedImage photo = MakePhoto(640, 480, 9);
  Ingest("d", "o.jpg", EncodeOrDie(photo, ".jpg"));
  const IngestedImage flipped = Ingest("d", "flipped.jpg", EditedFile(photo, Edit::kMirrored));
  Ingest("d", "other.jpg", EncodeOrDie(MakePhoto(640, 480, 10), ".jpg"));
  ASSERT_EQ(flipped.near_duplicates.size(), 1u);

  Open();  // a restart
  EXPECT_EQ(finder().picture_count(), 3u);
  const std::vector<SimilarImage> similar = Similar(flipped.image.id);
  ASSERT_EQ(similar.size(), 1u);
  EXPECT_EQ(similar[0].image.filename, "o.jpg");
  EXPECT_TRUE(similar[0].mirrored);
  const IngestedImage later = Ingest("d", "o-q60.jpg", EditedFile(photo, Edit::kJpegQ60));
  EXPECT_EQ(Filenames(later.near_duplicates), (std::set<std::string>{"o.jpg", "flipped.jpg"}));
}

// Another process deleted what this index still holds: searches skip it and drop it.
TEST_F(NearDuplicatesTest, PicturesDeletedElsewhereAreSkippedAndDropped) {
  CreateDataset("mine");
  CreateDataset("theirs");
  const DecodedImage photo = MakePhoto(640, 480, 12);
  const IngestedImage mine = Ingest("mine", "o.png", EncodeOrDie(photo, ".png"));
  Ingest("theirs", "bright.png", EditedFile(photo, Edit::kBrighter, ".png"));
  ASSERT_EQ(Similar(mine.image.id).size(), 1u);

  {
    Result<std::unique_ptr<Catalog>> other = OpenSqliteCatalog(app_->options().catalog_path);
    ASSERT_TRUE(other.ok());
    ASSERT_TRUE((*other)->DeleteDataset("theirs").ok());
  }
  EXPECT_EQ(finder().picture_count(), 2u);
  EXPECT_TRUE(Similar(mine.image.id).empty());
  EXPECT_EQ(finder().picture_count(), 1u);
}

// Content stored before schema version 3 has no perceptual hash; enabling detection computes
// it from the stored file, and files that cannot be read are counted, not fatal.
TEST_F(NearDuplicatesTest, HashesOfOlderContentAreComputedFromStoredFiles) {
  CreateDataset("d");
  const DecodedImage photo = MakePhoto(640, 480, 13);
  const IngestedImage a = Ingest("d", "a.png", EncodeOrDie(photo, ".png"));
  const IngestedImage b = Ingest("d", "b.jpg", EditedFile(photo, Edit::kDarker));
  const IngestedImage c = Ingest("d", "c.png", EncodeOrDie(MakePhoto(64, 64, 14), ".png"));
  ASSERT_TRUE(a.image.perceptual_hash.has_value());
  app_.reset();
  ExecSql((dir_ / "data" / "samcache.db").string(), "UPDATE blobs SET phash = NULL, phash_mirrored = NULL");
  // One stored file lost: its hash stays unknown.
  std::filesystem::remove(dir_ / "data" / "blobs" / c.image.content_hash.substr(0, 2) / c.image.content_hash);

  Open();
  Result<ImageRecord> reread = app_->catalog().GetImage(a.image.id);
  ASSERT_TRUE(reread.ok());
  EXPECT_EQ(reread->perceptual_hash, a.image.perceptual_hash);
  EXPECT_EQ(finder().picture_count(), 2u);
  EXPECT_EQ(Filenames(Similar(a.image.id)), std::set<std::string>{"b.jpg"});
  Result<std::vector<std::string>> missing = app_->catalog().BlobsWithoutPerceptualHash("", 10);
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(*missing, std::vector<std::string>{c.image.content_hash});
  Result<BackfillOutcome> again = app_->ingestor().BackfillPerceptualHashes();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->hashed, 0u);
  EXPECT_EQ(again->failed, 1u);
}

// Uploads running at the same time still see each other: of two similar images, the one
// stored second lists the first.
// Another process sharing the catalog stores pictures after an index was built: the index
// takes them in before its next search, once its catch-up interval has passed.
TEST_F(NearDuplicatesTest, PicturesStoredElsewhereAreTakenInBeforeASearch) {
  Result<std::unique_ptr<Catalog>> shared = OpenSqliteCatalog(app_->options().catalog_path);
  ASSERT_TRUE(shared.ok()) << shared.status().message();
  NearDuplicateFinder eager(**shared, kDefaultNearDuplicateDistance, std::chrono::milliseconds(0));
  NearDuplicateFinder lazy(**shared, kDefaultNearDuplicateDistance, std::chrono::hours(1));
  ASSERT_TRUE(eager.Rebuild().ok());
  ASSERT_TRUE(lazy.Rebuild().ok());

  CreateDataset("d");
  const DecodedImage photo = MakePhoto(640, 480, 16);
  Ingest("d", "o.png", EncodeOrDie(photo, ".png"));
  const IngestedImage bright = Ingest("d", "bright.png", EditedFile(photo, Edit::kBrighter, ".png"));
  ASSERT_EQ(Filenames(bright.near_duplicates), std::set<std::string>{"o.png"});
  EXPECT_EQ(eager.picture_count(), 0u);

  Result<std::vector<SimilarImage>> found =
      eager.FindSimilar(bright.image, kDefaultProjectId, kDefaultNearDuplicateDistance, 10);
  ASSERT_TRUE(found.ok()) << found.status().message();
  EXPECT_EQ(Filenames(*found), std::set<std::string>{"o.png"});
  EXPECT_EQ(eager.picture_count(), 2u);
  // Within its interval an index searches what it has.
  Result<std::vector<SimilarImage>> not_yet =
      lazy.FindSimilar(bright.image, kDefaultProjectId, kDefaultNearDuplicateDistance, 10);
  ASSERT_TRUE(not_yet.ok());
  EXPECT_TRUE(not_yet->empty());
  EXPECT_EQ(lazy.picture_count(), 0u);

  // An upload through the other index lists what this process stored, and this one finds it.
  const IngestedImage dark = Ingest("d", "dark.png", EditedFile(photo, Edit::kDarker, ".png"));
  Result<std::vector<SimilarImage>> on_store = eager.OnImageStored(dark.image, kDefaultProjectId, 10);
  ASSERT_TRUE(on_store.ok());
  EXPECT_EQ(Filenames(*on_store), (std::set<std::string>{"o.png", "bright.png"}));
}

TEST_F(NearDuplicatesTest, ConcurrentUploadsOfSimilarImagesSeeEachOther) {
  CreateDataset("d");
  const DecodedImage photo = MakePhoto(640, 480, 15);
  std::vector<std::string> files;
  for (Edit edit : {Edit::kResized, Edit::kJpegQ60, Edit::kBrighter, Edit::kDarker}) {
    files.push_back(EditedFile(photo, edit, ".png"));
  }
  files.push_back(EncodeOrDie(photo, ".png"));
  files.push_back(EncodeOrDie(photo, ".bmp"));
  std::vector<IngestedImage> stored(files.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < files.size(); ++i) {
    threads.emplace_back([&, i] { stored[i] = Ingest("d", std::string("f") + std::to_string(i), files[i]); });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < stored.size(); ++i) {
    for (size_t j = i + 1; j < stored.size(); ++j) {
      if (stored[i].image.pixel_hash == stored[j].image.pixel_hash) continue;  // same picture
      const bool i_lists_j = Filenames(stored[i].near_duplicates).count(stored[j].image.filename) > 0;
      const bool j_lists_i = Filenames(stored[j].near_duplicates).count(stored[i].image.filename) > 0;
      EXPECT_TRUE(i_lists_j || j_lists_i) << stored[i].image.filename << " and " << stored[j].image.filename;
    }
  }
}

TEST_F(NearDuplicatesTest, DuplicateReportGroupsFilesPixelsAndNearDuplicates) {
  CreateDataset("x");
  CreateDataset("y");
  const DecodedImage p1 = MakePhoto(640, 480, 20);
  const DecodedImage p2 = MakePhoto(640, 480, 21);
  const std::string p1_png = EncodeOrDie(p1, ".png");
  Ingest("x", "p1.png", p1_png);
  Ingest("y", "p1-copy.png", p1_png);                                   // same file
  Ingest("y", "p1.bmp", EncodeOrDie(p1, ".bmp"));                       // same pixels
  Ingest("y", "p1-small.png", EditedFile(p1, Edit::kResized, ".png"));  // near
  Ingest("x", "p2.png", EncodeOrDie(p2, ".png"));
  Ingest("y", "p2-flip.png", EditedFile(p2, Edit::kMirrored, ".png"));  // near, mirrored
  Ingest("y", "alone.png", EncodeOrDie(MakePhoto(640, 480, 22), ".png"));

  Result<DuplicateReport> all =
      BuildDuplicateReport(app_->catalog(), finder(), std::nullopt, kDefaultNearDuplicateDistance);
  ASSERT_TRUE(all.ok()) << all.status().message();
  EXPECT_EQ(all->images_examined, 7u);
  ASSERT_EQ(all->same_file.size(), 1u);
  EXPECT_EQ(all->same_file[0].images.size(), 2u);
  ASSERT_EQ(all->same_pixels.size(), 1u);
  EXPECT_EQ(all->same_pixels[0].images.size(), 3u) << "p1.png, p1-copy.png and p1.bmp";
  ASSERT_EQ(all->near_duplicates.size(), 2u);
  const DuplicateGroup& big = all->near_duplicates[0];
  ASSERT_EQ(big.images.size(), 4u);
  EXPECT_EQ(big.images[0].image.filename, "p1.png") << "oldest first";
  const DuplicateGroup& pair = all->near_duplicates[1];
  ASSERT_EQ(pair.images.size(), 2u);
  EXPECT_EQ(pair.images[0].image.filename, "p2.png");
  EXPECT_EQ(pair.images[1].image.filename, "p2-flip.png");
  EXPECT_TRUE(pair.images[1].mirrored);
  EXPECT_LE(pair.images[1].distance, kDefaultNearDuplicateDistance);

  // Scoped to x: every group has an image of x; members elsewhere are listed too.
  Result<DuplicateReport> x =
      BuildDuplicateReport(app_->catalog(), finder(), std::string("x"), kDefaultNearDuplicateDistance);
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(x->images_examined, 2u);
  EXPECT_EQ(x->near_duplicates.size(), 2u);
  EXPECT_EQ(x->same_file.size(), 1u);

  // At distance 0 only identical hashes link pictures.
  Result<DuplicateReport> strict = BuildDuplicateReport(app_->catalog(), finder(), std::nullopt, 0);
  ASSERT_TRUE(strict.ok());
  for (const DuplicateGroup& g : strict->near_duplicates) {
    for (const ReportedImage& r : g.images) EXPECT_EQ(r.distance, 0);
  }

  Result<DuplicateReport> unknown = BuildDuplicateReport(app_->catalog(), finder(), std::string("nope"), 10);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace samcache
