// Black-box tests of the HTTP API: the real samcache binary on an ephemeral loopback port,
// spoken to over HTTP. Covers the seed's three upload scenarios, listing, deletion, every
// bad input the upload issue names, and concurrent uploads of the same image.
#include <gtest/gtest.h>
#include <httplib.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "common/crypto.h"
#include "image/image_decoder.h"
#include "image/image_format.h"
#include "support/http_reply.h"
#include "support/test_support.h"

namespace samcache::testing {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

std::vector<NamedFile> MakeJpegs(int count, int first_seed) {
  std::vector<NamedFile> files;
  for (int i = 0; i < count; ++i) {
    files.push_back({"img" + std::to_string(first_seed + i) + ".jpg",
                     MakeImageFile(160 + i, 120, first_seed + i, ".jpg")});
  }
  return files;
}

// A PNG that declares `width` x `height` in a well-formed header but carries no real pixels:
// what a decompression bomb looks like before decoding.
std::string PngDeclaring(uint32_t width, uint32_t height) {
  auto be32 = [](uint32_t v) {
    return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                       static_cast<char>(v)};
  };
  std::string png = "\x89PNG\r\n\x1a\n";
  png += be32(13) + "IHDR" + be32(width) + be32(height) + std::string("\x08\x02\x00\x00\x00", 5) + be32(0);
  png += be32(4) + "IDAT" + std::string("\x78\x9c\x03\x00", 4) + be32(0);
  png += be32(0) + "IEND" + be32(0xAE426082);
  return png;
}

class HttpApiTest : public ::testing::Test {
 protected:
  void StartServer(std::vector<std::string> args = {}) {
    server_.reset();
    server_ = std::make_unique<ServerProcess>(data_dir(), std::move(args));
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(120, 0);
  }
  void SetUp() override { StartServer(); }

  fs::path data_dir() const { return tmp_ / "data"; }

  Reply Upload(const std::vector<NamedFile>& files, const std::string& path = "/api/sam/dataset/init") {
    return ToReply(client_->Post(path.c_str(), ImageItems(files)));
  }
  Reply Get(const std::string& path) { return ToReply(client_->Get(path.c_str())); }

  size_t BlobFileCount() const { return ListFiles(data_dir() / "blobs").size(); }

  TempDir tmp_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<httplib::Client> client_;
};

void ExpectImageFields(const json& image) {
  for (const char* field : {"id", "filename", "width", "height", "content_hash", "pixel_hash",
                            "embedding_cached", "thumb_b64", "duplicate"}) {
    EXPECT_TRUE(image.contains(field)) << "missing " << field << " in " << image.dump();
  }
}

// Scenario 1 of the seed: a first upload finds no duplicates.
TEST_F(HttpApiTest, FirstUploadHasNoDuplicates) {
  const auto files = MakeJpegs(4, 1);
  Reply r = Upload(files);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["duplicates_found"], 0);
  EXPECT_FALSE(r.body.contains("duplicates_message"));
  EXPECT_TRUE(r.body["errors"].empty());
  ASSERT_EQ(r.body["images"].size(), 4u);
  for (size_t i = 0; i < files.size(); ++i) {
    const json& image = r.body["images"][i];
    ExpectImageFields(image);
    EXPECT_EQ(image["filename"], files[i].filename);
    EXPECT_EQ(image["width"], 160 + static_cast<int>(i));
    EXPECT_EQ(image["height"], 120);
    EXPECT_EQ(image["duplicate"], false);
    EXPECT_EQ(image["embedding_cached"], false);
    EXPECT_EQ(image["content_hash"], Sha256Hex(files[i].bytes));
    EXPECT_EQ(image["thumb_b64"].get<std::string>().rfind("/9j/", 0), 0u) << "thumbnail is not a base64 JPEG";
  }
  EXPECT_EQ(BlobFileCount(), 4u);
}

// Scenario 2: the same files into a new dataset are all duplicates, with the seed's message
// and log line.
TEST_F(HttpApiTest, ReuploadReportsEveryImageAsDuplicate) {
  const auto files = MakeJpegs(3, 10);
  Reply first = Upload(files);
  ASSERT_EQ(first.status, 200) << first.raw;
  Reply second = Upload(files);
  ASSERT_EQ(second.status, 200) << second.raw;
  EXPECT_NE(second.body["dataset_id"], first.body["dataset_id"]);
  EXPECT_EQ(second.body["duplicates_found"], 3);
  // Nothing was embedded yet: duplicates, but not cached (the store is the truth).
  EXPECT_FALSE(second.body.contains("duplicates_message")) << second.raw;
  EXPECT_EQ(second.body["duplicates_pending"], 3);
  EXPECT_EQ(second.body["embeddings_cached"], 0);
  EXPECT_EQ(second.body["duplicates_pending_message"],
            "3 duplicate image(s) not embedded yet; prewarm computes each once");
  for (const json& image : second.body["images"]) EXPECT_EQ(image["duplicate"], true);
  EXPECT_EQ(BlobFileCount(), 3u);

  const std::string log = server_->Log();
  for (const auto& f : files) {
    const std::string expected = "[DEDUP] Found duplicate image: " + f.filename +
                                 " (hash: " + Sha256Hex(f.bytes).substr(0, 8) + "..., cached: False)";
    EXPECT_NE(log.find(expected), std::string::npos) << "missing log line: " << expected << "\n" << log;
  }
}

// Scenario 3: half new, half seen before.
TEST_F(HttpApiTest, PartialOverlapReportsHalf) {
  auto files = MakeJpegs(4, 20);
  ASSERT_EQ(Upload(files).status, 200);
  auto fresh = MakeJpegs(4, 40);
  std::vector<NamedFile> mixed = {files[0], fresh[0], files[1], fresh[1],
                                  files[2], fresh[2], files[3], fresh[3]};
  Reply r = Upload(mixed);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["duplicates_found"], 4);
  EXPECT_EQ(r.body["duplicates_pending"], 4);
  for (size_t i = 0; i < mixed.size(); ++i) EXPECT_EQ(r.body["images"][i]["duplicate"], i % 2 == 0);
}

TEST_F(HttpApiTest, DuplicatesWithinOneRequestAreFound) {
  auto files = MakeJpegs(1, 60);
  Reply r = Upload({files[0], {"copy.jpg", files[0].bytes}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["duplicates_found"], 1);
  EXPECT_EQ(r.body["images"][0]["duplicate"], false);
  EXPECT_EQ(r.body["images"][1]["duplicate"], true);
  EXPECT_EQ(BlobFileCount(), 1u);
}

TEST_F(HttpApiTest, SamePixelsInAnotherFormatShareThePixelHash) {
  const DecodedImage scene = MakeScene(90, 70, 3);
  Reply r = Upload({{"a.png", *EncodeImage(scene, ".png")}, {"a.bmp", *EncodeImage(scene, ".bmp")}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["duplicates_found"], 0);  // different bytes
  EXPECT_NE(r.body["images"][0]["content_hash"], r.body["images"][1]["content_hash"]);
  EXPECT_EQ(r.body["images"][0]["pixel_hash"], r.body["images"][1]["pixel_hash"]);
}

TEST_F(HttpApiTest, SeedCurlCommandWorksVerbatim) {
  if (std::system("command -v curl >/dev/null 2>&1") != 0) GTEST_FAIL() << "curl is not installed";
  const auto files = MakeJpegs(2, 70);
  WriteFile(tmp_ / "img1.jpg", files[0].bytes);
  WriteFile(tmp_ / "img2.jpg", files[1].bytes);
  const std::string cmd = "cd " + tmp_.path().string() +
                          " && curl -s -F \"images=@img1.jpg\" -F \"images=@img2.jpg\" "
                          "http://localhost:" +
                          std::to_string(server_->port()) + "/api/sam/dataset/init";
  auto run = [&] {
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    pclose(p);
    return json::parse(out, nullptr, false);
  };
  json first = run();
  ASSERT_FALSE(first.is_discarded());
  EXPECT_EQ(first["duplicates_found"], 0);
  EXPECT_EQ(first["images"][0]["filename"], "img1.jpg");
  Reply prewarm = Prewarm(*client_, first["dataset_id"]);
  ASSERT_EQ(prewarm.body["status"], "completed") << prewarm.raw;
  json second = run();
  EXPECT_EQ(second["duplicates_found"], 2);
  EXPECT_EQ(second["duplicates_message"], "2 image(s) already cached, prewarm will be faster");
}

TEST_F(HttpApiTest, ListInspectDownloadAndDelete) {
  const auto files = MakeJpegs(2, 80);
  Reply a = Upload(files);
  Reply b = Upload({files[0]});  // shares one blob with a
  ASSERT_EQ(a.status, 200);
  ASSERT_EQ(b.status, 200);
  const std::string a_id = a.body["dataset_id"], b_id = b.body["dataset_id"];

  Reply list = Get("/api/sam/datasets");
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.body["datasets"].size(), 2u);
  EXPECT_EQ(list.body["datasets"][0]["id"], b_id);  // newest first
  EXPECT_EQ(list.body["datasets"][1]["image_count"], 2);

  Reply dataset = Get("/api/sam/dataset/" + a_id);
  ASSERT_EQ(dataset.status, 200);
  ASSERT_EQ(dataset.body["images"].size(), 2u);
  EXPECT_EQ(dataset.body["images"][1]["filename"], files[1].filename);

  const std::string image_id = a.body["images"][0]["id"];
  auto original = client_->Get(("/api/sam/image/" + image_id).c_str());
  ASSERT_TRUE(original);
  EXPECT_EQ(original->status, 200);
  EXPECT_EQ(original->get_header_value("Content-Type"), "image/jpeg");
  EXPECT_EQ(original->body, files[0].bytes);

  auto thumb = client_->Get(("/api/sam/image/" + image_id + "/thumb").c_str());
  ASSERT_TRUE(thumb);
  EXPECT_EQ(thumb->status, 200);
  EXPECT_EQ(thumb->get_header_value("Content-Type"), "image/jpeg");
  EXPECT_EQ(SniffFormat(thumb->body), ImageFormat::kJpeg);

  EXPECT_EQ(BlobFileCount(), 2u);
  auto del = client_->Delete(("/api/sam/dataset/" + a_id).c_str());
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 200) << del->body;
  EXPECT_EQ(json::parse(del->body)["blobs_removed"], 1);
  EXPECT_EQ(BlobFileCount(), 1u);  // files[0] is still used by dataset b
  EXPECT_EQ(Get("/api/sam/dataset/" + a_id).status, 404);
  EXPECT_EQ(Get("/api/sam/image/" + image_id).status, 404);

  const std::string b_image = b.body["images"][0]["id"];
  auto still = client_->Get(("/api/sam/image/" + b_image).c_str());
  ASSERT_TRUE(still);
  EXPECT_EQ(still->status, 200);
  EXPECT_EQ(still->body, files[0].bytes);

  Reply health = Get("/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body["status"], "ok");
}

TEST_F(HttpApiTest, UnknownIdsAndEndpointsAre404WithJsonError) {
  for (const char* path : {"/api/sam/dataset/nope", "/api/sam/image/nope", "/api/sam/image/nope/thumb",
                           "/api/sam/no-such-endpoint"}) {
    Reply r = Get(path);
    EXPECT_EQ(r.status, 404) << path;
    ASSERT_TRUE(r.body.is_object()) << path << ": " << r.raw;
    EXPECT_FALSE(r.body["error"].get<std::string>().empty()) << path;
  }
  auto del = client_->Delete("/api/sam/dataset/nope");
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 404);
  EXPECT_TRUE(json::parse(del->body).contains("error"));
}

// One request with good files between every kind of bad file: the good ones are stored,
// each bad one is listed with a reason.
TEST_F(HttpApiTest, BadFilesAreListedAndTheRestStored) {
  const auto good = MakeJpegs(2, 90);
  const std::string jpeg = MakeImageFile(200, 150, 99, ".jpg");
  const std::string png = MakeImageFile(200, 150, 98, ".png");
  std::vector<NamedFile> files = {
      good[0],
      {"empty.jpg", ""},
      {"truncated.jpg", jpeg.substr(0, jpeg.size() / 2)},
      {"truncated.png", png.substr(0, png.size() - 20)},
      {"notes.jpg", "these are my notes, not a picture\n"},
      {"page.png", "<!DOCTYPE html><html><body>hello</body></html>"},
      {"anim.gif", std::string("GIF89a\x01\x00\x01\x00\x00\x00\x00;", 13)},
      {"bomb.png", PngDeclaring(30000, 30000)},
      good[1],
  };
  Reply r = Upload(files);
  ASSERT_EQ(r.status, 200) << r.raw;
  ASSERT_EQ(r.body["images"].size(), 2u);
  EXPECT_EQ(r.body["images"][0]["filename"], good[0].filename);
  EXPECT_EQ(r.body["images"][1]["filename"], good[1].filename);
  const json& errors = r.body["errors"];
  ASSERT_EQ(errors.size(), 7u) << errors.dump(1);
  auto reason = [&](const std::string& name) {
    for (const json& e : errors)
      if (e["filename"] == name) return e["error"].get<std::string>();
    return std::string("<not listed>");
  };
  EXPECT_NE(reason("empty.jpg").find("empty"), std::string::npos) << reason("empty.jpg");
  EXPECT_NE(reason("truncated.jpg").find("truncated"), std::string::npos) << reason("truncated.jpg");
  EXPECT_NE(reason("truncated.png").find("truncated"), std::string::npos) << reason("truncated.png");
  EXPECT_NE(reason("notes.jpg").find("text"), std::string::npos) << reason("notes.jpg");
  EXPECT_NE(reason("page.png").find("HTML"), std::string::npos) << reason("page.png");
  EXPECT_NE(reason("anim.gif").find("GIF"), std::string::npos) << reason("anim.gif");
  EXPECT_NE(reason("bomb.png").find("30000x30000"), std::string::npos) << reason("bomb.png");
  EXPECT_NE(reason("bomb.png").find("limit"), std::string::npos) << reason("bomb.png");
  EXPECT_EQ(BlobFileCount(), 2u);
  Reply dataset = Get("/api/sam/dataset/" + r.body["dataset_id"].get<std::string>());
  EXPECT_EQ(dataset.body["images"].size(), 2u);
}

TEST_F(HttpApiTest, OnlyBadFilesIs400AndCreatesNoDataset) {
  Reply r = Upload({{"notes.jpg", "plain text"}, {"empty.png", ""}});
  EXPECT_EQ(r.status, 400) << r.raw;
  EXPECT_FALSE(r.body["error"].get<std::string>().empty());
  EXPECT_EQ(r.body["errors"].size(), 2u);
  EXPECT_TRUE(Get("/api/sam/datasets").body["datasets"].empty());
  EXPECT_EQ(BlobFileCount(), 0u);
}

TEST_F(HttpApiTest, RequestWithoutImagePartsIs400) {
  httplib::MultipartFormDataItems items = {{"name", "just a field", "", ""}};
  Reply r = ToReply(client_->Post("/api/sam/dataset/init", items));
  EXPECT_EQ(r.status, 400) << r.raw;
  EXPECT_NE(r.body["error"].get<std::string>().find("no image"), std::string::npos);

  Reply not_multipart = ToReply(client_->Post("/api/sam/dataset/init", "{}", "application/json"));
  EXPECT_EQ(not_multipart.status, 400);
  EXPECT_NE(not_multipart.body["error"].get<std::string>().find("multipart"), std::string::npos);
}

TEST_F(HttpApiTest, RequestOverTheSizeLimitIs413) {
  StartServer({"--max-upload-mb", "1"});
  std::string big(1536 * 1024, 'x');
  Reply r = Upload({{"big.jpg", big}});
  EXPECT_EQ(r.status, 413) << r.raw;
  ASSERT_TRUE(r.body.is_object()) << r.raw;
  EXPECT_NE(r.body["error"].get<std::string>().find("limit"), std::string::npos);
  EXPECT_TRUE(Get("/api/sam/datasets").body["datasets"].empty());
}

TEST_F(HttpApiTest, PixelLimitIsConfigurable) {
  StartServer({"--max-image-megapixels", "1"});
  Reply r = Upload({{"big.png", MakeImageFile(1200, 1000, 5, ".png")}, MakeJpegs(1, 5)[0]});
  ASSERT_EQ(r.status, 200) << r.raw;
  ASSERT_EQ(r.body["errors"].size(), 1u);
  EXPECT_NE(r.body["errors"][0]["error"].get<std::string>().find("1200x1000"), std::string::npos);
}

TEST_F(HttpApiTest, FilenamesAreDataNotPaths) {
  const auto files = MakeJpegs(1, 110);
  Reply r = Upload({{"../../escape.jpg", files[0].bytes}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["images"][0]["filename"], "../../escape.jpg");
  EXPECT_FALSE(fs::exists(tmp_ / "escape.jpg"));
  EXPECT_FALSE(fs::exists(tmp_.path().parent_path() / "escape.jpg"));
  EXPECT_FALSE(fs::exists(data_dir() / "escape.jpg"));
  auto original = client_->Get(("/api/sam/image/" + r.body["images"][0]["id"].get<std::string>()).c_str());
  ASSERT_TRUE(original);
  EXPECT_EQ(original->body, files[0].bytes);
  // RFC 5987 form (cpp-httplib's client percent-decodes header values, so the raw escaping
  // is not visible here).
  EXPECT_EQ(original->get_header_value("Content-Disposition").rfind("inline; filename*=UTF-8''", 0), 0u);
}

// The same new image in 8 concurrent requests: one blob file, one blob row, and the answers
// agree on everything about the image; exactly one of them saw it first.
TEST_F(HttpApiTest, ConcurrentUploadsOfTheSameImageStoreOneBlob) {
  const std::string bytes = MakeImageFile(800, 600, 123, ".jpg");
  constexpr int kClients = 8;
  std::vector<Reply> replies(kClients);
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      httplib::Client c("127.0.0.1", server_->port());
      c.set_read_timeout(120, 0);
      httplib::MultipartFormDataItems items = {{"images", bytes, "same.jpg", "image/jpeg"}};
      replies[i] = ToReply(c.Post("/api/sam/dataset/init", items));
    });
  }
  for (auto& t : threads) t.join();
  int first_seen = 0;
  for (const Reply& r : replies) {
    ASSERT_EQ(r.status, 200) << r.raw;
    const json& image = r.body["images"][0];
    EXPECT_EQ(image["content_hash"], replies[0].body["images"][0]["content_hash"]);
    EXPECT_EQ(image["pixel_hash"], replies[0].body["images"][0]["pixel_hash"]);
    EXPECT_EQ(image["width"], 800);
    EXPECT_EQ(image["height"], 600);
    EXPECT_EQ(image["thumb_b64"], replies[0].body["images"][0]["thumb_b64"]);
    if (image["duplicate"] == false) ++first_seen;
  }
  EXPECT_EQ(first_seen, 1);
  EXPECT_EQ(BlobFileCount(), 1u);
  EXPECT_TRUE(ListFiles(data_dir() / "tmp").empty());
  Reply stats = Get("/api/sam/stats");
  EXPECT_EQ(stats.body["distinct_blobs"], 1);
  EXPECT_EQ(stats.body["images"], kClients);
}

TEST_F(HttpApiTest, CatalogAndBlobsSurviveARestart) {
  const auto files = MakeJpegs(2, 130);
  Reply first = Upload(files);
  ASSERT_EQ(first.status, 200);
  EXPECT_EQ(server_->Stop(), 0);
  StartServer();
  Reply list = Get("/api/sam/datasets");
  ASSERT_EQ(list.body["datasets"].size(), 1u);
  EXPECT_EQ(list.body["datasets"][0]["id"], first.body["dataset_id"]);
  Reply again = Upload(files);
  EXPECT_EQ(again.body["duplicates_found"], 2);
}

TEST_F(HttpApiTest, AddImagesToAnExistingDataset) {
  Reply first = Upload(MakeJpegs(1, 140));
  const std::string id = first.body["dataset_id"];
  Reply more = Upload(MakeJpegs(2, 141), "/api/sam/dataset/" + id + "/images");
  ASSERT_EQ(more.status, 200) << more.raw;
  EXPECT_EQ(more.body["dataset_id"], id);
  Reply dataset = Get("/api/sam/dataset/" + id);
  ASSERT_EQ(dataset.body["images"].size(), 3u);
  EXPECT_EQ(dataset.body["images"][2]["position"], 2);
  EXPECT_EQ(Upload(MakeJpegs(1, 150), "/api/sam/dataset/unknown/images").status, 404);
}

}  // namespace
}  // namespace samcache::testing

namespace samcache::testing {
namespace {

// kill -9 in the middle of an upload, then restart: every image row has its blob, every
// blob file holds exactly the bytes its name promises, and the same files upload fine again.
TEST(CrashTest, KillDuringUploadLeavesNothingCorrupt) {
  TempDir tmp;
  const fs::path data = tmp / "data";
  std::vector<std::pair<std::string, std::string>> files;
  for (int i = 0; i < 24; ++i) {
    files.emplace_back("big" + std::to_string(i) + ".png", MakeImageFile(1200, 900, 500 + i, ".png"));
  }
  auto server = std::make_unique<ServerProcess>(data);
  std::thread uploader([port = server->port(), &files] {
    httplib::Client c("127.0.0.1", port);
    httplib::MultipartFormDataItems items;
    for (const auto& [name, bytes] : files) items.push_back({"images", bytes, name, "image/png"});
    (void)c.Post("/api/sam/dataset/init", items);  // fails when the server dies: expected
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (ListFiles(data / "blobs").size() < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  server->Kill();
  uploader.join();
  const size_t blobs_after_kill = ListFiles(data / "blobs").size();
  EXPECT_GE(blobs_after_kill, 3u);
  EXPECT_LT(blobs_after_kill, files.size()) << "the kill came too late to test anything";

  for (const fs::path& blob : ListFiles(data / "blobs")) {
    EXPECT_EQ(Sha256Hex(ReadFileOrDie(blob)), blob.filename().string()) << blob;
  }
  server = std::make_unique<ServerProcess>(data);
  httplib::Client client("127.0.0.1", server->port());
  json datasets = json::parse(client.Get("/api/sam/datasets")->body)["datasets"];
  size_t rows = 0;
  for (const json& d : datasets) {
    json images =
        json::parse(client.Get(("/api/sam/dataset/" + d["id"].get<std::string>()).c_str())->body)["images"];
    for (const json& image : images) {
      ++rows;
      auto bytes = client.Get(("/api/sam/image/" + image["id"].get<std::string>()).c_str());
      ASSERT_TRUE(bytes);
      ASSERT_EQ(bytes->status, 200) << image.dump();
      EXPECT_EQ(Sha256Hex(bytes->body), image["content_hash"]);
    }
  }
  EXPECT_LE(rows, blobs_after_kill);

  httplib::MultipartFormDataItems items;
  for (const auto& [name, bytes] : files) items.push_back({"images", bytes, name, "image/png"});
  auto again = client.Post("/api/sam/dataset/init", items);
  ASSERT_TRUE(again);
  ASSERT_EQ(again->status, 200) << again->body;
  json body = json::parse(again->body);
  EXPECT_EQ(body["images"].size(), files.size());
  EXPECT_EQ(body["duplicates_found"], static_cast<int>(rows));
  EXPECT_EQ(ListFiles(data / "blobs").size(), files.size());
}

}  // namespace
}  // namespace samcache::testing
