// Issue 14, L4, as it was found: the real binary with its data folder on a 30 MB tmpfs,
// filled with uploads until the disk is full. Every failure is a clear 500 that names no
// server path and leaves no dataset behind; deleting a dataset still works (the space
// reserve) and frees space; then uploads work again, and an embedding that cannot be
// written is a failed prewarm image, not a computed one.
//
// Mounting needs root (or CAP_SYS_ADMIN): without it the test is skipped, saying why.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <httplib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/files.h"
#include "support/http_reply.h"
#include "support/test_support.h"

namespace samcache::testing {
namespace {

namespace fs = std::filesystem;

// Takes every byte left, as another program filling the disk would; returns how many.
uint64_t FillUp(const fs::path& file) {
  Fd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  const std::string chunk(4096, 'f');
  uint64_t written = 0;
  for (;;) {
    const ssize_t n = ::write(fd.get(), chunk.data(), chunk.size());
    if (n <= 0) return written;
    written += static_cast<uint64_t>(n);
  }
}

uint64_t FreeBytes(const fs::path& dir) {
  struct statvfs info {};
  if (::statvfs(dir.c_str(), &info) != 0) return 0;
  return static_cast<uint64_t>(info.f_bavail) * info.f_frsize;
}

class DiskFullHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    disk_ = tmp_ / "disk";
    fs::create_directories(disk_);
    if (::mount("tmpfs", disk_.c_str(), "tmpfs", 0, "size=30m") != 0) {
      GTEST_SKIP() << "cannot mount a 30 MB tmpfs (" << std::strerror(errno)
                   << "); this test needs root or CAP_SYS_ADMIN";
    }
    mounted_ = true;
    server_ = std::make_unique<ServerProcess>(disk_ / "data");
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(120, 0);
  }
  void TearDown() override {
    client_.reset();
    server_.reset();
    if (mounted_) ::umount2(disk_.c_str(), MNT_DETACH);
  }

  // One request with one uncompressed image (~0.9 MB, distinct per seed).
  Reply UploadOne(int seed) {
    return ToReply(client_->Post(
        "/api/sam/dataset/init",
        ImageItems({{"fill" + std::to_string(seed) + ".bmp", MakeImageFile(640, 480, seed, ".bmp")}})));
  }
  size_t DatasetCount() {
    Reply list = ToReply(client_->Get("/api/sam/datasets"));
    EXPECT_EQ(list.status, 200) << list.raw;
    return list.body.is_object() ? list.body["datasets"].size() : 0;
  }

  TempDir tmp_;
  fs::path disk_;
  bool mounted_ = false;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(DiskFullHttpTest, FullDiskFailsCleanlyAndDeletingFreesSpace) {
  // A small dataset to prewarm later, while there is room.
  Reply warm = ToReply(client_->Post("/api/sam/dataset/init?name=warm",
                                     ImageItems({{"warm.jpg", MakeImageFile(160, 120, 9000, ".jpg")}})));
  ASSERT_EQ(warm.status, 200) << warm.raw;
  const std::string warm_id = warm.body["dataset_id"];

  std::vector<std::string> stored;
  Reply failed;
  for (int seed = 1; seed <= 60 && failed.status == 0; ++seed) {
    Reply r = UploadOne(seed);
    if (r.status == 200) {
      stored.push_back(r.body["dataset_id"]);
    } else {
      failed = r;
    }
  }
  ASSERT_EQ(failed.status, 500) << "the disk never filled up: " << failed.raw;
  ASSERT_GE(stored.size(), 2u);
  std::printf("[ MEASURED ] %zu uploads of ~0.9 MB stored before the disk was full; %llu bytes free\n",
              stored.size(), static_cast<unsigned long long>(FreeBytes(disk_)));
  // A clear reason, and none of the server's folders in it.
  ASSERT_TRUE(failed.body.is_object()) << failed.raw;
  EXPECT_EQ(failed.raw.find(disk_.string()), std::string::npos) << failed.raw;
  EXPECT_EQ(failed.raw.find("/data/"), std::string::npos) << failed.raw;
  const std::string reason = failed.body["errors"][0]["error"];
  EXPECT_TRUE(reason.find("No space left on device") != std::string::npos ||
              reason.find("disk is full") != std::string::npos)
      << reason;
  // More failed uploads: still no empty dataset from any of them.
  for (int seed = 100; seed < 103; ++seed) EXPECT_EQ(UploadOne(seed).status, 500);
  EXPECT_EQ(DatasetCount(), stored.size() + 1);

  // The last bytes go too: now even SQLite's log cannot grow.
  const uint64_t filler = FillUp(disk_ / "filler");
  std::printf("[ MEASURED ] %llu more bytes taken by a filler file; %llu bytes free\n",
              static_cast<unsigned long long>(filler), static_cast<unsigned long long>(FreeBytes(disk_)));

  // Deleting works on the full disk (the space reserve is given up for it), and frees the
  // space of what it deleted.
  const uint64_t free_before = FreeBytes(disk_);
  Reply deleted = ToReply(client_->Delete(("/api/sam/dataset/" + stored.front()).c_str()));
  ASSERT_EQ(deleted.status, 200) << deleted.raw;
  EXPECT_EQ(deleted.body["blobs_removed"], 1);
  Reply deleted_too = ToReply(client_->Delete(("/api/sam/dataset/" + stored.back()).c_str()));
  ASSERT_EQ(deleted_too.status, 200) << deleted_too.raw;
  EXPECT_GT(FreeBytes(disk_), free_before);
  std::printf("[ MEASURED ] after 2 deletes: %llu bytes free (was %llu)\n",
              static_cast<unsigned long long>(FreeBytes(disk_)),
              static_cast<unsigned long long>(free_before));
  EXPECT_EQ(DatasetCount(), stored.size() - 1);
  EXPECT_NE(server_->Log().find("released the 8 MiB space reserve"), std::string::npos) << server_->Log();

  // Uploads work again.
  Reply again = UploadOne(200);
  EXPECT_EQ(again.status, 200) << again.raw;

  // The demo model's embedding does not fit in what is left after one more upload: a prewarm
  // must report the image as failed, and nothing as computed.
  for (int seed = 300; seed < 340 && UploadOne(seed).status == 200; ++seed) {
  }
  Reply started = StartPrewarm(*client_, warm_id);
  if (started.status == 202 || started.status == 200) {
    Reply job = WaitForPrewarm(*client_, started.body["job_id"]);
    ASSERT_EQ(job.status, 200) << job.raw;
    std::printf("[ MEASURED ] prewarm on the full disk: %s\n", job.raw.c_str());
    EXPECT_EQ(job.body["computed"], 0) << job.raw;
    EXPECT_EQ(job.raw.find(disk_.string()), std::string::npos) << job.raw;
  } else {
    // Creating the job itself needed room: a clean error then, without paths.
    EXPECT_EQ(started.status, 500) << started.raw;
    EXPECT_EQ(started.raw.find(disk_.string()), std::string::npos) << started.raw;
  }
  EXPECT_EQ(server_->Stop(), 0) << server_->Log();
}

// A stored file gone from the disk (deleted by hand, a broken mount): the client hears which
// image, never where the server keeps its files.
TEST(ServerPathsHttpTest, AMissingStoredFileIsReportedWithoutItsPath) {
  TempDir tmp;
  ServerProcess server(tmp / "data");
  httplib::Client client("127.0.0.1", server.port());
  Reply up = ToReply(
      client.Post("/api/sam/dataset/init", ImageItems({{"a.png", MakeImageFile(40, 30, 1, ".png")}})));
  ASSERT_EQ(up.status, 200) << up.raw;
  const std::string id = up.body["images"][0]["id"];
  for (const fs::path& blob : ListFiles(tmp / "data" / "blobs")) fs::remove(blob);

  Reply file = ToReply(client.Get("/api/sam/image/" + id));
  EXPECT_EQ(file.status, 500) << file.raw;
  EXPECT_NE(file.raw.find("is missing"), std::string::npos) << file.raw;
  EXPECT_EQ(file.raw.find(tmp.path().string()), std::string::npos) << file.raw;
  Reply predict = ToReply(client.Post(
      "/api/sam/predict", R"({"image_id": ")" + id + R"(", "points": [{"x": 10, "y": 10, "label": 1}]})",
      "application/json"));
  EXPECT_GE(predict.status, 400) << predict.raw;
  EXPECT_EQ(predict.raw.find(tmp.path().string()), std::string::npos) << predict.raw;
  EXPECT_NE(server.Log().find(tmp.path().string()), std::string::npos) << "the log keeps the full text";
}

}  // namespace
}  // namespace samcache::testing
