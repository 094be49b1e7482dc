// Model families over HTTP (issue 16), through the real binary on loopback:
// - every demo variant (models/demo-*) serves clicks and boxes whose masks match the scene's
//   objects at the image's size, all from one server (`--models`);
// - the real-architecture graphs (../shared/models): EfficientSAM-Ti and a SAM 2.1 folder (the
//   shared decoder with the demo SAM 2 encoder) answer clicks and boxes with masks of the
//   image's size, and EfficientSAM's six-point limit is a 400;
// - one server with the demo, MobileSAM-arch and SAM 2.1: switching models back and forth
//   runs each encoder once per picture.
// The shared graphs are meaningless for mask quality: only shapes and sizes are checked there.
#include <gtest/gtest.h>
#include <httplib.h>

#include <map>
#include <nlohmann/json.hpp>

#include "image/image_decoder.h"
#include "model/mask_codec.h"
#include "support/http_reply.h"
#include "support/scenes.h"
#include "support/test_support.h"

namespace samcache::testing {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

const fs::path kSharedModels = SAMCACHE_SHARED_MODELS;
const fs::path kModels = fs::path(SAMCACHE_SOURCE_DIR) / "models";

std::vector<uint8_t> MaskOf(const json& mask) {
  const json& rle = mask["rle"];
  Result<BinaryMask> decoded =
      DecodeRle(Rle{rle["size"][0].get<int>(), rle["size"][1].get<int>(), rle["counts"].get<std::string>()});
  EXPECT_TRUE(decoded.ok()) << decoded.status().message();
  return decoded.ok() ? decoded->data : std::vector<uint8_t>{};
}

class ModelFamiliesHttpTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> args) {
    client_.reset();
    server_.reset();
    server_ = std::make_unique<ServerProcess>(tmp_ / "data", std::move(args));
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(300, 0);
  }
  Reply Get(const std::string& path) { return ToReply(client_->Get(path)); }
  Reply Predict(const json& body) {
    return ToReply(client_->Post("/api/sam/predict", body.dump(), "application/json"));
  }
  // Uploads the files; returns the upload's images.
  json Upload(const std::vector<NamedFile>& files) {
    Reply reply = ToReply(client_->Post("/api/sam/dataset/init", ImageItems(files)));
    EXPECT_EQ(reply.status, 200) << reply.raw;
    return reply.body["images"];
  }
  // name -> {id, family}, from GET /api/sam/models.
  std::map<std::string, json> Models() {
    std::map<std::string, json> models;
    const Reply reply = Get("/api/sam/models");
    EXPECT_EQ(reply.status, 200) << reply.raw;
    for (const json& m : reply.body["models"]) models[m["name"].get<std::string>()] = m;
    return models;
  }
  double Runs(const std::string& model_id) {
    return Metric(Get("/metrics").raw, "samcache_model_encoder_runs_total{model_id=\"" + model_id + "\"}");
  }
  // A folder with the demo SAM 2 encoder and the real SAM 2.1-tiny decoder.
  fs::path Sam21Folder() {
    const fs::path dir = tmp_ / "sam2.1-tiny";
    fs::create_directories(dir);
    fs::copy_file(kModels / "demo-sam2" / "encoder.onnx", dir / "encoder.onnx");
    fs::copy_file(kSharedModels / "sam2.1-tiny-arch-decoder" / "decoder.onnx", dir / "decoder.onnx");
    return dir;
  }
  static bool HaveShared() {
    for (const char* name : {"mobilesam-arch", "efficientsam-arch", "sam2.1-tiny-arch-decoder"}) {
      if (!fs::exists(kSharedModels / name / "decoder.onnx")) return false;
    }
    return true;
  }
  // A click at the centre and a box around the middle; both answer masks of the image's size.
  void ClickAndBox(const json& image, const std::string& model) {
    const int w = image["width"], h = image["height"];
    Reply click = Predict(json{{"image_id", image["id"]},
                               {"model", model},
                               {"multimask", true},
                               {"points", json::array({{{"x", w / 2}, {"y", h / 2}, {"label", 1}}})}});
    ASSERT_EQ(click.status, 200) << model << ": " << click.raw;
    ASSERT_FALSE(click.body["masks"].empty());
    for (const json& mask : click.body["masks"]) EXPECT_EQ(mask["rle"]["size"], json::array({h, w})) << model;
    Reply box = Predict(
        json{{"image_id", image["id"]}, {"model", model}, {"box", {w / 4, h / 4, 3 * w / 4, 3 * h / 4}}});
    ASSERT_EQ(box.status, 200) << model << ": " << box.raw;
    ASSERT_EQ(box.body["masks"].size(), 1u);
    EXPECT_EQ(box.body["masks"][0]["rle"]["size"], json::array({h, w})) << model;
  }

  TempDir tmp_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<httplib::Client> client_;
};

// One server, every family's demo variant: a click inside an object and a box around it give
// that object, in a wide and in a tall image (the frames differ by family).
TEST_F(ModelFamiliesHttpTest, EveryDemoVariantSegmentsTheScene) {
  Start({"--models", kModels.string()});
  const std::map<std::string, json> models = Models();
  std::map<std::string, std::string> family_by_name;
  for (const auto& [name, m] : models) family_by_name[name] = m["family"];
  std::multiset<std::string> families;
  for (const auto& [name, family] : family_by_name) families.insert(family);
  EXPECT_EQ(families, (std::multiset<std::string>{"efficientsam", "edgesam", "sam", "sam-hq", "sam2",
                                                  "sam2-full-size"}));
  for (const auto& [width, height] : {std::pair{960, 600}, std::pair{600, 960}}) {
    const Scene scene = MakeShapesScene(width, height);
    Result<std::string> png = EncodeImage(scene.image, ".png");
    ASSERT_TRUE(png.ok());
    const json image = Upload({{"scene.png", *png}})[0];
    for (const auto& [name, m] : models) {
      for (const char* object_name : {"circle", "triangle"}) {
        const SceneObject& object = scene.Object(object_name);
        Reply click =
            Predict(json{{"image_id", image["id"]},
                         {"model", m["id"]},
                         {"points", json::array({{{"x", object.click_x}, {"y", object.click_y}}})}});
        ASSERT_EQ(click.status, 200) << name << ": " << click.raw;
        EXPECT_EQ(click.body["model"]["family"], m["family"]);
        EXPECT_GE(MaskIoU(MaskOf(click.body["masks"][0]), object.mask), 0.9)
            << name << " click on the " << object_name << " in " << width << "x" << height;
        Reply box = Predict(json{{"image_id", image["id"]},
                                 {"model", m["id"]},
                                 {"box", {object.box[0], object.box[1], object.box[2], object.box[3]}}});
        ASSERT_EQ(box.status, 200) << name << ": " << box.raw;
        EXPECT_GE(MaskIoU(MaskOf(box.body["masks"][0]), object.mask), 0.9)
            << name << " box around the " << object_name << " in " << width << "x" << height;
      }
    }
  }
  // The SAM 2 models cache three tensors, SAM-HQ two; the safetensors download has them all.
  for (const auto& [name, m] : models) {
    const std::string family = m["family"];
    const size_t tensors = family.rfind("sam2", 0) == 0 ? 3 : family == "sam-hq" ? 2 : 1;
    EXPECT_EQ(m["embedding_tensors"].size(), tensors) << name;
  }
}

// EfficientSAM-Ti and SAM 2.1 (real architectures): clicks and boxes over HTTP, masks of the
// image's size; EfficientSAM takes at most six points, a box counting as two.
TEST_F(ModelFamiliesHttpTest, RealEfficientSamAndSam21AnswerClicksAndBoxes) {
  if (!HaveShared()) GTEST_SKIP() << "no " << kSharedModels;
  Start({"--model", (kSharedModels / "efficientsam-arch").string(), "--model", Sam21Folder().string()});
  const std::map<std::string, json> models = Models();
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models.at("efficientsam-arch")["family"], "efficientsam");
  EXPECT_EQ(models.at("efficientsam-arch")["max_points"], 6);
  EXPECT_EQ(models.at("sam2.1-tiny")["family"], "sam2");
  EXPECT_EQ(models.at("sam2.1-tiny")["frame_fit"], "stretch");
  EXPECT_EQ(models.at("sam2.1-tiny")["embedding_bytes"], 16 << 20);
  // GET /api/sam/model names the folder, never its path on the server.
  Reply one = Get("/api/sam/model?model=sam2.1-tiny");
  EXPECT_EQ(one.body["source"], "sam2.1-tiny") << one.raw;
  EXPECT_EQ(one.body["family"], "sam2");
  EXPECT_EQ(one.body["embedding_tensors"].size(), 3u);
  const json image = Upload({{"wide.jpg", MakeImageFile(1280, 720, 3, ".jpg")}})[0];
  for (const char* model : {"efficientsam-arch", "sam2.1-tiny"}) ClickAndBox(image, model);

  json seven = json::array();
  for (int i = 0; i < 7; ++i) seven.push_back({{"x", 100 + 10 * i}, {"y", 100}});
  Reply refused = Predict(json{{"image_id", image["id"]}, {"model", "efficientsam-arch"}, {"points", seven}});
  EXPECT_EQ(refused.status, 400);
  EXPECT_NE(refused.body.value("error", "").find("at most 6 points"), std::string::npos) << refused.raw;
  seven.erase(seven.begin() + 5, seven.end());
  Reply five_and_box = Predict(json{{"image_id", image["id"]},
                                    {"model", "efficientsam-arch"},
                                    {"points", seven},
                                    {"box", {10, 10, 200, 200}}});
  EXPECT_EQ(five_and_box.status, 400) << five_and_box.raw;
  seven.erase(seven.begin() + 4, seven.end());
  Reply four_and_box = Predict(json{{"image_id", image["id"]},
                                    {"model", "efficientsam-arch"},
                                    {"points", seven},
                                    {"box", {10, 10, 200, 200}}});
  EXPECT_EQ(four_and_box.status, 200) << four_and_box.raw;
  // SAM 2.1 has no such limit.
  seven = json::array();
  for (int i = 0; i < 7; ++i) seven.push_back({{"x", 100 + 10 * i}, {"y", 100}});
  Reply sam2 = Predict(json{{"image_id", image["id"]}, {"model", "sam2.1-tiny"}, {"points", seven}});
  EXPECT_EQ(sam2.status, 200) << sam2.raw;
}

// The acceptance server: the demo, MobileSAM-arch and SAM 2.1. Predicts for each model on the
// same pictures, switching back and forth, come from that model's cache: each encoder runs
// once per picture.
TEST_F(ModelFamiliesHttpTest, ThreeModelsSwitchingRunsEachEncoderOncePerPicture) {
  if (!HaveShared()) GTEST_SKIP() << "no " << kSharedModels;
  Start({"--model", "builtin", "--model", (kSharedModels / "mobilesam-arch").string(), "--model",
         Sam21Folder().string()});
  const std::map<std::string, json> models = Models();
  ASSERT_EQ(models.size(), 3u);
  const json images =
      Upload({{"a.jpg", MakeImageFile(800, 600, 1, ".jpg")}, {"b.jpg", MakeImageFile(600, 800, 2, ".jpg")}});
  for (int round = 0; round < 3; ++round) {
    for (const json& image : images) {
      for (const auto& [name, m] : models) {
        Reply predict = Predict(json{
            {"image_id", image["id"]}, {"model", name}, {"points", json::array({{{"x", 100}, {"y", 120}}})}});
        ASSERT_EQ(predict.status, 200) << name << ": " << predict.raw;
        EXPECT_EQ(predict.body["model"]["id"], m["id"]);
        EXPECT_EQ(predict.body["embedding"], round == 0 ? "computed" : "cached")
            << name << " round " << round;
        EXPECT_EQ(predict.body["masks"][0]["rle"]["size"], json::array({image["height"], image["width"]}));
      }
    }
  }
  for (const auto& [name, m] : models) EXPECT_EQ(Runs(m["id"]), 2) << name;
  // The SAM 2.1 embedding downloads as its three tensors; .npy is refused for it.
  const std::string sam2_id = models.at("sam2.1-tiny")["id"];
  auto safetensors = client_->Get("/api/sam/image/" + images[0]["id"].get<std::string>() +
                                  "/embedding.safetensors?model=" + sam2_id);
  ASSERT_TRUE(safetensors);
  EXPECT_EQ(safetensors->status, 200);
  EXPECT_GT(safetensors->body.size(), size_t{16} << 20);
  for (const char* tensor : {"image_embed", "high_res_feats_0", "high_res_feats_1"}) {
    EXPECT_NE(safetensors->body.find(tensor), std::string::npos) << tensor;
  }
  Reply npy = Get("/api/sam/image/" + images[0]["id"].get<std::string>() + "/embedding.npy?model=" + sam2_id);
  EXPECT_EQ(npy.status, 400) << npy.raw;
}

}  // namespace
}  // namespace samcache::testing
