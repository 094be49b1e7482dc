// Abuse of request bodies (issue 14, H1, H2, M3, M4, L3): JSON nested to overflow a recursive
// parser, chunked bodies past the caps, JSON amplification, megabyte ids, unbounded clicks and
// giant masks. The real binary on loopback; each test ends by checking the server is up.
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <thread>

#include "abuse/abuse_support.h"

namespace samcache::testing {
namespace {

using json = nlohmann::json;

class BodiesTest : public AbuseTest {};

std::string Nested(int depth, const std::string& inner = "1") {
  return std::string(static_cast<size_t>(depth), '[') + inner + std::string(static_cast<size_t>(depth), ']');
}

// A file part's headers, without its bytes.
std::string PartHead(const std::string& filename) {
  const std::string part = MultipartPart(filename, "");
  return part.substr(0, part.size() - 2);
}

std::string Click(const std::string& image_id) {
  return "{\"image_id\":\"" + image_id + "\",\"points\":[{\"x\":10,\"y\":10,\"label\":1}]";
}

// Streams a chunked body of `total` bytes made of `piece` after `head`, stopping as soon as the
// server answers or stops reading; returns the reply and sets `sent` to the body bytes written.
RawReply StreamChunked(int port, const std::string& head, const std::string& first, const std::string& piece,
                       size_t total, size_t* sent) {
  RawConnection connection(port);
  *sent = 0;
  bool open = connection.Send(head) && connection.Send(Chunk(first));
  *sent += first.size();
  const std::string chunk = Chunk(piece);
  while (open && *sent < total && !connection.Readable()) {
    open = connection.Send(chunk);
    if (open) *sent += piece.size();
  }
  if (open && *sent >= total) connection.Send("0\r\n\r\n");
  return connection.ReadReply(kAnswerTimeout);
}

// H1: 60,000-deep JSON in predict's "format" and 100,000-deep in an annotation's "prompt" are
// 400s from the parser's nesting limit; the process lives. No valid image is needed either.
TEST_F(BodiesTest, DeeplyNestedJsonIs400) {
  Start();
  const std::string image = UploadScene();
  for (const std::string& id : {image, std::string("0123456789abcdef")}) {
    const RawReply predict = PostJson("/api/sam/predict", Click(id) + ",\"format\":" + Nested(60000) + "}");
    EXPECT_EQ(predict.status, 400) << predict.body.substr(0, 300);
    ExpectJsonError(predict);
  }
  const RawReply annotation = PostJson(
      "/api/sam/image/" + image + "/annotations",
      "{\"category\":\"cat\",\"segmentation\":{\"size\":[240,320],\"counts\":[0,76800]},\"prompt\":" +
          Nested(100000, "{}") + "}");
  EXPECT_EQ(annotation.status, 400) << annotation.body.substr(0, 300);
  ExpectJsonError(annotation);
  const RawReply objects = PostJson("/api/sam/predict", std::string(50000, '{'));
  EXPECT_EQ(objects.status, 400);
  ExpectAlive();
}

// H2: --max-upload-mb holds for chunked uploads: a 3.5 MB image is refused with 413 and not
// stored; a 256 MB chunked part is cut off near the cap (the server neither reads nor holds
// it: its RSS stays bounded); a 20 MB chunked JSON body gets 413 from the JSON cap.
TEST_F(BodiesTest, ChunkedBodiesObeyTheCaps) {
  Start();
  ASSERT_GT(pid_, 0);
  cv::Mat noise(1100, 1100, CV_8UC3);
  cv::randu(noise, cv::Scalar::all(0), cv::Scalar::all(255));
  std::vector<uchar> png;
  cv::imencode(".png", noise, png);
  const std::string image(png.begin(), png.end());
  ASSERT_GT(image.size(), 3u << 20);
  const std::string head = MultipartHead("/api/sam/dataset/init", -1);
  const std::string whole = MultipartPart("noise.png", image) + MultipartEnd();
  size_t sent = 0;
  const RawReply small =
      StreamChunked(port(), head, whole.substr(0, 1024), whole.substr(1024), whole.size(), &sent);
  EXPECT_EQ(small.status, 413) << small.body.substr(0, 300);
  ExpectJsonError(small);
  const json datasets = json::parse(Get("/api/sam/datasets").body, nullptr, false);
  int stored = 0;
  for (const json& d : datasets.value("datasets", json::array())) stored += d.value("image_count", 0);
  EXPECT_EQ(stored, 0) << "an upload over the cap stored images: " << datasets.dump();

  [[maybe_unused]] const long before_kb = ResidentKb(pid_);
  const size_t big = 256u << 20;
  const RawReply huge =
      StreamChunked(port(), head, PartHead("big.png"), std::string(256 << 10, 'x'), big, &sent);
  [[maybe_unused]] const long after_kb = ResidentKb(pid_);
  EXPECT_EQ(huge.status, 413);
  EXPECT_LT(sent, big) << "the server read the whole 256 MB";
#ifndef __SANITIZE_ADDRESS__  // ASan's quarantine keeps freed buffers resident
  EXPECT_LT(after_kb - before_kb, 64 * 1024) << "RSS grew from " << before_kb << " to " << after_kb << " KiB";
#endif

  const RawReply json_body = StreamChunked(
      port(),
      "POST /api/sam/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n",
      "{\"image_id\":\"0123456789abcdef\",\"points\":[", std::string(64 << 10, ' '), 20u << 20, &sent);
  EXPECT_EQ(json_body.status, 413) << json_body.body.substr(0, 300);
  ExpectJsonError(json_body);
  ExpectAlive();
}

// M3: a 104 MB predict body is refused from its Content-Length (413, JSON cap); a 1 MB image_id
// within the cap is refused without being echoed; too many points are a 400 naming the limit.
TEST_F(BodiesTest, JsonAmplificationIsBounded) {
  Start();
  RawConnection connection(port());
  ASSERT_TRUE(
      connection.Send("POST /api/sam/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                      "application/json\r\nContent-Length: 109051904\r\n\r\n{\"points\":["));
  const RawReply big = connection.ReadReply(kAnswerTimeout);
  EXPECT_EQ(big.status, 413);
  ExpectJsonError(big);

  const std::string long_id(1000000, 'a');
  const RawReply echoed = PostJson("/api/sam/predict", Click(long_id) + "}");
  EXPECT_TRUE(echoed.status == 400 || echoed.status == 404) << echoed.status;
  ExpectJsonError(echoed);
  EXPECT_LT(echoed.body.size(), 2048u) << "the reply carries the id back";
  EXPECT_EQ(echoed.body.find(std::string(64, 'a')), std::string::npos);
  // An id in the path comes back as a short prefix at most.
  const RawReply image_reply = Get("/api/sam/image/" + std::string(4000, 'b'));
  EXPECT_EQ(image_reply.status, 404);
  EXPECT_EQ(image_reply.body.find(std::string(64, 'b')), std::string::npos)
      << image_reply.body.substr(0, 300);
  // An unknown endpoint's path is named, cut short.
  const RawReply unknown = Get("/api/sam/" + std::string(4000, 'c'));
  EXPECT_EQ(unknown.status, 404);
  EXPECT_LT(unknown.body.size(), 1024u) << unknown.body.substr(0, 300);

  const std::string image = UploadScene();
  std::string points = "{\"image_id\":\"" + image + "\",\"points\":[";
  for (int i = 0; i < 10000; ++i) points += std::string(i ? "," : "") + "{\"x\":1,\"y\":1,\"label\":1}";
  const RawReply many = PostJson("/api/sam/predict", points + "]}");
  EXPECT_EQ(many.status, 400);
  EXPECT_NE(many.body.find("points"), std::string::npos) << many.body.substr(0, 300);
  ExpectAlive();
}

// M4: clicks with every output on a large image, whose clients hang up at once, do not keep
// the server from the next click; a full one answers (or is refused as too large), never 5xx.
TEST_F(BodiesTest, HeavyClicksFromGoneClientsDoNotStallOthers) {
  Start();
  int status = 0;
  const json upload = Upload({{"big.jpg", MakeImageFile(4000, 3000, 5, ".jpg")}}, &status);
  ASSERT_EQ(status, 200) << upload.dump();
  const std::string image = upload["images"][0]["id"];
  const RawReply warm = PostJson("/api/sam/predict", Click(image) + "}");
  ASSERT_EQ(warm.status, 200) << warm.body.substr(0, 300);
  const std::string heavy = Click(image) + ",\"multimask\":true,\"format\":[\"png\",\"polygon\"]}";
  const std::string request =
      "POST /api/sam/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
      "application/json\r\nContent-Length: " +
      std::to_string(heavy.size()) + "\r\n\r\n" + heavy;
  for (int i = 0; i < 8; ++i) {
    RawConnection gone(port());
    gone.Send(request);
  }  // each connection closes here, before its answer
  const RawReply click =
      RawExchange(port(),
                  "POST /api/sam/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                  "application/json\r\nContent-Length: " +
                      std::to_string(Click(image).size() + 1) + "\r\n\r\n" + Click(image) + "}",
                  3 * kAnswerTimeout);
  EXPECT_EQ(click.status, 200) << click.body.substr(0, 300);
  const RawReply full = RawExchange(port(), request, 6 * kAnswerTimeout);
  EXPECT_TRUE(full.status == 200 || (full.status >= 400 && full.status < 500)) << full.status;
  ExpectAlive();
}

// pycocotools' compressed RLE string (rleToString) of `counts`.
std::string CocoCounts(const std::vector<long long>& counts) {
  std::string out;
  for (size_t i = 0; i < counts.size(); ++i) {
    long long x = counts[i] - (i > 2 ? counts[i - 2] : 0);
    for (bool more = true; more;) {
      long long c = x & 0x1f;
      x >>= 5;
      more = (c & 0x10) ? x != -1 : x != 0;
      if (more) c |= 0x20;
      out += static_cast<char>(c + 48);
    }
  }
  return out;
}

// L3: an RLE with far more runs than any mask has is refused (400, naming the limit), and one
// sent as 20 M runs never reaches the parser (413 from the JSON cap).
TEST_F(BodiesTest, OverlongRleIsRefused) {
  Start();
  int status = 0;
  const json upload = Upload({{"square.png", MakeImageFile(1000, 1000, 7, ".png")}}, &status);
  ASSERT_EQ(status, 200) << upload.dump();
  const std::string image = upload["images"][0]["id"];
  std::vector<long long> runs(600000, 1);
  runs.back() = 1000 * 1000 - static_cast<long long>(runs.size() - 1);
  const std::string body = "{\"category\":\"stripes\",\"segmentation\":{\"size\":[1000,1000],\"counts\":\"" +
                           CocoCounts(runs) + "\"}}";
  ASSERT_LT(body.size(), 1000000u);
  const RawReply many = PostJson("/api/sam/image/" + image + "/annotations", body);
  EXPECT_EQ(many.status, 400) << many.body.substr(0, 300);
  ExpectJsonError(many);

  RawConnection connection(port());
  ASSERT_TRUE(connection.Send("POST /api/sam/image/" + image +
                              "/annotations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                              "application/json\r\nContent-Length: 40000000\r\n\r\n{\"counts\":[1,"));
  EXPECT_EQ(connection.ReadReply(kAnswerTimeout).status, 413);
  ExpectAlive();
}

}  // namespace
}  // namespace samcache::testing
