// Whole-dataset work in bounded pieces, on both catalog backends: the streamed COCO export
// (byte for byte the document the whole-in-memory export wrote), the keyset-paged reads behind
// it, the paged picture scan, and background dataset deletion in batches.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "annotate/coco_export.h"
#include "catalog/catalog.h"
#include "common/crypto.h"
#include "support/postgres_test_db.h"
#include "support/test_support.h"

namespace samcache {
namespace {

using json = nlohmann::json;
using testing::PostgresTestDatabase;
using testing::TempDir;

BlobRecord Blob(const std::string& content, int width = 64, int height = 32) {
  BlobRecord b;
  b.content_hash = Sha256Hex(content);
  b.pixel_hash = Sha256Hex("pixels of " + content);
  b.format = "png";
  b.mime_type = "image/png";
  b.byte_size = static_cast<int64_t>(content.size());
  b.width = width;
  b.height = height;
  b.thumb_jpeg = std::string("\xFF\xD8\xFF\xD9", 4);
  b.created_at = "2024-05-01T12:00:00.000Z";
  b.perceptual_hash = PerceptualHash{std::hash<std::string>{}(content), ~std::hash<std::string>{}(content)};
  return b;
}

// The export as it was built before it streamed (annotate/coco_export.cpp up to issue 18):
// the reference the streamed document must equal byte for byte.
std::string WholeDocumentExport(Catalog& catalog, const std::string& dataset_id, const std::string& date) {
  const DatasetRecord dataset = *catalog.GetDataset(dataset_id);
  const std::vector<ImageRecord> images = *catalog.ListImages(dataset_id);
  const std::vector<AnnotationRecord> annotations = *catalog.ListDatasetAnnotations(dataset_id);
  std::map<std::string, int64_t> image_ids;
  json coco_images = json::array();
  for (const ImageRecord& image : images) {
    const int64_t id = static_cast<int64_t>(image_ids.size()) + 1;
    image_ids.emplace(image.id, id);
    coco_images.push_back({{"id", id},
                           {"file_name", ExportText(image.filename)},
                           {"width", image.width},
                           {"height", image.height},
                           {"samcache_image_id", image.id}});
  }
  std::map<std::string, int64_t> category_ids;
  for (const AnnotationRecord& a : annotations) category_ids.emplace(ExportText(a.category), 0);
  json categories = json::array();
  for (auto& [name, id] : category_ids) {
    id = static_cast<int64_t>(categories.size()) + 1;
    categories.push_back({{"id", id}, {"name", name}, {"supercategory", ""}});
  }
  json coco_annotations = json::array();
  for (const AnnotationRecord& a : annotations) {
    json entry{{"id", static_cast<int64_t>(coco_annotations.size()) + 1},
               {"image_id", image_ids.at(a.image_id)},
               {"category_id", category_ids.at(ExportText(a.category))},
               {"segmentation", {{"size", {a.mask_height, a.mask_width}}, {"counts", a.rle_counts}}},
               {"area", a.area},
               {"bbox", a.bbox},
               {"iscrowd", 0},
               {"samcache_annotation_id", a.id}};
    if (a.score) entry["score"] = *a.score;
    coco_annotations.push_back(std::move(entry));
  }
  const json coco{{"info",
                   {{"description", "samcache dataset " + ExportText(dataset.name)},
                    {"version", "1.0"},
                    {"date_created", date},
                    {"samcache_dataset_id", dataset.id}}},
                  {"licenses", json::array()},
                  {"images", std::move(coco_images)},
                  {"annotations", std::move(coco_annotations)},
                  {"categories", std::move(categories)}};
  return coco.dump(-1, ' ', false, json::error_handler_t::replace);
}

// The streamed document with its date_created replaced by `date`.
std::string StreamedExport(Catalog& catalog, const std::string& dataset_id, size_t page_rows, size_t budget,
                           const std::string& date) {
  Result<CocoWriter> writer = CocoWriter::Open(catalog, dataset_id, page_rows);
  EXPECT_TRUE(writer.ok()) << writer.status().message();
  std::string out;
  for (int pieces = 0; pieces < 100000; ++pieces) {
    Result<bool> more = writer->Next(out, budget);
    EXPECT_TRUE(more.ok()) << more.status().message();
    if (!more.ok() || !*more) break;
  }
  const std::string key = "\"date_created\":\"";
  const size_t at = out.find(key);
  EXPECT_NE(at, std::string::npos);
  if (at != std::string::npos)
    out.replace(at + key.size(), out.find('"', at + key.size()) - at - key.size(), date);
  return out;
}

enum class Backend { kSqlite, kPostgres };

class WholeDatasetTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    std::string where = (dir_.path() / "catalog.db").string();
    if (GetParam() == Backend::kPostgres) {
      ASSERT_FALSE(testing::TestPostgresUrl().empty()) << testing::kNoPostgresMessage;
      postgres_ = std::make_unique<PostgresTestDatabase>();
      where = postgres_->url();
    }
    Result<std::unique_ptr<Catalog>> opened = OpenCatalog(where);
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    catalog_ = std::move(opened).value();
  }

  void MakeDataset(const std::string& id, const std::string& name) {
    ASSERT_TRUE(catalog_->CreateDataset(DatasetRecord{id, name, "2024-05-01T12:00:00.000Z", 0}).ok());
  }
  ImageRecord Add(const std::string& id, const std::string& dataset, const std::string& filename,
                  const BlobRecord& blob) {
    Result<AddImageOutcome> added = catalog_->AddImage(NewImage{id, dataset, filename, blob});
    EXPECT_TRUE(added.ok()) << added.status().message();
    return added.ok() ? added->image : ImageRecord{};
  }
  void Annotate(const std::string& id, const std::string& image_id, const std::string& category,
                std::optional<double> score) {
    AnnotationRecord a;
    a.id = id;
    a.image_id = image_id;
    a.category = category;
    a.mask_height = 32;
    a.mask_width = 64;
    a.rle_counts = "PPYo1" + id;
    a.bbox = {1.5, 2, 30, 12.25};
    a.area = 300;
    a.score = score;
    a.created_at = a.updated_at = "2024-05-01T12:00:00.000Z";
    const Status st = catalog_->CreateAnnotation(a);
    ASSERT_TRUE(st.ok()) << st.message();
  }

  TempDir dir_;
  std::unique_ptr<PostgresTestDatabase> postgres_;
  std::unique_ptr<Catalog> catalog_;
};

INSTANTIATE_TEST_SUITE_P(Backends, WholeDatasetTest, ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const auto& info) {
                           return info.param == Backend::kSqlite ? "Sqlite" : "Postgres";
                         });

TEST_P(WholeDatasetTest, StreamedCocoIsByteIdenticalToTheWholeDocument) {
  MakeDataset("d1", "pets \x1b[31m\xe2\x80\xae evil");
  MakeDataset("other", "other");
  // Images with and without annotations, hostile names, categories that clean to one, scores
  // present and absent, an image of another dataset in between.
  std::vector<ImageRecord> images;
  for (int i = 0; i < 7; ++i) {
    images.push_back(Add("img" + std::to_string(i), "d1",
                         i == 2 ? "bad\x01name\xe2\x80\xae.png" : "f" + std::to_string(i) + ".png",
                         Blob("content " + std::to_string(i))));
    if (i == 3) Add("elsewhere", "other", "x.png", Blob("elsewhere"));
  }
  Annotate("a1", images[0].id, "cat", 0.9);
  Annotate("a2", images[0].id, "dog", std::nullopt);
  Annotate("a3", images[2].id,
           "c\x07"
           "at",
           0.5);
  Annotate("a4", images[4].id, "bird", std::nullopt);
  Annotate("a5", images[4].id, "cat", 0.25);
  Annotate("a6", images[6].id, "\xe2\x81\xa6zebra", 1.0);
  Annotate("x1", "elsewhere", "not this dataset", std::nullopt);

  const std::string date = "2026-01-01T00:00:00.000Z";
  const std::string reference = WholeDocumentExport(*catalog_, "d1", date);
  for (const size_t page_rows : {size_t{1}, size_t{2}, size_t{3}, size_t{256}}) {
    for (const size_t budget : {size_t{1}, size_t{100}, size_t{1} << 20}) {
      EXPECT_EQ(StreamedExport(*catalog_, "d1", page_rows, budget, date), reference)
          << "page of " << page_rows << " rows, pieces of " << budget << " bytes";
    }
  }
  const json parsed = json::parse(reference);
  EXPECT_EQ(parsed["annotations"].size(), 6u);
  EXPECT_EQ(parsed["images"].size(), 7u);

  // An empty dataset, and one with images but no annotations.
  MakeDataset("empty", "empty");
  EXPECT_EQ(StreamedExport(*catalog_, "empty", 2, 10, date), WholeDocumentExport(*catalog_, "empty", date));
  EXPECT_EQ(StreamedExport(*catalog_, "other", 2, 10, date), WholeDocumentExport(*catalog_, "other", date));
  EXPECT_EQ(CocoWriter::Open(*catalog_, "nope").status().code(), StatusCode::kNotFound);
}

TEST_P(WholeDatasetTest, AnExportMetByANewCategoryFailsInsteadOfLyingAboutIt) {
  MakeDataset("d1", "d1");
  const ImageRecord first = Add("i1", "d1", "a.png", Blob("a"));
  const ImageRecord second = Add("i2", "d1", "b.png", Blob("b"));
  Annotate("a1", first.id, "cat", std::nullopt);
  Result<CocoWriter> writer = CocoWriter::Open(*catalog_, "d1", 1);
  ASSERT_TRUE(writer.ok());
  Annotate("a2", second.id, "new category", std::nullopt);  // after the categories were read
  std::string out;
  Status failed = Status::Ok();
  for (int i = 0; i < 20 && failed.ok(); ++i) {
    Result<bool> more = writer->Next(out, 1);
    if (!more.ok())
      failed = more.status();
    else if (!*more)
      break;
  }
  EXPECT_EQ(failed.code(), StatusCode::kConflict) << out;
}

TEST_P(WholeDatasetTest, PagedReadsWalkEverythingOnce) {
  MakeDataset("d1", "d1");
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(Add("i" + std::to_string(i), "d1", "f.png", Blob("c" + std::to_string(i))).id);
    for (int k = 0; k < i % 3; ++k)
      Annotate("a" + std::to_string(i) + std::to_string(k), ids.back(), "cat", std::nullopt);
  }
  std::vector<std::string> walked;
  for (int64_t after = -1;;) {
    const std::vector<ImageRecord> page = *catalog_->ListImagesAfterPosition("d1", after, 2);
    if (page.empty()) break;
    for (const ImageRecord& image : page) walked.push_back(image.id);
    after = page.back().position;
  }
  EXPECT_EQ(walked, ids);

  std::vector<std::string> annotations;
  for (AnnotationPlace after;;) {
    const std::vector<PlacedAnnotation> page = *catalog_->ListDatasetAnnotationsAfter("d1", after, 1);
    if (page.empty()) break;
    annotations.push_back(page.front().annotation.id);
    after = page.back().place;
  }
  std::vector<std::string> whole;
  const std::vector<AnnotationRecord> listed = *catalog_->ListDatasetAnnotations("d1");
  for (const AnnotationRecord& a : listed) whole.push_back(a.id);
  EXPECT_EQ(annotations, whole);
  EXPECT_EQ(*catalog_->ListDatasetCategories("d1"), std::vector<std::string>{"cat"});

  std::set<std::string> pictures;
  ASSERT_TRUE(
      catalog_->ForEachPicture("", [&](const std::string& p, const PerceptualHash&) { pictures.insert(p); })
          .ok());
  std::set<std::string> paged;
  for (std::string after;;) {
    const auto page = *catalog_->ListPicturesAfter("", after, 2);
    if (page.empty()) break;
    for (const auto& [pixel_hash, hash] : page) EXPECT_TRUE(paged.insert(pixel_hash).second);
    after = page.back().first;
  }
  EXPECT_EQ(paged, pictures);
  EXPECT_EQ(catalog_->ListPicturesAfter("2999-01-01", "", 10)->size(), 0u);
}

TEST_P(WholeDatasetTest, ABackgroundDeletionHidesAtOnceThenRemovesInBatches) {
  MakeDataset("big", "big");
  MakeDataset("keep", "keep");
  std::vector<ImageRecord> images;
  for (int i = 0; i < 5; ++i)
    images.push_back(Add("b" + std::to_string(i), "big", "f.png", Blob("big " + std::to_string(i))));
  Add("k0", "keep", "shared.png", Blob("big 0"));  // shares the first blob
  Annotate("a1", images[1].id, "cat", std::nullopt);
  const std::string project = catalog_->GetDataset("big")->project_id;
  ASSERT_TRUE(catalog_->AddClaims(project, "*", {images[2].pixel_hash}).ok());

  Result<DatasetDeletion> begun = catalog_->BeginDatasetDeletion("big", "2026-01-01T00:00:00.000Z");
  ASSERT_TRUE(begun.ok()) << begun.status().message();
  EXPECT_EQ(begun->images_total, 5);
  EXPECT_EQ(begun->state, DeletionState::kDeleting);
  // Hidden at once.
  EXPECT_EQ(catalog_->GetDataset("big").status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(catalog_->FindDataset("big")->has_value());
  EXPECT_EQ(catalog_->ListDatasets()->size(), 1u);
  EXPECT_EQ(catalog_->AddImage(NewImage{"late", "big", "late.png", Blob("late")}).status().code(),
            StatusCode::kNotFound);
  EXPECT_TRUE(catalog_->ListImagesWithPixelHash(images[3].pixel_hash, "")->empty());
  // Beginning again answers the deletion under way.
  EXPECT_EQ(catalog_->BeginDatasetDeletion("big", "later")->started_at, "2026-01-01T00:00:00.000Z");

  std::set<std::string> orphaned;
  int batches = 0;
  for (;; ++batches) {
    ASSERT_LT(batches, 10);
    Result<DeletionBatch> batch = catalog_->DeleteDatasetBatch("big", 2, "2026-01-01T00:00:01.000Z");
    ASSERT_TRUE(batch.ok()) << batch.status().message();
    if (batch->finished) break;
    EXPECT_LE(batch->images.size(), 2u);
    for (const std::string& hash : batch->orphaned_blobs) orphaned.insert(hash);
    const std::vector<std::string> pending = *catalog_->ListPendingBlobRemovals("big");
    EXPECT_EQ(std::set<std::string>(pending.begin(), pending.end()),
              std::set<std::string>(batch->orphaned_blobs.begin(), batch->orphaned_blobs.end()));
    ASSERT_TRUE(
        catalog_->ForgetPendingBlobRemovals("big", pending, static_cast<int64_t>(pending.size())).ok());
  }
  EXPECT_EQ(batches, 3);
  EXPECT_EQ(orphaned.size(), 4u) << "the blob the other dataset shows stays";
  EXPECT_EQ(orphaned.count(images[0].content_hash), 0u);
  EXPECT_TRUE(*catalog_->HasBlob(images[0].content_hash));
  EXPECT_FALSE(*catalog_->HasBlob(images[4].content_hash));
  EXPECT_EQ(catalog_->GetImage(images[4].id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(catalog_->GetAnnotation("a1").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(catalog_->ListClaims("*")->empty());

  const std::optional<DatasetDeletion> done = *catalog_->GetDatasetDeletion("big");
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->state, DeletionState::kDeleted);
  EXPECT_EQ(done->images_removed, 5);
  EXPECT_EQ(done->blobs_removed, 4);
  EXPECT_EQ(done->finished_at, "2026-01-01T00:00:01.000Z");
  EXPECT_TRUE(catalog_->ListUnfinishedDatasetDeletions()->empty());
  EXPECT_EQ(catalog_->DeleteDatasetBatch("big", 2, "x").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(catalog_->BeginDatasetDeletion("big", "x").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(catalog_->ListImages("keep")->size(), 1u);
}

}  // namespace
}  // namespace samcache
