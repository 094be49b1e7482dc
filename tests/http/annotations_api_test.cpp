// Black-box tests of labelling over HTTP: masks from POST /api/sam/predict saved as named
// annotations, the dataset's COCO export, the embedding warm-up and the dataset view's
// per-image marks, against the real samcache binary over loopback.
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "catalog/catalog.h"
#include "image/image_decoder.h"
#include "model/mask_codec.h"
#include "support/http_reply.h"
#include "support/scenes.h"
#include "support/test_support.h"

namespace samcache::testing {
namespace {

using json = nlohmann::json;

class AnnotationsApiTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }

  void Start() {
    server_.reset();
    server_ = std::make_unique<ServerProcess>(tmp_ / "data");
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(120, 0);
  }

  // Uploads files into a new dataset (or `dataset_id`); returns the upload's reply body.
  json Upload(const std::vector<NamedFile>& files, const std::string& dataset_id = "") {
    const std::string path =
        dataset_id.empty() ? "/api/sam/dataset/init" : "/api/sam/dataset/" + dataset_id + "/images";
    Reply reply = ToReply(client_->Post(path, ImageItems(files)));
    EXPECT_EQ(reply.status, 200) << reply.raw;
    return reply.body;
  }
  static NamedFile ScenePng(const std::string& filename, int seed, int width = 640, int height = 480) {
    Result<std::string> png = EncodeImage(MakeShapesScene(width, height, seed).image, ".png");
    EXPECT_TRUE(png.ok());
    return NamedFile{filename, png.ok() ? *png : ""};
  }

  // The first mask's RLE object of a click inside `object_name`.
  json MaskOf(const std::string& image_id, const std::string& object_name, int seed) {
    const Scene scene = MakeShapesScene(640, 480, seed);
    const SceneObject& object = scene.Object(object_name);
    json body{{"image_id", image_id},
              {"points", json::array({{{"x", object.click_x}, {"y", object.click_y}, {"label", 1}}})}};
    Reply reply = Post("/api/sam/predict", body);
    EXPECT_EQ(reply.status, 200) << reply.raw;
    return reply.body["masks"][0]["rle"];
  }

  Reply Get(const std::string& path) { return ToReply(client_->Get(path)); }
  Reply Post(const std::string& path, const json& body) { return Post(path, body.dump()); }
  Reply Post(const std::string& path, const std::string& body) {
    return ToReply(client_->Post(path, body, "application/json"));
  }
  Reply Put(const std::string& path, const json& body) {
    return ToReply(client_->Put(path, body.dump(), "application/json"));
  }
  Reply Delete(const std::string& path) { return ToReply(client_->Delete(path)); }

  TempDir tmp_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<httplib::Client> client_;
};

BinaryMask Decode(const json& segmentation) {
  Result<BinaryMask> mask =
      DecodeRle(Rle{segmentation["size"][0].get<int>(), segmentation["size"][1].get<int>(),
                    segmentation["counts"].get<std::string>()});
  EXPECT_TRUE(mask.ok()) << mask.status().message();
  return mask.ok() ? *mask : BinaryMask{};
}

TEST_F(AnnotationsApiTest, SavedMasksComeBackAndExportAsCoco) {
  json upload = Upload({ScenePng("first.png", 1), ScenePng("second.png", 2)});
  const std::string dataset_id = upload["dataset_id"];
  const std::string first = upload["images"][0]["id"];
  const std::string second = upload["images"][1]["id"];

  const json rectangle = MaskOf(first, "rectangle", 1);
  json prompt{{"points", json::array({{{"x", 1}, {"y", 2}, {"label", 1}}})}};
  Reply created =
      Post("/api/sam/image/" + first + "/annotations",
           json{{"category", "  red box "}, {"segmentation", rectangle}, {"score", 0.9}, {"prompt", prompt}});
  ASSERT_EQ(created.status, 201) << created.raw;
  const std::string box_id = created.body["id"];
  EXPECT_EQ(created.header("Location"), "/api/sam/annotation/" + box_id);
  EXPECT_EQ(created.body["category"], "red box") << "trimmed";
  EXPECT_EQ(created.body["segmentation"], rectangle);
  EXPECT_EQ(created.body["image_id"], first);
  EXPECT_EQ(created.body["dataset_id"], dataset_id);
  EXPECT_EQ(created.body["prompt"], prompt);
  EXPECT_EQ(created.body["score"], 0.9);
  const BinaryMask mask = Decode(rectangle);
  const std::array<int, 4> bbox = MaskBbox(mask);
  EXPECT_EQ(created.body["bbox"], json::array({bbox[0], bbox[1], bbox[2], bbox[3]}));
  EXPECT_EQ(created.body["area"].get<uint64_t>(), MaskArea(mask));
  EXPECT_GT(MaskArea(mask), 1000u);
  EXPECT_NE(server_->Log().find("[ANNOTATE] image " + first + " (first.png): \"red box\" saved"),
            std::string::npos);

  Reply circle = Post("/api/sam/image/" + second + "/annotations",
                      json{{"category", "circle"}, {"segmentation", MaskOf(second, "circle", 2)}});
  ASSERT_EQ(circle.status, 201) << circle.raw;
  EXPECT_TRUE(circle.body["score"].is_null());
  EXPECT_TRUE(circle.body["prompt"].is_null());
  Reply third = Post("/api/sam/image/" + first + "/annotations",
                     json{{"category", "circle"}, {"segmentation", MaskOf(first, "circle", 1)}});
  ASSERT_EQ(third.status, 201) << third.raw;

  Reply renamed = Put("/api/sam/annotation/" + box_id, json{{"category", "box"}});
  ASSERT_EQ(renamed.status, 200) << renamed.raw;
  EXPECT_EQ(renamed.body["category"], "box");
  EXPECT_EQ(renamed.body["segmentation"], rectangle) << "what was not sent stays";

  Reply listed = Get("/api/sam/image/" + first + "/annotations");
  ASSERT_EQ(listed.status, 200) << listed.raw;
  ASSERT_EQ(listed.body["annotations"].size(), 2u);
  EXPECT_EQ(listed.body["annotations"][0]["id"], box_id) << "creation order";
  EXPECT_EQ(listed.body["annotations"][1]["id"], third.body["id"]);
  EXPECT_EQ(listed.body["page"]["limit"], 1000);
  EXPECT_TRUE(listed.body["page"]["next_cursor"].is_null());
  // A page at a time: limit and cursor (issue 18).
  Reply page1 = Get("/api/sam/image/" + first + "/annotations?limit=1");
  ASSERT_EQ(page1.body["annotations"].size(), 1u);
  EXPECT_EQ(page1.body["annotations"][0]["id"], box_id);
  const std::string cursor = page1.body["page"]["next_cursor"].get<std::string>();
  Reply page2 = Get("/api/sam/image/" + first + "/annotations?limit=1&cursor=" + cursor);
  ASSERT_EQ(page2.body["annotations"].size(), 1u) << page2.raw;
  EXPECT_EQ(page2.body["annotations"][0]["id"], third.body["id"]);
  EXPECT_TRUE(page2.body["page"]["next_cursor"].is_null());
  for (const std::string bad : {"limit=0", "limit=1001", "limit=x", "cursor=", "cursor=a1.bad"}) {
    Reply refused = Get("/api/sam/image/" + first + "/annotations?" + bad);
    EXPECT_EQ(refused.status, 400) << bad << " " << refused.raw;
    EXPECT_EQ(refused.body["error"].get<std::string>().rfind(bad.substr(0, bad.find('=')) + ":", 0), 0u)
        << refused.raw;
  }
  // Another image's cursor does not fit.
  EXPECT_EQ(Get("/api/sam/image/" + second + "/annotations?cursor=" + cursor).status, 400);

  Reply view = Get("/api/sam/dataset/" + dataset_id);
  ASSERT_EQ(view.status, 200);
  EXPECT_EQ(view.body["images"][0]["annotation_count"], 2);
  EXPECT_EQ(view.body["images"][1]["annotation_count"], 1);

  // The export survives a restart: everything is in the catalog.
  Start();
  Reply exported = Get("/api/sam/dataset/" + dataset_id + "/export/coco");
  ASSERT_EQ(exported.status, 200) << exported.raw;
  EXPECT_NE(exported.header("Content-Disposition").find("attachment"), std::string::npos);
  EXPECT_NE(exported.header("Content-Disposition").find(".coco.json"), std::string::npos);
  const json& coco = exported.body;
  ASSERT_EQ(coco["images"].size(), 2u);
  EXPECT_EQ(coco["images"][0], (json{{"id", 1},
                                     {"file_name", "first.png"},
                                     {"width", 640},
                                     {"height", 480},
                                     {"samcache_image_id", first}}));
  EXPECT_EQ(coco["images"][1]["id"], 2);
  EXPECT_EQ(coco["categories"], (json::array({{{"id", 1}, {"name", "box"}, {"supercategory", ""}},
                                              {{"id", 2}, {"name", "circle"}, {"supercategory", ""}}})));
  ASSERT_EQ(coco["annotations"].size(), 3u);
  const json& box = coco["annotations"][0];
  EXPECT_EQ(box["id"], 1);
  EXPECT_EQ(box["image_id"], 1);
  EXPECT_EQ(box["category_id"], 1);
  EXPECT_EQ(box["segmentation"], rectangle);
  EXPECT_EQ(box["bbox"], created.body["bbox"]);
  EXPECT_EQ(box["area"], created.body["area"]);
  EXPECT_EQ(box["iscrowd"], 0);
  EXPECT_EQ(box["score"], 0.9);
  EXPECT_EQ(coco["annotations"][1]["image_id"], 1) << "the first image's annotations first";
  EXPECT_EQ(coco["annotations"][1]["category_id"], 2);
  EXPECT_EQ(coco["annotations"][2]["image_id"], 2);
  EXPECT_FALSE(coco["annotations"][2].contains("score"));
  EXPECT_NE(server_->Log().find("COCO with 2 image(s), 3 annotation(s), 2 categories"), std::string::npos);

  Reply deleted = Delete("/api/sam/annotation/" + box_id);
  ASSERT_EQ(deleted.status, 200) << deleted.raw;
  EXPECT_EQ(deleted.body["deleted"], box_id);
  EXPECT_EQ(Delete("/api/sam/annotation/" + box_id).status, 404);
  EXPECT_EQ(Get("/api/sam/dataset/" + dataset_id + "/export/coco").body["annotations"].size(), 2u);
}

TEST_F(AnnotationsApiTest, BadAnnotationsAreRefusedWithTheReasonAndNothingIsSaved) {
  json upload = Upload({ScenePng("scene.png", 3)});
  const std::string image = upload["images"][0]["id"];
  const std::string path = "/api/sam/image/" + image + "/annotations";
  const json mask = MaskOf(image, "triangle", 3);
  const std::string empty_counts = CompressRleCounts({640u * 480u});

  struct Case {
    std::string body;
    std::string error_part;
  };
  const std::vector<Case> cases = {
      {"not json", "not valid JSON"},
      {"[1, 2]", "must be a JSON object"},
      {json{{"segmentation", mask}}.dump(), "category: required"},
      {json{{"category", "   "}, {"segmentation", mask}}.dump(), "category must not be empty"},
      {json{{"category", std::string(201, 'x')}, {"segmentation", mask}}.dump(), "at most 200 characters"},
      {json{{"category", 7}, {"segmentation", mask}}.dump(), "category: required"},
      {json{{"category", "cat"}}.dump(), "segmentation: required"},
      {json{{"category", "cat"}, {"segmentation", "abc"}}.dump(), "COCO RLE object"},
      {json{{"category", "cat"}, {"segmentation", {{"size", {480, 640}}, {"counts", "!!"}}}}.dump(),
       "does not decode"},
      {json{{"category", "cat"}, {"segmentation", {{"size", {480, 640}}, {"counts", "0a"}}}}.dump(),
       "does not decode"},
      {json{{"category", "cat"}, {"segmentation", {{"size", {640, 480}}, {"counts", mask["counts"]}}}}.dump(),
       "but image " + image + " is 480 x 640"},
      {json{{"category", "cat"}, {"segmentation", {{"size", {480, 640}}, {"counts", empty_counts}}}}.dump(),
       "segmentation is empty"},
      {json{{"category", "cat"}, {"segmentation", {{"size", {480, 640}}, {"counts", {1, -2}}}}}.dump(),
       "non-negative run lengths"},
      {json{{"category", "cat"}, {"segmentation", mask}, {"score", "high"}}.dump(), "score must be a number"},
  };
  for (const Case& c : cases) {
    Reply reply = Post(path, c.body);
    EXPECT_EQ(reply.status, 400) << c.body;
    ASSERT_TRUE(reply.body.is_object()) << reply.raw;
    EXPECT_NE(reply.body.value("error", "").find(c.error_part), std::string::npos)
        << c.body.substr(0, 80) << " -> " << reply.raw;
  }
  EXPECT_TRUE(Get(path).body["annotations"].empty());

  EXPECT_EQ(Post("/api/sam/image/nope/annotations", json{{"category", "cat"}, {"segmentation", mask}}).status,
            404);
  EXPECT_EQ(Get("/api/sam/image/nope/annotations").status, 404);
  EXPECT_EQ(Put("/api/sam/annotation/nope", json{{"category", "cat"}}).status, 404);
  EXPECT_EQ(Get("/api/sam/dataset/nope/export/coco").status, 404);

  // An uncompressed RLE (a list of runs) is accepted and stored compressed.
  Result<std::vector<uint32_t>> runs = DecompressRleCounts(mask["counts"].get<std::string>());
  ASSERT_TRUE(runs.ok());
  Reply from_runs =
      Post(path, json{{"category", "triangle"}, {"segmentation", {{"size", {480, 640}}, {"counts", *runs}}}});
  ASSERT_EQ(from_runs.status, 201) << from_runs.raw;
  EXPECT_EQ(from_runs.body["segmentation"]["counts"], mask["counts"]);
  const std::string id = from_runs.body["id"];
  Reply bad_update = Put("/api/sam/annotation/" + id,
                         json{{"segmentation", {{"size", {480, 640}}, {"counts", empty_counts}}}});
  EXPECT_EQ(bad_update.status, 400) << bad_update.raw;
  EXPECT_EQ(Get(path).body["annotations"][0]["segmentation"]["counts"], mask["counts"]) << "unchanged";
}

// Issue 14, H1, L2 and L3: a prompt made to crash the parser and an RLE of too many runs are
// refused and not stored; names reach the COCO export without control or bidi characters,
// while the stored data keeps them; long ids come back as a short prefix.
TEST_F(AnnotationsApiTest, HostileAnnotationsAreRefusedAndExportsCarryNoControlCharacters) {
  const int h = 600, w = 1000;  // 600,000 pixels: room for more runs than the limit
  // U+202E (right-to-left override), U+2066 (left-to-right isolate), U+0085 (a C1 control).
  const std::string name = "a\u202Eb\u2066c\u0085d.png";
  json upload = Upload({ScenePng(name, 5, w, h)});
  const std::string dataset_id = upload["dataset_id"];
  const std::string image = upload["images"][0]["id"];
  const std::string path = "/api/sam/image/" + image + "/annotations";
  const json mask{{"size", {h, w}}, {"counts", CompressRleCounts({1000, 500, h * w - 1500u})}};

  std::string deep_prompt;
  for (int i = 0; i < 100'000; ++i) deep_prompt += "{\"p\":";
  deep_prompt += "1" + std::string(100'000, '}');
  Reply deep = Post(
      path, R"({"category": "cat", "segmentation": )" + mask.dump() + R"(, "prompt": )" + deep_prompt + "}");
  EXPECT_EQ(deep.status, 400);
  EXPECT_EQ(deep.body.value("error", ""), "the body is JSON nested deeper than 64 levels");

  std::vector<uint32_t> one_pixel_runs(500'001, 1);
  one_pixel_runs.push_back(h * w - 500'001u);
  const std::string too_many_runs = CompressRleCounts(one_pixel_runs);
  Reply runs =
      Post(path, json{{"category", "cat"}, {"segmentation", {{"size", {h, w}}, {"counts", too_many_runs}}}});
  EXPECT_EQ(runs.status, 400);
  EXPECT_EQ(runs.body.value("error", ""), "segmentation.counts: at most 500000 runs");
  EXPECT_TRUE(Get(path).body["annotations"].empty());
  EXPECT_EQ(Get("/healthz").status, 200);

  const std::string odd_category = std::string(1, '\a') + "dog\u202E";  // BEL, RLO
  Reply odd = Post(path, json{{"category", odd_category}, {"segmentation", mask}, {"prompt", {{"p", 1}}}});
  ASSERT_EQ(odd.status, 201) << odd.raw;
  ASSERT_EQ(Post(path, json{{"category", "dog"}, {"segmentation", mask}}).status, 201);
  Reply listed = Get(path);
  EXPECT_EQ(listed.body["annotations"][0]["category"], odd_category) << "stored as sent";
  EXPECT_EQ(listed.body["annotations"][0]["prompt"], (json{{"p", 1}}));
  EXPECT_EQ(Get("/api/sam/dataset/" + dataset_id).body["images"][0]["filename"], name);
  Reply exported = Get("/api/sam/dataset/" + dataset_id + "/export/coco");
  ASSERT_EQ(exported.status, 200) << exported.raw;
  EXPECT_EQ(exported.body["images"][0]["file_name"], "abcd.png");
  EXPECT_EQ(exported.body["categories"],
            (json::array({{{"id", 1}, {"name", "dog"}, {"supercategory", ""}}})));
  EXPECT_EQ(exported.body["annotations"][0]["category_id"], 1);
  EXPECT_EQ(exported.body["annotations"][1]["category_id"], 1);

  // A prompt an older server stored 100,000 deep reads back as null, and the list still answers.
  server_.reset();
  {
    Result<std::unique_ptr<Catalog>> catalog = OpenSqliteCatalog((tmp_ / "data" / "samcache.db").string());
    ASSERT_TRUE(catalog.ok()) << catalog.status().message();
    Result<AnnotationRecord> stored = (*catalog)->GetAnnotation(odd.body["id"].get<std::string>());
    ASSERT_TRUE(stored.ok());
    stored->prompt_json = deep_prompt;
    ASSERT_TRUE((*catalog)->UpdateAnnotation(*stored).ok());
  }
  Start();
  Reply deep_listed = Get(path);
  ASSERT_EQ(deep_listed.status, 200) << deep_listed.raw.substr(0, 200);
  EXPECT_TRUE(deep_listed.body["annotations"][0]["prompt"].is_null());
  EXPECT_EQ(deep_listed.body["annotations"][0]["category"], odd_category);

  const std::string long_id(3000, 'f');
  for (const Reply& reply :
       {Put("/api/sam/annotation/" + long_id, json{{"category", "cat"}}),
        Delete("/api/sam/annotation/" + long_id), Get("/api/sam/image/" + long_id + "/annotations"),
        Get("/api/sam/dataset/" + long_id + "/export/coco"), Get("/api/sam/dataset/" + long_id),
        Delete("/api/sam/dataset/" + long_id), Get("/api/sam/prewarm/" + long_id),
        ToReply(
            client_->Post("/api/sam/dataset/" + long_id + "/images", ImageItems({ScenePng("x.png", 1)})))}) {
    EXPECT_EQ(reply.status, 404) << reply.raw.substr(0, 100);
    EXPECT_NE(reply.body.value("error", "").find("with id '" + long_id.substr(0, 16) + "…'"),
              std::string::npos);
    EXPECT_LT(reply.raw.size(), 200u);
  }
}

TEST_F(AnnotationsApiTest, WarmComputesAheadSoTheClickFindsTheEmbeddingCached) {
  json upload = Upload({ScenePng("next.png", 4)});
  const std::string image = upload["images"][0]["id"];
  Reply warm = Post("/api/sam/image/" + image + "/warm", std::string());
  ASSERT_EQ(warm.status, 202) << warm.raw;
  EXPECT_EQ(warm.body["embedding"], "computing");

  // The run goes on after the answer; wait until the store has it.
  bool cached = false;
  for (int i = 0; i < 6000 && !cached; ++i) {
    cached = Get("/api/sam/dataset/" + upload["dataset_id"].get<std::string>())
                 .body["images"][0]["embedding_cached"];
    if (!cached) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(cached);
  Reply again = Post("/api/sam/image/" + image + "/warm", std::string());
  ASSERT_EQ(again.status, 200) << again.raw;
  EXPECT_EQ(again.body["embedding"], "cached");

  const Scene scene = MakeShapesScene(640, 480, 4);
  const SceneObject& circle = scene.Object("circle");
  Reply predicted =
      Post("/api/sam/predict",
           json{{"image_id", image}, {"points", {{{"x", circle.click_x}, {"y", circle.click_y}}}}});
  ASSERT_EQ(predicted.status, 200) << predicted.raw;
  EXPECT_EQ(predicted.body["embedding"], "cached");
  EXPECT_EQ(Get("/api/sam/stats").body["embeddings"]["encoder_runs"], 1);
  EXPECT_EQ(Post("/api/sam/image/nope/warm", std::string()).status, 404);
}

TEST_F(AnnotationsApiTest, DatasetViewMarksImagesWhosePixelsAnOlderImageHas) {
  const NamedFile a = ScenePng("a.png", 5);
  const NamedFile b = ScenePng("b.png", 6);
  json first = Upload({a});
  json second = Upload({b, NamedFile{"a-again.png", a.bytes}, NamedFile{"b-again.png", b.bytes}});
  const std::string original = first["images"][0]["id"];

  Reply view = Get("/api/sam/dataset/" + second["dataset_id"].get<std::string>());
  ASSERT_EQ(view.status, 200) << view.raw;
  const json& images = view.body["images"];
  ASSERT_EQ(images.size(), 3u);
  EXPECT_TRUE(images[0]["duplicate_of"].is_null()) << "b.png is new";
  EXPECT_EQ(images[1]["duplicate_of"], original) << "a-again.png, from the other dataset";
  EXPECT_EQ(images[2]["duplicate_of"], images[0]["id"]) << "b-again.png, within this upload";
  EXPECT_EQ(images[0]["annotation_count"], 0);
  EXPECT_TRUE(Get("/api/sam/dataset/" + first["dataset_id"].get<std::string>())
                  .body["images"][0]["duplicate_of"]
                  .is_null());
}

}  // namespace
}  // namespace samcache::testing
