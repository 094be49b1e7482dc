// Near duplicates through the real binary: the upload answer's near_duplicates,
// GET /api/sam/image/{id}/similar (and its bad inputs), the index across a restart and a
// delete, --near-duplicate-distance, and `samcache dupes` / `samcache ingest` as processes.
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <set>

#include "support/http_reply.h"
#include "support/near_dup_images.h"
#include "support/test_support.h"

namespace samcache::testing {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// Three unrelated photos and the edits of the first one.
struct PhotoSet {
  DecodedImage photo = MakePhoto(640, 480, 501);
  NamedFile original{"photo.jpg", EncodeOrDie(photo, ".jpg")};
  NamedFile other1{"other1.jpg", EncodeOrDie(MakePhoto(640, 480, 502), ".jpg")};
  NamedFile other2{"other2.jpg", EncodeOrDie(MakePhoto(800, 600, 503), ".jpg")};
  NamedFile resized{"photo-small.png", EditedFile(photo, Edit::kResized, ".png")};
  NamedFile q60{"photo-q60.jpg", EditedFile(photo, Edit::kJpegQ60)};
  NamedFile cropped{"photo-crop.jpg", EditedFile(photo, Edit::kCropped)};
  NamedFile brighter{"photo-bright.png", EditedFile(photo, Edit::kBrighter, ".png")};
  NamedFile mirrored{"photo-flip.jpg", EditedFile(photo, Edit::kMirrored)};
  NamedFile same_background{"other-objects.jpg", EncodeOrDie(MakePhoto(640, 480, 501, 77), ".jpg")};
};

std::set<std::string> Filenames(const json& list) {
  std::set<std::string> out;
  for (const json& j : list) out.insert(j["filename"].get<std::string>());
  return out;
}

class NearDuplicatesHttpTest : public ::testing::Test {
 protected:
  void StartServer(std::vector<std::string> args = {}) {
    server_.reset();
    server_ = std::make_unique<ServerProcess>(tmp_ / "data", std::move(args));
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(120, 0);
  }
  void SetUp() override { StartServer(); }

  Reply Upload(const std::vector<NamedFile>& files, const std::string& name) {
    return ToReply(client_->Post(("/api/sam/dataset/init?name=" + name).c_str(), ImageItems(files)));
  }
  Reply Get(const std::string& path) { return ToReply(client_->Get(path.c_str())); }

  TempDir tmp_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<httplib::Client> client_;
  PhotoSet set_;
};

TEST_F(NearDuplicatesHttpTest, UploadListsNearDuplicatesOfEveryEdit) {
  // Other objects on the photo's background are another picture.
  Reply first = Upload({set_.original, set_.other1, set_.other2, set_.same_background}, "originals");
  ASSERT_EQ(first.status, 200) << first.raw;
  EXPECT_EQ(first.body["near_duplicates_found"], 0);
  for (const json& image : first.body["images"]) {
    ASSERT_TRUE(image.contains("near_duplicates"));
    EXPECT_TRUE(image["near_duplicates"].empty()) << image["filename"];
    EXPECT_EQ(image["perceptual_hash"].get<std::string>().size(), 16u);
  }
  const std::string original_id = first.body["images"][0]["id"];
  const std::string originals_id = first.body["dataset_id"];

  const std::vector<NamedFile> edits = {set_.resized, set_.q60, set_.cropped, set_.brighter, set_.mirrored};
  // Edits one request at a time, each into its own dataset, so each finds only the original.
  for (const NamedFile& edit : edits) {
    Reply r = Upload({edit}, "edit");
    ASSERT_EQ(r.status, 200) << r.raw;
    EXPECT_EQ(r.body["duplicates_found"], 0);
    const json& near = r.body["images"][0]["near_duplicates"];
    ASSERT_GE(near.size(), 1u) << edit.filename << ": " << r.raw;
    // The original is there, with where it lives and how far it is.
    json found;
    for (const json& n : near) {
      if (n["image_id"] == original_id) found = n;
    }
    ASSERT_FALSE(found.is_null()) << edit.filename << ": " << near.dump();
    EXPECT_EQ(found["dataset_id"], originals_id);
    EXPECT_EQ(found["dataset_name"], "originals");
    EXPECT_EQ(found["filename"], "photo.jpg");
    EXPECT_LE(found["distance"].get<int>(), 10);
    EXPECT_EQ(found["mirrored"], edit.filename == "photo-flip.jpg");
    EXPECT_EQ(found["relation"], "near_duplicate");
    for (const json& n : near) {
      EXPECT_NE(n["filename"], "other1.jpg");
      EXPECT_NE(n["filename"], "other-objects.jpg");
    }
    EXPECT_EQ(r.body["near_duplicates_found"], 1);
  }
  EXPECT_NE(server_->Log().find("[NEAR-DUP] photo-small.png looks like photo.jpg in dataset 'originals'"),
            std::string::npos)
      << server_->Log();
}

// Uploading images the catalog already has (a duplicate by content) still lists their near
// duplicates, and never the image's own copies.
TEST_F(NearDuplicatesHttpTest, ReuploadOfKnownImagesListsTheirNearDuplicates) {
  ASSERT_EQ(Upload({set_.original, set_.resized, set_.other1}, "first").status, 200);
  Reply again = Upload({set_.original, set_.other1}, "again");
  ASSERT_EQ(again.status, 200) << again.raw;
  EXPECT_EQ(again.body["duplicates_found"], 2);
  EXPECT_EQ(again.body["near_duplicates_found"], 1);
  EXPECT_EQ(again.body["images"][0]["duplicate"], true);
  EXPECT_EQ(Filenames(again.body["images"][0]["near_duplicates"]), std::set<std::string>{"photo-small.png"});
  EXPECT_TRUE(again.body["images"][1]["near_duplicates"].empty());
}

TEST_F(NearDuplicatesHttpTest, SimilarEndpointAcrossRestartAndDelete) {
  Reply a = Upload({set_.original, set_.other1}, "a");
  Reply b = Upload({set_.mirrored, set_.original, set_.q60}, "b");
  ASSERT_EQ(a.status, 200);
  ASSERT_EQ(b.status, 200);
  const std::string id = a.body["images"][0]["id"];

  auto check = [&](const std::string& when) {
    Reply r = Get("/api/sam/image/" + id + "/similar");
    ASSERT_EQ(r.status, 200) << r.raw;
    EXPECT_EQ(r.body["image_id"], id);
    EXPECT_EQ(r.body["max_distance"], 10);
    const json& list = r.body["similar"];
    ASSERT_EQ(list.size(), 3u) << when << ": " << r.raw;
    EXPECT_EQ(list[0]["filename"], "photo.jpg");
    EXPECT_EQ(list[0]["relation"], "same_file");
    EXPECT_EQ(list[0]["dataset_name"], "b");
    EXPECT_EQ(list[0]["distance"], 0);
    std::set<std::string> near = {list[1]["filename"], list[2]["filename"]};
    EXPECT_EQ(near, (std::set<std::string>{"photo-flip.jpg", "photo-q60.jpg"})) << when;
    for (size_t i = 1; i < 3; ++i) {
      EXPECT_EQ(list[i]["relation"], "near_duplicate");
      EXPECT_EQ(list[i]["mirrored"], list[i]["filename"] == "photo-flip.jpg");
    }
    EXPECT_LE(list[1]["distance"].get<int>(), list[2]["distance"].get<int>()) << "closest first";
  };
  check("before restart");
  StartServer();  // the index is rebuilt from the catalog
  check("after restart");
  EXPECT_NE(server_->Log().find("[NEAR-DUP] index of 4 distinct picture(s)"), std::string::npos)
      << server_->Log();

  Reply limited = Get("/api/sam/image/" + id + "/similar?limit=1");
  ASSERT_EQ(limited.status, 200);
  EXPECT_EQ(limited.body["similar"].size(), 1u);
  Reply exact = Get("/api/sam/image/" + id + "/similar?max_distance=0");
  ASSERT_EQ(exact.status, 200);
  for (const json& s : exact.body["similar"]) EXPECT_EQ(s["distance"], 0);

  ASSERT_EQ(client_->Delete(("/api/sam/dataset/" + b.body["dataset_id"].get<std::string>()).c_str())->status,
            200);
  Reply after = Get("/api/sam/image/" + id + "/similar");
  ASSERT_EQ(after.status, 200);
  EXPECT_TRUE(after.body["similar"].empty()) << after.raw;
}

TEST_F(NearDuplicatesHttpTest, SimilarEndpointRefusesBadInput) {
  Reply up = Upload({set_.original}, "a");
  ASSERT_EQ(up.status, 200);
  const std::string base = "/api/sam/image/" + up.body["images"][0]["id"].get<std::string>() + "/similar";
  for (const char* bad :
       {"max_distance=-1", "max_distance=33", "max_distance=abc", "max_distance=", "max_distance=1.5",
        "max_distance=%203", "max_distance=99999999999", "limit=0", "limit=1001", "limit=x"}) {
    Reply r = Get(base + "?" + bad);
    EXPECT_EQ(r.status, 400) << bad << ": " << r.raw;
    ASSERT_TRUE(r.body.is_object()) << bad;
    EXPECT_NE(r.body["error"].get<std::string>().find("whole number"), std::string::npos) << r.raw;
  }
  Reply ok = Get(base + "?max_distance=32&limit=1000");
  EXPECT_EQ(ok.status, 200) << ok.raw;
  Reply unknown = Get("/api/sam/image/0123456789abcdef/similar");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.body["error"], "no image with id '0123456789abcdef'");
}

TEST_F(NearDuplicatesHttpTest, DistanceOptionOfServe) {
  StartServer({"--near-duplicate-distance", "0"});
  ASSERT_EQ(Upload({set_.original}, "a").status, 200);
  // A crop is several bits away: not a near duplicate at distance 0.
  Reply r = Upload({set_.cropped}, "b");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["near_duplicates_found"], 0);
  Reply similar = Get("/api/sam/image/" + r.body["images"][0]["id"].get<std::string>() + "/similar");
  EXPECT_EQ(similar.body["max_distance"], 0);
  // But asking with a larger distance finds it.
  Reply wider =
      Get("/api/sam/image/" + r.body["images"][0]["id"].get<std::string>() + "/similar?max_distance=16");
  EXPECT_EQ(Filenames(wider.body["similar"]), std::set<std::string>{"photo.jpg"});

  server_.reset();
  for (const char* bad : {"33", "-1", "ten"}) {
    CommandResult r2 = RunSamcache(
        {"serve", "--port", "0", "--data", (tmp_ / "data").string(), "--near-duplicate-distance", bad});
    EXPECT_NE(r2.exit_code, 0) << bad;
    EXPECT_NE(r2.output.find("--near-duplicate-distance"), std::string::npos) << r2.output;
  }
}

// `samcache ingest` reports near duplicates; `samcache dupes` lists the three kinds of groups.
TEST_F(NearDuplicatesHttpTest, IngestAndDupesCommands) {
  server_.reset();
  const std::string data = (tmp_ / "data").string();
  WriteFile(tmp_ / "one" / "photo.jpg", set_.original.bytes);
  WriteFile(tmp_ / "one" / "other1.jpg", set_.other1.bytes);
  WriteFile(tmp_ / "two" / "photo-copy.jpg", set_.original.bytes);         // same file
  WriteFile(tmp_ / "two" / "photo.png", EncodeOrDie(set_.photo, ".png"));  // near (JPEG vs PNG pixels)
  WriteFile(tmp_ / "two" / "photo-lossless.bmp",
            EncodeOrDie(set_.photo, ".bmp"));                       // same pixels as photo.png
  WriteFile(tmp_ / "two" / "photo-flip.jpg", set_.mirrored.bytes);  // near, mirrored
  WriteFile(tmp_ / "three" / "other2.jpg", set_.other2.bytes);

  CommandResult one = RunSamcache({"ingest", "--data", data, "--dataset", "one", (tmp_ / "one").string()});
  ASSERT_EQ(one.exit_code, 0) << one.output;
  CommandResult two = RunSamcache({"ingest", "--data", data, "--dataset", "two", (tmp_ / "two").string()});
  ASSERT_EQ(two.exit_code, 0) << two.output;
  EXPECT_NE(two.output.find("image(s) with near duplicates"), std::string::npos) << two.output;
  EXPECT_NE(two.output.find("[NEAR-DUP] photo-flip.jpg looks like"), std::string::npos) << two.output;
  ASSERT_EQ(
      RunSamcache({"ingest", "--data", data, "--dataset", "three", (tmp_ / "three").string()}).exit_code, 0);

  CommandResult text = RunSamcache({"dupes", "--data", data});
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_NE(text.output.find("Duplicates among all 7 image(s) of the catalog"), std::string::npos)
      << text.output;
  EXPECT_NE(text.output.find("Same file (identical bytes): 1 group(s)"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("Same pixels (one picture in several files): 1 group(s)"), std::string::npos);
  EXPECT_NE(text.output.find("Near duplicates (perceptual hashes within 10 of 64 bits): 1 group(s)"),
            std::string::npos);
  EXPECT_NE(text.output.find("two/photo-flip.jpg"), std::string::npos);
  EXPECT_NE(text.output.find(", mirrored"), std::string::npos);
  EXPECT_EQ(text.output.find("other2.jpg"), std::string::npos) << "unrelated images are not listed";

  CommandResult js = RunSamcache({"dupes", "--data", data, "--json", "one"});
  ASSERT_EQ(js.exit_code, 0) << js.output;
  // Log lines go to the same captured output; the JSON document starts at the first '{'.
  const json report = json::parse(js.output.substr(js.output.find("{\n")), nullptr, false);
  ASSERT_TRUE(report.is_object()) << js.output;
  EXPECT_EQ(report["dataset"]["name"], "one");
  EXPECT_EQ(report["images_examined"], 2);
  EXPECT_EQ(report["max_distance"], 10);
  ASSERT_EQ(report["same_file"].size(), 1u);
  EXPECT_EQ(Filenames(report["same_file"][0]["images"]),
            (std::set<std::string>{"photo.jpg", "photo-copy.jpg"}));
  EXPECT_EQ(report["same_pixels"].size(), 0u) << "photo.png and its BMP have no image in dataset one";
  ASSERT_EQ(report["near_duplicates"].size(), 1u);
  const json& group = report["near_duplicates"][0]["images"];
  EXPECT_EQ(Filenames(group), (std::set<std::string>{"photo.jpg", "photo-copy.jpg", "photo.png",
                                                     "photo-lossless.bmp", "photo-flip.jpg"}));
  EXPECT_EQ(group[0]["filename"], "photo.jpg") << "oldest first";
  for (const json& member : group) {
    EXPECT_LE(member["distance"].get<int>(), 10);
    EXPECT_EQ(member["mirrored"], member["filename"] == "photo-flip.jpg");
  }

  CommandResult strict = RunSamcache({"dupes", "--data", data, "--json", "--near-duplicate-distance", "0"});
  ASSERT_EQ(strict.exit_code, 0) << strict.output;
  EXPECT_EQ(json::parse(strict.output.substr(strict.output.find("{\n")))["max_distance"], 0);

  CommandResult unknown = RunSamcache({"dupes", "--data", data, "nope"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.output.find("no dataset with id or name 'nope'"), std::string::npos) << unknown.output;
  CommandResult bad = RunSamcache({"dupes", "--data", data, "--near-duplicate-distance", "40"});
  EXPECT_NE(bad.exit_code, 0);
}

}  // namespace
}  // namespace samcache::testing
