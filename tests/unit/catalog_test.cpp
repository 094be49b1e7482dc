// The Catalog's contract, run against both backends (TEST_P over SQLite and PostgreSQL), then
// what is specific to each: SQLite's upgrade from a version-1 file, and PostgreSQL's several
// processes (catalog objects) sharing one database.
#include "catalog/catalog.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <iterator>
#include <latch>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "catalog/access_names.h"
#include "catalog/postgres_migrations.h"
#include "catalog/sqlite_migrations.h"
#include "common/crypto.h"
#include "support/postgres_test_db.h"
#include "support/test_support.h"

namespace samcache {
namespace {

using testing::PostgresTestDatabase;
using testing::ReadFileOrDie;
using testing::TempDir;

int NewestSchemaVersion() {
  int newest = 0;
  for (const auto& m : sqlite_schema::kMigrations) newest = std::max(newest, m.version);
  return newest;
}

// A SQLite path or a PostgreSQL URL.
std::unique_ptr<Catalog> Open(const std::string& path) {
  Result<std::unique_ptr<Catalog>> catalog = OpenCatalog(path);
  EXPECT_TRUE(catalog.ok()) << catalog.status().message();
  return catalog.ok() ? std::move(catalog).value() : nullptr;
}

DatasetRecord Dataset(const std::string& id, const std::string& name, const std::string& created_at) {
  return DatasetRecord{id, name, created_at, 0};
}

BlobRecord Blob(const std::string& content, int width = 64, int height = 32,
                const std::string& created_at = "2024-05-01T12:00:00.000Z") {
  BlobRecord b;
  b.content_hash = Sha256Hex(content);
  b.pixel_hash = Sha256Hex("pixels of " + content);
  b.format = "png";
  b.mime_type = "image/png";
  b.byte_size = static_cast<int64_t>(content.size());
  b.width = width;
  b.height = height;
  b.thumb_jpeg = std::string("\xFF\xD8\xFF\xD9", 4);
  b.created_at = created_at;
  return b;
}

NewImage Image(const std::string& id, const std::string& dataset_id, const std::string& filename,
               const BlobRecord& blob) {
  return NewImage{id, dataset_id, filename, blob};
}

AddImageOutcome AddOrDie(Catalog& catalog, const NewImage& image) {
  Result<AddImageOutcome> added = catalog.AddImage(image);
  EXPECT_TRUE(added.ok()) << added.status().message();
  return added.ok() ? *added : AddImageOutcome{};
}

CatalogStats StatsOrDie(Catalog& catalog) {
  Result<CatalogStats> stats = catalog.Stats();
  EXPECT_TRUE(stats.ok()) << stats.status().message();
  return stats.ok() ? *stats : CatalogStats{};
}

std::vector<std::string> Ids(const std::vector<ImageRecord>& images) {
  std::vector<std::string> ids;
  for (const auto& i : images) ids.push_back(i.id);
  return ids;
}

// A raw read-only connection for checking what the Catalog interface does not expose.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr),
              SQLITE_OK);
  }
  ~RawDb() { sqlite3_close(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  void Exec(const std::string& sql) {
    char* err = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    EXPECT_EQ(rc, SQLITE_OK) << (err != nullptr ? err : "");
    sqlite3_free(err);
  }

  // The first column of the first row as text ("" when there is no row).
  std::string Scalar(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sqlite3_errmsg(db_);
    std::string out;
    if (stmt != nullptr && sqlite3_step(stmt) == SQLITE_ROW) {
      const auto* text = sqlite3_column_text(stmt, 0);
      if (text != nullptr) out = reinterpret_cast<const char*>(text);
    }
    sqlite3_finalize(stmt);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

enum class Backend { kSqlite, kPostgres };

std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kSqlite ? "Sqlite" : "Postgres";
}

// A fresh catalog of the backend under test: a SQLite file in a temp folder, or a database of
// its own on the test PostgreSQL server. path_ is what Open() takes (a path or a URL).
class CatalogTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kSqlite) {
      path_ = (dir_ / "catalog.db").string();
    } else {
      ASSERT_FALSE(testing::TestPostgresUrl().empty()) << testing::kNoPostgresMessage;
      postgres_ = std::make_unique<PostgresTestDatabase>();
      path_ = postgres_->url();
    }
    catalog_ = Open(path_);
    ASSERT_NE(catalog_, nullptr);
  }

  void CreateOrDie(const DatasetRecord& d) {
    const Status st = catalog_->CreateDataset(d);
    ASSERT_TRUE(st.ok()) << st.message();
  }

  // The first column of the first row of a query on the catalog's own tables, as text.
  std::string RawScalar(const std::string& sql) {
    if (postgres_) return postgres_->Scalar(sql);
    RawDb raw(path_);
    return raw.Scalar(sql);
  }

  TempDir dir_;
  std::unique_ptr<PostgresTestDatabase> postgres_;  // dropped after the catalog is closed
  std::string path_;
  std::unique_ptr<Catalog> catalog_;
};

INSTANTIATE_TEST_SUITE_P(Backends, CatalogTest, ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         BackendName);

TEST(CatalogSchemaTest, BothBackendsHaveTheSameVersions) {
  ASSERT_EQ(std::size(sqlite_schema::kMigrations), std::size(postgres_schema::kMigrations));
  for (size_t i = 0; i < std::size(sqlite_schema::kMigrations); ++i) {
    EXPECT_EQ(sqlite_schema::kMigrations[i].version, postgres_schema::kMigrations[i].version);
    EXPECT_EQ(sqlite_schema::kMigrations[i].name, postgres_schema::kMigrations[i].name);
  }
}

TEST(CatalogLocationTest, UrlsChooseThePostgresBackendAndLoseTheirPassword) {
  EXPECT_TRUE(IsPostgresUrl("postgresql://u@h/db"));
  EXPECT_TRUE(IsPostgresUrl("postgres://u@h/db"));
  EXPECT_FALSE(IsPostgresUrl("./data/samcache.db"));
  EXPECT_FALSE(IsPostgresUrl("/srv/postgresql://x.db"));
  EXPECT_EQ(RedactCatalogLocation("./data/samcache.db"), "./data/samcache.db");
  EXPECT_EQ(RedactCatalogLocation("postgresql://u:s3cret@db.example:5433/cat?sslmode=require&password=x"),
            "postgresql://u@db.example:5433/cat");
  EXPECT_EQ(RedactCatalogLocation("postgres://h/db"), "postgres://h/db");
}

TEST_P(CatalogTest, FreshCatalogIsEmptyAtNewestVersion) {
  Result<int> version = catalog_->SchemaVersion();
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(*version, NewestSchemaVersion());
  const CatalogStats stats = StatsOrDie(*catalog_);
  EXPECT_EQ(stats.datasets, 0);
  EXPECT_EQ(stats.images, 0);
  EXPECT_EQ(stats.blobs, 0);
  EXPECT_EQ(stats.blob_bytes, 0);
  EXPECT_EQ(stats.schema_version, NewestSchemaVersion());
  Result<std::vector<DatasetRecord>> datasets = catalog_->ListDatasets();
  ASSERT_TRUE(datasets.ok());
  EXPECT_TRUE(datasets->empty());
}

TEST_P(CatalogTest, CreateGetAndListDatasets) {
  CreateOrDie(Dataset("d1", "old", "2024-01-01T00:00:00.000Z"));
  CreateOrDie(Dataset("d3", "newest", "2024-03-01T00:00:00.000Z"));
  CreateOrDie(Dataset("d2", "middle", "2024-02-01T00:00:00.000Z"));

  Result<DatasetRecord> got = catalog_->GetDataset("d2");
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->id, "d2");
  EXPECT_EQ(got->name, "middle");
  EXPECT_EQ(got->created_at, "2024-02-01T00:00:00.000Z");
  EXPECT_EQ(got->image_count, 0);

  Result<std::vector<DatasetRecord>> list = catalog_->ListDatasets();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].id, "d3");  // newest first
  EXPECT_EQ((*list)[1].id, "d2");
  EXPECT_EQ((*list)[2].id, "d1");
}

TEST_P(CatalogTest, ListDatasetsBreaksTimestampTiesByInsertion) {
  CreateOrDie(Dataset("b", "first", "2024-01-01T00:00:00.000Z"));
  CreateOrDie(Dataset("a", "second", "2024-01-01T00:00:00.000Z"));
  Result<std::vector<DatasetRecord>> list = catalog_->ListDatasets();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, "a");  // created later
  EXPECT_EQ((*list)[1].id, "b");
}

TEST_P(CatalogTest, DuplicateDatasetIdIsRefused) {
  CreateOrDie(Dataset("d1", "one", "2024-01-01T00:00:00.000Z"));
  EXPECT_EQ(catalog_->CreateDataset(Dataset("d1", "two", "2024-01-02T00:00:00.000Z")).code(),
            StatusCode::kConflict);
  Result<DatasetRecord> got = catalog_->GetDataset("d1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->name, "one");
}

TEST_P(CatalogTest, GetUnknownDatasetIsNotFound) {
  Result<DatasetRecord> got = catalog_->GetDataset("nope");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kNotFound);
  EXPECT_NE(got.status().message().find("nope"), std::string::npos);
}

TEST_P(CatalogTest, FindDatasetByIdOrName) {
  CreateOrDie(Dataset("id-old", "cats", "2024-01-01T00:00:00.000Z"));
  CreateOrDie(Dataset("id-new", "cats", "2024-02-01T00:00:00.000Z"));
  CreateOrDie(Dataset("id-dogs", "dogs", "2024-03-01T00:00:00.000Z"));
  // A dataset named like another's id: the id wins.
  CreateOrDie(Dataset("id-x", "id-dogs", "2024-04-01T00:00:00.000Z"));

  auto by_id = catalog_->FindDataset("id-old");
  ASSERT_TRUE(by_id.ok());
  ASSERT_TRUE(by_id->has_value());
  EXPECT_EQ((*by_id)->id, "id-old");

  auto by_name = catalog_->FindDataset("cats");
  ASSERT_TRUE(by_name.ok());
  ASSERT_TRUE(by_name->has_value());
  EXPECT_EQ((*by_name)->id, "id-new");  // the newest of that name
  EXPECT_EQ((*by_name)->name, "cats");

  auto id_beats_name = catalog_->FindDataset("id-dogs");
  ASSERT_TRUE(id_beats_name.ok());
  ASSERT_TRUE(id_beats_name->has_value());
  EXPECT_EQ((*id_beats_name)->id, "id-dogs");

  auto missing = catalog_->FindDataset("birds");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
}

TEST_P(CatalogTest, AddImageDetectsDuplicatesAndNumbersPositions) {
  CreateOrDie(Dataset("d1", "one", "2024-01-01T00:00:00.000Z"));
  CreateOrDie(Dataset("d2", "two", "2024-01-02T00:00:00.000Z"));
  const BlobRecord shared = Blob("shared-content");

  const AddImageOutcome first = AddOrDie(*catalog_, Image("i1", "d1", "a.png", shared));
  EXPECT_FALSE(first.duplicate);
  EXPECT_EQ(first.image.position, 0);

  const AddImageOutcome other = AddOrDie(*catalog_, Image("i2", "d1", "b.png", Blob("other")));
  EXPECT_FALSE(other.duplicate);
  EXPECT_EQ(other.image.position, 1);

  // Same content again, in the same dataset and then in another one.
  const AddImageOutcome same_ds = AddOrDie(*catalog_, Image("i3", "d1", "a-again.png", shared));
  EXPECT_TRUE(same_ds.duplicate);
  EXPECT_EQ(same_ds.image.position, 2);
  const AddImageOutcome other_ds = AddOrDie(*catalog_, Image("i4", "d2", "a-copy.png", shared));
  EXPECT_TRUE(other_ds.duplicate);
  EXPECT_EQ(other_ds.image.position, 0);  // positions count within a dataset

  Result<std::vector<ImageRecord>> d1 = catalog_->ListImages("d1");
  ASSERT_TRUE(d1.ok());
  EXPECT_EQ(Ids(*d1), (std::vector<std::string>{"i1", "i2", "i3"}));
  for (size_t i = 0; i < d1->size(); ++i) EXPECT_EQ((*d1)[i].position, static_cast<int64_t>(i));
  Result<std::vector<ImageRecord>> d2 = catalog_->ListImages("d2");
  ASSERT_TRUE(d2.ok());
  EXPECT_EQ(Ids(*d2), (std::vector<std::string>{"i4"}));
  // The keys of the same images, in the same order, with the same fields.
  Result<std::vector<ImageKey>> keys = catalog_->ListImageKeys("d1");
  ASSERT_TRUE(keys.ok()) << keys.status().message();
  ASSERT_EQ(keys->size(), d1->size());
  for (size_t i = 0; i < keys->size(); ++i) {
    const ImageRecord& image = (*d1)[i];
    const ImageKey& key = (*keys)[i];
    EXPECT_EQ(key.id, image.id);
    EXPECT_EQ(key.filename, image.filename);
    EXPECT_EQ(key.content_hash, image.content_hash);
    EXPECT_EQ(key.pixel_hash, image.pixel_hash);
    EXPECT_EQ(key.position, image.position);
  }
  EXPECT_TRUE(catalog_->ListImageKeys("no-such-dataset")->empty());

  const CatalogStats stats = StatsOrDie(*catalog_);
  EXPECT_EQ(stats.datasets, 2);
  EXPECT_EQ(stats.images, 4);
  EXPECT_EQ(stats.blobs, 2);
  EXPECT_EQ(stats.blob_bytes,
            static_cast<int64_t>(std::string("shared-content").size() + std::string("other").size()));

  Result<DatasetRecord> ds = catalog_->GetDataset("d1");
  ASSERT_TRUE(ds.ok());
  EXPECT_EQ(ds->image_count, 3);
}

TEST_P(CatalogTest, ImageFieldsComeFromTheBlobRow) {
  CreateOrDie(Dataset("d1", "one", "2024-01-01T00:00:00.000Z"));
  const BlobRecord original = Blob("content", 640, 480, "2024-05-01T12:00:00.000Z");
  const AddImageOutcome first = AddOrDie(*catalog_, Image("i1", "d1", "cat.png", original));
  EXPECT_EQ(first.image.id, "i1");
  EXPECT_EQ(first.image.dataset_id, "d1");
  EXPECT_EQ(first.image.filename, "cat.png");
  EXPECT_EQ(first.image.content_hash, original.content_hash);
  EXPECT_EQ(first.image.pixel_hash, original.pixel_hash);
  EXPECT_EQ(first.image.format, "png");
  EXPECT_EQ(first.image.mime_type, "image/png");
  EXPECT_EQ(first.image.byte_size, original.byte_size);
  EXPECT_EQ(first.image.width, 640);
  EXPECT_EQ(first.image.height, 480);
  EXPECT_EQ(first.image.created_at, "2024-05-01T12:00:00.000Z");

  // A second record for the same content carrying different derived values: the stored blob
  // row, decided once, wins.
  BlobRecord conflicting = original;
  conflicting.pixel_hash = Sha256Hex("something else");
  conflicting.format = "jpeg";
  conflicting.mime_type = "image/jpeg";
  conflicting.width = 1;
  conflicting.height = 2;
  conflicting.created_at = "2024-06-01T00:00:00.000Z";
  const AddImageOutcome second = AddOrDie(*catalog_, Image("i2", "d1", "copy.jpg", conflicting));
  EXPECT_TRUE(second.duplicate);

  Result<ImageRecord> got = catalog_->GetImage("i2");
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->filename, "copy.jpg");
  EXPECT_EQ(got->pixel_hash, original.pixel_hash);
  EXPECT_EQ(got->format, "png");
  EXPECT_EQ(got->mime_type, "image/png");
  EXPECT_EQ(got->width, 640);
  EXPECT_EQ(got->height, 480);
  EXPECT_EQ(got->position, 1);
  EXPECT_EQ(got->created_at, "2024-06-01T00:00:00.000Z");  // the image's own time

  auto blob = catalog_->FindBlob(original.content_hash);
  ASSERT_TRUE(blob.ok());
  ASSERT_TRUE(blob->has_value());
  EXPECT_EQ((*blob)->pixel_hash, original.pixel_hash);
  EXPECT_EQ((*blob)->thumb_jpeg, original.thumb_jpeg);
  EXPECT_EQ((*blob)->width, 640);
  EXPECT_EQ((*blob)->created_at, original.created_at);

  auto none = catalog_->FindBlob(Sha256Hex("never stored"));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());

  Result<ImageRecord> missing = catalog_->GetImage("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

TEST_P(CatalogTest, BinaryThumbnailSurvivesRoundTrip) {
  CreateOrDie(Dataset("d1", "one", "2024-01-01T00:00:00.000Z"));
  BlobRecord blob = Blob("binary thumb");
  blob.thumb_jpeg = std::string("\xFF\xD8\x00\x01\x00\xFF\xD9", 7);  // embedded NULs
  AddOrDie(*catalog_, Image("i1", "d1", "x.png", blob));
  auto found = catalog_->FindBlob(blob.content_hash);
  ASSERT_TRUE(found.ok());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->thumb_jpeg, blob.thumb_jpeg);
}

TEST_P(CatalogTest, AddImageToUnknownDatasetInsertsNothing) {
  CreateOrDie(Dataset("d1", "one", "2024-01-01T00:00:00.000Z"));
  AddOrDie(*catalog_, Image("i1", "d1", "a.png", Blob("a")));
  const CatalogStats before = StatsOrDie(*catalog_);

  const BlobRecord fresh = Blob("fresh content");
  Result<AddImageOutcome> added = catalog_->AddImage(Image("i2", "ghost", "b.png", fresh));
  ASSERT_FALSE(added.ok());
  EXPECT_EQ(added.status().code(), StatusCode::kNotFound);
  EXPECT_NE(added.status().message().find("ghost"), std::string::npos);

  const CatalogStats after = StatsOrDie(*catalog_);
  EXPECT_EQ(after.datasets, before.datasets);
  EXPECT_EQ(after.images, before.images);
  EXPECT_EQ(after.blobs, before.blobs);
  EXPECT_EQ(after.blob_bytes, before.blob_bytes);
  auto blob = catalog_->FindBlob(fresh.content_hash);
  ASSERT_TRUE(blob.ok());
  EXPECT_FALSE(blob->has_value());

  // The failed call left no transaction open: the catalog still takes writes.
  EXPECT_FALSE(AddOrDie(*catalog_, Image("i3", "d1", "b.png", fresh)).duplicate);
}

TEST_P(CatalogTest, ConcurrentUploadsOfNewContentSeeExactlyOneOriginal) {
  constexpr int kThreads = 8;
  for (int t = 0; t < kThreads; ++t) {
    CreateOrDie(Dataset(std::string("d") + std::to_string(t), "ds", "2024-01-01T00:00:00.000Z"));
  }
  const BlobRecord blob = Blob("raced content");
  std::vector<Result<AddImageOutcome>> results(kThreads, Status::Internal("not run"));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      results[t] = catalog_->AddImage(Image(std::string("img") + std::to_string(t),
                                            std::string("d") + std::to_string(t), "same.png", blob));
    });
  }
  for (auto& th : threads) th.join();

  int originals = 0;
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status().message();
    if (!r->duplicate) ++originals;
    EXPECT_EQ(r->image.position, 0);
  }
  EXPECT_EQ(originals, 1);
  const CatalogStats stats = StatsOrDie(*catalog_);
  EXPECT_EQ(stats.blobs, 1);
  EXPECT_EQ(stats.images, kThreads);
}

TEST_P(CatalogTest, ConcurrentUploadsIntoOneDatasetGetDistinctPositions) {
  CreateOrDie(Dataset("d", "ds", "2024-01-01T00:00:00.000Z"));
  constexpr int kThreads = 8;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string n = std::to_string(t);
      EXPECT_TRUE(catalog_->AddImage(Image("img" + n, "d", n + ".png", Blob("c" + n))).ok());
    });
  }
  for (auto& th : threads) th.join();
  Result<std::vector<ImageRecord>> images = catalog_->ListImages("d");
  ASSERT_TRUE(images.ok());
  ASSERT_EQ(images->size(), static_cast<size_t>(kThreads));
  for (int i = 0; i < kThreads; ++i) EXPECT_EQ((*images)[i].position, i);
}

TEST_P(CatalogTest, DeleteDatasetReturnsOnlyUnsharedBlobs) {
  CreateOrDie(Dataset("d1", "one", "2024-01-01T00:00:00.000Z"));
  CreateOrDie(Dataset("d2", "two", "2024-01-02T00:00:00.000Z"));
  const BlobRecord shared = Blob("shared");
  const BlobRecord only_d1 = Blob("only in d1");
  const BlobRecord only_d2 = Blob("only in d2");
  AddOrDie(*catalog_, Image("i1", "d1", "s.png", shared));
  AddOrDie(*catalog_, Image("i2", "d1", "o.png", only_d1));
  AddOrDie(*catalog_, Image("i3", "d1", "o-again.png", only_d1));  // twice in one dataset
  AddOrDie(*catalog_, Image("i4", "d2", "s.png", shared));
  AddOrDie(*catalog_, Image("i5", "d2", "p.png", only_d2));

  Result<std::vector<std::string>> removed = catalog_->DeleteDataset("d1");
  ASSERT_TRUE(removed.ok()) << removed.status().message();
  EXPECT_EQ(*removed, std::vector<std::string>{only_d1.content_hash});

  EXPECT_EQ(catalog_->GetDataset("d1").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(catalog_->GetImage("i1").status().code(), StatusCode::kNotFound);
  auto shared_blob = catalog_->FindBlob(shared.content_hash);
  ASSERT_TRUE(shared_blob.ok());
  EXPECT_TRUE(shared_blob->has_value());
  auto gone = catalog_->FindBlob(only_d1.content_hash);
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());

  CatalogStats stats = StatsOrDie(*catalog_);
  EXPECT_EQ(stats.datasets, 1);
  EXPECT_EQ(stats.images, 2);
  EXPECT_EQ(stats.blobs, 2);

  Result<std::vector<std::string>> removed2 = catalog_->DeleteDataset("d2");
  ASSERT_TRUE(removed2.ok());
  std::vector<std::string> got = *removed2;
  std::vector<std::string> want = {shared.content_hash, only_d2.content_hash};
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
  stats = StatsOrDie(*catalog_);
  EXPECT_EQ(stats.datasets, 0);
  EXPECT_EQ(stats.images, 0);
  EXPECT_EQ(stats.blobs, 0);
}

TEST_P(CatalogTest, DeleteEmptyAndUnknownDatasets) {
  CreateOrDie(Dataset("empty", "nothing", "2024-01-01T00:00:00.000Z"));
  Result<std::vector<std::string>> removed = catalog_->DeleteDataset("empty");
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE(removed->empty());

  Result<std::vector<std::string>> unknown = catalog_->DeleteDataset("empty");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  // The failed delete was rolled back and the connection still works.
  CreateOrDie(Dataset("next", "n", "2024-01-02T00:00:00.000Z"));
  EXPECT_EQ(StatsOrDie(*catalog_).datasets, 1);
}

TEST_P(CatalogTest, ReopenKeepsEverything) {
  CreateOrDie(Dataset("d1", "one", "2024-01-01T00:00:00.000Z"));
  const BlobRecord blob = Blob("persisted", 10, 20);
  AddOrDie(*catalog_, Image("i1", "d1", "p.png", blob));
  AddOrDie(*catalog_, Image("i2", "d1", "q.png", Blob("second")));
  catalog_.reset();  // closes the connection

  catalog_ = Open(path_);
  ASSERT_NE(catalog_, nullptr);
  Result<int> version = catalog_->SchemaVersion();
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(*version, NewestSchemaVersion());
  Result<DatasetRecord> ds = catalog_->GetDataset("d1");
  ASSERT_TRUE(ds.ok());
  EXPECT_EQ(ds->name, "one");
  EXPECT_EQ(ds->image_count, 2);
  Result<ImageRecord> img = catalog_->GetImage("i1");
  ASSERT_TRUE(img.ok());
  EXPECT_EQ(img->filename, "p.png");
  EXPECT_EQ(img->content_hash, blob.content_hash);
  EXPECT_EQ(img->width, 10);
  EXPECT_EQ(img->height, 20);
  // Positions continue where they were.
  EXPECT_TRUE(AddOrDie(*catalog_, Image("i3", "d1", "p2.png", blob)).duplicate);
  EXPECT_EQ(catalog_->GetImage("i3")->position, 2);
  const CatalogStats stats = StatsOrDie(*catalog_);
  EXPECT_EQ(stats.images, 3);
  EXPECT_EQ(stats.blobs, 2);
  EXPECT_EQ(stats.schema_version, NewestSchemaVersion());
}

// Perceptual hashes are 64-bit; SQLite's INTEGER is signed. Every bit must survive a restart.
TEST_P(CatalogTest, PerceptualHashesRoundTripAllSixtyFourBits) {
  CreateOrDie(Dataset("d1", "one", "2024-01-01T00:00:00.000Z"));
  BlobRecord high = Blob("high");
  high.perceptual_hash = PerceptualHash{0xFFFFFFFF00000001ull, 0x8000000000000000ull};
  BlobRecord none = Blob("none");
  AddOrDie(*catalog_, Image("i1", "d1", "high.png", high));
  AddOrDie(*catalog_, Image("i2", "d1", "none.png", none));
  AddOrDie(*catalog_, Image("i3", "d1", "high-again.png", high));

  catalog_.reset();
  catalog_ = Open(path_);
  ASSERT_NE(catalog_, nullptr);
  EXPECT_EQ(catalog_->GetImage("i1")->perceptual_hash, high.perceptual_hash);
  EXPECT_FALSE(catalog_->GetImage("i2")->perceptual_hash.has_value());
  EXPECT_EQ((*catalog_->FindBlob(high.content_hash))->perceptual_hash, high.perceptual_hash);

  std::vector<std::pair<std::string, PerceptualHash>> pictures;
  ASSERT_TRUE(catalog_
                  ->ForEachPicture("", [&](const std::string& pixel_hash,
                                           const PerceptualHash& h) { pictures.emplace_back(pixel_hash, h); })
                  .ok());
  ASSERT_EQ(pictures.size(), 1u) << "one picture has a hash";
  EXPECT_EQ(pictures[0].first, high.pixel_hash);
  EXPECT_EQ(pictures[0].second, *high.perceptual_hash);

  Result<std::vector<std::string>> missing = catalog_->BlobsWithoutPerceptualHash("", 10);
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(*missing, std::vector<std::string>{none.content_hash});
  EXPECT_TRUE(catalog_->BlobsWithoutPerceptualHash(none.content_hash, 10)->empty()) << "after the last";
  ASSERT_TRUE(catalog_->SetPerceptualHash(none.content_hash, PerceptualHash{1, 2}).ok());
  EXPECT_EQ(catalog_->GetImage("i2")->perceptual_hash, (PerceptualHash{1, 2}));
  EXPECT_TRUE(catalog_->BlobsWithoutPerceptualHash("", 10)->empty());
  EXPECT_EQ(catalog_->SetPerceptualHash(Sha256Hex("unknown"), PerceptualHash{}).code(),
            StatusCode::kNotFound);

  Result<std::vector<ImageRecord>> showing = catalog_->ListImagesWithPixelHash(high.pixel_hash, "");
  ASSERT_TRUE(showing.ok());
  EXPECT_EQ(Ids(*showing), (std::vector<std::string>{"i1", "i3"}));
  EXPECT_TRUE(catalog_->ListImagesWithPixelHash(Sha256Hex("nothing"), "")->empty());
}

// What another instance stored after this one built its near-duplicate index: pictures by the
// time their content was stored, the bound included.
TEST_P(CatalogTest, PicturesStoredSinceATime) {
  CreateOrDie(Dataset("d1", "one", "2024-01-01T00:00:00.000Z"));
  const auto hashed = [](const std::string& content, const std::string& created_at, uint64_t bits) {
    BlobRecord blob = Blob(content, 64, 32, created_at);
    blob.perceptual_hash = PerceptualHash{bits, ~bits};
    return blob;
  };
  AddOrDie(*catalog_, Image("i1", "d1", "old.png", hashed("old", "2024-05-01T12:00:00.000Z", 1)));
  AddOrDie(*catalog_, Image("i2", "d1", "edge.png", hashed("edge", "2024-05-01T12:00:05.000Z", 2)));
  AddOrDie(*catalog_, Image("i3", "d1", "new.png", hashed("new", "2024-05-01T12:01:00.000Z", 3)));
  AddOrDie(*catalog_,
           Image("i4", "d1", "unhashed.png", Blob("unhashed", 64, 32, "2024-05-01T12:02:00.000Z")));

  const auto since = [&](const std::string& time) {
    std::set<uint64_t> found;
    EXPECT_TRUE(
        catalog_
            ->ForEachPicture(time, [&](const std::string&, const PerceptualHash& h) { found.insert(h.hash); })
            .ok());
    return found;
  };
  EXPECT_EQ(since(""), (std::set<uint64_t>{1, 2, 3}));
  EXPECT_EQ(since("2024-05-01T12:00:05.000Z"), (std::set<uint64_t>{2, 3}));
  EXPECT_EQ(since("2024-05-01T12:00:05.001Z"), (std::set<uint64_t>{3}));
  EXPECT_TRUE(since("2024-05-01T12:03:00.000Z").empty());
}

TEST_P(CatalogTest, MigrateIsIdempotent) {
  CreateOrDie(Dataset("d1", "one", "2024-01-01T00:00:00.000Z"));
  ASSERT_TRUE(catalog_->Migrate().ok());
  ASSERT_TRUE(catalog_->Migrate().ok());
  EXPECT_EQ(*catalog_->SchemaVersion(), NewestSchemaVersion());
  EXPECT_EQ(StatsOrDie(*catalog_).datasets, 1);
  EXPECT_EQ(RawScalar("SELECT COUNT(*) FROM schema_migrations"),
            std::to_string(std::size(sqlite_schema::kMigrations)));
  EXPECT_EQ(RawScalar("SELECT COUNT(DISTINCT version) FROM schema_migrations"),
            std::to_string(std::size(sqlite_schema::kMigrations)));
}

AnnotationRecord Annotation(const std::string& id, const std::string& image_id, const std::string& category) {
  AnnotationRecord a;
  a.id = id;
  a.image_id = image_id;
  a.category = category;
  a.mask_height = 32;
  a.mask_width = 64;
  a.rle_counts = "0`1";
  a.bbox = {1.0, 2.0, 3.0, 4.0};
  a.area = 12;
  a.prompt_json = R"({"points":[{"x":1,"y":2,"label":1}]})";
  a.model_id = "demo";
  a.created_at = a.updated_at = "2024-05-01T12:00:00.000Z";
  return a;
}

TEST_P(CatalogTest, AnnotationsRoundTripInCreationOrderAndGoWithTheirDataset) {
  CreateOrDie(Dataset("d1", "one", "2024-01-01T00:00:00.000Z"));
  CreateOrDie(Dataset("d2", "two", "2024-01-02T00:00:00.000Z"));
  AddOrDie(*catalog_, Image("i1", "d1", "a.png", Blob("a")));
  AddOrDie(*catalog_, Image("i2", "d1", "b.png", Blob("b")));
  AddOrDie(*catalog_, Image("i3", "d2", "a-again.png", Blob("a")));

  // Created in an order that differs from the ids' and the images' order.
  for (const auto& [id, image, category] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"z1", "i2", "dog"}, {"b2", "i1", "cat"}, {"a3", "i1", "cat"}, {"m4", "i3", "tree"}}) {
    AnnotationRecord a = Annotation(id, image, category);
    if (id == "a3") a.score = 0.25;
    ASSERT_TRUE(catalog_->CreateAnnotation(a).ok()) << id;
  }
  EXPECT_EQ(catalog_->CreateAnnotation(Annotation("x", "no-such-image", "cat")).code(),
            StatusCode::kNotFound);

  Result<AnnotationRecord> got = catalog_->GetAnnotation("a3");
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->image_id, "i1");
  EXPECT_EQ(got->dataset_id, "d1");
  EXPECT_EQ(got->category, "cat");
  EXPECT_EQ(got->mask_height, 32);
  EXPECT_EQ(got->mask_width, 64);
  EXPECT_EQ(got->rle_counts, "0`1");
  EXPECT_EQ(got->bbox, (std::array<double, 4>{1.0, 2.0, 3.0, 4.0}));
  EXPECT_EQ(got->area, 12);
  EXPECT_EQ(got->score, 0.25);
  EXPECT_FALSE(catalog_->GetAnnotation("b2")->score.has_value());
  EXPECT_EQ(got->prompt_json, R"({"points":[{"x":1,"y":2,"label":1}]})");
  EXPECT_EQ(got->model_id, "demo");
  EXPECT_EQ(catalog_->GetAnnotation("nope").status().code(), StatusCode::kNotFound);

  auto ids = [](const Result<std::vector<AnnotationRecord>>& list) {
    std::vector<std::string> out;
    EXPECT_TRUE(list.ok()) << list.status().message();
    if (list.ok()) {
      for (const AnnotationRecord& a : *list) out.push_back(a.id);
    }
    return out;
  };
  EXPECT_EQ(ids(catalog_->ListAnnotations("i1")), (std::vector<std::string>{"b2", "a3"}));
  EXPECT_EQ(ids(catalog_->ListDatasetAnnotations("d1")), (std::vector<std::string>{"b2", "a3", "z1"}))
      << "images in upload order, then creation order";
  Result<std::vector<std::pair<std::string, int64_t>>> counts = catalog_->CountAnnotationsPerImage("d1");
  ASSERT_TRUE(counts.ok());
  std::sort(counts->begin(), counts->end());
  EXPECT_EQ(*counts, (std::vector<std::pair<std::string, int64_t>>{{"i1", 2}, {"i2", 1}}));

  AnnotationRecord changed = *got;
  changed.category = "kitten";
  changed.area = 99;
  changed.score.reset();
  changed.updated_at = "2024-06-01T00:00:00.000Z";
  ASSERT_TRUE(catalog_->UpdateAnnotation(changed).ok());
  got = catalog_->GetAnnotation("a3");
  EXPECT_EQ(got->category, "kitten");
  EXPECT_EQ(got->area, 99);
  EXPECT_FALSE(got->score.has_value());
  EXPECT_EQ(got->updated_at, "2024-06-01T00:00:00.000Z");
  EXPECT_EQ(got->created_at, "2024-05-01T12:00:00.000Z");
  changed.id = "gone";
  EXPECT_EQ(catalog_->UpdateAnnotation(changed).code(), StatusCode::kNotFound);

  ASSERT_TRUE(catalog_->DeleteAnnotation("b2").ok());
  EXPECT_EQ(catalog_->DeleteAnnotation("b2").code(), StatusCode::kNotFound);
  ASSERT_TRUE(catalog_->CreateAnnotation(Annotation("n5", "i1", "cat")).ok());
  EXPECT_EQ(ids(catalog_->ListAnnotations("i1")), (std::vector<std::string>{"a3", "n5"}))
      << "new ones go last";

  ASSERT_TRUE(catalog_->DeleteDataset("d1").ok());
  EXPECT_EQ(catalog_->GetAnnotation("a3").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(ids(catalog_->ListDatasetAnnotations("d1")).empty());
  EXPECT_EQ(ids(catalog_->ListAnnotations("i3")), (std::vector<std::string>{"m4"}))
      << "other datasets keep theirs";
}

TEST_P(CatalogTest, PixelCopiesNameTheOldestImageWithTheSamePixels) {
  CreateOrDie(Dataset("d1", "one", "2024-01-01T00:00:00.000Z"));
  CreateOrDie(Dataset("d2", "two", "2024-01-02T00:00:00.000Z"));
  BlobRecord a = Blob("a");
  BlobRecord a_as_jpeg = Blob("a, other bytes");
  a_as_jpeg.pixel_hash = a.pixel_hash;
  AddOrDie(*catalog_, Image("i1", "d1", "a.png", a));
  AddOrDie(*catalog_, Image("i2", "d1", "b.png", Blob("b")));
  AddOrDie(*catalog_, Image("i3", "d1", "a-copy.png", a));
  AddOrDie(*catalog_, Image("i4", "d2", "a.jpg", a_as_jpeg));
  AddOrDie(*catalog_, Image("i5", "d2", "c.png", Blob("c")));

  auto copies = [&](const std::string& dataset) {
    std::vector<std::pair<std::string, std::string>> out;
    Result<std::vector<PixelCopy>> list = catalog_->ListPixelCopies(dataset);
    EXPECT_TRUE(list.ok()) << list.status().message();
    if (list.ok()) {
      for (const PixelCopy& c : *list) out.emplace_back(c.image_id, c.original_image_id);
    }
    return out;
  };
  EXPECT_EQ(copies("d1"), (std::vector<std::pair<std::string, std::string>>{{"i3", "i1"}}));
  EXPECT_EQ(copies("d2"), (std::vector<std::pair<std::string, std::string>>{{"i4", "i1"}}));
  ASSERT_TRUE(catalog_->DeleteDataset("d1").ok());
  EXPECT_TRUE(copies("d2").empty()) << "the original went with its dataset";
}

PrewarmJobRecord Job(const std::string& id, const std::string& dataset_id, const std::string& runner,
                     const std::string& created_at = "2024-05-01T12:00:00.000Z",
                     const std::string& model_id = "model-a") {
  PrewarmJobRecord j;
  j.id = id;
  j.dataset_id = dataset_id;
  j.model_id = model_id;
  j.status = "queued";
  j.total = 3;
  j.runner = runner;
  j.heartbeat_ms = 1000;
  j.created_at = created_at;
  return j;
}

TEST_P(CatalogTest, PrewarmJobsAreClaimedSavedAndCancelledOnlyInTheirState) {
  CreateOrDie(Dataset("d1", "one", "2024-01-01T00:00:00.000Z"));
  const std::string same_time = "2024-05-01T12:00:00.000Z";
  ASSERT_TRUE(catalog_->CreatePrewarmJob(Job("j2", "d1", "host:1")).ok());
  ASSERT_TRUE(
      catalog_->CreatePrewarmJob(Job("j1", "d1", "host:1", same_time, "model-b")).ok());  // created later
  ASSERT_TRUE(
      catalog_->CreatePrewarmJob(Job("j0", "d1", "host:1", "2024-04-01T00:00:00.000Z", "model-c")).ok());
  EXPECT_EQ(catalog_->CreatePrewarmJob(Job("j0", "d1", "host:1", same_time, "model-z")).code(),
            StatusCode::kConflict);
  EXPECT_EQ(catalog_->CreatePrewarmJob(Job("j3", "d1", "host:9")).code(), StatusCode::kConflict)
      << "one unfinished job per dataset and model";
  EXPECT_EQ(catalog_->GetPrewarmJob("j3").status().code(), StatusCode::kNotFound);

  Result<PrewarmJobRecord> got = catalog_->GetPrewarmJob("j2");
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->dataset_id, "d1");
  EXPECT_EQ(got->model_id, "model-a");
  EXPECT_EQ(got->status, "queued");
  EXPECT_EQ(got->total, 3);
  EXPECT_EQ(got->runner, "host:1");
  EXPECT_EQ(got->heartbeat_ms, 1000);
  EXPECT_EQ(catalog_->GetPrewarmJob("nope").status().code(), StatusCode::kNotFound);

  Result<std::vector<PrewarmJobRecord>> unfinished = catalog_->ListUnfinishedPrewarmJobs();
  ASSERT_TRUE(unfinished.ok());
  std::vector<std::string> ids;
  for (const auto& j : *unfinished) ids.push_back(j.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"j0", "j2", "j1"})) << "oldest first, ties in creation order";
  Result<std::optional<PrewarmJobRecord>> found = catalog_->FindUnfinishedPrewarmJob("d1", "model-b");
  ASSERT_TRUE(found.ok());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->id, "j1");
  EXPECT_FALSE(catalog_->FindUnfinishedPrewarmJob("d1", "model-z")->has_value());

  // Compare-and-set: only from the expected runner.
  EXPECT_FALSE(*catalog_->ClaimPrewarmJob("j2", "host:someone-else", "host:2", 2000));
  EXPECT_TRUE(*catalog_->ClaimPrewarmJob("j2", "host:1", "host:2", 2000));
  EXPECT_FALSE(*catalog_->ClaimPrewarmJob("j2", "host:1", "host:3", 3000)) << "taken already";
  EXPECT_EQ(catalog_->GetPrewarmJob("j2")->heartbeat_ms, 2000);

  // Progress from the old runner is refused and writes nothing; the new one's is kept.
  PrewarmJobRecord progress = *catalog_->GetPrewarmJob("j2");
  progress.runner = "host:1";
  progress.status = "running";
  progress.done = 1;
  EXPECT_FALSE(*catalog_->SavePrewarmProgress(progress, {{"i9", "x.png", "ignored"}}));
  EXPECT_EQ(catalog_->GetPrewarmJob("j2")->done, 0);
  EXPECT_TRUE(catalog_->ListPrewarmFailures("j2")->empty());
  progress.runner = "host:2";
  progress.done = 2;
  progress.computed = 1;
  progress.failed = 1;
  progress.next_position = 2;
  progress.to_compute = 1;
  progress.compute_seconds = 1.5;
  progress.started_at = "2024-05-01T12:00:01.000Z";
  ASSERT_TRUE(
      *catalog_->SavePrewarmProgress(progress, {{"i2", "b.png", "unreadable"}, {"i1", "a.png", "too big"}}));
  ASSERT_TRUE(*catalog_->SavePrewarmProgress(progress, {{"i2", "b.png", "still unreadable"}}));
  got = catalog_->GetPrewarmJob("j2");
  EXPECT_EQ(got->status, "running");
  EXPECT_EQ(got->done, 2);
  EXPECT_EQ(got->computed, 1);
  EXPECT_EQ(got->failed, 1);
  EXPECT_EQ(got->next_position, 2);
  EXPECT_EQ(got->to_compute, 1);
  EXPECT_DOUBLE_EQ(got->compute_seconds, 1.5);
  EXPECT_EQ(got->started_at, "2024-05-01T12:00:01.000Z");
  Result<std::vector<PrewarmFailure>> failures = catalog_->ListPrewarmFailures("j2");
  ASSERT_TRUE(failures.ok());
  ASSERT_EQ(failures->size(), 2u);
  EXPECT_EQ((*failures)[0].image_id, "i2");  // first reported first; a repeat updates its reason
  EXPECT_EQ((*failures)[0].reason, "still unreadable");
  EXPECT_EQ((*failures)[1].image_id, "i1");

  // Finishing: a finished job takes no more progress, claims or cancellation.
  progress.status = "completed";
  progress.finished_at = "2024-05-01T12:00:02.000Z";
  ASSERT_TRUE(*catalog_->SavePrewarmProgress(progress, {}));
  EXPECT_FALSE(*catalog_->SavePrewarmProgress(progress, {}));
  EXPECT_FALSE(*catalog_->ClaimPrewarmJob("j2", "host:2", "host:4", 4000));
  EXPECT_FALSE(*catalog_->CancelPrewarmJob("j2", "2024-05-01T12:00:03.000Z"));
  EXPECT_TRUE(*catalog_->CancelPrewarmJob("j0", "2024-05-01T12:00:03.000Z"));
  EXPECT_EQ(catalog_->GetPrewarmJob("j0")->status, "cancelled");
  EXPECT_EQ(catalog_->GetPrewarmJob("j0")->finished_at, "2024-05-01T12:00:03.000Z");

  // Deleting the dataset cancels what is left.
  ASSERT_TRUE(catalog_->DeleteDataset("d1").ok());
  got = catalog_->GetPrewarmJob("j1");
  EXPECT_EQ(got->status, "cancelled");
  EXPECT_EQ(got->error, "the dataset was deleted");
  EXPECT_FALSE(got->finished_at.empty());
  EXPECT_TRUE(catalog_->ListUnfinishedPrewarmJobs()->empty());
  Result<std::vector<std::pair<std::string, int64_t>>> counts = catalog_->CountPrewarmJobsByStatus();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(*counts, (std::vector<std::pair<std::string, int64_t>>{{"cancelled", 2}, {"completed", 1}}));
}

// ---- Migration from schema version 1 ----------------------------------------------------

// ---- Projects, users, memberships, tokens and embedding claims (AccessCatalog) ------------

constexpr char kCreated[] = "2024-05-01T12:00:00.000Z";

DatasetRecord InProject(const std::string& id, const std::string& project_id,
                        const std::string& created_at = kCreated) {
  DatasetRecord d = Dataset(id, id, created_at);
  d.project_id = project_id;
  return d;
}

UserRecord User(const std::string& id, const std::string& name, Role role = Role::kViewer) {
  return UserRecord{id, name, role, "", kCreated};
}

TokenRecord Token(const std::string& id, const std::string& user_id, TokenKind kind,
                  const std::string& created_at = kCreated) {
  TokenRecord t;
  t.id = id;
  t.user_id = user_id;
  t.name = "token " + id;
  t.kind = kind;
  t.hash = Sha256Hex("secret of " + id);
  t.created_at = created_at;
  return t;
}

template <typename T, typename F>
std::vector<std::string> Field(const Result<std::vector<T>>& rows, F field) {
  EXPECT_TRUE(rows.ok()) << rows.status().message();
  std::vector<std::string> out;
  if (rows.ok()) {
    for (const T& row : *rows) out.push_back(field(row));
  }
  return out;
}

TEST(AccessNamesTest, RolesAndTokenKindsRoundTripAndNothingElseParses) {
  for (const Role role : {Role::kViewer, Role::kAnnotator, Role::kAdmin}) {
    EXPECT_EQ(ParseRole(RoleName(role)), role);
  }
  for (const TokenKind kind : {TokenKind::kApi, TokenKind::kSession, TokenKind::kLogin}) {
    EXPECT_EQ(ParseTokenKind(TokenKindName(kind)), kind);
  }
  EXPECT_EQ(RoleName(Role::kAnnotator), "annotator");
  EXPECT_EQ(TokenKindName(TokenKind::kSession), "session");
  for (const char* bad : {"", "Admin", "admin ", "owner", "api"})
    EXPECT_FALSE(ParseRole(bad).has_value()) << bad;
  for (const char* bad : {"", "API", "bearer", "viewer"})
    EXPECT_FALSE(ParseTokenKind(bad).has_value()) << bad;
}

TEST_P(CatalogTest, AFreshCatalogHasTheDefaultProjectAndDatasetsLandInIt) {
  Result<std::vector<ProjectRecord>> projects = catalog_->ListProjects();
  ASSERT_TRUE(projects.ok()) << projects.status().message();
  ASSERT_EQ(projects->size(), 1u);
  EXPECT_EQ((*projects)[0].id, kDefaultProjectId);
  EXPECT_EQ((*projects)[0].name, "default");
  EXPECT_EQ((*projects)[0].created_at.size(), std::string(kCreated).size());
  EXPECT_EQ((*projects)[0].created_at.back(), 'Z');

  CreateOrDie(Dataset("d1", "one", kCreated));  // the record's default project
  EXPECT_EQ(catalog_->GetDataset("d1")->project_id, kDefaultProjectId);
  ASSERT_TRUE(catalog_->CreateProject(ProjectRecord{"p1", "alpha", kCreated}).ok());
  CreateOrDie(InProject("d2", "p1"));
  EXPECT_EQ(catalog_->GetDataset("d2")->project_id, "p1");
  EXPECT_EQ((*catalog_->FindDataset("d2"))->project_id, "p1");
  EXPECT_EQ(Field(catalog_->ListDatasets(), [](const DatasetRecord& d) { return d.project_id; }),
            (std::vector<std::string>{"p1", kDefaultProjectId}));

  const Status unknown = catalog_->CreateDataset(InProject("d3", "no such project"));
  EXPECT_EQ(unknown.code(), StatusCode::kNotFound) << unknown.message();
  EXPECT_EQ(catalog_->GetDataset("d3").status().code(), StatusCode::kNotFound);
}

TEST_P(CatalogTest, ProjectsAreFoundListedAndDeletedOnlyWhenEmpty) {
  ASSERT_TRUE(catalog_->CreateProject(ProjectRecord{"p2", "beta", kCreated}).ok());
  ASSERT_TRUE(catalog_->CreateProject(ProjectRecord{"p1", "alpha", kCreated}).ok());
  const Status taken = catalog_->CreateProject(ProjectRecord{"p3", "alpha", kCreated});
  EXPECT_EQ(taken.code(), StatusCode::kConflict);
  EXPECT_EQ(taken.message(), "a project named 'alpha' exists already");
  EXPECT_EQ(catalog_->CreateProject(ProjectRecord{"p1", "gamma", kCreated}).code(), StatusCode::kConflict);

  EXPECT_EQ(Field(catalog_->ListProjects(), [](const ProjectRecord& p) { return p.name; }),
            (std::vector<std::string>{"alpha", "beta", "default"}));
  Result<std::optional<ProjectRecord>> by_id = catalog_->FindProject("p1");
  ASSERT_TRUE(by_id.ok() && by_id->has_value());
  EXPECT_EQ((*by_id)->name, "alpha");
  EXPECT_EQ((*by_id)->created_at, kCreated);
  EXPECT_EQ((*catalog_->FindProject("beta"))->id, "p2");
  EXPECT_FALSE(catalog_->FindProject("nothing")->has_value());
  // An id wins over another project's name.
  ASSERT_TRUE(catalog_->CreateProject(ProjectRecord{"p4", "p1", kCreated}).ok());
  EXPECT_EQ((*catalog_->FindProject("p1"))->name, "alpha");

  EXPECT_EQ(catalog_->DeleteProject(kDefaultProjectId).code(), StatusCode::kConflict);
  EXPECT_EQ(catalog_->DeleteProject("nothing").code(), StatusCode::kNotFound);
  CreateOrDie(InProject("d1", "p1"));
  EXPECT_EQ(catalog_->DeleteProject("p1").code(), StatusCode::kConflict);
  EXPECT_TRUE(catalog_->FindProject("p1")->has_value());

  // Its memberships and claims go with it; other projects' stay.
  ASSERT_TRUE(catalog_->CreateUser(User("u1", "ann")).ok());
  ASSERT_TRUE(catalog_->SetMembership(MembershipRecord{"p1", "u1", Role::kAnnotator}).ok());
  ASSERT_TRUE(catalog_->SetMembership(MembershipRecord{"p2", "u1", Role::kViewer}).ok());
  ASSERT_TRUE(catalog_->AddClaims("p1", "m", {"x"}).ok());
  ASSERT_TRUE(catalog_->AddClaims("p2", "m", {"x"}).ok());
  ASSERT_TRUE(catalog_->DeleteDataset("d1").ok());
  ASSERT_TRUE(catalog_->AddClaims("p1", "m", {"y"}).ok());
  const Status deleted = catalog_->DeleteProject("p1");
  ASSERT_TRUE(deleted.ok()) << deleted.message();
  EXPECT_FALSE(catalog_->FindProject("alpha")->has_value());
  EXPECT_EQ((*catalog_->FindProject("p1"))->id, "p4") << "now only a name";
  EXPECT_EQ(catalog_->DeleteProject("p1").code(), StatusCode::kNotFound);
  EXPECT_EQ(
      Field(catalog_->ListMemberships("u1", ""), [](const MembershipRecord& m) { return m.project_id; }),
      std::vector<std::string>{"p2"});
  Result<std::vector<std::pair<std::string, std::string>>> claims = catalog_->ListClaims("m");
  ASSERT_TRUE(claims.ok());
  EXPECT_EQ(*claims, (std::vector<std::pair<std::string, std::string>>{{"p2", "x"}}));
}

TEST_P(CatalogTest, UsersAreCreatedFoundUpdatedAndDeletedWithTheirMembershipsAndTokens) {
  EXPECT_EQ(*catalog_->CountUsers(), 0);
  UserRecord bob = User("u2", "bob", Role::kAdmin);
  bob.password_hash = "$argon2id$v=19$m=65536,t=3,p=1$c2FsdA$aGFzaA";
  ASSERT_TRUE(catalog_->CreateUser(bob).ok());
  ASSERT_TRUE(catalog_->CreateUser(User("u1", "ann")).ok());
  const Status taken = catalog_->CreateUser(User("u3", "ann"));
  EXPECT_EQ(taken.code(), StatusCode::kConflict);
  EXPECT_EQ(taken.message(), "a user named 'ann' exists already");
  EXPECT_EQ(*catalog_->CountUsers(), 2);
  EXPECT_EQ(Field(catalog_->ListUsers(), [](const UserRecord& u) { return u.name; }),
            (std::vector<std::string>{"ann", "bob"}));

  Result<std::optional<UserRecord>> found = catalog_->FindUser("bob");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->id, "u2");
  EXPECT_EQ((*found)->role, Role::kAdmin);
  EXPECT_EQ((*found)->password_hash, bob.password_hash);
  EXPECT_EQ((*found)->created_at, kCreated);
  EXPECT_EQ((*catalog_->FindUser("u1"))->name, "ann");
  EXPECT_FALSE(catalog_->FindUser("nobody")->has_value());

  UserRecord changed = User("u1", "ignored", Role::kAnnotator);
  changed.password_hash = "new hash";
  ASSERT_TRUE(catalog_->UpdateUser(changed).ok());
  found = catalog_->FindUser("u1");
  EXPECT_EQ((*found)->name, "ann");
  EXPECT_EQ((*found)->role, Role::kAnnotator);
  EXPECT_EQ((*found)->password_hash, "new hash");
  EXPECT_EQ(catalog_->UpdateUser(User("nobody", "x")).code(), StatusCode::kNotFound);

  // Memberships: set, changed, listed per user and per project, removed.
  ASSERT_TRUE(catalog_->CreateProject(ProjectRecord{"p1", "alpha", kCreated}).ok());
  EXPECT_EQ(catalog_->SetMembership(MembershipRecord{"nothing", "u1", Role::kViewer}).code(),
            StatusCode::kNotFound);
  EXPECT_EQ(catalog_->SetMembership(MembershipRecord{"p1", "nobody", Role::kViewer}).code(),
            StatusCode::kNotFound);
  ASSERT_TRUE(catalog_->SetMembership(MembershipRecord{"p1", "u1", Role::kViewer}).ok());
  ASSERT_TRUE(catalog_->SetMembership(MembershipRecord{"p1", "u1", Role::kAnnotator}).ok());
  ASSERT_TRUE(catalog_->SetMembership(MembershipRecord{kDefaultProjectId, "u1", Role::kViewer}).ok());
  ASSERT_TRUE(catalog_->SetMembership(MembershipRecord{"p1", "u2", Role::kViewer}).ok());
  Result<std::vector<MembershipRecord>> of_ann = catalog_->ListMemberships("u1", "");
  ASSERT_TRUE(of_ann.ok());
  ASSERT_EQ(of_ann->size(), 2u);
  EXPECT_EQ((*of_ann)[0].project_id, kDefaultProjectId);
  EXPECT_EQ((*of_ann)[0].role, Role::kViewer);
  EXPECT_EQ((*of_ann)[1].project_id, "p1");
  EXPECT_EQ((*of_ann)[1].role, Role::kAnnotator);
  EXPECT_EQ(Field(catalog_->ListMemberships("", "p1"), [](const MembershipRecord& m) { return m.user_id; }),
            (std::vector<std::string>{"u1", "u2"}));
  ASSERT_TRUE(catalog_->RemoveMembership("p1", "u2").ok());
  EXPECT_EQ(catalog_->RemoveMembership("p1", "u2").code(), StatusCode::kNotFound);

  // Tokens need their user; deleting the user takes its memberships and tokens.
  EXPECT_EQ(catalog_->CreateToken(Token("t0", "nobody", TokenKind::kApi)).code(), StatusCode::kNotFound);
  ASSERT_TRUE(catalog_->CreateToken(Token("t1", "u1", TokenKind::kApi)).ok());
  ASSERT_TRUE(catalog_->CreateToken(Token("t2", "u2", TokenKind::kApi)).ok());
  ASSERT_TRUE(catalog_->DeleteUser("u1").ok());
  EXPECT_FALSE(catalog_->FindUser("u1")->has_value());
  EXPECT_TRUE(catalog_->ListMemberships("u1", "")->empty());
  EXPECT_FALSE(catalog_->GetToken("t1")->has_value());
  EXPECT_TRUE(catalog_->GetToken("t2")->has_value());
  EXPECT_EQ(catalog_->DeleteUser("u1").code(), StatusCode::kNotFound);
  EXPECT_EQ(*catalog_->CountUsers(), 1);
  // The name is free again.
  EXPECT_TRUE(catalog_->CreateUser(User("u3", "ann")).ok());
}

TEST_P(CatalogTest, TokensAreFoundListedNewestFirstTouchedAndPurged) {
  ASSERT_TRUE(catalog_->CreateUser(User("u1", "ann")).ok());
  ASSERT_TRUE(catalog_->CreateUser(User("u2", "bob")).ok());
  TokenRecord full = Token("t1", "u1", TokenKind::kApi, "2024-05-01T12:00:00.000Z");
  full.expires_at = "2024-06-01T00:00:00.000Z";
  ASSERT_TRUE(catalog_->CreateToken(full).ok());
  ASSERT_TRUE(catalog_->CreateToken(Token("t2", "u1", TokenKind::kApi, "2024-05-02T12:00:00.000Z")).ok());
  ASSERT_TRUE(catalog_->CreateToken(Token("t3", "u2", TokenKind::kApi, "2024-05-02T12:00:00.000Z")).ok());
  ASSERT_TRUE(catalog_->CreateToken(Token("t4", "u1", TokenKind::kSession)).ok());
  TokenRecord same_hash = Token("t5", "u1", TokenKind::kLogin);
  same_hash.hash = full.hash;
  EXPECT_EQ(catalog_->CreateToken(same_hash).code(), StatusCode::kConflict);
  EXPECT_EQ(catalog_->CreateToken(Token("t1", "u2", TokenKind::kApi, "x")).code(), StatusCode::kConflict);

  Result<std::optional<TokenRecord>> by_hash = catalog_->FindTokenByHash(full.hash);
  ASSERT_TRUE(by_hash.ok() && by_hash->has_value());
  const TokenRecord& t = **by_hash;
  EXPECT_EQ(t.id, "t1");
  EXPECT_EQ(t.user_id, "u1");
  EXPECT_EQ(t.name, "token t1");
  EXPECT_EQ(t.kind, TokenKind::kApi);
  EXPECT_EQ(t.created_at, full.created_at);
  EXPECT_EQ(t.expires_at, full.expires_at);
  EXPECT_EQ(t.last_used_at, "");
  EXPECT_EQ(t.revoked_at, "");
  EXPECT_FALSE(catalog_->FindTokenByHash(Sha256Hex("unknown"))->has_value());
  EXPECT_EQ((*catalog_->GetToken("t4"))->kind, TokenKind::kSession);
  EXPECT_FALSE(catalog_->GetToken("nothing")->has_value());

  auto id = [](const TokenRecord& r) { return r.id; };
  // Newest first; equal times in insertion order, newest first too.
  EXPECT_EQ(Field(catalog_->ListTokens("", TokenKind::kApi), id),
            (std::vector<std::string>{"t3", "t2", "t1"}));
  EXPECT_EQ(Field(catalog_->ListTokens("u1", TokenKind::kApi), id), (std::vector<std::string>{"t2", "t1"}));
  EXPECT_EQ(Field(catalog_->ListTokens("u1", TokenKind::kSession), id), std::vector<std::string>{"t4"});
  EXPECT_TRUE(catalog_->ListTokens("u2", TokenKind::kLogin)->empty());

  ASSERT_TRUE(catalog_->TouchToken("t1", "2024-05-03T00:00:00.000Z").ok());
  EXPECT_EQ((*catalog_->GetToken("t1"))->last_used_at, "2024-05-03T00:00:00.000Z");
  EXPECT_EQ(catalog_->TouchToken("nothing", "2024-05-03T00:00:00.000Z").code(), StatusCode::kNotFound);

  // Purge: expired or revoked before the cut, of the kind asked, nothing else.
  ASSERT_TRUE(*catalog_->RevokeToken("t2", "2024-05-10T00:00:00.000Z"));
  ASSERT_TRUE(*catalog_->RevokeToken("t4", "2024-05-10T00:00:00.000Z"));
  EXPECT_EQ(*catalog_->PurgeTokens(TokenKind::kApi, "2024-05-10T00:00:00.000Z"), 0);  // not before
  EXPECT_EQ(*catalog_->PurgeTokens(TokenKind::kApi, "2024-05-20T00:00:00.000Z"), 1);  // t2
  EXPECT_EQ(Field(catalog_->ListTokens("", TokenKind::kApi), id), (std::vector<std::string>{"t3", "t1"}));
  EXPECT_EQ(*catalog_->PurgeTokens(TokenKind::kApi, "2024-06-02T00:00:00.000Z"), 1);  // t1 expired
  EXPECT_EQ(Field(catalog_->ListTokens("", TokenKind::kApi), id), std::vector<std::string>{"t3"});
  EXPECT_EQ(*catalog_->PurgeTokens(TokenKind::kSession, "2024-05-20T00:00:00.000Z"), 1);
  EXPECT_TRUE(catalog_->ListTokens("", TokenKind::kSession)->empty());
}

TEST_P(CatalogTest, ARevocationSucceedsExactlyOnceAmongConcurrentOnes) {
  ASSERT_TRUE(catalog_->CreateUser(User("u1", "ann")).ok());
  ASSERT_TRUE(catalog_->CreateToken(Token("t1", "u1", TokenKind::kLogin)).ok());
  EXPECT_EQ(catalog_->RevokeToken("nothing", kCreated).status().code(), StatusCode::kNotFound);

  constexpr int kThreads = 8;
  std::vector<Result<bool>> results(kThreads, Status::Internal("not run"));
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      results[t] = catalog_->RevokeToken("t1", "2024-05-02T00:00:0" + std::to_string(t) + ".000Z");
    });
  }
  for (auto& th : threads) th.join();
  int won = 0;
  std::string winner_time;
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_TRUE(results[t].ok()) << results[t].status().message();
    if (*results[t]) {
      ++won;
      winner_time = "2024-05-02T00:00:0" + std::to_string(t) + ".000Z";
    }
  }
  EXPECT_EQ(won, 1);
  EXPECT_EQ((*catalog_->GetToken("t1"))->revoked_at, winner_time);
  EXPECT_FALSE(*catalog_->RevokeToken("t1", "2024-06-01T00:00:00.000Z"));
  EXPECT_EQ((*catalog_->GetToken("t1"))->revoked_at, winner_time);
}

TEST_P(CatalogTest, RevokingATokenRevokesTheSessionsMadeFromIt) {
  ASSERT_TRUE(catalog_->CreateUser(User("u1", "ann")).ok());
  ASSERT_TRUE(catalog_->CreateToken(Token("api", "u1", TokenKind::kApi)).ok());
  TokenRecord from_api = Token("s1", "u1", TokenKind::kSession);
  from_api.parent_id = "api";
  ASSERT_TRUE(catalog_->CreateToken(from_api).ok());
  ASSERT_TRUE(catalog_->CreateToken(Token("s2", "u1", TokenKind::kSession)).ok());
  EXPECT_EQ((*catalog_->GetToken("s1"))->parent_id, "api");
  ASSERT_TRUE(*catalog_->RevokeToken("api", "2024-05-03T00:00:00.000Z"));
  EXPECT_EQ((*catalog_->GetToken("s1"))->revoked_at, "2024-05-03T00:00:00.000Z");
  EXPECT_EQ((*catalog_->GetToken("s2"))->revoked_at, "");  // not made from it
}

TEST_P(CatalogTest, ClaimsAreFilteredByProjectAndModelInBatches) {
  ASSERT_TRUE(catalog_->CreateProject(ProjectRecord{"p1", "alpha", kCreated}).ok());
  // More than one statement's worth of hashes.
  std::vector<std::string> hashes;
  for (int i = 0; i < 2500; ++i) hashes.push_back(Sha256Hex("picture " + std::to_string(i)));
  std::vector<std::string> even;
  for (size_t i = 0; i < hashes.size(); i += 2) even.push_back(hashes[i]);
  ASSERT_TRUE(catalog_->AddClaims("p1", "model-a", even).ok());
  ASSERT_TRUE(catalog_->AddClaims("p1", "model-a", even).ok());  // again: no change, no error
  ASSERT_TRUE(catalog_->AddClaims("p1", "*", {hashes[1]}).ok());
  ASSERT_TRUE(catalog_->AddClaims(kDefaultProjectId, "model-b", {hashes[3]}).ok());
  ASSERT_TRUE(catalog_->AddClaims("p1", "model-a", {}).ok());

  Result<std::vector<std::string>> claimed = catalog_->FilterClaimed("p1", "model-a", hashes);
  ASSERT_TRUE(claimed.ok()) << claimed.status().message();
  std::vector<std::string> want = even;
  want.insert(want.begin() + 1, hashes[1]);  // the "*" claim, in the caller's order
  EXPECT_EQ(*claimed, want);
  EXPECT_EQ(*catalog_->FilterClaimed("p1", "model-b", hashes), std::vector<std::string>{hashes[1]});
  EXPECT_EQ(*catalog_->FilterClaimed(kDefaultProjectId, "model-b", hashes),
            std::vector<std::string>{hashes[3]});
  EXPECT_TRUE(catalog_->FilterClaimed(kDefaultProjectId, "model-a", hashes)->empty());
  EXPECT_TRUE(catalog_->FilterClaimed("p1", "model-a", {})->empty());

  Result<std::vector<std::pair<std::string, std::string>>> of_b = catalog_->ListClaims("model-b");
  ASSERT_TRUE(of_b.ok());
  std::vector<std::pair<std::string, std::string>> want_b = {{"p1", hashes[1]},
                                                             {kDefaultProjectId, hashes[3]}};
  std::sort(want_b.begin(), want_b.end(), [](const auto& x, const auto& y) { return x.second < y.second; });
  EXPECT_EQ(*of_b, want_b);
  EXPECT_EQ(catalog_->ListClaims("model-a")->size(), even.size() + 1);

  // The counts: distinct pictures per project and model, a "*" claim counting for every model
  // and a picture claimed both ways counting once.
  ASSERT_TRUE(catalog_->AddClaims("p1", "*", {hashes[0]}).ok());
  EXPECT_EQ(*catalog_->CountClaims("p1", "model-a"), static_cast<int64_t>(even.size()) + 1);
  EXPECT_EQ(*catalog_->CountClaims("p1", "model-b"), 2);
  EXPECT_EQ(*catalog_->CountClaims(kDefaultProjectId, "model-b"), 1);
  EXPECT_EQ(*catalog_->CountClaims(kDefaultProjectId, "model-a"), 0);
}

TEST_P(CatalogTest, DuplicatesAndPixelCopiesAreFoundWithinTheProject) {
  ASSERT_TRUE(catalog_->CreateProject(ProjectRecord{"p1", "alpha", kCreated}).ok());
  CreateOrDie(InProject("d0", kDefaultProjectId, "2024-01-01T00:00:00.000Z"));
  CreateOrDie(InProject("d1", "p1", "2024-01-02T00:00:00.000Z"));
  CreateOrDie(InProject("d2", "p1", "2024-01-03T00:00:00.000Z"));
  const BlobRecord x = Blob("x");
  EXPECT_FALSE(AddOrDie(*catalog_, Image("i0", "d0", "x.png", Blob("x", 64, 32, "2024-02-01T00:00:00.000Z")))
                   .duplicate);
  EXPECT_FALSE(AddOrDie(*catalog_, Image("i1", "d1", "x.png", Blob("x", 64, 32, "2024-02-02T00:00:00.000Z")))
                   .duplicate)
      << "the other project's copy is none of this upload's business";
  EXPECT_TRUE(AddOrDie(*catalog_, Image("i2", "d2", "x.png", Blob("x", 64, 32, "2024-02-03T00:00:00.000Z")))
                  .duplicate);
  EXPECT_TRUE(AddOrDie(*catalog_, Image("i3", "d0", "x.png", Blob("x", 64, 32, "2024-02-04T00:00:00.000Z")))
                  .duplicate);

  auto showing = [&](const std::string& project_id) {
    Result<std::vector<ImageRecord>> images = catalog_->ListImagesWithPixelHash(x.pixel_hash, project_id);
    EXPECT_TRUE(images.ok()) << images.status().message();
    return images.ok() ? Ids(*images) : std::vector<std::string>{};
  };
  EXPECT_EQ(showing(""), (std::vector<std::string>{"i0", "i1", "i2", "i3"}));
  EXPECT_EQ(showing("p1"), (std::vector<std::string>{"i1", "i2"}));
  EXPECT_EQ(showing(kDefaultProjectId), (std::vector<std::string>{"i0", "i3"}));
  EXPECT_TRUE(showing("nothing").empty());

  auto copies = [&](const std::string& dataset) {
    std::vector<std::pair<std::string, std::string>> out;
    Result<std::vector<PixelCopy>> list = catalog_->ListPixelCopies(dataset);
    EXPECT_TRUE(list.ok()) << list.status().message();
    if (list.ok()) {
      for (const PixelCopy& c : *list) out.emplace_back(c.image_id, c.original_image_id);
    }
    return out;
  };
  EXPECT_TRUE(copies("d1").empty()) << "the older copy is in another project";
  EXPECT_EQ(copies("d2"), (std::vector<std::pair<std::string, std::string>>{{"i2", "i1"}}));
  EXPECT_EQ(copies("d0"), (std::vector<std::pair<std::string, std::string>>{{"i3", "i0"}}));
}

TEST_P(CatalogTest, ConcurrentUploadsIntoOneProjectOfContentAnotherHasSeeExactlyOneOriginal) {
  ASSERT_TRUE(catalog_->CreateProject(ProjectRecord{"p1", "alpha", kCreated}).ok());
  CreateOrDie(InProject("other", kDefaultProjectId));
  const BlobRecord blob = Blob("raced content");
  AddOrDie(*catalog_, Image("first", "other", "same.png", blob));  // the blob exists already
  constexpr int kThreads = 8;
  for (int t = 0; t < kThreads; ++t) CreateOrDie(InProject("d" + std::to_string(t), "p1"));
  std::vector<Result<AddImageOutcome>> results(kThreads, Status::Internal("not run"));
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      results[t] =
          catalog_->AddImage(Image("img" + std::to_string(t), "d" + std::to_string(t), "same.png", blob));
    });
  }
  for (auto& th : threads) th.join();
  int originals = 0;
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status().message();
    if (!r->duplicate) ++originals;
  }
  EXPECT_EQ(originals, 1);
}

TEST_P(CatalogTest, DeletingADatasetDropsTheClaimsOfPicturesItsProjectNoLongerShows) {
  ASSERT_TRUE(catalog_->CreateProject(ProjectRecord{"p1", "alpha", kCreated}).ok());
  CreateOrDie(InProject("d1", "p1"));
  CreateOrDie(InProject("d2", "p1"));
  CreateOrDie(InProject("d3", kDefaultProjectId));
  const BlobRecord x = Blob("x");
  const BlobRecord y = Blob("y");
  BlobRecord y_as_jpeg = Blob("y, other bytes");  // same pixels, other content
  y_as_jpeg.pixel_hash = y.pixel_hash;
  AddOrDie(*catalog_, Image("i1", "d1", "x.png", x));
  AddOrDie(*catalog_, Image("i2", "d1", "y.png", y));
  AddOrDie(*catalog_, Image("i3", "d2", "y.jpg", y_as_jpeg));
  AddOrDie(*catalog_, Image("i4", "d3", "x.png", x));
  const std::string z = Sha256Hex("pixels nobody shows");
  ASSERT_TRUE(catalog_->AddClaims("p1", "m", {x.pixel_hash, y.pixel_hash, z}).ok());
  ASSERT_TRUE(catalog_->AddClaims("p1", "*", {x.pixel_hash}).ok());
  ASSERT_TRUE(catalog_->AddClaims(kDefaultProjectId, "m", {x.pixel_hash}).ok());

  ASSERT_TRUE(catalog_->DeleteDataset("d1").ok());
  const std::vector<std::string> all = {x.pixel_hash, y.pixel_hash, z};
  EXPECT_EQ(*catalog_->FilterClaimed("p1", "m", all), (std::vector<std::string>{y.pixel_hash, z}))
      << "x went with d1 (its '*' claim too); d2 still shows y; z was none of d1's pictures";
  EXPECT_EQ(*catalog_->FilterClaimed(kDefaultProjectId, "m", all), std::vector<std::string>{x.pixel_hash});

  ASSERT_TRUE(catalog_->DeleteDataset("d2").ok());
  EXPECT_EQ(*catalog_->FilterClaimed("p1", "m", all), std::vector<std::string>{z});
  EXPECT_EQ(*catalog_->FilterClaimed(kDefaultProjectId, "m", all), std::vector<std::string>{x.pixel_hash});
}

constexpr char kDatasetA[] = "0a1b2c3d4e5f6071";  // "first": 3 images
constexpr char kDatasetB[] = "1a2b3c4d5e6f7081";  // "second": 1 image, sharing a blob with A
constexpr char kSharedHash[] = "f19e1cf05a6eb47bf5edc8fa36956780356fe7cc9761a5126a7154185708f8a5";

class CatalogMigrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (dir_ / "v1.db").string();
    // Recreate the version-1 database from its dump, with nothing of ours in between.
    const std::string dump = ReadFileOrDie(SAMCACHE_SOURCE_DIR "/tests/fixtures/catalog_v1.sql");
    ASSERT_FALSE(dump.empty());
    RawDb raw(path_);
    raw.Exec(dump);
    ASSERT_EQ(raw.Scalar("SELECT MAX(version) FROM schema_migrations"), "1");
    ASSERT_EQ(raw.Scalar("SELECT COUNT(*) FROM pragma_table_info('images') WHERE name = 'position'"), "0");
  }

  TempDir dir_;
  std::string path_;
};

TEST_F(CatalogMigrationTest, UpgradesVersionOneAndKeepsAllRows) {
  std::unique_ptr<Catalog> catalog = Open(path_);
  ASSERT_NE(catalog, nullptr);
  Result<int> version = catalog->SchemaVersion();
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(*version, NewestSchemaVersion());

  const CatalogStats stats = StatsOrDie(*catalog);
  EXPECT_EQ(stats.datasets, 2);
  EXPECT_EQ(stats.blobs, 3);
  EXPECT_EQ(stats.images, 4);
  EXPECT_EQ(stats.blob_bytes, 1000 + 2000 + 3000);

  Result<std::vector<DatasetRecord>> datasets = catalog->ListDatasets();
  ASSERT_TRUE(datasets.ok());
  ASSERT_EQ(datasets->size(), 2u);
  EXPECT_EQ((*datasets)[0].id, kDatasetB);
  EXPECT_EQ((*datasets)[0].image_count, 1);
  EXPECT_EQ((*datasets)[1].id, kDatasetA);
  EXPECT_EQ((*datasets)[1].name, "first");
  EXPECT_EQ((*datasets)[1].image_count, 3);
  // Version 8: the datasets are the default project's, which claims every stored picture for
  // every model.
  for (const DatasetRecord& d : *datasets) EXPECT_EQ(d.project_id, kDefaultProjectId);
  EXPECT_EQ((*catalog->FindProject("default"))->id, kDefaultProjectId);
  const std::vector<std::string> v1_pictures = {
      "81a461b5eddc593bf94f605e38d874343e80ec311132b2c5d712d99e49eed1da",
      "98e384dbc0323a55f2bc24923d765fc1278c048f8bb2327e81b881a81f567590",
      "c63f80a5aad74861ddc78a6c29b7faed62ff7aa3eca4d64ae2bfd199af6e06a3"};
  std::vector<std::pair<std::string, std::string>> v1_claims;
  for (const std::string& p : v1_pictures) v1_claims.emplace_back(kDefaultProjectId, p);
  EXPECT_EQ(*catalog->ListClaims("any-model"), v1_claims);
  EXPECT_EQ(*catalog->FilterClaimed(kDefaultProjectId, "any-model", v1_pictures), v1_pictures);

  // Positions follow created_at; equal timestamps follow insertion order (rowid), which here
  // is neither id order nor filename order.
  Result<std::vector<ImageRecord>> a = catalog->ListImages(kDatasetA);
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a->size(), 3u);
  EXPECT_EQ(Ids(*a), (std::vector<std::string>{"bbbbbbbbbbbbbbbb", "aaaaaaaaaaaaaaaa", "cccccccccccccccc"}));
  for (size_t i = 0; i < a->size(); ++i) EXPECT_EQ((*a)[i].position, static_cast<int64_t>(i));
  EXPECT_EQ((*a)[0].filename, "tie-first.png");
  EXPECT_EQ((*a)[1].filename, "tie-second.jpg");
  EXPECT_EQ((*a)[2].filename, "late.webp");
  // Blob-derived fields of migrated rows.
  EXPECT_EQ((*a)[1].format, "jpeg");
  EXPECT_EQ((*a)[1].mime_type, "image/jpeg");
  EXPECT_EQ((*a)[1].byte_size, 2000);
  EXPECT_EQ((*a)[1].width, 32);
  EXPECT_EQ((*a)[1].height, 64);

  Result<std::vector<ImageRecord>> b = catalog->ListImages(kDatasetB);
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(b->size(), 1u);
  EXPECT_EQ((*b)[0].id, "dddddddddddddddd");
  EXPECT_EQ((*b)[0].position, 0);
  EXPECT_EQ((*b)[0].content_hash, kSharedHash);

  auto thumb = catalog->FindBlob(kSharedHash);
  ASSERT_TRUE(thumb.ok());
  ASSERT_TRUE(thumb->has_value());
  EXPECT_EQ((*thumb)->thumb_jpeg, std::string("\xFF\xD8\xFF\xD9", 4));

  // New rows continue after the backfilled positions, and dedup sees the migrated images.
  BlobRecord again;
  again.content_hash = kSharedHash;
  again.pixel_hash = Sha256Hex("ignored");
  again.format = "png";
  again.mime_type = "image/png";
  again.byte_size = 1000;
  again.width = 64;
  again.height = 32;
  again.thumb_jpeg = "x";
  again.created_at = "2024-06-01T00:00:00.000Z";
  const AddImageOutcome added =
      AddOrDie(*catalog, NewImage{"eeeeeeeeeeeeeeee", kDatasetA, "again.png", again});
  EXPECT_TRUE(added.duplicate);
  EXPECT_EQ(added.image.position, 3);
  EXPECT_EQ(added.image.pixel_hash, "81a461b5eddc593bf94f605e38d874343e80ec311132b2c5d712d99e49eed1da");
  EXPECT_EQ(StatsOrDie(*catalog).blobs, 3);

  // Version 3: migrated content has no perceptual hash until it is computed from the files.
  EXPECT_FALSE((*a)[0].perceptual_hash.has_value());
  Result<std::vector<std::string>> missing = catalog->BlobsWithoutPerceptualHash("", 100);
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->size(), 3u);
  EXPECT_TRUE(std::is_sorted(missing->begin(), missing->end()));
  ASSERT_TRUE(catalog->SetPerceptualHash(kSharedHash, PerceptualHash{0xF0F0F0F0F0F0F0F0ull, 42}).ok());
  int pictures = 0;
  ASSERT_TRUE(
      catalog->ForEachPicture("", [&](const std::string&, const PerceptualHash&) { ++pictures; }).ok());
  EXPECT_EQ(pictures, 1);
  Result<std::vector<ImageRecord>> shared = catalog->ListImagesWithPixelHash(
      "81a461b5eddc593bf94f605e38d874343e80ec311132b2c5d712d99e49eed1da", "");
  ASSERT_TRUE(shared.ok());
  EXPECT_EQ(Ids(*shared),
            (std::vector<std::string>{"bbbbbbbbbbbbbbbb", "dddddddddddddddd", "eeeeeeeeeeeeeeee"}));
  EXPECT_EQ((*shared)[1].perceptual_hash, (PerceptualHash{0xF0F0F0F0F0F0F0F0ull, 42}));

  // Deleting A keeps the blob B still uses.
  Result<std::vector<std::string>> removed = catalog->DeleteDataset(kDatasetA);
  ASSERT_TRUE(removed.ok());
  std::vector<std::string> got = *removed;
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got,
            (std::vector<std::string>{"65d5a8363de0826ba731d1cb8fabc0f8558ce6eed1134169de3a4159b8b551c0",
                                      "ea4bfd7c392852fbea3dcf117d9f479048068a47384c8a9b0b57ddfc27dbc318"}));
}

TEST_F(CatalogMigrationTest, MigratingAgainIsANoOp) {
  std::unique_ptr<Catalog> catalog = Open(path_);
  ASSERT_NE(catalog, nullptr);
  RawDb raw(path_);
  const std::string applied =
      raw.Scalar("SELECT group_concat(version || ':' || applied_at, ',') FROM schema_migrations");
  EXPECT_EQ(raw.Scalar("SELECT COUNT(*) FROM schema_migrations"),
            std::to_string(std::size(sqlite_schema::kMigrations)));
  // The v1 row kept its original time; later versions were recorded by Migrate().
  EXPECT_EQ(raw.Scalar("SELECT applied_at FROM schema_migrations WHERE version = 1"),
            "2024-01-01T08:00:00.000Z");
  EXPECT_EQ(raw.Scalar("SELECT name FROM schema_migrations WHERE version = 2"),
            std::string(sqlite_schema::kMigrations[1].name));
  // What version 2 added beyond positions.
  EXPECT_EQ(raw.Scalar("SELECT group_concat(tenant, ',') FROM datasets"), "default,default");
  EXPECT_EQ(raw.Scalar("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name IN "
                       "('idx_blobs_pixel_hash', 'idx_images_dataset_position')"),
            "2");
  EXPECT_EQ(raw.Scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = 'idx_images_dataset'"), "0");
  // What version 3 added: nullable hash columns, NULL for every migrated blob.
  EXPECT_EQ(raw.Scalar("SELECT name FROM schema_migrations WHERE version = 3"),
            std::string(sqlite_schema::kMigrations[2].name));
  EXPECT_EQ(raw.Scalar("SELECT COUNT(*) FROM blobs WHERE phash IS NULL AND phash_mirrored IS NULL"), "3");
  EXPECT_EQ(raw.Scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = 'idx_blobs_phash_missing'"), "1");

  ASSERT_TRUE(catalog->Migrate().ok());
  ASSERT_TRUE(catalog->Migrate().ok());
  EXPECT_EQ(*catalog->SchemaVersion(), NewestSchemaVersion());
  EXPECT_EQ(raw.Scalar("SELECT group_concat(version || ':' || applied_at, ',') FROM schema_migrations"),
            applied);
  // Positions were not recomputed.
  Result<std::vector<ImageRecord>> a = catalog->ListImages(kDatasetA);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(Ids(*a), (std::vector<std::string>{"bbbbbbbbbbbbbbbb", "aaaaaaaaaaaaaaaa", "cccccccccccccccc"}));

  // And reopening migrates nothing either.
  catalog.reset();
  catalog = Open(path_);
  ASSERT_NE(catalog, nullptr);
  EXPECT_EQ(raw.Scalar("SELECT group_concat(version || ':' || applied_at, ',') FROM schema_migrations"),
            applied);
  EXPECT_EQ(StatsOrDie(*catalog).images, 4);
}

// ---- PostgreSQL: several processes on one database -----------------------------------------

// Each catalog object stands for one samcache process: its own connections, no shared state.
class PostgresCatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(testing::TestPostgresUrl().empty()) << testing::kNoPostgresMessage;
    db_ = std::make_unique<PostgresTestDatabase>();
  }

  std::unique_ptr<Catalog> OpenOrDie() {
    Result<std::unique_ptr<Catalog>> catalog = OpenPostgresCatalog(db_->url());
    EXPECT_TRUE(catalog.ok()) << catalog.status().message();
    return catalog.ok() ? std::move(catalog).value() : nullptr;
  }

  std::unique_ptr<PostgresTestDatabase> db_;
};

TEST_F(PostgresCatalogTest, InstancesStartingAtOnceMigrateAnEmptyDatabaseOnce) {
  constexpr int kInstances = 6;
  std::vector<Result<std::unique_ptr<Catalog>>> opened;
  for (int i = 0; i < kInstances; ++i) opened.emplace_back(Status::Internal("not run"));
  std::latch start(kInstances);
  std::vector<std::thread> threads;
  for (int i = 0; i < kInstances; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      opened[i] = OpenPostgresCatalog(db_->url());
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& catalog : opened) {
    ASSERT_TRUE(catalog.ok()) << catalog.status().message();
    EXPECT_EQ(*(*catalog)->SchemaVersion(), NewestSchemaVersion());
  }
  EXPECT_EQ(db_->Scalar("SELECT COUNT(*) FROM schema_migrations"), std::to_string(NewestSchemaVersion()));
  std::string versions;
  for (int v = 1; v <= NewestSchemaVersion(); ++v) {
    if (v > 1) versions += ",";
    versions += std::to_string(v);
  }
  EXPECT_EQ(db_->Scalar("SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_migrations"),
            versions);
  // And every instance works on the result.
  ASSERT_TRUE((*opened[0])->CreateDataset(Dataset("d", "n", "2024-01-01T00:00:00.000Z")).ok());
  EXPECT_EQ(StatsOrDie(**opened[kInstances - 1]).datasets, 1);
}

TEST_F(PostgresCatalogTest, NewContentUploadedThroughTwoInstancesAtOnceHasOneOriginal) {
  std::unique_ptr<Catalog> a = OpenOrDie();
  std::unique_ptr<Catalog> b = OpenOrDie();
  ASSERT_TRUE(a && b);
  constexpr int kThreadsPerInstance = 4;
  constexpr int kRounds = 10;
  for (int t = 0; t < 2 * kThreadsPerInstance; ++t) {
    ASSERT_TRUE(
        a->CreateDataset(Dataset(std::string("d") + std::to_string(t), "ds", "2024-01-01T00:00:00.000Z"))
            .ok());
  }
  for (int round = 0; round < kRounds; ++round) {
    const BlobRecord blob = Blob(std::string("raced content ") + std::to_string(round));
    std::vector<Result<AddImageOutcome>> results(2 * kThreadsPerInstance, Status::Internal("not run"));
    std::latch start(2 * kThreadsPerInstance);
    std::vector<std::thread> threads;
    for (int t = 0; t < 2 * kThreadsPerInstance; ++t) {
      threads.emplace_back([&, t] {
        Catalog& instance = t % 2 == 0 ? *a : *b;
        start.arrive_and_wait();
        results[t] = instance.AddImage(
            Image(std::string("r") + std::to_string(round) + std::string("-") + std::to_string(t),
                  std::string("d") + std::to_string(t), "same.png", blob));
      });
    }
    for (auto& th : threads) th.join();
    int originals = 0;
    for (const auto& r : results) {
      ASSERT_TRUE(r.ok()) << r.status().message();
      if (!r->duplicate) ++originals;
      EXPECT_EQ(r->image.position, round) << "one image per dataset and round";
    }
    EXPECT_EQ(originals, 1) << "round " << round;
  }
  const CatalogStats stats = StatsOrDie(*b);
  EXPECT_EQ(stats.blobs, kRounds);
  EXPECT_EQ(stats.images, kRounds * 2 * kThreadsPerInstance);
}

TEST_F(PostgresCatalogTest, UploadsIntoOneDatasetThroughTwoInstancesGetPositionsInOrder) {
  std::unique_ptr<Catalog> a = OpenOrDie();
  std::unique_ptr<Catalog> b = OpenOrDie();
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->CreateDataset(Dataset("d", "ds", "2024-01-01T00:00:00.000Z")).ok());
  constexpr int kThreads = 8;
  constexpr int kPerThread = 5;
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Catalog& instance = t % 2 == 0 ? *a : *b;
      start.arrive_and_wait();
      for (int k = 0; k < kPerThread; ++k) {
        const std::string n = std::to_string(t) + std::string("-") + std::to_string(k);
        Result<AddImageOutcome> added = instance.AddImage(Image("img" + n, "d", n + ".png", Blob("c" + n)));
        EXPECT_TRUE(added.ok()) << added.status().message();
      }
    });
  }
  for (auto& th : threads) th.join();
  Result<std::vector<ImageRecord>> images = b->ListImages("d");
  ASSERT_TRUE(images.ok());
  ASSERT_EQ(images->size(), static_cast<size_t>(kThreads * kPerThread));
  for (size_t i = 0; i < images->size(); ++i) EXPECT_EQ((*images)[i].position, static_cast<int64_t>(i));
}

TEST_F(PostgresCatalogTest, OneOfSeveralInstancesClaimingAJobWinsIt) {
  std::unique_ptr<Catalog> a = OpenOrDie();
  std::unique_ptr<Catalog> b = OpenOrDie();
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->CreateDataset(Dataset("d", "ds", "2024-01-01T00:00:00.000Z")).ok());
  constexpr int kClaimers = 8;
  for (int round = 0; round < 10; ++round) {
    const std::string job_id = std::string("job") + std::to_string(round);
    ASSERT_TRUE(a->CreatePrewarmJob(Job(job_id, "d" + std::to_string(round), "dead-host:1")).ok());
    std::vector<Result<bool>> claimed(kClaimers, Status::Internal("not run"));
    std::latch start(kClaimers);
    std::vector<std::thread> threads;
    for (int t = 0; t < kClaimers; ++t) {
      threads.emplace_back([&, t] {
        Catalog& instance = t % 2 == 0 ? *a : *b;
        start.arrive_and_wait();
        claimed[t] = instance.ClaimPrewarmJob(job_id, "dead-host:1", std::string("host:") + std::to_string(t),
                                              5000 + t);
      });
    }
    for (auto& th : threads) th.join();
    int winners = 0;
    int winner = -1;
    for (int t = 0; t < kClaimers; ++t) {
      ASSERT_TRUE(claimed[t].ok()) << claimed[t].status().message();
      if (*claimed[t]) {
        ++winners;
        winner = t;
      }
    }
    ASSERT_EQ(winners, 1) << job_id;
    Result<PrewarmJobRecord> job = b->GetPrewarmJob(job_id);
    ASSERT_TRUE(job.ok());
    EXPECT_EQ(job->runner, std::string("host:") + std::to_string(winner));
    // Only the winner's progress is written.
    PrewarmJobRecord loser = *job;
    loser.runner = std::string("host:") + std::to_string((winner + 1) % kClaimers);
    loser.done = 1;
    EXPECT_FALSE(*a->SavePrewarmProgress(loser, {}));
    PrewarmJobRecord mine = *job;
    mine.done = 2;
    EXPECT_TRUE(*b->SavePrewarmProgress(mine, {}));
    EXPECT_EQ(a->GetPrewarmJob(job_id)->done, 2);
  }
}

TEST_F(PostgresCatalogTest, DeletingADatasetWhileAnotherInstanceUploadsItsContentKeepsTheBlob) {
  std::unique_ptr<Catalog> a = OpenOrDie();
  std::unique_ptr<Catalog> b = OpenOrDie();
  ASSERT_TRUE(a && b);
  for (int round = 0; round < 20; ++round) {
    const std::string r = std::to_string(round);
    ASSERT_TRUE(a->CreateDataset(Dataset("old" + r, "old", "2024-01-01T00:00:00.000Z")).ok());
    ASSERT_TRUE(a->CreateDataset(Dataset("new" + r, "new", "2024-01-01T00:00:00.000Z")).ok());
    const BlobRecord blob = Blob("shared " + r);
    AddOrDie(*a, Image("first" + r, "old" + r, "x.png", blob));
    Result<std::vector<std::string>> removed = Status::Internal("not run");
    Result<AddImageOutcome> added = Status::Internal("not run");
    std::latch start(2);
    std::thread deleter([&] {
      start.arrive_and_wait();
      removed = a->DeleteDataset("old" + r);
    });
    std::thread uploader([&] {
      start.arrive_and_wait();
      added = b->AddImage(Image("second" + r, "new" + r, "x.png", blob));
    });
    deleter.join();
    uploader.join();
    ASSERT_TRUE(removed.ok()) << removed.status().message();
    ASSERT_TRUE(added.ok()) << added.status().message();
    // Whichever came first, the blob row exists exactly when an image refers to it.
    EXPECT_TRUE(*b->HasBlob(blob.content_hash));
    if (added->duplicate) {
      EXPECT_TRUE(removed->empty()) << "the upload came first: its image keeps the blob";
    } else {
      EXPECT_EQ(*removed, std::vector<std::string>{blob.content_hash}) << "the delete came first";
    }
  }
}

// The version-1 fixture's rows in a PostgreSQL database at version 1: the later versions
// number positions by created_at, ties in insertion order, as on SQLite.
TEST_F(PostgresCatalogTest, UpgradesVersionOneRows) {
  std::string sql = std::string(postgres_schema::kSchemaMigrationsTable) + ";\n" +
                    std::string(postgres_schema::kMigrations[0].sql);
  const std::string dump = ReadFileOrDie(SAMCACHE_SOURCE_DIR "/tests/fixtures/catalog_v1.sql");
  std::istringstream lines(dump);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("INSERT INTO", 0) != 0) continue;
    // SQLite's blob literal X'ffd8' is PostgreSQL's bytea '\xffd8'.
    for (size_t pos = line.find(",X'"); pos != std::string::npos; pos = line.find(",X'", pos)) {
      line.replace(pos, 3, ",'\\x");
    }
    sql += line + "\n";
  }
  db_->Exec(sql);
  ASSERT_EQ(db_->Scalar("SELECT COUNT(*) FROM images"), "4");

  std::unique_ptr<Catalog> catalog = OpenOrDie();
  ASSERT_NE(catalog, nullptr);
  EXPECT_EQ(*catalog->SchemaVersion(), NewestSchemaVersion());
  EXPECT_EQ(db_->Scalar("SELECT applied_at FROM schema_migrations WHERE version = 1"),
            "2024-01-01T08:00:00.000Z");
  Result<std::vector<ImageRecord>> a = catalog->ListImages("0a1b2c3d4e5f6071");
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(Ids(*a), (std::vector<std::string>{"bbbbbbbbbbbbbbbb", "aaaaaaaaaaaaaaaa", "cccccccccccccccc"}));
  for (size_t i = 0; i < a->size(); ++i) EXPECT_EQ((*a)[i].position, static_cast<int64_t>(i));
  EXPECT_EQ(catalog->ListImages("1a2b3c4d5e6f7081")->at(0).position, 0);
  auto thumb = catalog->FindBlob("f19e1cf05a6eb47bf5edc8fa36956780356fe7cc9761a5126a7154185708f8a5");
  ASSERT_TRUE(thumb.ok() && thumb->has_value());
  EXPECT_EQ((*thumb)->thumb_jpeg, std::string("\xFF\xD8\xFF\xD9", 4));
  EXPECT_EQ(catalog->BlobsWithoutPerceptualHash("", 100)->size(), 3u);
  EXPECT_EQ(db_->Scalar("SELECT string_agg(DISTINCT tenant, ',') FROM datasets"), "default");
  // Version 8: the default project's datasets, its claims of every stored picture.
  EXPECT_EQ(catalog->GetDataset("0a1b2c3d4e5f6071")->project_id, kDefaultProjectId);
  EXPECT_EQ(db_->Scalar("SELECT string_agg(DISTINCT project_id, ',') FROM datasets"), kDefaultProjectId);
  EXPECT_EQ(catalog->ListClaims("any-model")->size(), 3u);
  EXPECT_EQ(db_->Scalar("SELECT COUNT(*) FROM embedding_claims WHERE project_id = '0000000000000000' AND "
                        "model_id = '*'"),
            "3");
}

TEST_F(PostgresCatalogTest, ABrokenConnectionIsReplaced) {
  std::unique_ptr<Catalog> catalog = OpenOrDie();
  ASSERT_NE(catalog, nullptr);
  ASSERT_TRUE(catalog->CreateDataset(Dataset("d", "n", "2024-01-01T00:00:00.000Z")).ok());
  // Several calls at once, so that the pool holds several connections.
  {
    std::latch start(8);
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&] {
        start.arrive_and_wait();
        EXPECT_TRUE(catalog->ListDatasets().ok());
      });
    }
    for (auto& th : threads) th.join();
  }
  // The server ends every session of this database but the one asking, as a restart would.
  const std::string ended = db_->Scalar(
      "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity "
      "WHERE datname = current_database() AND pid <> pg_backend_pid()");
  EXPECT_NE(ended, "0");
  for (int i = 0; i < 10; ++i) {
    Result<std::vector<DatasetRecord>> datasets = catalog->ListDatasets();
    ASSERT_TRUE(datasets.ok()) << datasets.status().message();
    EXPECT_EQ(datasets->size(), 1u);
  }
  EXPECT_TRUE(catalog->CreateDataset(Dataset("e", "n", "2024-01-01T00:00:00.000Z")).ok());
}

TEST_F(PostgresCatalogTest, UnreachableServersAndUnknownDatabasesAreClearErrors) {
  Result<std::unique_ptr<Catalog>> refused = OpenPostgresCatalog("postgresql://samcache@127.0.0.1:1/nothing");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(refused.status().message().find(
                "cannot connect to PostgreSQL at postgresql://samcache@127.0.0.1:1/nothing"),
            std::string::npos)
      << refused.status().message();
  EXPECT_NE(refused.status().message().find("refused"), std::string::npos) << refused.status().message();

  const std::string missing_db = db_->UrlFor(testing::TestPostgresUrl()) + "_missing";
  Result<std::unique_ptr<Catalog>> missing = OpenPostgresCatalog(missing_db);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("does not exist"), std::string::npos)
      << missing.status().message();

  Result<std::unique_ptr<Catalog>> malformed =
      OpenPostgresCatalog("postgresql://samcache@127.0.0.1:notaport/db");
  ASSERT_FALSE(malformed.ok());
  EXPECT_NE(malformed.status().message().find("cannot connect to PostgreSQL"), std::string::npos)
      << malformed.status().message();

  Result<std::unique_ptr<Catalog>> not_url = OpenPostgresCatalog("/var/lib/samcache.db");
  ASSERT_FALSE(not_url.ok());
  EXPECT_EQ(not_url.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(PostgresCatalogTest, PasswordsNeverAppearInErrors) {
  const std::string server = testing::TestPostgresPasswordUrl();
  ASSERT_FALSE(server.empty()) << testing::kNoPostgresMessage;
  // A database the password user owns, so that it may migrate it.
  PostgresTestDatabase owned("samcache_password_user");
  const std::string good = owned.UrlFor(server);
  const std::string password = "samcache-test-secret";
  ASSERT_NE(good.find(":" + password + "@"), std::string::npos) << "the URL carries the password";

  Result<std::unique_ptr<Catalog>> right = OpenPostgresCatalog(good);
  ASSERT_TRUE(right.ok()) << right.status().message();
  EXPECT_EQ(*(*right)->SchemaVersion(), NewestSchemaVersion());

  std::string wrong = good;
  wrong.replace(wrong.find(password), password.size(), "not-" + password);
  Result<std::unique_ptr<Catalog>> refused = OpenPostgresCatalog(wrong);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("password authentication failed"), std::string::npos)
      << refused.status().message();
  EXPECT_EQ(refused.status().message().find(password), std::string::npos) << refused.status().message();

  const std::vector<std::string> leaky = {
      "postgresql://samcache_password_user:" + password + "@127.0.0.1:1/db",
      "postgresql://samcache_password_user@127.0.0.1:1/db?password=" + password,
      "postgresql://samcache_password_user:" + password + "@127.0.0.1:1/db?bogus_option=1",
      "postgresql://samcache_password_user:" + password + "@127.0.0.1:1/db?password=" + password +
          "&sslmode=nonsense",
  };
  for (const std::string& url : leaky) {
    Result<std::unique_ptr<Catalog>> failed = OpenPostgresCatalog(url);
    ASSERT_FALSE(failed.ok()) << url;
    EXPECT_EQ(failed.status().message().find(password), std::string::npos) << failed.status().message();
    EXPECT_EQ(RedactCatalogLocation(url).find(password), std::string::npos);
  }
}

}  // namespace
}  // namespace samcache
