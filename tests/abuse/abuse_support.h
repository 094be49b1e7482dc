// What the abuse tests share: the real `samcache serve` started with small deadlines and
// limits (so every refusal shows within seconds), raw requests, multipart bodies built by
// hand, and the check that the server is still up after each attack.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/raw_http.h"
#include "support/test_support.h"

namespace samcache::testing {

using namespace std::chrono_literals;

// A generous client timeout: the tests check that an answer comes, never how fast.
inline constexpr auto kAnswerTimeout = 10s;
// How long past a server deadline a closed connection may take to show (scheduling, a busy CI).
inline constexpr auto kCloseMargin = 8s;

// The deadlines and limits the abuse servers run with; the tests derive their waits from them.
struct AbuseLimits {
  int threads = 2;
  int header_timeout_s = 2;
  int idle_timeout_s = 3;
  int body_timeout_s = 2;
  int max_upload_mb = 1;
  int max_connections_per_client = 64;
};

inline std::vector<std::string> ServeArgs(const AbuseLimits& limits) {
  return {"--threads",
          std::to_string(limits.threads),
          "--io-threads",
          "1",
          "--header-timeout",
          std::to_string(limits.header_timeout_s),
          "--idle-timeout",
          std::to_string(limits.idle_timeout_s),
          "--body-timeout",
          std::to_string(limits.body_timeout_s),
          "--max-upload-mb",
          std::to_string(limits.max_upload_mb),
          "--max-connections-per-client",
          std::to_string(limits.max_connections_per_client),
          "--intra-op-threads",
          "1"};
}

// One server per test (ctest runs each test in its own process anyway).
class AbuseTest : public ::testing::Test {
 protected:
  void Start(AbuseLimits limits = {}, std::vector<std::string> extra = {}) {
    limits_ = limits;
    std::vector<std::string> args = ServeArgs(limits);
    args.insert(args.end(), extra.begin(), extra.end());
    server_ = std::make_unique<ServerProcess>(tmp_ / "data", args);
    pid_ = FindChildProcess((tmp_ / "data").string());
  }
  void TearDown() override {
    if (server_ && HasFailure()) std::cerr << "server log:\n" << server_->Log().substr(0, 20000) << "\n";
  }

  int port() const { return server_->port(); }
  RawReply Exchange(const std::string& request) { return RawExchange(port(), request, kAnswerTimeout); }
  RawReply Get(const std::string& path) { return Exchange(GetRequest(path)); }
  RawReply PostJson(const std::string& path, const std::string& body) {
    return Exchange("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
                    "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  }
  // The server is up and answers /healthz on a new connection.
  void ExpectAlive() {
    const RawReply health = Get("/healthz");
    EXPECT_EQ(health.status, 200) << "no /healthz answer; log:\n" << server_->Log().substr(0, 4000);
  }
  // Uploads files with a correct multipart body; returns the parsed answer.
  nlohmann::json Upload(const std::vector<std::pair<std::string, std::string>>& files, int* status = nullptr);
  // Uploads one small scene and returns its image id.
  std::string UploadScene(int seed = 1);

  TempDir tmp_;
  AbuseLimits limits_;
  std::unique_ptr<ServerProcess> server_;
  pid_t pid_ = -1;
};

inline constexpr const char* kBoundary = "abuseboundary7MA4YWxkTrZu0gW";

// One multipart part: a file field "images" (or a form field when filename is empty).
inline std::string MultipartPart(const std::string& filename, const std::string& bytes,
                                 const std::string& field = "images") {
  std::string part =
      std::string("--") + kBoundary + "\r\nContent-Disposition: form-data; name=\"" + field + "\"";
  if (!filename.empty()) part += "; filename=\"" + filename + "\"\r\nContent-Type: application/octet-stream";
  return part + "\r\n\r\n" + bytes + "\r\n";
}
inline std::string MultipartEnd() { return std::string("--") + kBoundary + "--\r\n"; }

// Request head of a multipart POST; `length` < 0 sends Transfer-Encoding: chunked instead.
inline std::string MultipartHead(const std::string& path, long long length, const std::string& extra = "") {
  std::string head = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                     "Content-Type: multipart/form-data; boundary=" + kBoundary + "\r\n" + extra;
  head += length < 0 ? std::string("Transfer-Encoding: chunked\r\n")
                     : "Content-Length: " + std::to_string(length) + "\r\n";
  return head + "\r\n";
}

// A chunk of a chunked body.
inline std::string Chunk(const std::string& bytes) {
  char size[32];
  std::snprintf(size, sizeof(size), "%zx\r\n", bytes.size());
  return size + bytes + "\r\n";
}

// The error reply's JSON, or a failure when the body is not {"error": "..."}.
inline void ExpectJsonError(const RawReply& reply) {
  const nlohmann::json body = nlohmann::json::parse(reply.body, nullptr, false);
  EXPECT_TRUE(body.is_object() && body.contains("error") && body["error"].is_string())
      << "status " << reply.status << " body: " << reply.body.substr(0, 300);
}

inline nlohmann::json AbuseTest::Upload(const std::vector<std::pair<std::string, std::string>>& files,
                                        int* status) {
  std::string body;
  for (const auto& [name, bytes] : files) body += MultipartPart(name, bytes);
  body += MultipartEnd();
  const RawReply reply =
      Exchange(MultipartHead("/api/sam/dataset/init", static_cast<long long>(body.size())) + body);
  if (status) *status = reply.status;
  return nlohmann::json::parse(reply.body, nullptr, false);
}

inline std::string AbuseTest::UploadScene(int seed) {
  int status = 0;
  const nlohmann::json answer = Upload({{"scene.jpg", MakeImageFile(320, 240, seed, ".jpg")}}, &status);
  EXPECT_EQ(status, 200) << answer.dump();
  if (status != 200 || !answer.contains("images") || answer["images"].empty()) return "";
  return answer["images"][0]["id"].get<std::string>();
}

}  // namespace samcache::testing
