// dataset_page_bench (issue 18): GET /api/sam/dataset/{id} latency at 100,000 images in one
// dataset, through the real `samcache serve`, on SQLite and (when a test PostgreSQL server is
// configured, see scripts/test_services.sh) on PostgreSQL: page 1, a deep page by offset
// (90,000) and by cursor (at 90,000), for filter=all, each filter and a filename search.
//
// The catalog is filled through the catalog API (AddImage, AddClaims, CreateAnnotation,
// MarkNearDuplicates) with synthetic records, not decoded images: the listing reads only the
// catalog, and decoding 100,000 pictures would measure the ingest instead. On PostgreSQL the
// same rows are written with SQL by default (FillWithSql; --postgres-api-fill for AddImage). 1% of the images
// repeat an earlier picture (duplicates), 1% are marked near duplicates, 1% have an annotation,
// and the project claims 73% of the pictures for the served model.
#include <httplib.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench_util.h"
#include "catalog/catalog.h"
#include "common/crypto.h"
#include "support/postgres_test_db.h"
#include "support/test_support.h"

namespace samcache::bench {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string Fill(Catalog& catalog, int n, const std::string& model) {
  DatasetRecord d{RandomId(), "bench-100k", "2026-01-01T00:00:00.000Z", 0, kDefaultProjectId};
  if (!catalog.CreateDataset(d).ok()) throw std::runtime_error("cannot create the dataset");
  const auto start = Clock::now();
  std::vector<std::string> claims;
  std::vector<std::string> marks;
  for (int i = 0; i < n; ++i) {
    NewImage img;
    img.id = RandomId();
    img.dataset_id = d.id;
    img.filename = "IMG_" + std::to_string(100000 + i) + ".jpg";
    // Every 100th image repeats the picture of the one 50 before it.
    const int picture = i % 100 == 99 ? i - 50 : i;
    img.blob.content_hash = Sha256Hex("bench-content-" + std::to_string(i));
    img.blob.pixel_hash = Sha256Hex("bench-pixels-" + std::to_string(picture));
    img.blob.format = "jpeg";
    img.blob.mime_type = "image/jpeg";
    img.blob.byte_size = 20000;
    img.blob.width = 640;
    img.blob.height = 480;
    img.blob.thumb_jpeg = std::string(600, 't');
    img.blob.created_at = "2026-01-01T00:00:00.000Z";
    Result<AddImageOutcome> added = catalog.AddImage(img);
    if (!added.ok()) throw std::runtime_error("AddImage: " + added.status().message());
    if (i % 100 < 73) claims.push_back(img.blob.pixel_hash);
    if (i % 100 == 42) marks.push_back(img.id);
    if (i % 100 == 17) {
      AnnotationRecord a;
      a.id = RandomId();
      a.image_id = img.id;
      a.category = "thing";
      a.mask_height = 480;
      a.mask_width = 640;
      a.rle_counts = "0";
      a.created_at = a.updated_at = "2026-01-01T00:00:00.000Z";
      if (!catalog.CreateAnnotation(a).ok()) throw std::runtime_error("CreateAnnotation failed");
    }
    if (claims.size() >= 2000) {
      if (!catalog.AddClaims(kDefaultProjectId, model, claims).ok()) throw std::runtime_error("AddClaims");
      claims.clear();
    }
    if ((i + 1) % 20000 == 0) std::printf("  %d images stored (%.0f s)\n", i + 1, MsSince(start) / 1000);
  }
  if (!catalog.AddClaims(kDefaultProjectId, model, claims).ok()) throw std::runtime_error("AddClaims");
  if (!catalog.MarkNearDuplicates(marks).ok()) throw std::runtime_error("MarkNearDuplicates");
  std::printf("  filled %d images in %.1f s (%.0f images/s)\n", n, MsSince(start) / 1000,
              n / (MsSince(start) / 1000));
  return d.id;
}

// The same dataset as Fill, written with SQL (PostgreSQL): AddImage's dozen round trips per
// image make 100,000 of them take over half an hour on a loaded machine. The counters are
// computed as migration 9 computes them from existing rows.
std::string FillWithSql(const testing::PostgresTestDatabase& db, Catalog& catalog, int n,
                        const std::string& model) {
  DatasetRecord d{RandomId(), "bench-100k", "2026-01-01T00:00:00.000Z", 0, kDefaultProjectId};
  if (!catalog.CreateDataset(d).ok()) throw std::runtime_error("cannot create the dataset");
  const auto start = Clock::now();
  const std::string N = std::to_string(n - 1);
  // Image g shows picture g, except every 100th, which repeats picture g - 50.
  const std::string pic = "(CASE WHEN g % 100 = 99 THEN g - 50 ELSE g END)";
  db.Exec(
      "INSERT INTO blobs (content_hash, pixel_hash, format, mime_type, byte_size, width, height, thumb_jpeg, "
      "created_at) SELECT md5('c' || g) || md5('d' || g), md5('p' || " +
      pic + ") || md5('q' || " + pic +
      "), 'jpeg', 'image/jpeg', 20000, 640, 480, decode(repeat('74', 600), 'hex'), "
      "'2026-01-01T00:00:00.000Z' "
      "FROM generate_series(0, " +
      N +
      ") g;"
      "INSERT INTO images (id, dataset_id, filename, content_hash, width, height, created_at, position, "
      "pixel_hash, annotation_count, duplicate_of, near_duplicate) SELECT lpad(to_hex(g), 16, '0'), '" +
      d.id +
      "', 'IMG_' || (100000 + g) || '.jpg', md5('c' || g) || md5('d' || g), 640, 480, "
      "'2026-01-01T00:00:00.000Z', g, md5('p' || " +
      pic + ") || md5('q' || " + pic +
      "), "
      "CASE WHEN g % 100 = 17 THEN 1 ELSE 0 END, "
      "CASE WHEN g % 100 = 99 THEN lpad(to_hex(g - 50), 16, '0') END, CASE WHEN g % 100 = 42 THEN 1 ELSE 0 "
      "END "
      "FROM generate_series(0, " +
      N +
      ") g;"
      "INSERT INTO annotations (id, image_id, position, category, mask_height, mask_width, rle_counts, "
      "bbox_x, "
      "bbox_y, bbox_w, bbox_h, area, created_at, updated_at) SELECT lpad(to_hex(g + 16777216), 16, '0'), "
      "lpad(to_hex(g), 16, '0'), 0, 'thing', 480, 640, '0', 0, 0, 1, 1, 1, '2026-01-01T00:00:00.000Z', "
      "'2026-01-01T00:00:00.000Z' FROM generate_series(0, " +
      N +
      ") g WHERE g % 100 = 17;"
      "INSERT INTO embedding_claims (project_id, model_id, pixel_hash) SELECT DISTINCT '" +
      std::string(kDefaultProjectId) + "', '" + model +
      "', i.pixel_hash FROM images i WHERE i.dataset_id = '" + d.id +
      "' AND i.position % 100 < 73 ON CONFLICT DO NOTHING;"
      "INSERT INTO dataset_counts (dataset_id, name, value) SELECT '" +
      d.id +
      "', 'images', COUNT(*) FROM images "
      "WHERE dataset_id = '" +
      d.id +
      "';"
      "INSERT INTO dataset_counts (dataset_id, name, value) SELECT '" +
      d.id +
      "', 'duplicates', COUNT(*) FROM "
      "images WHERE dataset_id = '" +
      d.id +
      "' AND duplicate_of IS NOT NULL;"
      "INSERT INTO dataset_counts (dataset_id, name, value) SELECT '" +
      d.id +
      "', 'annotated', COUNT(*) FROM "
      "images WHERE dataset_id = '" +
      d.id +
      "' AND annotation_count > 0;"
      "INSERT INTO dataset_counts (dataset_id, name, value) SELECT '" +
      d.id +
      "', 'near_duplicates', COUNT(*) "
      "FROM images WHERE dataset_id = '" +
      d.id +
      "' AND near_duplicate <> 0;"
      "INSERT INTO dataset_counts (dataset_id, name, value) SELECT '" +
      d.id + "', 'claimed:" + model + "', COUNT(*) FROM images i WHERE i.dataset_id = '" + d.id +
      "' AND EXISTS (SELECT 1 FROM embedding_claims c "
      "WHERE c.project_id = '" +
      std::string(kDefaultProjectId) +
      "' AND c.pixel_hash = i.pixel_hash);"
      "ANALYZE;");
  // As autovacuum would soon after such an insert: the visibility map lets the offset and the
  // index counts read the index alone.
  db.Exec("VACUUM ANALYZE");
  std::printf("  filled %d images with SQL in %.1f s\n", n, MsSince(start) / 1000);
  return d.id;
}

// p50 and p99 of `samples` GETs of `path`; the answer's status must be 200.
std::pair<double, double> Time(httplib::Client& client, const std::string& path, int samples) {
  std::vector<double> ms;
  for (int i = 0; i < samples + 2; ++i) {
    const auto start = Clock::now();
    auto r = client.Get(path);
    const double elapsed = MsSince(start);
    if (!r || r->status != 200) throw std::runtime_error("GET " + path + " failed: " + (r ? r->body : ""));
    if (i >= 2) ms.push_back(elapsed);  // the first two warm the caches
  }
  return {Percentile(ms, 50), Percentile(ms, 99)};
}

std::string Json(httplib::Client& client, const std::string& path, const char* field) {
  auto r = client.Get(path);
  if (!r || r->status != 200) throw std::runtime_error("GET " + path + " failed");
  const json body = json::parse(r->body);
  const json& cursor = body["page"][field];
  return cursor.is_null() ? "" : cursor.get<std::string>();
}

void Measure(const std::string& backend, const std::string& db, const std::filesystem::path& dir, int n,
             int samples, int limit, const testing::PostgresTestDatabase* sql_fill = nullptr) {
  std::printf("\n== %s, %d images in one dataset ==\n", backend.c_str(), n);
  // The server first: the claims are for the model it serves (ids come from the model).
  testing::ServerProcess server(dir / ("data-" + backend),
                                {"--db", db, "--blobs", (dir / ("blobs-" + backend)).string()});
  httplib::Client client("127.0.0.1", server.port());
  client.set_read_timeout(120, 0);
  auto models = client.Get("/api/sam/models");
  if (!models || models->status != 200) throw std::runtime_error("GET /api/sam/models failed");
  const std::string model = json::parse(models->body)["default_model"].get<std::string>();
  std::string dataset;
  {
    Result<std::unique_ptr<Catalog>> catalog = OpenCatalog(db);
    if (!catalog.ok()) throw std::runtime_error(catalog.status().message());
    dataset = sql_fill != nullptr ? FillWithSql(*sql_fill, **catalog, n, model) : Fill(**catalog, n, model);
  }
  const std::string base = "/api/sam/dataset/" + dataset + "?limit=" + std::to_string(limit);
  const int deep = n * 9 / 10;
  std::printf("%-32s %10s %10s %12s %12s %12s %12s\n", ("case (limit " + std::to_string(limit) + ")").c_str(),
              "p1 p50", "p1 p99", "off p50", "off p99", "cursor p50", "cursor p99");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"filter=all", "&filter=all"},
      {"filter=not_cached", "&filter=not_cached"},
      {"filter=cached", "&filter=cached"},
      {"filter=duplicates", "&filter=duplicates"},
      {"filter=near_duplicates", "&filter=near_duplicates"},
      {"filter=annotated", "&filter=annotated"},
      {"q=IMG_1999 (100 matches)", "&q=IMG_1999"},
      {"q=_1 (all match)", "&q=_1"},
  };
  for (const auto& [name, query] : cases) {
    const auto [p1_50, p1_99] = Time(client, base + query, samples);
    // Deep: the offset-th matching image, and a cursor taken from the page just before it.
    const auto matched = json::parse(client.Get(base + query)->body)["page"]["matched"].get<int64_t>();
    const int64_t offset = std::min<int64_t>(deep, std::max<int64_t>(0, matched - limit));
    const auto [off50, off99] = Time(client, base + query + "&offset=" + std::to_string(offset), samples);
    const std::string cursor =
        Json(client, base + query + "&offset=" + std::to_string(std::max<int64_t>(0, offset - limit)),
             "next_cursor");
    double c50 = 0;
    double c99 = 0;
    if (!cursor.empty()) std::tie(c50, c99) = Time(client, base + query + "&cursor=" + cursor, samples);
    std::printf("%-32s %10.2f %10.2f %12.2f %12.2f %12.2f %12.2f   (matched %lld, deep offset %lld)\n",
                name.c_str(), p1_50, p1_99, off50, off99, c50, c99, static_cast<long long>(matched),
                static_cast<long long>(offset));
  }
  const auto [d50, d99] = Time(client, "/api/sam/dataset/" + dataset, samples);
  std::printf("%-32s %10.2f %10.2f\n", "default limit (500), page 1", d50, d99);
}

}  // namespace
}  // namespace samcache::bench

int main(int argc, char** argv) {
  CLI::App cli{"dataset_page_bench: paged dataset listing latency at 100k images (issue 18)"};
  int n = 100000;
  int samples = 30;
  int limit = 200;
  bool sqlite = true;
  bool postgres = true;
  cli.add_option("--images", n, "images in the dataset");
  cli.add_option("--samples", samples, "GETs per case");
  cli.add_option("--limit", limit, "page size");
  cli.add_flag("!--no-sqlite", sqlite, "skip SQLite");
  cli.add_flag("!--no-postgres", postgres, "skip PostgreSQL");
  bool api_fill = false;
  cli.add_flag("--postgres-api-fill", api_fill,
               "fill PostgreSQL through AddImage too (slow: ~45 images/s here)");
  CLI11_PARSE(cli, argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress lines as they come, also into a file
  try {
    samcache::testing::TempDir dir;
    if (sqlite)
      samcache::bench::Measure("sqlite", (dir / "catalog.db").string(), dir.path(), n, samples, limit);
    if (postgres) {
      if (samcache::testing::TestPostgresUrl().empty()) {
        std::printf("\n(PostgreSQL skipped: %s)\n", samcache::testing::kNoPostgresMessage);
      } else {
        samcache::testing::PostgresTestDatabase db;
        samcache::bench::Measure("postgresql", db.url(), dir.path(), n, samples, limit,
                                 api_fill ? nullptr : &db);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dataset_page_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
