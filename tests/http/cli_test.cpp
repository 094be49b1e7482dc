// The samcache command line, run as a real process: ingest, migrate, stats, and a server
// started on the ingested data.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "catalog/sqlite_migrations.h"
#include "common/crypto.h"
#include "support/test_support.h"

namespace samcache::testing {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

TEST(CliTest, IngestFoldersRecursivelyAndFindDuplicates) {
  TempDir tmp;
  const fs::path photos = tmp / "photos";
  WriteFile(photos / "a.jpg", MakeImageFile(120, 90, 1, ".jpg"));
  WriteFile(photos / "nested" / "b.png", MakeImageFile(100, 80, 2, ".png"));
  WriteFile(photos / "nested" / "deeper" / "c.webp", MakeImageFile(64, 48, 3, ".webp"));
  WriteFile(photos / "nested" / "readme.jpg", "not an image");
  const std::string data = (tmp / "data").string();

  CommandResult first = RunSamcache({"ingest", "--data", data, "--dataset", "holiday", photos.string()});
  EXPECT_EQ(first.exit_code, 0) << first.output;
  EXPECT_NE(first.output.find("ingested 3 of 4 file(s) into dataset 'holiday'"), std::string::npos)
      << first.output;
  EXPECT_NE(first.output.find("0 duplicate(s), 1 rejected"), std::string::npos) << first.output;
  EXPECT_NE(first.output.find("readme.jpg"), std::string::npos) << "the rejected file is named";

  // A single file and the folder again, into a new dataset: all three images are duplicates.
  CommandResult second = RunSamcache({"ingest", "--data", data, "--dataset", "copy",
                                      (photos / "a.jpg").string(), (photos / "nested").string()});
  EXPECT_EQ(second.exit_code, 0) << second.output;
  EXPECT_NE(second.output.find("ingested 3 of 4 file(s) into dataset 'copy'"), std::string::npos)
      << second.output;
  EXPECT_NE(second.output.find("3 duplicate(s)"), std::string::npos) << second.output;
  EXPECT_NE(second.output.find("3 file(s) were stored before"), std::string::npos) << second.output;
  EXPECT_NE(second.output.find("[DEDUP] Found duplicate image: a.jpg (hash: "), std::string::npos)
      << second.output;

  // Ingesting into an existing dataset name adds to it.
  CommandResult third =
      RunSamcache({"ingest", "--data", data, "--dataset", "holiday", (photos / "a.jpg").string()});
  EXPECT_EQ(third.exit_code, 0) << third.output;

  CommandResult stats = RunSamcache({"stats", "--data", data});
  EXPECT_EQ(stats.exit_code, 0);
  EXPECT_TRUE(std::regex_search(stats.output, std::regex(R"(datasets:\s+2)"))) << stats.output;
  EXPECT_TRUE(std::regex_search(stats.output, std::regex(R"(images:\s+7)"))) << stats.output;
  EXPECT_TRUE(std::regex_search(stats.output, std::regex(R"(distinct images:\s+3)"))) << stats.output;

  // A server on the same data folder sees what the CLI stored.
  ServerProcess server(tmp / "data");
  httplib::Client client("127.0.0.1", server.port());
  auto list = client.Get("/api/sam/datasets");
  ASSERT_TRUE(list);
  json datasets = json::parse(list->body)["datasets"];
  ASSERT_EQ(datasets.size(), 2u);
  EXPECT_EQ(datasets[1]["name"], "holiday");
  EXPECT_EQ(datasets[1]["image_count"], 4);
}

TEST(CliTest, IngestOfNothingUsableFails) {
  TempDir tmp;
  WriteFile(tmp / "x.txt", "hello");
  CommandResult r = RunSamcache({"ingest", "--data", (tmp / "data").string(), "--dataset", "d",
                                 (tmp / "x.txt").string(), (tmp / "missing").string()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("no such file or folder"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("not created"), std::string::npos) << r.output;
}

TEST(CliTest, MigrateReportsTheSchemaVersion) {
  TempDir tmp;
  CommandResult r = RunSamcache({"migrate", "--data", (tmp / "data").string()});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  const int newest = std::prev(std::end(sqlite_schema::kMigrations))->version;
  EXPECT_TRUE(std::regex_search(r.output, std::regex("schema version " + std::to_string(newest) + "\\b")))
      << r.output;
  EXPECT_TRUE(fs::exists(tmp / "data" / "samcache.db"));
}

TEST(CliTest, ListPrintsDatasetsAndAPageOfImages) {
  TempDir tmp;
  const std::string data = (tmp / "data").string();
  for (int i = 0; i < 4; ++i) {
    WriteFile(tmp / "in" / ("img" + std::to_string(i) + ".png"), MakeImageFile(40 + i, 30, 50 + i, ".png"));
  }
  ASSERT_EQ(RunSamcache({"ingest", "--data", data, "--dataset", "pics", (tmp / "in").string()}).exit_code, 0);
  CommandResult datasets = RunSamcache({"list", "--data", data});
  ASSERT_EQ(datasets.exit_code, 0) << datasets.output;
  EXPECT_NE(datasets.output.find("4 image(s)"), std::string::npos) << datasets.output;
  EXPECT_NE(datasets.output.find("pics"), std::string::npos) << datasets.output;
  CommandResult page = RunSamcache({"list", "--data", data, "pics", "--limit", "2", "--offset", "1"});
  ASSERT_EQ(page.exit_code, 0) << page.output;
  EXPECT_NE(page.output.find("4 image(s), 4 matching, showing 1-3"), std::string::npos) << page.output;
  EXPECT_EQ(page.output.find("img0.png"), std::string::npos) << page.output;
  EXPECT_NE(page.output.find("img1.png"), std::string::npos) << page.output;
  EXPECT_NE(page.output.find("img2.png"), std::string::npos) << page.output;
  CommandResult search = RunSamcache({"list", "--data", data, "pics", "--search", "IMG3"});
  EXPECT_NE(search.output.find("1 matching"), std::string::npos) << search.output;
  EXPECT_NE(RunSamcache({"list", "--data", data, "pics", "--filter", "bogus"}).exit_code, 0);
  EXPECT_NE(RunSamcache({"list", "--data", data, "nope"}).exit_code, 0);
}

TEST(CliTest, GcRemovesFilesWithoutRows) {
  TempDir tmp;
  const std::string data = (tmp / "data").string();
  WriteFile(tmp / "a.png", MakeImageFile(30, 20, 1, ".png"));
  ASSERT_EQ(RunSamcache({"ingest", "--data", data, "--dataset", "d", (tmp / "a.png").string()}).exit_code, 0);
  // What a crash between writing a file and committing its row leaves behind.
  const std::string orphan = MakeImageFile(30, 20, 2, ".png");
  const std::string hash = Sha256Hex(orphan);
  WriteFile(tmp / "data" / "blobs" / hash.substr(0, 2) / hash, orphan);

  CommandResult dry = RunSamcache({"gc", "--data", data, "--grace-minutes", "0", "--dry-run"});
  EXPECT_EQ(dry.exit_code, 0) << dry.output;
  EXPECT_NE(dry.output.find("would remove 1 of 2 stored file(s)"), std::string::npos) << dry.output;
  CommandResult gc = RunSamcache({"gc", "--data", data, "--grace-minutes", "0"});
  EXPECT_NE(gc.output.find("removed 1 of 2 stored file(s)"), std::string::npos) << gc.output;
  EXPECT_EQ(ListFiles(tmp / "data" / "blobs").size(), 1u);
}

// L5: kill -9 in the middle of writes leaves partial temp files (an embedding's, an upload's).
// gc leaves them alone within its grace (they may be writes in progress), then removes and
// counts them.
TEST(CliTest, GcRemovesTempFilesOfInterruptedWrites) {
  TempDir tmp;
  const std::string data = (tmp / "data").string();
  ASSERT_EQ(RunSamcache({"migrate", "--data", data}).exit_code, 0);
  WriteFile(tmp / "data" / "embeddings" / "tmp" / "9f86d081884c7d65.tmp", std::string(4096, 'x'));
  WriteFile(tmp / "data" / "tmp" / "2c26b46b68ffc68f.tmp", "partial upload");

  CommandResult within = RunSamcache({"gc", "--data", data});
  EXPECT_EQ(within.exit_code, 0) << within.output;
  EXPECT_NE(within.output.find("removed 0 temp file(s) of interrupted uploads"), std::string::npos)
      << within.output;
  EXPECT_NE(within.output.find(", 0 temp file(s) removed"), std::string::npos) << within.output;

  CommandResult gc = RunSamcache({"gc", "--data", data, "--verify-cache", "--grace-minutes", "0"});
  EXPECT_EQ(gc.exit_code, 0) << gc.output;
  EXPECT_NE(gc.output.find("removed 1 temp file(s) of interrupted uploads"), std::string::npos) << gc.output;
  EXPECT_NE(gc.output.find(", 1 temp file(s) removed"), std::string::npos) << gc.output;
  EXPECT_TRUE(ListFiles(tmp / "data" / "embeddings" / "tmp").empty());
  EXPECT_TRUE(ListFiles(tmp / "data" / "tmp").empty());
}

// samcache prewarm from a terminal: computes, then skips; stats counts; gc keeps the budget.
TEST(CliTest, PrewarmStatsAndGcManageTheCache) {
  TempDir tmp;
  const std::string data = (tmp / "data").string();
  for (int i = 0; i < 3; ++i)
    WriteFile(tmp / "in" / (std::string("p") + std::to_string(i) + ".jpg"),
              MakeImageFile(200, 150, i, ".jpg"));
  ASSERT_EQ(RunSamcache({"ingest", "--data", data, "--dataset", "set", (tmp / "in").string()}).exit_code, 0);

  CommandResult first = RunSamcache({"prewarm", "--data", data, "set"});
  EXPECT_EQ(first.exit_code, 0) << first.output;
  EXPECT_NE(first.output.find("Dataset ready (cache: 3 embeddings, computed: 3, skipped: 0)"),
            std::string::npos)
      << first.output;
  CommandResult second = RunSamcache({"prewarm", "--data", data, "set"});
  EXPECT_EQ(second.exit_code, 0) << second.output;
  EXPECT_NE(second.output.find("Dataset ready (cache: 3 embeddings, computed: 0, skipped: 3)"),
            std::string::npos)
      << second.output;

  CommandResult stats = RunSamcache({"stats", "--data", data});
  EXPECT_EQ(stats.exit_code, 0) << stats.output;
  EXPECT_NE(stats.output.find("embedding cache: 3 embedding(s)"), std::string::npos) << stats.output;
  EXPECT_NE(stats.output.find("prewarm jobs:    2 completed"), std::string::npos) << stats.output;

  // A budget of one embedding (4 MiB each) keeps only the most recently used one.
  CommandResult gc = RunSamcache({"gc", "--data", data, "--verify-cache", "--cache-max-bytes", "5000000"});
  EXPECT_EQ(gc.exit_code, 0) << gc.output;
  EXPECT_NE(gc.output.find("1 entry read and verified, 0 corrupt removed"), std::string::npos) << gc.output;
  EXPECT_NE(gc.output.find("2 evicted"), std::string::npos) << gc.output;
  EXPECT_NE(RunSamcache({"stats", "--data", data}).output.find("embedding cache: 1 embedding(s)"),
            std::string::npos);
  CommandResult third = RunSamcache({"prewarm", "--data", data, "set"});
  EXPECT_NE(third.output.find("computed: 2, skipped: 1"), std::string::npos) << third.output;

  CommandResult unknown = RunSamcache({"prewarm", "--data", data, "nope"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.output.find("no dataset with id or name 'nope'"), std::string::npos) << unknown.output;
}

// Ctrl-C stops `samcache prewarm` after the images in flight; the next run resumes the job.
TEST(CliTest, InterruptedPrewarmResumesWhereItStopped) {
  TempDir tmp;
  const std::string data = (tmp / "data").string();
  for (int i = 0; i < 16; ++i) {
    WriteFile(tmp / "in" / (std::string("p") + std::to_string(i) + ".jpg"),
              MakeImageFile(2400, 1800, 40 + i, ".jpg"));
  }
  ASSERT_EQ(RunSamcache({"ingest", "--data", data, "--dataset", "big", (tmp / "in").string()}).exit_code, 0);
  auto cached = [&] { return ListFiles(tmp / "data" / "embeddings").size(); };
  CommandResult first = RunSamcacheAndSignal(
      {"prewarm", "--data", data, "big"}, [&] { return cached() >= 2; }, SIGINT);
  ASSERT_EQ(first.exit_code, 1) << first.output;
  EXPECT_NE(first.output.find("interrupted at "), std::string::npos) << first.output;
  EXPECT_NE(first.output.find("run the same command again to resume"), std::string::npos) << first.output;
  const size_t stored = cached();
  ASSERT_LT(stored, 16u) << "the job finished before the signal";

  CommandResult second = RunSamcache({"prewarm", "--data", data, "big"});
  EXPECT_EQ(second.exit_code, 0) << second.output;
  EXPECT_NE(second.output.find("resuming job "), std::string::npos) << second.output;
  // Everything stored before the interruption was skipped or counted then, never recomputed.
  std::smatch counts;
  ASSERT_TRUE(std::regex_search(second.output, counts, std::regex(R"(computed: (\d+), skipped: (\d+)\))")))
      << second.output;
  EXPECT_EQ(cached(), 16u);
  size_t encode_lines = 0;
  for (size_t at = second.output.find("[ENCODE]"); at != std::string::npos;
       at = second.output.find("[ENCODE]", at + 1)) {
    ++encode_lines;
  }
  EXPECT_EQ(encode_lines, 16 - stored) << second.output;
}

TEST(CliTest, VersionNamesOnnxRuntime) {
  CommandResult r = RunSamcache({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(std::regex_search(r.output, std::regex(R"(samcache \d+\.\d+\.\d+ \(ONNX Runtime 1\.\d+)")))
      << r.output;
}

TEST(CliTest, UnknownOptionIsAnError) {
  CommandResult r = RunSamcache({"serve", "--no-such-option"});
  EXPECT_NE(r.exit_code, 0);
}

}  // namespace
}  // namespace samcache::testing
