// ImagePages (catalog/image_pages.h) on SQLite and PostgreSQL: keyset and offset pages in
// upload order with no image skipped or repeated under concurrent adds and deletes, every
// filter and the filename search, the counters kept by the changes (uploads, claims,
// annotations, near-duplicate marks, a deleted original), and the query plan of every
// statement: an index, never a full scan of images.
#include <gtest/gtest.h>

#include <sqlite3.h>
#include <pqxx/pqxx>

#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "catalog/page_sql.h"
#include "common/crypto.h"
#include "support/postgres_test_db.h"
#include "support/test_support.h"

namespace samcache {
namespace {

using catalog_internal::Dialect;
using catalog_internal::PageSql;
using catalog_internal::PageStatement;
using testing::PostgresTestDatabase;
using testing::TempDir;

constexpr const char* kModel = "model-a";

enum class Backend { kSqlite, kPostgres };

std::string Hex64(const std::string& seed) { return Sha256Hex(seed); }

// Fills the dataset enough for PostgreSQL's planner to prefer indexes.
void Fill(Catalog& catalog, const std::string& dataset, int n) {
  std::vector<std::string> claimed;
  for (int i = 0; i < n; ++i) {
    NewImage img;
    img.id = RandomId();
    img.dataset_id = dataset;
    img.filename = "file" + std::to_string(i) + ".png";
    img.blob.content_hash = Sha256Hex("plan-content-" + std::to_string(i));
    img.blob.pixel_hash = Sha256Hex("plan-pixels-" + std::to_string(i % (n - 5)));
    img.blob.format = "png";
    img.blob.mime_type = "image/png";
    img.blob.width = img.blob.height = 1;
    img.blob.thumb_jpeg = "t";
    img.blob.created_at = "2026-01-01T00:00:00.000Z";
    ASSERT_TRUE(catalog.AddImage(img).ok());
    if (i % 3 == 0) claimed.push_back(img.blob.pixel_hash);
  }
  ASSERT_TRUE(catalog.AddClaims(kDefaultProjectId, kModel, claimed).ok());
}

class ImagePagesTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kSqlite) {
      path_ = (dir_ / "catalog.db").string();
    } else {
      ASSERT_FALSE(testing::TestPostgresUrl().empty()) << testing::kNoPostgresMessage;
      postgres_ = std::make_unique<PostgresTestDatabase>();
      path_ = postgres_->url();
    }
    Result<std::unique_ptr<Catalog>> opened = OpenCatalog(path_);
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    catalog_ = std::move(opened).value();
  }

  std::string Dataset(const std::string& project = kDefaultProjectId) {
    DatasetRecord d{RandomId(), "d", "2026-01-01T00:00:00.000Z", 0, project};
    EXPECT_TRUE(catalog_->CreateDataset(d).ok());
    return d.id;
  }

  // An image named `filename` whose picture is `picture` (same picture: same pixels).
  ImageRecord Add(const std::string& dataset, const std::string& filename, const std::string& picture) {
    NewImage img;
    img.id = RandomId();
    img.dataset_id = dataset;
    img.filename = filename;
    img.blob.content_hash = Hex64("content/" + picture + "/" + filename);
    img.blob.pixel_hash = Hex64("pixels/" + picture);
    img.blob.format = "png";
    img.blob.mime_type = "image/png";
    img.blob.byte_size = 10;
    img.blob.width = 4;
    img.blob.height = 3;
    img.blob.thumb_jpeg = "thumb";
    img.blob.created_at = "2026-01-01T00:00:" + std::to_string(10 + (clock_++ % 50)) + ".000Z";
    Result<AddImageOutcome> added = catalog_->AddImage(img);
    EXPECT_TRUE(added.ok()) << added.status().message();
    return added.ok() ? added->image : ImageRecord{};
  }

  ImagePage Page(ImagePageQuery q) {
    Result<ImagePage> page = catalog_->ListImagePage(q);
    EXPECT_TRUE(page.ok()) << page.status().message();
    return page.ok() ? *page : ImagePage{};
  }

  static std::vector<std::string> Names(const ImagePage& page) {
    std::vector<std::string> out;
    for (const PagedImage& p : page.images) out.push_back(p.image.filename);
    return out;
  }

  DatasetCounts Counts(const std::string& dataset) {
    Result<DatasetCounts> counts = catalog_->CountDatasetImages(dataset, kModel);
    EXPECT_TRUE(counts.ok()) << counts.status().message();
    return counts.ok() ? *counts : DatasetCounts{};
  }

  // A dataset of 200 images in a catalog holding many more (another project's), analysed:
  // the planners choose as at scale. Returns the dataset's id.
  std::string ScaleCatalog() {
    const std::string d = Dataset();
    Fill(*catalog_, d, 200);
    // The listed dataset is a small part of the catalog, as one of many datasets would be.
    if (GetParam() == Backend::kSqlite) {
      Fill(*catalog_, Dataset(), 1000);
    } else {
      // PostgreSQL's planner rightly hashes small tables whole: 50,000 images and 25,000 claims
      // of another project (written with SQL, for speed) make it plan as in a shared catalog.
      postgres_->Exec(
          "INSERT INTO projects (id, name, created_at) VALUES ('b1b1b1b1b1b1b1b1', 'bulk', "
          "'2026-01-01T00:00:00.000Z');"
          "INSERT INTO datasets (id, name, created_at, project_id) VALUES ('b0b0b0b0b0b0b0b0', 'bulk', "
          "'2026-01-01T00:00:00.000Z', 'b1b1b1b1b1b1b1b1');"
          "INSERT INTO blobs (content_hash, pixel_hash, format, mime_type, byte_size, width, height, "
          "thumb_jpeg, "
          "created_at) SELECT md5('c' || g) || md5('d' || g), md5('p' || g) || md5('q' || g), 'png', "
          "'image/png', "
          "1, 1, 1, '\\x00'::bytea, '2026-01-01T00:00:00.000Z' FROM generate_series(1, 50000) g;"
          "INSERT INTO images (id, dataset_id, filename, content_hash, width, height, created_at, position, "
          "pixel_hash) SELECT substr(md5('i' || g), 1, 16), 'b0b0b0b0b0b0b0b0', 'f' || g || '.png', "
          "md5('c' || g) || md5('d' || g), 1, 1, '2026-01-01T00:00:00.000Z', g, md5('p' || g) || md5('q' || "
          "g) "
          "FROM generate_series(1, 50000) g;"
          "INSERT INTO embedding_claims (project_id, model_id, pixel_hash) SELECT 'b1b1b1b1b1b1b1b1', "
          "'model-a', md5('p' || g) || md5('q' || g) "
          "FROM generate_series(1, 50000, 2) g;");
    }
    if (GetParam() == Backend::kSqlite) {
      sqlite3* db = nullptr;
      EXPECT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
      sqlite3_exec(db, "ANALYZE", nullptr, nullptr, nullptr);
      sqlite3_close(db);
    } else {
      postgres_->Exec("ANALYZE");
    }
    return d;
  }

  TempDir dir_;
  std::unique_ptr<PostgresTestDatabase> postgres_;
  std::string path_;
  std::unique_ptr<Catalog> catalog_;
  int clock_ = 0;
};

INSTANTIATE_TEST_SUITE_P(Backends, ImagePagesTest, ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return info.param == Backend::kSqlite ? "Sqlite" : "Postgres";
                         });

TEST_P(ImagePagesTest, KeysetPagesSkipAndRepeatNothingUnderConcurrentChanges) {
  const std::string d = Dataset();
  std::vector<ImageRecord> images;
  for (int i = 0; i < 25; ++i)
    images.push_back(Add(d, "f" + std::to_string(100 + i), "p" + std::to_string(i)));
  ImagePageQuery q{d, kDefaultProjectId, kModel, ImageFilter::kAll, "", ImagePageQuery::From::kOffset, 0, 0,
                   10};
  ImagePage first = Page(q);
  ASSERT_EQ(first.images.size(), 10u);
  EXPECT_EQ(first.first_index, 0);
  EXPECT_EQ(first.matched, 25);
  EXPECT_FALSE(first.more_before);
  EXPECT_TRUE(first.more_after);

  // An upload between pages lands at the end; the next page starts right after the last one.
  Add(d, "f999", "late");
  q.from = ImagePageQuery::From::kAfter;
  q.position = first.images.back().image.position;
  ImagePage second = Page(q);
  ASSERT_EQ(second.images.size(), 10u);
  EXPECT_EQ(second.images.front().image.id, images[10].id);
  EXPECT_EQ(second.first_index, 10);
  EXPECT_TRUE(second.more_before);
  EXPECT_TRUE(second.more_after);
  EXPECT_EQ(second.matched, 26);

  q.position = second.images.back().image.position;
  ImagePage third = Page(q);
  EXPECT_EQ(third.images.size(), 6u);  // 20..24 and the late one
  EXPECT_FALSE(third.more_after);
  EXPECT_EQ(third.images.back().image.filename, "f999");

  // Backwards from the third page: the 10 before it, in upload order, nearest last.
  q.from = ImagePageQuery::From::kBefore;
  q.position = third.images.front().image.position;
  ImagePage back = Page(q);
  ASSERT_EQ(back.images.size(), 10u);
  EXPECT_EQ(back.images.front().image.id, images[10].id);
  EXPECT_EQ(back.images.back().image.id, images[19].id);
  EXPECT_EQ(back.first_index, 10);
  EXPECT_TRUE(back.more_before);
  EXPECT_TRUE(back.more_after);
}

TEST_P(ImagePagesTest, OffsetJumpsAndAnswersEmptyPastTheEnd) {
  const std::string d = Dataset();
  for (int i = 0; i < 12; ++i) Add(d, "img" + std::to_string(10 + i), "p" + std::to_string(i));
  ImagePageQuery q{d, kDefaultProjectId, kModel, ImageFilter::kAll, "", ImagePageQuery::From::kOffset, 7, 0,
                   3};
  ImagePage page = Page(q);
  EXPECT_EQ(Names(page), (std::vector<std::string>{"img17", "img18", "img19"}));
  EXPECT_EQ(page.first_index, 7);
  EXPECT_TRUE(page.more_before);
  EXPECT_TRUE(page.more_after);
  q.offset = 12;
  page = Page(q);
  EXPECT_TRUE(page.images.empty());
  EXPECT_EQ(page.matched, 12);
  EXPECT_FALSE(page.more_after);
}

// Unfiltered pages find an offset and count an index from positions when they are dense, and
// walk the index when they are not: a gap (written with SQL; the catalog itself removes images
// only with their dataset) gives the same pages and indexes as the walk.
TEST_P(ImagePagesTest, OffsetsAndIndexesAreExactWithAndWithoutGapsInThePositions) {
  const std::string d = Dataset();
  std::vector<ImageRecord> images;
  for (int i = 0; i < 20; ++i)
    images.push_back(Add(d, "g" + std::to_string(10 + i), "p" + std::to_string(i)));
  auto check = [&](const std::vector<ImageRecord>& expected, const std::string& what) {
    ImagePageQuery q{d, kDefaultProjectId, kModel, ImageFilter::kAll, "", ImagePageQuery::From::kOffset, 0, 0,
                     4};
    for (int64_t offset = 0; offset < static_cast<int64_t>(expected.size()); offset += 3) {
      q.from = ImagePageQuery::From::kOffset;
      q.offset = offset;
      const ImagePage page = Page(q);
      ASSERT_FALSE(page.images.empty()) << what << " offset " << offset;
      EXPECT_EQ(page.first_index, offset) << what;
      EXPECT_EQ(page.images.front().image.id, expected[offset].id) << what << " offset " << offset;
      EXPECT_EQ(page.matched, static_cast<int64_t>(expected.size())) << what;
      // The same images after the one before, and before the one after the page.
      q.from = ImagePageQuery::From::kAfter;
      q.position = offset > 0 ? expected[offset - 1].position : -1;
      const ImagePage after = Page(q);
      EXPECT_EQ(after.first_index, offset) << what << " after, offset " << offset;
      EXPECT_EQ(Names(after), Names(page)) << what;
      const size_t end = std::min(expected.size(), static_cast<size_t>(offset) + page.images.size());
      if (end < expected.size()) {
        q.from = ImagePageQuery::From::kBefore;
        q.position = expected[end].position;
        const ImagePage before = Page(q);
        EXPECT_EQ(before.first_index, static_cast<int64_t>(end) - static_cast<int64_t>(before.images.size()))
            << what << " before, offset " << offset;
        EXPECT_EQ(before.images.back().image.id, expected[end - 1].id) << what;
      }
    }
  };
  check(images, "dense");

  // Image 5 goes, and its count with it.
  const std::string gap = "DELETE FROM images WHERE id = '" + images[5].id +
                          "'; UPDATE dataset_counts SET value = value - 1 WHERE dataset_id = '" + d +
                          "' AND name = 'images'";
  if (GetParam() == Backend::kSqlite) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, gap.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_close(db);
  } else {
    postgres_->Exec(gap);
  }
  images.erase(images.begin() + 5);
  ASSERT_EQ(Counts(d).all, 19);
  check(images, "with a gap");
}

TEST_P(ImagePagesTest, FilenameSearchIsCaseInsensitiveAndTakesWildcardsLiterally) {
  const std::string d = Dataset();
  Add(d, "Cat_01.PNG", "a");
  Add(d, "cat%02.png", "b");
  Add(d, "dog.png", "c");
  Add(d, "catX01.png", "d");
  ImagePageQuery q{
      d, kDefaultProjectId, kModel, ImageFilter::kAll, "CAT", ImagePageQuery::From::kOffset, 0, 0, 10};
  EXPECT_EQ(Names(Page(q)), (std::vector<std::string>{"Cat_01.PNG", "cat%02.png", "catX01.png"}));
  q.q = "t_0";
  EXPECT_EQ(Names(Page(q)), (std::vector<std::string>{"Cat_01.PNG"}));
  q.q = "%";
  ImagePage page = Page(q);
  EXPECT_EQ(Names(page), (std::vector<std::string>{"cat%02.png"}));
  EXPECT_EQ(page.matched, 1);
  q.q = "\\";
  EXPECT_TRUE(Page(q).images.empty());
}

TEST_P(ImagePagesTest, AnnotatedFilterAndCounterFollowAnnotations) {
  const std::string d = Dataset();
  const ImageRecord a = Add(d, "a", "a");
  const ImageRecord b = Add(d, "b", "b");
  AnnotationRecord ann;
  ann.image_id = b.id;
  ann.category = "cat";
  ann.mask_height = 3;
  ann.mask_width = 4;
  ann.rle_counts = "0";
  ann.created_at = ann.updated_at = "2026-01-01T00:00:00.000Z";
  for (const char* id : {"0000000000000a01", "0000000000000a02"}) {
    ann.id = id;
    ASSERT_TRUE(catalog_->CreateAnnotation(ann).ok());
  }
  EXPECT_EQ(Counts(d).annotated, 1);
  ImagePageQuery q{
      d, kDefaultProjectId, kModel, ImageFilter::kAnnotated, "", ImagePageQuery::From::kOffset, 0, 0, 10};
  ImagePage page = Page(q);
  ASSERT_EQ(page.images.size(), 1u);
  EXPECT_EQ(page.images[0].image.id, b.id);
  EXPECT_EQ(page.images[0].annotation_count, 2);
  EXPECT_EQ(page.matched, 1);
  ASSERT_TRUE(catalog_->DeleteAnnotation("0000000000000a01").ok());
  EXPECT_EQ(Counts(d).annotated, 1);
  ASSERT_TRUE(catalog_->DeleteAnnotation("0000000000000a02").ok());
  EXPECT_EQ(Counts(d).annotated, 0);
  EXPECT_TRUE(Page(q).images.empty());
  (void)a;
}

TEST_P(ImagePagesTest, DuplicatesPointAtTheOldestCopyAndMoveWhenItsDatasetGoes) {
  const std::string first = Dataset();
  const std::string second = Dataset();
  const std::string third = Dataset();
  const ImageRecord original = Add(first, "orig", "same");
  const ImageRecord copy2 = Add(second, "copy2", "same");
  Add(second, "other", "other");
  const ImageRecord copy3 = Add(third, "copy3", "same");
  ImagePageQuery q{
      second, kDefaultProjectId, kModel, ImageFilter::kDuplicates, "", ImagePageQuery::From::kOffset, 0, 0,
      10};
  ImagePage page = Page(q);
  ASSERT_EQ(page.images.size(), 1u);
  EXPECT_EQ(page.images[0].duplicate_of, original.id);
  EXPECT_EQ(Counts(second).duplicates, 1);
  // Another project's copy is none of this project's business.
  ASSERT_TRUE(catalog_->CreateProject({"00000000000000b1", "other", "2026-01-01T00:00:00.000Z"}).ok());
  const std::string foreign = Dataset("00000000000000b1");
  Add(foreign, "foreign", "same");
  EXPECT_EQ(Counts(foreign).duplicates, 0);

  ASSERT_TRUE(catalog_->DeleteDataset(first).ok());
  page = Page(q);
  EXPECT_TRUE(page.images.empty());  // copy2 is the oldest now
  EXPECT_EQ(Counts(second).duplicates, 0);
  q.dataset_id = third;
  page = Page(q);
  ASSERT_EQ(page.images.size(), 1u);
  EXPECT_EQ(page.images[0].image.id, copy3.id);
  EXPECT_EQ(page.images[0].duplicate_of, copy2.id);
  EXPECT_EQ(Counts(third).duplicates, 1);
}

TEST_P(ImagePagesTest, NearDuplicateMarksCountOnce) {
  const std::string d = Dataset();
  const ImageRecord a = Add(d, "a", "a");
  const ImageRecord b = Add(d, "b", "b");
  Add(d, "c", "c");
  ASSERT_TRUE(catalog_->MarkNearDuplicates({a.id, b.id}).ok());
  ASSERT_TRUE(catalog_->MarkNearDuplicates({b.id, "ffffffffffffffff"}).ok());
  EXPECT_EQ(Counts(d).near_duplicates, 2);
  ImagePageQuery q{
      d, kDefaultProjectId, kModel, ImageFilter::kNearDuplicates, "", ImagePageQuery::From::kOffset, 0, 0,
      10};
  EXPECT_EQ(Names(Page(q)), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(Page(q).images[0].near_duplicate);
}

TEST_P(ImagePagesTest, CachedFollowsTheProjectsClaimsForTheModel) {
  const std::string d = Dataset();
  const ImageRecord a = Add(d, "a", "a");
  const ImageRecord b = Add(d, "b", "b");
  const ImageRecord c = Add(d, "c", "c");
  ASSERT_TRUE(catalog_->AddClaims(kDefaultProjectId, kModel, {a.pixel_hash, a.pixel_hash}).ok());
  ASSERT_TRUE(catalog_->AddClaims(kDefaultProjectId, kModel, {a.pixel_hash}).ok());  // no double count
  ASSERT_TRUE(catalog_->AddClaims(kDefaultProjectId, "model-b", {b.pixel_hash}).ok());
  // Another project's claim says nothing about this one.
  ASSERT_TRUE(catalog_->CreateProject({"00000000000000b1", "other", "2026-01-01T00:00:00.000Z"}).ok());
  ASSERT_TRUE(catalog_->AddClaims("00000000000000b1", kModel, {c.pixel_hash}).ok());
  EXPECT_EQ(Counts(d).claimed, 1);
  // A later image of a claimed picture counts as claimed too.
  const ImageRecord a2 = Add(d, "a2", "a");
  EXPECT_EQ(Counts(d).claimed, 2);
  ImagePageQuery q{
      d, kDefaultProjectId, kModel, ImageFilter::kCached, "", ImagePageQuery::From::kOffset, 0, 0, 10};
  EXPECT_EQ(Names(Page(q)), (std::vector<std::string>{"a", "a2"}));
  EXPECT_EQ(Page(q).matched, 2);
  q.filter = ImageFilter::kNotCached;
  EXPECT_EQ(Names(Page(q)), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(Page(q).matched, 2);
  (void)a2;
}

TEST_P(ImagePagesTest, TheDatasetsImageCountIsItsCounter) {
  const std::string d = Dataset();
  for (int i = 0; i < 3; ++i) Add(d, "f" + std::to_string(i), "p" + std::to_string(i));
  Result<DatasetRecord> dataset = catalog_->GetDataset(d);
  ASSERT_TRUE(dataset.ok());
  EXPECT_EQ(dataset->image_count, 3);
  EXPECT_EQ(Counts(d).all, 3);
  Result<std::string> key = catalog_->CursorKey();
  ASSERT_TRUE(key.ok());
  EXPECT_TRUE(IsSha256Hex(*key));
}

// ---- Query plans -------------------------------------------------------------------------

constexpr ImageFilter kFilters[] = {
    ImageFilter::kAll,        ImageFilter::kNotCached,      ImageFilter::kCached,
    ImageFilter::kDuplicates, ImageFilter::kNearDuplicates, ImageFilter::kAnnotated};
constexpr PageStatement kStatements[] = {PageStatement::kAfter,       PageStatement::kBefore,
                                         PageStatement::kOffset,      PageStatement::kCountBefore,
                                         PageStatement::kCountAll,    PageStatement::kFirstPosition,
                                         PageStatement::kLastPosition};

// The plan of `sql` (literal values, no parameters) on the test's catalog.
std::string PlanOf(Backend backend, const std::string& path, const std::string& sql) {
  std::string plan;
  if (backend == Backend::kSqlite) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    const std::string explain = "EXPLAIN QUERY PLAN " + sql;
    EXPECT_EQ(sqlite3_prepare_v2(db, explain.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    while (stmt != nullptr && sqlite3_step(stmt) == SQLITE_ROW) {
      plan += reinterpret_cast<const char*>(sqlite3_column_text(stmt, 3));
      plan += "\n";
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
  } else {
    pqxx::connection c(path);
    pqxx::nontransaction tx(c);
    for (const auto& row : tx.exec("EXPLAIN " + sql)) plan += row[0].as<std::string>() + "\n";
  }
  return plan;
}

// A plan reads images through an index: no line scans the images table whole.
void ExpectIndexed(const std::string& plan, const std::string& what) {
  SCOPED_TRACE(what + "\n" + plan);
  std::cout << "--- " << what << "\n" << plan;
  for (const char* scan :
       {"SCAN i\n", "SCAN i ", "SCAN b", "SCAN c", "SCAN images", "SCAN annotations", "Seq Scan on images",
        "Seq Scan on blobs", "Seq Scan on embedding_claims", "Seq Scan on annotations"}) {
    EXPECT_EQ(plan.find(scan), std::string::npos) << scan;
  }
}

TEST_P(ImagePagesTest, EveryPageAndCountStatementUsesAnIndex) {
  const std::string d = ScaleCatalog();
  for (const ImageFilter filter : kFilters) {
    for (const bool has_q : {false, true}) {
      for (const PageStatement statement : kStatements) {
        const std::string what = "filter " + std::to_string(static_cast<int>(filter)) + " q " +
                                 std::to_string(has_q) + " statement " +
                                 std::to_string(static_cast<int>(statement));
        std::string plan;
        if (GetParam() == Backend::kSqlite) {
          sqlite3* db = nullptr;
          ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
          sqlite3_stmt* stmt = nullptr;
          const std::string sql =
              std::string("EXPLAIN QUERY PLAN ") + PageSql(Dialect::kSqlite, statement, filter, has_q);
          ASSERT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
          sqlite3_bind_text(stmt, 1, d.c_str(), -1, SQLITE_TRANSIENT);
          sqlite3_bind_int64(stmt, 2, 100);
          sqlite3_bind_int64(stmt, 3, 51);
          sqlite3_bind_text(stmt, 4, kDefaultProjectId, -1, SQLITE_TRANSIENT);
          sqlite3_bind_text(stmt, 5, kModel, -1, SQLITE_TRANSIENT);
          sqlite3_bind_text(stmt, 6, "%file1%", -1, SQLITE_TRANSIENT);
          while (sqlite3_step(stmt) == SQLITE_ROW) {
            plan += reinterpret_cast<const char*>(sqlite3_column_text(stmt, 3));
            plan += "\n";
          }
          sqlite3_finalize(stmt);
          sqlite3_close(db);
        } else {
          pqxx::connection c(path_);
          pqxx::nontransaction tx(c);
          const pqxx::result rows =
              tx.exec_params(std::string("EXPLAIN ") + PageSql(Dialect::kPostgres, statement, filter, has_q),
                             d, 100, 51, kDefaultProjectId, kModel, "%file1%");
          for (const auto& row : rows) plan += row[0].as<std::string>() + "\n";
        }
        ExpectIndexed(plan, what);
      }
    }
  }
}

// The other statements of listing, counting and the jobs around it (text as in the backends'
// .cpp files, values inlined): the dataset's images in order (prewarm, export), the batched
// claim question (prewarm's "what is cached?"), the counter upkeep of uploads, claims and
// deletes, the prewarm queue and the annotation counts.
TEST_P(ImagePagesTest, TheStatementsAroundPagesUseIndexes) {
  const std::string d = ScaleCatalog();
  const bool sqlite = GetParam() == Backend::kSqlite;
  const std::string p = kDefaultProjectId;
  const std::string hashes = sqlite ? "(SELECT value FROM json_each('[\"" + Sha256Hex("a") + "\"]'))"
                                    : "ANY('{" + Sha256Hex("a") + "}'::varchar[])";
  const std::string in = sqlite ? " IN " : " = ";
  const std::vector<std::pair<std::string, std::string>> statements = {
      {"ListImages",
       "SELECT i.id, i.position FROM images i JOIN blobs b ON b.content_hash = i.content_hash "
       "WHERE i.dataset_id = '" +
           d + "' ORDER BY i.position"},
      {"FilterClaimed", "SELECT DISTINCT pixel_hash FROM embedding_claims WHERE project_id = '" + p +
                            "' AND model_id IN ('model-a', '*') AND pixel_hash" + in + hashes},
      {"AddImage: oldest copy",
       "SELECT o.id FROM images o JOIN datasets od ON od.id = o.dataset_id "
       "WHERE o.pixel_hash = '" +
           Sha256Hex("a") + "' AND od.project_id = '" + p + "' ORDER BY o.created_at LIMIT 1"},
      {"AddClaims: counters",
       "SELECT i.dataset_id, COUNT(*) FROM images i JOIN datasets d ON d.id = i.dataset_id "
       "WHERE i.pixel_hash" +
           in + hashes + " AND d.project_id = '" + p + "' GROUP BY i.dataset_id"},
      {"DeleteDataset: copies elsewhere",
       "SELECT DISTINCT dataset_id FROM images WHERE dataset_id <> '" + d +
           "' AND duplicate_of IN (SELECT id FROM images WHERE dataset_id = '" + d + "')"},
      {"counters", "SELECT name, value FROM dataset_counts WHERE dataset_id = '" + d + "'"},
      {"image_count", "SELECT COALESCE((SELECT c.value FROM dataset_counts c WHERE c.dataset_id = '" + d +
                          "' AND c.name = 'images'), 0)"},
      {"CountAnnotationsPerImage", "SELECT i.id, i.annotation_count FROM images i WHERE i.dataset_id = '" +
                                       d + "' AND i.annotation_count > 0"},
      {"ListPrewarmFailures", "SELECT image_id, filename, reason FROM prewarm_failures WHERE job_id = 'j'"},
      {"ClaimNextPrewarmJob",
       "SELECT id FROM prewarm_jobs WHERE model_id = 'model-a' AND ((status = 'queued' "
       "AND runner = '') OR (status IN ('queued', 'running') AND heartbeat_ms < 5)) "
       "ORDER BY created_at LIMIT 1"},
  };
  for (const auto& [what, sql] : statements) ExpectIndexed(PlanOf(GetParam(), path_, sql), what);
}

// The export's annotation pages (text as in the backends' ListDatasetAnnotationsAfter, with
// parameters as they run there, left unbound): each page starts from its image position on
// the index, not from the dataset's first image, so that a whole export is linear.
TEST_P(ImagePagesTest, AnnotationPagesOfTheExportStartAtTheirPosition) {
  const std::string d = ScaleCatalog();
  std::string plan;
  if (GetParam() == Backend::kSqlite) {
    plan = PlanOf(GetParam(), path_,
                  "SELECT a.id FROM annotations a JOIN images i ON i.id = a.image_id "
                  "WHERE i.dataset_id = ? AND i.position >= ? AND "
                  "(i.position > ? OR (i.position = ? AND a.position > ?)) "
                  "ORDER BY i.position, a.position LIMIT ?");
    EXPECT_NE(plan.find("(dataset_id=? AND position>?)"), std::string::npos) << plan;
  } else {
    // Annotations as in a labelled catalog: 250,000 on the other project's images, 5 on each of
    // the dataset's; the planner then walks the images' index as it would at scale.
    const std::string columns =
        "INSERT INTO annotations (id, image_id, position, category, mask_height, mask_width, rle_counts, "
        "bbox_x, bbox_y, bbox_w, bbox_h, area, created_at, updated_at) ";
    postgres_->Exec(
        columns +
        "SELECT 'a' || g, substr(md5('i' || (g % 50000 + 1)), 1, 16), g, 'c', 1, 1, '1', 0, 0, 1, "
        "1, 1, 't', 't' FROM generate_series(1, 250000) g;" +
        columns +
        "SELECT 'b' || i.id || g, i.id, g, 'c', 1, 1, '1', 0, 0, 1, 1, 1, 't', 't' FROM images i, "
        "generate_series(1, 5) g WHERE i.dataset_id = '" +
        d + "'; ANALYZE");
    pqxx::connection c(path_);
    pqxx::nontransaction tx(c);
    tx.exec(
        "PREPARE annotations_after(text, bigint, bigint, bigint) AS SELECT a.id FROM annotations a JOIN "
        "images i ON i.id = a.image_id WHERE i.dataset_id = $1 AND i.position >= $2 AND "
        "(i.position, a.position) > ($2, $3) ORDER BY i.position, a.position LIMIT $4");
    for (const auto& row : tx.exec("EXPLAIN EXECUTE annotations_after('" + d + "', 150, 0, 256)"))
      plan += row[0].as<std::string>() + "\n";
    EXPECT_NE(plan.find("AND (\"position\" >= '150'::bigint))"), std::string::npos) << plan;
  }
  ExpectIndexed(plan, "ListDatasetAnnotationsAfter");
}

}  // namespace
}  // namespace samcache
