// What held when issue 14 was filed and must keep holding on the new transport: path
// traversal, script in names, NaN/Inf, bad RLE, image bombs, bogus EXIF, many clients at once,
// kill -9. One test each, against the real binary on loopback.
#include <atomic>
#include <thread>

#include "abuse/abuse_support.h"

namespace samcache::testing {
namespace {

using json = nlohmann::json;

class HoldingTest : public AbuseTest {};

std::string Be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

// A PNG header declaring width x height with no real pixels: a decompression bomb.
std::string PngDeclaring(uint32_t width, uint32_t height) {
  std::string png = "\x89PNG\r\n\x1a\n";
  png += Be32(13) + "IHDR" + Be32(width) + Be32(height) + std::string("\x08\x02\x00\x00\x00", 5) + Be32(0);
  png += Be32(4) + "IDAT" + std::string("\x78\x9c\x03\x00", 4) + Be32(0);
  return png + Be32(0) + "IEND" + Be32(0xAE426082);
}

TEST_F(HoldingTest, PathTraversalIsNotFound) {
  Start();
  UploadScene();
  for (const char* path :
       {"/web/../../../../etc/passwd", "/web/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/web/..%2f..%2f..%2f..%2fetc%2fpasswd", "/api/sam/image/..%2f..%2f..%2fetc%2fpasswd",
        "/api/sam/image/../../../etc/passwd", "/web/....//....//etc/passwd", "//etc/passwd",
        "/web/%252e%252e/%252e%252e/etc/passwd", "/api/sam/dataset/..%2fsamcache.db"}) {
    const RawReply reply = Get(path);
    EXPECT_TRUE(reply.status == 404 || reply.status == 400) << path << ": " << reply.status;
    EXPECT_EQ(reply.body.find("root:"), std::string::npos) << path;
    EXPECT_EQ(reply.body.find("SQLite format"), std::string::npos) << path;
    EXPECT_EQ(reply.body.find(tmp_.path().string()), std::string::npos) << "a server path in " << path;
  }
  ExpectAlive();
}

// Script in names and paths comes back only inside JSON (never as HTML), and a file is served
// with the type of its content, not of its name.
TEST_F(HoldingTest, ScriptInNamesStaysData) {
  Start();
  const std::string script = "<script>alert(1)</script>";
  std::string body = MultipartPart(script + ".jpg", MakeImageFile(120, 90, 1, ".jpg")) +
                     MultipartPart("page.jpg", "<html><body>" + script + "</body></html>") + MultipartEnd();
  const RawReply upload =
      Exchange(MultipartHead("/api/sam/dataset/init?name=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E",
                             static_cast<long long>(body.size())) +
               body);
  ASSERT_EQ(upload.status, 200) << upload.body.substr(0, 300);
  EXPECT_NE(upload.header("Content-Type").find("application/json"), std::string::npos);
  const json answer = json::parse(upload.body);
  ASSERT_EQ(answer["images"].size(), 1u) << "the HTML file is refused";
  const RawReply image = Get("/api/sam/image/" + answer["images"][0]["id"].get<std::string>());
  EXPECT_EQ(image.status, 200);
  EXPECT_NE(image.header("Content-Type").find("image/jpeg"), std::string::npos) << image.head;
  const RawReply unknown = Get("/api/sam/%3Cscript%3Ealert(1)%3C%2Fscript%3E");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_NE(unknown.header("Content-Type").find("application/json"), std::string::npos) << unknown.head;
  ExpectAlive();
}

TEST_F(HoldingTest, NanInfinityAndBadRleAre400) {
  Start();
  const std::string image = UploadScene();
  const std::string id = "\"image_id\":\"" + image + "\"";
  for (const std::string& body :
       {"{" + id + ",\"points\":[{\"x\":1e999,\"y\":1,\"label\":1}]}",
        "{" + id + ",\"points\":[{\"x\":NaN,\"y\":1}]}", "{" + id + ",\"box\":[-1e999,0,10,10]}",
        "{" + id + ",\"points\":[{\"x\":Infinity,\"y\":1}]}",
        "{" + id + ",\"points\":[{\"x\":-0.5e308,\"y\":1e308,\"label\":1}]}"}) {
    const RawReply reply = PostJson("/api/sam/predict", body);
    EXPECT_EQ(reply.status, 400) << body << ": " << reply.body.substr(0, 200);
    ExpectJsonError(reply);
  }
  for (const char* counts : {"\"!!!!####\"", "[-5,76805]", "[76800,1]", "[1e999]", "\"\\u0000\""}) {
    const RawReply reply = PostJson(
        "/api/sam/image/" + image + "/annotations",
        std::string("{\"category\":\"c\",\"segmentation\":{\"size\":[240,320],\"counts\":") + counts + "}}");
    EXPECT_EQ(reply.status, 400) << counts << ": " << reply.body.substr(0, 200);
  }
  ExpectAlive();
}

TEST_F(HoldingTest, ImageBombsAndBogusExifAreHandled) {
  AbuseLimits limits;
  limits.max_upload_mb = 8;
  Start(limits);
  int status = 0;
  const json bombs = Upload({{"huge.png", PngDeclaring(20000, 20000)},
                             {"wide.png", PngDeclaring(0x7fffffff, 1)},
                             {"zero.png", PngDeclaring(0, 0)},
                             {"fine.jpg", MakeImageFile(120, 90, 1, ".jpg")}},
                            &status);
  ASSERT_EQ(status, 200) << bombs.dump().substr(0, 500);
  EXPECT_EQ(bombs["images"].size(), 1u);
  EXPECT_EQ(bombs["errors"].size(), 3u);

  const std::string jpeg = MakeImageFile(120, 90, 2, ".jpg");
  std::string garbage_app1 = std::string("\xFF\xE1\x00\x40", 4) + "Exif" + std::string(2, '\0') +
                             "MM\x00\x2a" + Be32(0xFFFFFFF0) + std::string(48, '\xff');
  const json exif = Upload({{"orient9.jpg", WithExifOrientation(jpeg, 9)},
                            {"orient0.jpg", WithExifOrientation(MakeImageFile(120, 90, 3, ".jpg"), 0)},
                            {"garbage.jpg", jpeg.substr(0, 2) + garbage_app1 + jpeg.substr(2)}},
                           &status);
  EXPECT_TRUE(status == 200 || status == 400) << status;
  EXPECT_EQ(exif["images"].size() + exif["errors"].size(), 3u) << exif.dump().substr(0, 500);
  ExpectAlive();
}

// 16 clients at once for a few seconds (uploads, clicks, lists, health), with two workers:
// every answer is a 200.
TEST_F(HoldingTest, SixteenClientsGetNoErrors) {
  Start();
  const std::string image = UploadScene();
  const std::string click = "{\"image_id\":\"" + image + "\",\"points\":[{\"x\":100,\"y\":100,\"label\":1}]}";
  ASSERT_EQ(PostJson("/api/sam/predict", click).status, 200);
  std::atomic<int> answers{0};
  std::vector<std::string> failures(16);
  std::vector<std::thread> clients;
  const auto until = std::chrono::steady_clock::now() + 4s;
  for (int c = 0; c < 16; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; std::chrono::steady_clock::now() < until && failures[c].empty(); ++i) {
        RawReply reply;
        switch ((c + i) % 4) {
          case 0:
            reply = PostJson("/api/sam/predict", click);
            break;
          case 1:
            reply = Get("/api/sam/datasets");
            break;
          case 2:
            reply = Get("/healthz");
            break;
          default:
            Upload({{"c.jpg", MakeImageFile(64, 48, c * 1000 + i, ".jpg")}}, &reply.status);
            break;
        }
        if (reply.status != 200)
          failures[c] = "request " + std::to_string(i) + ": " + std::to_string(reply.status);
        ++answers;
      }
    });
  }
  for (std::thread& t : clients) t.join();
  for (int c = 0; c < 16; ++c) EXPECT_TRUE(failures[c].empty()) << "client " << c << ": " << failures[c];
  EXPECT_GT(answers.load(), 16);
  ExpectAlive();
}

// kill -9 after uploads and a click: a new server on the same data has everything, and the
// embedding is a cache hit.
TEST_F(HoldingTest, KillNineKeepsTheData) {
  Start();
  int status = 0;
  const std::string bytes = MakeImageFile(200, 150, 4, ".jpg");
  const json upload = Upload({{"a.jpg", bytes}, {"b.jpg", MakeImageFile(200, 150, 5, ".jpg")}}, &status);
  ASSERT_EQ(status, 200);
  const std::string image = upload["images"][0]["id"];
  const std::string click = "{\"image_id\":\"" + image + "\",\"points\":[{\"x\":100,\"y\":75,\"label\":1}]}";
  ASSERT_EQ(PostJson("/api/sam/predict", click).status, 200);
  server_->Kill();
  server_.reset();
  Start();
  const json datasets = json::parse(Get("/api/sam/datasets").body);
  ASSERT_EQ(datasets["datasets"].size(), 1u);
  EXPECT_EQ(datasets["datasets"][0]["image_count"], 2);
  EXPECT_EQ(Get("/api/sam/image/" + image).body, bytes);
  const json again = json::parse(PostJson("/api/sam/predict", click).body);
  EXPECT_EQ(again["embedding"], "cached");
  ExpectAlive();
}

}  // namespace
}  // namespace samcache::testing
