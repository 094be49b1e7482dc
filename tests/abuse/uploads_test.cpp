// Abuse through uploads (issue 14, M2 and L2): progressive-JPEG scan bombs, overlong file
// names, a missing final boundary, control characters in names; and what held before the
// issue and must keep holding. The real binary on loopback.
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <thread>

#include "abuse/abuse_support.h"

namespace samcache::testing {
namespace {

using json = nlohmann::json;

class UploadsTest : public AbuseTest {};

// A grey progressive JPEG whose last AC scan is repeated `copies` times: a small file that
// costs a full-image pass per scan to decode.
std::string ProgressiveScanBomb(int width, int height, int copies) {
  // Flat grey: each AC scan is a few hundred bytes of end-of-band runs.
  const cv::Mat grey(height, width, CV_8UC1, cv::Scalar(128));
  std::vector<uchar> encoded;
  cv::imencode(".jpg", grey, encoded, {cv::IMWRITE_JPEG_PROGRESSIVE, 1, cv::IMWRITE_JPEG_QUALITY, 90});
  const std::string jpeg(encoded.begin(), encoded.end());
  // Walk the segments to the scans: SOS (FFDA) headers followed by entropy-coded data, which
  // ends at the next marker that is neither a stuffed 0xFF00 nor a restart marker.
  size_t chosen_begin = 0, chosen_end = 0;
  size_t at = 2;
  while (at + 4 <= jpeg.size()) {
    const auto marker = static_cast<unsigned char>(jpeg[at + 1]);
    if (marker == 0xD9) break;  // EOI
    const size_t length =
        (static_cast<unsigned char>(jpeg[at + 2]) << 8) | static_cast<unsigned char>(jpeg[at + 3]);
    size_t end = at + 2 + length;
    if (marker == 0xDA) {
      while (end + 1 < jpeg.size()) {
        const auto next = static_cast<unsigned char>(jpeg[end + 1]);
        if (static_cast<unsigned char>(jpeg[end]) == 0xFF && next != 0 && (next < 0xD0 || next > 0xD7)) break;
        ++end;
      }
      const int components = static_cast<unsigned char>(jpeg[at + 4]);
      const int spectral_start = static_cast<unsigned char>(jpeg[at + 5 + 2 * components]);
      if (spectral_start > 0) chosen_begin = at, chosen_end = end;
    }
    at = end;
  }
  if (chosen_end == 0) throw std::runtime_error("no AC scan in the progressive JPEG");
  std::string bomb = jpeg.substr(0, chosen_end);
  const std::string scan = jpeg.substr(chosen_begin, chosen_end - chosen_begin);
  for (int i = 0; i < copies; ++i) bomb += scan;
  return bomb + jpeg.substr(chosen_end);
}

// M2: a scan bomb is refused (listed in errors, the good file of the same upload stored), and
// another client's small upload is answered while bombs are being sent.
TEST_F(UploadsTest, ProgressiveScanBombIsRefused) {
  AbuseLimits limits;
  limits.max_upload_mb = 16;
  Start(limits);
  const std::string bomb = ProgressiveScanBomb(4000, 3000, 6000);
  ASSERT_LT(bomb.size(), 8u << 20);
  std::thread attacker([&] {
    for (int i = 0; i < 2; ++i) Upload({{"bomb" + std::to_string(i) + ".jpg", bomb}});
  });
  int victim_status = 0;
  Upload({{"victim.jpg", MakeImageFile(200, 150, 9, ".jpg")}}, &victim_status);
  attacker.join();
  EXPECT_EQ(victim_status, 200);

  int status = 0;
  const json answer = Upload({{"bomb.jpg", bomb}, {"good.jpg", MakeImageFile(200, 150, 8, ".jpg")}}, &status);
  ASSERT_EQ(status, 200) << answer.dump().substr(0, 500);
  ASSERT_EQ(answer["images"].size(), 1u) << answer.dump().substr(0, 500);
  EXPECT_EQ(answer["images"][0]["filename"], "good.jpg");
  ASSERT_EQ(answer["errors"].size(), 1u);
  EXPECT_EQ(answer["errors"][0]["filename"], "bomb.jpg");
  ExpectAlive();
}

std::vector<std::string> Filenames(const json& answer) {
  std::vector<std::string> names;
  for (const json& image : answer.value("images", json::array()))
    names.push_back(image.value("filename", ""));
  return names;
}

// L2: two good files, then a part with a 10 KB file name, then the body ends without its final
// boundary: the good files are stored and reported, the loss is listed in errors.
TEST_F(UploadsTest, BrokenTailKeepsTheCompleteFiles) {
  Start();
  const std::string long_name = std::string(10240, 'n') + ".jpg";
  std::string body = MultipartPart("one.jpg", MakeImageFile(200, 150, 1, ".jpg")) +
                     MultipartPart("two.jpg", MakeImageFile(200, 150, 2, ".jpg")) +
                     MultipartPart(long_name, MakeImageFile(200, 150, 3, ".jpg"));
  body.resize(body.size() - 100);  // the third part is cut, and no final boundary comes
  const RawReply reply =
      Exchange(MultipartHead("/api/sam/dataset/init", static_cast<long long>(body.size())) + body);
  ASSERT_EQ(reply.status, 200) << reply.body.substr(0, 500);
  const json answer = json::parse(reply.body);
  const std::vector<std::string> names = Filenames(answer);
  ASSERT_EQ(names.size(), 2u) << reply.body.substr(0, 500);
  EXPECT_EQ(names[0], "one.jpg");
  EXPECT_EQ(names[1], "two.jpg");
  EXPECT_FALSE(answer["errors"].empty());
  EXPECT_LT(reply.body.size(), 64000u) << "the 10 KB name is echoed back";

  // The overlong name alone loses nothing: it is cut, the file and the one after it stored.
  int status = 0;
  const json truncated = Upload({{"a.jpg", MakeImageFile(200, 150, 4, ".jpg")},
                                 {long_name, MakeImageFile(200, 150, 5, ".jpg")},
                                 {"c.jpg", MakeImageFile(200, 150, 6, ".jpg")}},
                                &status);
  ASSERT_EQ(status, 200) << truncated.dump().substr(0, 500);
  const std::vector<std::string> kept = Filenames(truncated);
  ASSERT_EQ(kept.size(), 3u) << truncated.dump().substr(0, 500);
  EXPECT_FALSE(kept[1].empty());
  EXPECT_LT(kept[1].size(), 1024u) << "the name is truncated";
  EXPECT_EQ(kept[2], "c.jpg");
  ExpectAlive();
}

// L2: names with control characters, ../ and an RTL override are stored as data; the COCO
// export carries no control characters.
TEST_F(UploadsTest, ExportCarriesNoControlCharacters) {
  Start();
  int status = 0;
  const json answer = Upload({{"ctl\x01\x1b[31mred\x7f.jpg", MakeImageFile(120, 90, 1, ".jpg")},
                              {"../../../etc/passwd.jpg", MakeImageFile(120, 90, 2, ".jpg")},
                              {"rtl\xE2\x80\xAEgpj.exe.jpg", MakeImageFile(120, 90, 3, ".jpg")}},
                             &status);
  ASSERT_EQ(status, 200) << answer.dump().substr(0, 500);
  ASSERT_EQ(answer["images"].size(), 3u);
  const RawReply coco = Get("/api/sam/dataset/" + answer["dataset_id"].get<std::string>() + "/export/coco");
  ASSERT_EQ(coco.status, 200) << coco.body.substr(0, 300);
  const json file = json::parse(coco.body);
  ASSERT_EQ(file["images"].size(), 3u);
  for (const json& image : file["images"]) {
    const std::string name = image["file_name"];
    for (char c : name) EXPECT_FALSE(static_cast<unsigned char>(c) < 0x20 || c == 0x7f) << json(name).dump();
  }
  EXPECT_EQ(Get("/etc/passwd").body.find("root:"), std::string::npos);
  ExpectAlive();
}

}  // namespace
}  // namespace samcache::testing
