// Black-box tests of inference over HTTP: the real samcache binary with the built-in demo
// model, images uploaded over loopback, clicks sent to POST /api/sam/predict, masks decoded
// from the RLE the server returns and compared with the generated shapes.
#include <gtest/gtest.h>
#include <httplib.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <thread>

#include "image/image_decoder.h"
#include "model/mask_codec.h"
#include "support/http_reply.h"
#include "support/scenes.h"
#include "support/test_support.h"

namespace samcache::testing {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// The mask a predict answer's first RLE decodes to.
std::vector<uint8_t> FirstMask(const json& answer) {
  const json& rle = answer["masks"][0]["rle"];
  Rle encoded{rle["size"][0].get<int>(), rle["size"][1].get<int>(), rle["counts"].get<std::string>()};
  Result<BinaryMask> mask = DecodeRle(encoded);
  EXPECT_TRUE(mask.ok()) << mask.status().message();
  return mask.ok() ? mask->data : std::vector<uint8_t>{};
}

json PointsAt(const SceneObject& object, int label = 1) {
  return json::array({{{"x", object.click_x}, {"y", object.click_y}, {"label", label}}});
}

class PredictApiTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }

  void Start(std::vector<std::string> args = {}) {
    server_.reset();
    server_ = std::make_unique<ServerProcess>(tmp_ / "data", std::move(args));
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(120, 0);
  }

  // Uploads one image file; returns its id.
  std::string Upload(const std::string& filename, const std::string& bytes) {
    Reply reply = ToReply(client_->Post("/api/sam/dataset/init", ImageItems({{filename, bytes}})));
    EXPECT_EQ(reply.status, 200) << reply.raw;
    return reply.body["images"][0]["id"].get<std::string>();
  }
  std::string UploadScene(const Scene& scene, const std::string& filename = "scene.png") {
    Result<std::string> png = EncodeImage(scene.image, ".png");
    EXPECT_TRUE(png.ok());
    return Upload(filename, *png);
  }

  Reply Predict(const json& body) { return Predict(body.dump()); }
  Reply Predict(const std::string& body) {
    return ToReply(client_->Post("/api/sam/predict", body, "application/json"));
  }
  Reply Get(const std::string& path) { return ToReply(client_->Get(path)); }

  TempDir tmp_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(PredictApiTest, ModelEndpointAndLogSayItIsTheDemo) {
  Reply model = Get("/api/sam/model");
  ASSERT_EQ(model.status, 200) << model.raw;
  EXPECT_EQ(model.body["demo"], true);
  EXPECT_NE(model.body["name"].get<std::string>().find("not SAM"), std::string::npos);
  EXPECT_EQ(model.body["id"].get<std::string>().size(), 16u);
  EXPECT_EQ(model.body["embedding_shape"], json::array({1, 256, 64, 64}));
  EXPECT_NE(server_->Log().find("[MODEL] " + model.body["name"].get<std::string>()), std::string::npos);
  EXPECT_NE(server_->Log().find("not SAM"), std::string::npos);
}

TEST_F(PredictApiTest, ClickSegmentsTheShapeAndTheSecondClickIsCached) {
  Scene scene = MakeShapesScene(1600, 900);
  const std::string id = UploadScene(scene);
  const SceneObject& circle = scene.Object("circle");
  Reply first = Predict(json{{"image_id", id}, {"points", PointsAt(circle)}});
  ASSERT_EQ(first.status, 200) << first.raw;
  EXPECT_EQ(first.body["embedding"], "computed");
  EXPECT_EQ(first.body["width"], 1600);
  EXPECT_EQ(first.body["height"], 900);
  ASSERT_EQ(first.body["masks"].size(), 1u);
  const json& mask = first.body["masks"][0];
  EXPECT_EQ(mask["rle"]["size"], json::array({900, 1600}));
  std::vector<uint8_t> decoded = FirstMask(first.body);
  EXPECT_GE(MaskIoU(decoded, circle.mask), 0.9);
  // bbox and area describe the same mask as the RLE.
  uint64_t area = 0;
  for (uint8_t v : decoded) area += v;
  EXPECT_EQ(mask["area"].get<uint64_t>(), area);
  const json& bbox = mask["bbox"];
  EXPECT_NEAR(bbox[0].get<int>(), circle.box[0], 8);
  EXPECT_NEAR(bbox[1].get<int>(), circle.box[1], 8);
  EXPECT_NEAR(bbox[0].get<int>() + bbox[2].get<int>(), circle.box[2], 8);
  EXPECT_NEAR(bbox[1].get<int>() + bbox[3].get<int>(), circle.box[3], 8);
  EXPECT_GE(mask["score"].get<double>(), 0.0);
  EXPECT_LE(mask["score"].get<double>(), 1.0);
  for (const char* t : {"embedding", "decode", "total"})
    EXPECT_TRUE(first.body["timings_ms"][t].is_number()) << t;
  EXPECT_FALSE(first.body["prediction_id"].get<std::string>().empty());

  Reply second = Predict(json{{"image_id", id}, {"points", PointsAt(scene.Object("triangle"))}});
  ASSERT_EQ(second.status, 200) << second.raw;
  EXPECT_EQ(second.body["embedding"], "cached");
  EXPECT_GE(MaskIoU(FirstMask(second.body), scene.Object("triangle").mask), 0.9);
  EXPECT_NE(second.body["prediction_id"], first.body["prediction_id"]);

  Reply stats = Get("/api/sam/stats");
  EXPECT_EQ(stats.body["embeddings"]["encoder_runs"], 1);
  // The dataset listing tells the truth about the cache, and so does a re-upload.
  Reply datasets = Get("/api/sam/datasets");
  Reply dataset = Get("/api/sam/dataset/" + datasets.body["datasets"][0]["id"].get<std::string>());
  EXPECT_EQ(dataset.body["images"][0]["embedding_cached"], true) << dataset.raw;
  Result<std::string> png = EncodeImage(scene.image, ".png");
  Reply again = ToReply(client_->Post("/api/sam/dataset/init", ImageItems({{"again.png", *png}})));
  EXPECT_EQ(again.body["images"][0]["embedding_cached"], true) << again.raw;
  EXPECT_NE(server_->Log().find("Found duplicate image: again.png (hash: "), std::string::npos);
  EXPECT_NE(server_->Log().find("cached: True)"), std::string::npos);
}

TEST_F(PredictApiTest, MasksFollowExifOrientation) {
  Scene scene = MakeShapesScene(700, 1200);
  const std::string id = Upload("rotated.jpg", JpegWithOrientation6(scene.image));
  const SceneObject& rectangle = scene.Object("rectangle");
  Reply reply = Predict(json{{"image_id", id}, {"points", PointsAt(rectangle)}});
  ASSERT_EQ(reply.status, 200) << reply.raw;
  EXPECT_EQ(reply.body["width"], 700);
  EXPECT_EQ(reply.body["height"], 1200);
  EXPECT_GE(MaskIoU(FirstMask(reply.body), rectangle.mask), 0.9);
}

TEST_F(PredictApiTest, NegativeClickBoxAndMultimask) {
  Scene scene = MakeShapesScene(1600, 900);
  const std::string id = UploadScene(scene);
  const SceneObject& orange = scene.Object("orange");
  const SceneObject& amber = scene.Object("amber");
  json points = PointsAt(orange);
  points.push_back({{"x", amber.click_x}, {"y", amber.click_y}, {"label", 0}});
  Reply negative = Predict(json{{"image_id", id}, {"points", points}});
  ASSERT_EQ(negative.status, 200) << negative.raw;
  EXPECT_GE(MaskIoU(FirstMask(negative.body), orange.mask), 0.9);

  const SceneObject& triangle = scene.Object("triangle");
  json box = {triangle.box[0] - 5, triangle.box[1] - 5, triangle.box[2] + 5, triangle.box[3] + 5};
  Reply boxed = Predict(json{{"image_id", id}, {"box", box}});
  ASSERT_EQ(boxed.status, 200) << boxed.raw;
  EXPECT_GE(MaskIoU(FirstMask(boxed.body), triangle.mask), 0.9);

  Reply multi = Predict(json{{"image_id", id}, {"points", PointsAt(orange)}, {"multimask", true}});
  ASSERT_EQ(multi.status, 200) << multi.raw;
  ASSERT_EQ(multi.body["masks"].size(), 3u);
  EXPECT_GE(multi.body["masks"][0]["score"].get<double>(), multi.body["masks"][1]["score"].get<double>());
  EXPECT_GE(multi.body["masks"][1]["score"].get<double>(), multi.body["masks"][2]["score"].get<double>());
}

TEST_F(PredictApiTest, RefineFromFeedsThePreviousMaskBack) {
  Scene scene = MakeShapesScene(1600, 900);
  const std::string id = UploadScene(scene);
  const SceneObject& orange = scene.Object("orange");
  const SceneObject& amber = scene.Object("amber");
  Reply first = Predict(json{{"image_id", id}, {"points", PointsAt(orange)}});
  ASSERT_EQ(first.status, 200) << first.raw;
  json points = json::array({{{"x", amber.click_x}, {"y", amber.click_y}, {"label", 1}}});
  Reply plain = Predict(json{{"image_id", id}, {"points", points}});
  Reply refined =
      Predict(json{{"image_id", id}, {"points", points}, {"refine_from", first.body["prediction_id"]}});
  ASSERT_EQ(refined.status, 200) << refined.raw;
  EXPECT_NE(refined.body["masks"][0]["rle"]["counts"], plain.body["masks"][0]["rle"]["counts"]);

  // A prediction made on one image cannot refine another.
  const std::string other = UploadScene(MakeShapesScene(640, 480, 2), "other.png");
  Reply cross = Predict(json{{"image_id", other},
                             {"points", json::array({{{"x", 5}, {"y", 5}}})},
                             {"refine_from", first.body["prediction_id"]}});
  EXPECT_EQ(cross.status, 400);
  EXPECT_NE(cross.body["error"].get<std::string>().find("refine_from"), std::string::npos);
}

TEST_F(PredictApiTest, ExtraFormatsOnRequest) {
  Scene scene = MakeShapesScene(800, 600);
  const std::string id = UploadScene(scene);
  Reply reply = Predict(json{{"image_id", id},
                             {"points", PointsAt(scene.Object("rectangle"))},
                             {"format", json::array({"rle", "polygon", "png"})}});
  ASSERT_EQ(reply.status, 200) << reply.raw;
  const json& mask = reply.body["masks"][0];
  ASSERT_TRUE(mask["polygons"].is_array());
  ASSERT_GE(mask["polygons"].size(), 1u);
  EXPECT_GE(mask["polygons"][0].size(), 8u);  // at least four corners, x and y each
  ASSERT_TRUE(mask["png_b64"].is_string());
  // Only what was asked for.
  Reply plain = Predict(json{{"image_id", id}, {"points", PointsAt(scene.Object("rectangle"))}});
  EXPECT_FALSE(plain.body["masks"][0].contains("polygons"));
  EXPECT_FALSE(plain.body["masks"][0].contains("png_b64"));
  // RLE only goes straight from the logits, without the full-size mask: the same RLE, box and
  // area as through it.
  for (const char* key : {"rle", "bbox", "area", "score"}) EXPECT_EQ(plain.body["masks"][0][key], mask[key]);
  // The reply is written by hand around the RLE strings: byte for byte what a json DOM of it
  // dumps (sorted keys, number formats, escaped backslashes in the counts).
  Reply multi = Predict(json{{"image_id", id},
                             {"points", PointsAt(scene.Object("rectangle"))},
                             {"multimask", true},
                             {"format", json::array({"png", "polygon"})}});
  for (const Reply* r : {&reply, &plain, &multi}) {
    ASSERT_EQ(r->status, 200) << r->raw;
    EXPECT_EQ(r->raw, r->body.dump());
  }
}

TEST_F(PredictApiTest, BadInputIsRefusedNamingTheField) {
  Scene scene = MakeShapesScene(640, 480);
  const std::string id = UploadScene(scene);
  auto point = [](double x, double y, json label = 1) { return json{{"x", x}, {"y", y}, {"label", label}}; };
  json many = json::array();
  for (int i = 0; i < 65; ++i) many.push_back(point(10, 10));

  struct Case {
    std::string body;
    int status;
    std::string field;
  };
  const std::vector<Case> cases = {
      {json{{"image_id", "nope"}, {"points", {point(1, 1)}}}.dump(), 404, "nope"},
      {json{{"points", {point(1, 1)}}}.dump(), 400, "image_id"},
      {json{{"image_id", id}}.dump(), 400, "points"},
      {json{{"image_id", id}, {"points", json::array()}}.dump(), 400, "points"},
      {json{{"image_id", id}, {"points", {point(700, 10)}}}.dump(), 400, "points[0]"},
      {json{{"image_id", id}, {"points", {point(10, -1)}}}.dump(), 400, "points[0]"},
      {"{\"image_id\": \"" + id + "\", \"points\": [{\"x\": 1e999, \"y\": 5, \"label\": 1}]}", 400, "1e999"},
      {json{{"image_id", id}, {"points", {point(1e300, 5)}}}.dump(), 400,
       "points[0]: x and y must be finite"},
      {json{{"image_id", id}, {"points", {point(10, 10, 2)}}}.dump(), 400, "points[0].label"},
      {json{{"image_id", id}, {"points", {point(10, 10, -1)}}}.dump(), 400, "points[0].label"},
      {json{{"image_id", id}, {"points", {point(10, 10, "fg")}}}.dump(), 400, "points[0].label"},
      {json{{"image_id", id}, {"points", {{{"x", "10"}, {"y", 10}}}}}.dump(), 400, "points[0].x"},
      {json{{"image_id", id}, {"points", many}}.dump(), 400, "at most 64"},
      {json{{"image_id", id}, {"box", {1, 2, 3}}}.dump(), 400, "box"},
      {json{{"image_id", id}, {"box", {50, 50, 10, 10}}}.dump(), 400, "box"},
      {json{{"image_id", id}, {"box", {0, 0, 641, 100}}}.dump(), 400, "box"},
      {json{{"image_id", id}, {"box", "0,0,10,10"}}.dump(), 400, "box"},
      {json{{"image_id", id}, {"points", {point(1, 1)}}, {"refine_from", "unknown"}}.dump(), 400,
       "refine_from"},
      {json{{"image_id", id}, {"points", {point(1, 1)}}, {"multimask", "yes"}}.dump(), 400, "multimask"},
      {json{{"image_id", id}, {"points", {point(1, 1)}}, {"format", "svg"}}.dump(), 400, "format"},
      {"this is not json", 400, "JSON"},
      {"[1, 2, 3]", 400, "JSON object"},
  };
  for (const Case& c : cases) {
    Reply reply = Predict(c.body);
    EXPECT_EQ(reply.status, c.status) << c.body << " -> " << reply.raw;
    ASSERT_TRUE(reply.body.is_object() && reply.body["error"].is_string()) << c.body << " -> " << reply.raw;
    EXPECT_NE(reply.body["error"].get<std::string>().find(c.field), std::string::npos)
        << c.body << " -> " << reply.raw;
  }
  // Nothing above ran the encoder except through valid requests (none here).
  EXPECT_EQ(Get("/api/sam/stats").body["embeddings"]["encoder_runs"], 0);
}

// Issue 14, H1 and M3: bodies made to crash the parser or to be echoed back get a short 400
// (or an unknown image's 404), and the server goes on answering.
TEST_F(PredictApiTest, HostileBodiesGetShortAnswersAndTheServerStaysUp) {
  Scene scene = MakeShapesScene(640, 480);
  const std::string id = UploadScene(scene);
  const std::string click = PointsAt(scene.Object("rectangle")).dump();
  auto with_format = [&](const std::string& format) {
    return "{\"image_id\": \"" + id + "\", \"points\": " + click + ", \"format\": " + format + "}";
  };
  auto nested = [](int depth) { return std::string(depth, '[') + "1" + std::string(depth, ']'); };
  auto error = [](const Reply& r) { return r.body.is_object() ? r.body.value("error", "") : r.raw; };
  // The body's object and 63 arrays: parsed, then refused for what the format holds.
  Reply at_limit = Predict(with_format(nested(63)));
  EXPECT_EQ(at_limit.status, 400);
  EXPECT_NE(error(at_limit).find("format: each entry must be a string"), std::string::npos) << at_limit.raw;
  std::string deep_objects;
  for (int i = 0; i < 100'000; ++i) deep_objects += "{\"a\":";
  deep_objects += "1" + std::string(100'000, '}');
  for (const std::string& body : {with_format(nested(64)), with_format(nested(60'000)),
                                  "{\"format\": " + nested(60'000) + "}", deep_objects}) {
    Reply reply = Predict(body);
    EXPECT_EQ(reply.status, 400) << body.substr(0, 80);
    EXPECT_EQ(error(reply), "the body is JSON nested deeper than 64 levels");
  }

  // Megabytes from the client come back as 16 characters at most.
  const std::string huge(1'000'000, 'a');  // under a 1 MiB JSON body limit, with the rest
  Reply long_id = Predict(json{{"image_id", huge}, {"points", json::parse(click)}});
  EXPECT_EQ(long_id.status, 404);
  EXPECT_EQ(error(long_id), "no image with id '" + huge.substr(0, 16) + "…'");
  const std::vector<std::pair<json, std::string>> fields = {
      {json{{"refine_from", huge}}, "refine_from: no earlier prediction with id"},
      {json{{"format", huge}}, "format: unknown format aaaaaaaaaaaaaaaa…"},
      {json{{"format", {"rle", "polygon", "png", "rle"}}}, "format: at most 3 names"},
      {json{{"format", {"png", "png"}}}, "format: \"png\" is listed twice"},
      {json{{"format", {1}}}, "format: each entry must be a string"},
  };
  for (const auto& [extra, message] : fields) {
    json body{{"image_id", id}, {"points", json::parse(click)}};
    body.update(extra);
    Reply reply = Predict(body);
    EXPECT_EQ(reply.status, 400) << message;
    EXPECT_NE(error(reply).find(message), std::string::npos) << error(reply);
    EXPECT_LT(reply.raw.size(), 300u);
  }
  Reply bad_string = Predict("{\"image_id\": \"" + huge + "\x01\"}");  // a raw control character
  EXPECT_EQ(bad_string.status, 400);
  EXPECT_LT(bad_string.raw.size(), 300u) << bad_string.raw.substr(0, 300);
  for (const std::string& path :
       {"/api/sam/image/" + std::string(4000, 'x') + "/embedding.npy",
        "/api/sam/image/" + id + "x/embedding.npy", std::string("/api/sam/image/%2e%2e/warm")}) {
    Reply reply =
        path.ends_with("warm") ? ToReply(client_->Post(path, std::string(), "text/plain")) : Get(path);
    EXPECT_EQ(reply.status, 404) << path.substr(0, 40);
    EXPECT_LT(reply.raw.size(), 300u);
  }

  EXPECT_EQ(Get("/healthz").status, 200);
  Reply fine = Predict(with_format("[\"rle\", \"png\"]"));
  ASSERT_EQ(fine.status, 200) << fine.raw;
  EXPECT_TRUE(fine.body["masks"][0]["png_b64"].is_string());
}

TEST_F(PredictApiTest, ConcurrentPredictsOnThreeImagesAreAllCorrect) {
  std::vector<Scene> scenes = {MakeShapesScene(1600, 900, 1), MakeShapesScene(700, 1200, 2),
                               MakeShapesScene(640, 480, 3)};
  std::vector<std::string> ids;
  for (size_t i = 0; i < scenes.size(); ++i) {
    std::string filename = std::to_string(i);
    filename += ".png";
    ids.push_back(UploadScene(scenes[i], filename));
  }
  const std::vector<std::string> shapes = {"rectangle", "circle", "triangle", "twin"};
  std::vector<std::string> failures(8);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      httplib::Client client("127.0.0.1", server_->port());
      client.set_read_timeout(120, 0);
      for (int round = 0; round < 6; ++round) {
        const size_t image = static_cast<size_t>(t + round) % scenes.size();
        const SceneObject& object =
            scenes[image].Object(shapes[static_cast<size_t>(t + round * 3) % shapes.size()]);
        json body{{"image_id", ids[image]}, {"points", PointsAt(object)}};
        Reply reply = ToReply(client.Post("/api/sam/predict", body.dump(), "application/json"));
        if (reply.status != 200) {
          failures[static_cast<size_t>(t)] +=
              "status " + std::to_string(reply.status) + " " + reply.raw + "; ";
          continue;
        }
        const double iou = MaskIoU(FirstMask(reply.body), object.mask);
        if (iou < 0.9) failures[static_cast<size_t>(t)] += object.name + " IoU " + std::to_string(iou) + "; ";
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (const std::string& failure : failures) EXPECT_EQ(failure, "");
  // Three distinct images: three encoder runs, however the 48 requests interleaved.
  Reply stats = Get("/api/sam/stats");
  EXPECT_EQ(stats.body["embeddings"]["encoder_runs"], 3) << stats.raw;
}

// Clicks on one cached image from many clients at once, with one shared decoder session and
// with a pool (--decoder-sessions): every reply is the lone click's, byte for byte.
TEST_F(PredictApiTest, ConcurrentClicksGetTheLoneClickMaskWithAnyDecoderSessions) {
  const Scene scene = MakeShapesScene(1600, 900, 5);
  for (const char* sessions : {"1", "3"}) {
    SCOPED_TRACE(std::string("--decoder-sessions ") + sessions);
    Start({"--decoder-sessions", sessions});
    const std::string id = UploadScene(scene);
    const json body{{"image_id", id}, {"points", PointsAt(scene.Object("circle"))}};
    ASSERT_EQ(Predict(body).status, 200);  // computes the embedding
    Reply lone = Predict(body);
    ASSERT_EQ(lone.status, 200) << lone.raw;
    const json want = lone.body["masks"];
    EXPECT_GT(MaskIoU(FirstMask(lone.body), scene.Object("circle").mask), 0.9);
    constexpr int kClients = 8, kEach = 4;
    std::vector<std::string> failures(kClients);
    std::vector<std::thread> threads;
    for (int t = 0; t < kClients; ++t) {
      threads.emplace_back([&, t] {
        httplib::Client client("127.0.0.1", server_->port());
        client.set_read_timeout(120, 0);
        for (int i = 0; i < kEach; ++i) {
          Reply reply = ToReply(client.Post("/api/sam/predict", body.dump(), "application/json"));
          if (reply.status != 200) {
            failures[static_cast<size_t>(t)] +=
                "status " + std::to_string(reply.status) + " " + reply.raw + "; ";
          } else if (reply.body["masks"] != want || reply.body["embedding"] != "cached") {
            failures[static_cast<size_t>(t)] += "a different answer; ";
          }
        }
      });
    }
    for (auto& thread : threads) thread.join();
    for (const std::string& failure : failures) EXPECT_EQ(failure, "");
  }
}

TEST_F(PredictApiTest, DecoderSessionsOutOfRangeAreRefused) {
  for (const char* sessions : {"-1", "65", "1000", "many"}) {
    CommandResult run = RunSamcache(
        {"serve", "--port", "0", "--data", (tmp_ / "data2").string(), "--decoder-sessions", sessions});
    EXPECT_NE(run.exit_code, 0) << sessions;
    EXPECT_NE(run.output.find("--decoder-sessions"), std::string::npos) << run.output;
    EXPECT_NE(run.output.find(sessions), std::string::npos) << run.output;
  }
}

TEST_F(PredictApiTest, EmbeddingNpyMatchesTheCli) {
  Scene scene = MakeShapesScene(900, 700);
  Result<std::string> png = EncodeImage(scene.image, ".png");
  ASSERT_TRUE(png.ok());
  WriteFile(tmp_ / "scene.png", *png);
  const std::string id = Upload("scene.png", *png);

  Reply npy = Get("/api/sam/image/" + id + "/embedding.npy");
  ASSERT_EQ(npy.status, 200);
  EXPECT_EQ(npy.header("X-Embedding"), "computed");
  EXPECT_EQ(npy.header("Content-Type"), "application/octet-stream");
  ASSERT_GT(npy.raw.size(), 128u);
  EXPECT_EQ(npy.raw.substr(0, 6), "\x93NUMPY");
  EXPECT_NE(npy.raw.find("'shape': (1, 256, 64, 64)"), std::string::npos);
  EXPECT_EQ(npy.raw.size() % 64, 0u);  // 64-byte aligned header + 4 MiB of float32
  EXPECT_EQ(npy.raw.size() - (npy.raw.find('\n') + 1), 256u * 64 * 64 * 4);
  EXPECT_EQ(Get("/api/sam/image/" + id + "/embedding.npy").header("X-Embedding"), "cached");

  CommandResult cli =
      RunSamcache({"embed", (tmp_ / "scene.png").string(), "--out", (tmp_ / "cli.npy").string()});
  ASSERT_EQ(cli.exit_code, 0) << cli.output;
  EXPECT_NE(cli.output.find("[1,256,64,64]"), std::string::npos) << cli.output;
  std::string from_cli = ReadFileOrDie(tmp_ / "cli.npy");
  ASSERT_EQ(from_cli.size(), npy.raw.size());
  const size_t header = npy.raw.find('\n') + 1;
  EXPECT_EQ(from_cli.substr(0, header), npy.raw.substr(0, header));
  float max_diff = 0;
  for (size_t i = header; i + 4 <= from_cli.size(); i += 4) {
    float a;
    float b;
    std::memcpy(&a, from_cli.data() + i, 4);
    std::memcpy(&b, npy.raw.data() + i, 4);
    max_diff = std::max(max_diff, std::fabs(a - b));
  }
  EXPECT_LT(max_diff, 1e-4f);

  EXPECT_EQ(Get("/api/sam/image/unknown/embedding.npy").status, 404);
  CommandResult missing =
      RunSamcache({"embed", (tmp_ / "nope.png").string(), "--out", (tmp_ / "x.npy").string()});
  EXPECT_NE(missing.exit_code, 0);
  WriteFile(tmp_ / "text.png", "hello");
  CommandResult text =
      RunSamcache({"embed", (tmp_ / "text.png").string(), "--out", (tmp_ / "x.npy").string()});
  EXPECT_NE(text.exit_code, 0);
  EXPECT_NE(text.output.find("text.png"), std::string::npos) << text.output;
  EXPECT_FALSE(fs::exists(tmp_ / "x.npy"));
}

TEST_F(PredictApiTest, ServeRefusesAWrongModelFolderAtStartup) {
  const fs::path wrong = fs::path(SAMCACHE_SOURCE_DIR) / "tests/fixtures/models/wrong-decoder";
  CommandResult run =
      RunSamcache({"serve", "--port", "0", "--data", (tmp_ / "data2").string(), "--model", wrong.string()});
  EXPECT_NE(run.exit_code, 0);
  EXPECT_NE(run.output.find("decoder.onnx"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("mask_input"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("[1,1,256,256]"), std::string::npos) << run.output;
}

TEST_F(PredictApiTest, ModelFolderGivesTheSameApi) {
  Start({"--model", (fs::path(SAMCACHE_SOURCE_DIR) / "tests/fixtures/models/demo-hwc").string()});
  Reply model = Get("/api/sam/model");
  ASSERT_EQ(model.status, 200);
  EXPECT_EQ(model.body["encoder_input"], "hwc");
  Scene scene = MakeShapesScene(1600, 900);
  const std::string id = UploadScene(scene);
  Reply reply =
      Predict(json{{"image_id", id}, {"points", PointsAt(scene.Object("circle"))}, {"multimask", true}});
  ASSERT_EQ(reply.status, 200) << reply.raw;
  EXPECT_EQ(reply.body["masks"].size(), 1u);  // a one-mask export has nothing else to offer
  EXPECT_GE(MaskIoU(FirstMask(reply.body), scene.Object("circle").mask), 0.9);
}

}  // namespace
}  // namespace samcache::testing
