// The demo model's family variants (models/demo-*), run raw in ONNX Runtime with each family's
// pre- and postprocessing written out plainly here: an oracle for the family adapters that is
// independent of src/model. Checks the exact interfaces (names, dtypes, shapes), that clicks
// and boxes segment the shapes of a generated scene at the original size, the SAM 2 export's
// N > 1 quirk, and that the demo SAM 2 encoder pairs with the real-architecture SAM 2.1 decoder.
#include <onnxruntime_cxx_api.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

#include "support/scenes.h"

namespace samcache {
namespace {

namespace fs = std::filesystem;
using testing::MakeShapesScene;
using testing::MaskIoU;
using testing::Scene;
using testing::SceneObject;

const fs::path kModels = fs::path(SAMCACHE_SOURCE_DIR) / "models";

fs::path SharedModels() {
  const char* env = std::getenv("SAMCACHE_SHARED_MODELS");
  return env ? fs::path(env) : fs::path(SAMCACHE_SHARED_MODELS_DIR);
}

Ort::Env& Env() {
  static Ort::Env env(ORT_LOGGING_LEVEL_FATAL, "demo_variants_test");  // the quirk test fails runs on purpose
  return env;
}

// Input tensors own their data until the run.
struct Inputs {
  std::vector<std::string> names;
  std::vector<std::shared_ptr<void>> keep;
  std::vector<Ort::Value> values;

  template <typename T>
  void Add(const std::string& name, std::vector<T> data, std::vector<int64_t> shape) {
    auto owned = std::make_shared<std::vector<T>>(std::move(data));
    Ort::MemoryInfo memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
    values.push_back(
        Ort::Value::CreateTensor<T>(memory, owned->data(), owned->size(), shape.data(), shape.size()));
    names.push_back(name);
    keep.push_back(owned);
  }
  // Moves another run's output in as an input.
  void Add(const std::string& name, Ort::Value value) {
    names.push_back(name);
    values.push_back(std::move(value));
  }
};

class Graph {
 public:
  explicit Graph(const fs::path& path) {
    Ort::SessionOptions options;
    options.SetIntraOpNumThreads(2);
    session_ = std::make_unique<Ort::Session>(Env(), path.c_str(), options);
    Ort::AllocatorWithDefaultOptions allocator;
    for (size_t i = 0; i < session_->GetOutputCount(); ++i)
      outputs_.push_back(session_->GetOutputNameAllocated(i, allocator).get());
  }
  const std::vector<std::string>& output_names() const { return outputs_; }
  std::vector<std::string> InputNames() const {
    Ort::AllocatorWithDefaultOptions allocator;
    std::vector<std::string> names;
    for (size_t i = 0; i < session_->GetInputCount(); ++i)
      names.push_back(session_->GetInputNameAllocated(i, allocator).get());
    return names;
  }
  // Every output, by name.
  std::map<std::string, Ort::Value> Run(Inputs& in) const {
    std::vector<const char*> in_names, out_names;
    for (const std::string& n : in.names) in_names.push_back(n.c_str());
    for (const std::string& n : outputs_) out_names.push_back(n.c_str());
    std::vector<Ort::Value> out = session_->Run(Ort::RunOptions{nullptr}, in_names.data(), in.values.data(),
                                                in.values.size(), out_names.data(), out_names.size());
    std::map<std::string, Ort::Value> named;
    for (size_t i = 0; i < out.size(); ++i) named.emplace(outputs_[i], std::move(out[i]));
    return named;
  }

 private:
  std::unique_ptr<Ort::Session> session_;
  std::vector<std::string> outputs_;
};

std::vector<int64_t> Shape(const Ort::Value& v) { return v.GetTensorTypeAndShapeInfo().GetShape(); }
bool IsFloat(const Ort::Value& v) {
  return v.GetTensorTypeAndShapeInfo().GetElementType() == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
}

// ---- preprocessing, per family

// RGB bytes -> NCHW floats with (x * scale - mean) / std, into a side x side canvas (zero padding).
std::vector<float> ToNchw(const cv::Mat& rgb, int side_h, int side_w, float scale, const float mean[3],
                          const float std_dev[3]) {
  std::vector<float> out(3ull * side_h * side_w, 0.0f);
  for (int y = 0; y < rgb.rows; ++y)
    for (int x = 0; x < rgb.cols; ++x)
      for (int c = 0; c < 3; ++c)
        out[(static_cast<size_t>(c) * side_h + y) * side_w + x] =
            (rgb.at<cv::Vec3b>(y, x)[c] * scale - mean[c]) / std_dev[c];
  return out;
}

cv::Mat Rgb(const Scene& scene) {
  return cv::Mat(static_cast<int>(scene.image.height), static_cast<int>(scene.image.width), CV_8UC3,
                 const_cast<char*>(scene.image.rgb.data()))
      .clone();
}

// SAM 2: stretched to 1024x1024, /255, ImageNet mean/std.
std::vector<float> Sam2Input(const Scene& scene) {
  cv::Mat resized;
  cv::resize(Rgb(scene), resized, cv::Size(1024, 1024), 0, 0, cv::INTER_LINEAR);
  const float mean[3] = {0.485f, 0.456f, 0.406f}, std_dev[3] = {0.229f, 0.224f, 0.225f};
  return ToNchw(resized, 1024, 1024, 1.0f / 255, mean, std_dev);
}

// SAM 1 (EdgeSAM, SAM-HQ): longest side 1024, SAM mean/std on 0..255, padded bottom/right.
double Sam1Scale(const Scene& s) { return 1024.0 / std::max(s.image.width, s.image.height); }
cv::Size Sam1Size(const Scene& s) {
  const double k = Sam1Scale(s);
  return cv::Size(static_cast<int>(std::floor(s.image.width * k + 0.5)),
                  static_cast<int>(std::floor(s.image.height * k + 0.5)));
}
std::vector<float> Sam1Input(const Scene& scene) {
  cv::Mat resized;
  cv::resize(Rgb(scene), resized, Sam1Size(scene), 0, 0, cv::INTER_LINEAR);
  const float mean[3] = {123.675f, 116.28f, 103.53f}, std_dev[3] = {58.395f, 57.12f, 57.375f};
  return ToNchw(resized, 1024, 1024, 1.0f, mean, std_dev);
}

// ---- postprocessing

int Best(const Ort::Value& scores, size_t set = 0) {
  const int64_t m = Shape(scores).back();
  const float* s = scores.GetTensorData<float>() + set * m;
  return static_cast<int>(std::max_element(s, s + m) - s);
}

std::vector<uint8_t> Threshold(const cv::Mat& logits) {
  std::vector<uint8_t> mask(logits.total());
  for (int y = 0; y < logits.rows; ++y)
    for (int x = 0; x < logits.cols; ++x)
      mask[static_cast<size_t>(y) * logits.cols + x] = logits.at<float>(y, x) > 0;
  return mask;
}

// Plane `index` of a [.., M, h, w] float tensor.
cv::Mat Plane(const Ort::Value& t, size_t index) {
  std::vector<int64_t> shape = Shape(t);
  const int h = static_cast<int>(shape[shape.size() - 2]), w = static_cast<int>(shape.back());
  return cv::Mat(h, w, CV_32F, const_cast<float*>(t.GetTensorData<float>()) + index * h * w).clone();
}

// Stretched frame (SAM 2): bilinear straight to the original size.
std::vector<uint8_t> FromStretched(const cv::Mat& low, const Scene& s) {
  cv::Mat up;
  cv::resize(low, up, cv::Size(s.image.width, s.image.height), 0, 0, cv::INTER_LINEAR);
  return Threshold(up);
}

// Padded longest-side frame (SAM 1): to 1024, crop the image's part, to the original size.
std::vector<uint8_t> FromPadded(const cv::Mat& low, const Scene& s) {
  cv::Mat up, full;
  cv::resize(low, up, cv::Size(1024, 1024), 0, 0, cv::INTER_LINEAR);
  cv::resize(up(cv::Rect(cv::Point(0, 0), Sam1Size(s))), full, cv::Size(s.image.width, s.image.height), 0, 0,
             cv::INTER_LINEAR);
  return Threshold(full);
}

// ---- prompts: a click or a box (corners, labels 2 and 3), in original pixels

struct Prompt {
  std::vector<float> xy;  // x, y pairs
  std::vector<float> labels;
};
Prompt Click(const SceneObject& o) { return {{o.click_x, o.click_y}, {1}}; }
Prompt Box(const SceneObject& o) {
  return {{o.box[0] - 4.0f, o.box[1] - 4.0f, o.box[2] + 4.0f, o.box[3] + 4.0f}, {2, 3}};
}
Prompt Scaled(Prompt p, double kx, double ky) {
  for (size_t i = 0; i < p.xy.size(); i += 2) p.xy[i] *= kx, p.xy[i + 1] *= ky;
  return p;
}
bool IsBox(const Prompt& p) { return p.labels.size() == 2 && p.labels[0] == 2; }

const std::vector<std::string> kShapes = {"rectangle", "circle", "triangle", "twin"};
const std::vector<std::string> kBoxed = {"circle", "triangle"};
constexpr int kWidth = 640, kHeight = 400;

// Runs `segment` for a click in each shape and a box around two, in a wide and a tall image.
template <typename Segment>
void ExpectShapesSegmented(const char* variant, Segment segment) {
  for (auto [w, h] : {std::pair{kWidth, kHeight}, std::pair{kHeight, kWidth}}) {
    Scene scene = MakeShapesScene(w, h);
    auto run = segment.Encode(scene);
    for (const std::string& name : kShapes) {
      const SceneObject& o = scene.Object(name);
      const double iou = MaskIoU(segment.Decode(run, scene, Click(o)), o.mask);
      EXPECT_GE(iou, 0.9) << variant << " click " << name << " " << w << "x" << h;
      std::printf("[iou] %s %dx%d click %s %.4f\n", variant, w, h, name.c_str(), iou);
    }
    for (const std::string& name : kBoxed) {
      const SceneObject& o = scene.Object(name);
      const double iou = MaskIoU(segment.Decode(run, scene, Box(o)), o.mask);
      EXPECT_GE(iou, 0.9) << variant << " box " << name << " " << w << "x" << h;
      std::printf("[iou] %s %dx%d box %s %.4f\n", variant, w, h, name.c_str(), iou);
    }
  }
}

// ---- SAM 2 (samexporter and full-size)

struct Sam2 {
  Graph encoder{kModels / "demo-sam2" / "encoder.onnx"};
  Graph decoder;
  bool full_size;

  std::map<std::string, Ort::Value> Encode(const Scene& scene) const {
    Inputs in;
    in.Add("image", Sam2Input(scene), {1, 3, 1024, 1024});
    return encoder.Run(in);
  }
  // One decoder run over `sets` prompt sets, all with the same number of points.
  std::map<std::string, Ort::Value> Run(std::map<std::string, Ort::Value>& emb, const Scene& s,
                                        const std::vector<Prompt>& sets, int64_t has_mask_len) const {
    Inputs in;
    for (const char* name : {"image_embed", "high_res_feats_0", "high_res_feats_1"}) {
      const Ort::Value& v = emb.at(name);
      std::vector<float> copy(v.GetTensorData<float>(),
                              v.GetTensorData<float>() + v.GetTensorTypeAndShapeInfo().GetElementCount());
      in.Add(name, std::move(copy), Shape(v));
    }
    const int64_t n = static_cast<int64_t>(sets.size()), p = static_cast<int64_t>(sets[0].labels.size());
    std::vector<float> xy, labels;
    for (const Prompt& set : sets) {
      Prompt f = Scaled(set, 1024.0 / s.image.width, 1024.0 / s.image.height);  // stretched frame
      xy.insert(xy.end(), f.xy.begin(), f.xy.end());
      labels.insert(labels.end(), f.labels.begin(), f.labels.end());
    }
    in.Add("point_coords", xy, {n, p, 2});
    in.Add("point_labels", labels, {n, p});
    in.Add("mask_input", std::vector<float>(n * 256 * 256, 0.0f), {n, 1, 256, 256});
    in.Add("has_mask_input", std::vector<float>(has_mask_len, 0.0f), {has_mask_len});
    if (full_size)
      in.Add("orig_im_size",
             std::vector<int32_t>{static_cast<int32_t>(s.image.height), static_cast<int32_t>(s.image.width)},
             {2});
    return decoder.Run(in);
  }
  std::vector<uint8_t> Decode(std::map<std::string, Ort::Value>& emb, const Scene& s, const Prompt& p) const {
    auto out = Run(emb, s, {p}, 1);
    const int best = Best(out.at("iou_predictions"));
    if (full_size) return Threshold(Plane(out.at("masks"), best));
    return FromStretched(Plane(out.at("masks"), best), s);
  }
};

TEST(DemoVariantsTest, Sam2Interface) {
  Sam2 sam2{.decoder = Graph(kModels / "demo-sam2" / "decoder.onnx"), .full_size = false};
  EXPECT_EQ(sam2.encoder.output_names(),
            (std::vector<std::string>{"high_res_feats_0", "high_res_feats_1", "image_embed"}));
  EXPECT_EQ(sam2.decoder.InputNames(),
            (std::vector<std::string>{"image_embed", "high_res_feats_0", "high_res_feats_1", "point_coords",
                                      "point_labels", "mask_input", "has_mask_input"}));
  EXPECT_EQ(sam2.decoder.output_names(), (std::vector<std::string>{"masks", "iou_predictions"}));
  Scene scene = MakeShapesScene(kWidth, kHeight);
  auto emb = sam2.Encode(scene);
  EXPECT_EQ(Shape(emb.at("high_res_feats_0")), (std::vector<int64_t>{1, 32, 256, 256}));
  EXPECT_EQ(Shape(emb.at("high_res_feats_1")), (std::vector<int64_t>{1, 64, 128, 128}));
  EXPECT_EQ(Shape(emb.at("image_embed")), (std::vector<int64_t>{1, 256, 64, 64}));
  auto out = sam2.Run(emb, scene, {Click(scene.Object("circle"))}, 1);
  EXPECT_TRUE(IsFloat(out.at("masks")) && IsFloat(out.at("iou_predictions")));
  EXPECT_EQ(Shape(out.at("masks")), (std::vector<int64_t>{1, 3, 256, 256}));
  EXPECT_EQ(Shape(out.at("iou_predictions")), (std::vector<int64_t>{1, 3}));
  for (int i = 0; i < 3; ++i) {
    const float s = out.at("iou_predictions").GetTensorData<float>()[i];
    EXPECT_TRUE(s >= 0 && s <= 1) << s;  // already through a sigmoid
  }
}

TEST(DemoVariantsTest, Sam2SegmentsInTheStretchedFrame) {
  ExpectShapesSegmented("demo-sam2",
                        Sam2{.decoder = Graph(kModels / "demo-sam2" / "decoder.onnx"), .full_size = false});
}

TEST(DemoVariantsTest, Sam2FullSizeSegmentsAtTheOriginalSize) {
  Sam2 full{.decoder = Graph(kModels / "demo-sam2-full-size" / "decoder.onnx"), .full_size = true};
  EXPECT_EQ(full.decoder.output_names(),
            (std::vector<std::string>{"masks", "iou_predictions", "low_res_masks"}));
  Scene scene = MakeShapesScene(kWidth, kHeight);
  auto emb = full.Encode(scene);
  auto out = full.Run(emb, scene, {Click(scene.Object("circle"))}, 1);
  EXPECT_EQ(Shape(out.at("masks")), (std::vector<int64_t>{1, 3, kHeight, kWidth}));
  EXPECT_EQ(Shape(out.at("low_res_masks")), (std::vector<int64_t>{1, 3, 256, 256}));
  ExpectShapesSegmented("demo-sam2-full-size", std::move(full));
}

// The export broadcasts has_mask_input ["num_labels"] against the mask embedding's last
// axis: several prompt sets only work with has_mask_input of shape [1].
TEST(DemoVariantsTest, Sam2SeveralPromptSetsNeedHasMaskInputOfShapeOne) {
  for (const char* folder : {"demo-sam2", "demo-sam2-full-size"}) {
    Sam2 sam2{.decoder = Graph(kModels / folder / "decoder.onnx"),
              .full_size = std::string(folder) != "demo-sam2"};
    Scene scene = MakeShapesScene(kWidth, kHeight);
    auto emb = sam2.Encode(scene);
    const std::vector<Prompt> sets = {Click(scene.Object("rectangle")), Click(scene.Object("circle"))};
    EXPECT_THROW(sam2.Run(emb, scene, sets, 2), Ort::Exception) << folder;
    auto out = sam2.Run(emb, scene, sets, 1);
    const std::vector<int64_t> shape = Shape(out.at("masks"));
    ASSERT_EQ(shape.size(), 4u);
    EXPECT_EQ(shape[0], 2);
    EXPECT_EQ(shape[1], 3);
    for (size_t set = 0; set < 2; ++set) {
      cv::Mat plane = Plane(out.at("masks"), set * 3 + Best(out.at("iou_predictions"), set));
      std::vector<uint8_t> mask = sam2.full_size ? Threshold(plane) : FromStretched(plane, scene);
      EXPECT_GE(MaskIoU(mask, scene.Object(set == 0 ? "rectangle" : "circle").mask), 0.9)
          << folder << " set " << set;
    }
  }
}

TEST(DemoVariantsTest, Sam2EncoderPairsWithTheRealSam21Decoder) {
  const fs::path decoder = SharedModels() / "sam2.1-tiny-arch-decoder" / "decoder.onnx";
  if (!fs::exists(decoder)) GTEST_SKIP() << "no " << decoder;
  Sam2 sam2{.decoder = Graph(decoder), .full_size = false};
  Scene scene = MakeShapesScene(kWidth, kHeight);
  auto emb = sam2.Encode(scene);
  auto out = sam2.Run(emb, scene, {Click(scene.Object("circle"))}, 1);
  EXPECT_EQ(Shape(out.at("masks")), (std::vector<int64_t>{1, 3, 256, 256}));
  EXPECT_EQ(Shape(out.at("iou_predictions")), (std::vector<int64_t>{1, 3}));
  // The quirk the demo decoders imitate is the real export's.
  const std::vector<Prompt> sets = {Click(scene.Object("rectangle")), Click(scene.Object("circle"))};
  EXPECT_THROW(sam2.Run(emb, scene, sets, 2), Ort::Exception);
  EXPECT_EQ(Shape(sam2.Run(emb, scene, sets, 1).at("masks")), (std::vector<int64_t>{2, 3, 256, 256}));
}

// ---- EfficientSAM

struct EfficientSam {
  Graph encoder{kModels / "demo-efficientsam" / "encoder.onnx"};
  Graph decoder{kModels / "demo-efficientsam" / "decoder.onnx"};

  std::map<std::string, Ort::Value> Encode(const Scene& scene) const {
    Inputs in;
    const float mean[3] = {0, 0, 0}, std_dev[3] = {1, 1, 1};
    const int h = static_cast<int>(scene.image.height), w = static_cast<int>(scene.image.width);
    in.Add("batched_images", ToNchw(Rgb(scene), h, w, 1.0f / 255, mean, std_dev), {1, 3, h, w});
    return encoder.Run(in);
  }
  std::map<std::string, Ort::Value> Run(std::map<std::string, Ort::Value>& emb, const Scene& s,
                                        const Prompt& p) const {
    Inputs in;
    in.Add("image_embeddings", std::move(emb.at("image_embeddings")));
    const int64_t n = static_cast<int64_t>(p.labels.size());
    in.Add("batched_point_coords", p.xy, {1, 1, n, 2});  // original pixels
    in.Add("batched_point_labels", p.labels, {1, 1, n});
    in.Add("orig_im_size", std::vector<int64_t>{s.image.height, s.image.width}, {2});
    auto out = decoder.Run(in);
    emb.at("image_embeddings") = std::move(in.values[0]);
    return out;
  }
  std::vector<uint8_t> Decode(std::map<std::string, Ort::Value>& emb, const Scene& s, const Prompt& p) const {
    auto out = Run(emb, s, p);
    return Threshold(Plane(out.at("output_masks"), Best(out.at("iou_predictions"))));
  }
};

TEST(DemoVariantsTest, EfficientSamInterfaceAndSegmentation) {
  EfficientSam sam;
  EXPECT_EQ(sam.decoder.InputNames(), (std::vector<std::string>{"image_embeddings", "batched_point_coords",
                                                                "batched_point_labels", "orig_im_size"}));
  EXPECT_EQ(sam.decoder.output_names(),
            (std::vector<std::string>{"output_masks", "iou_predictions", "onnx::Shape_1785"}));
  Scene scene = MakeShapesScene(kWidth, kHeight);
  auto emb = sam.Encode(scene);
  EXPECT_EQ(Shape(emb.at("image_embeddings")), (std::vector<int64_t>{1, 256, 64, 64}));
  auto out = sam.Run(emb, scene, Click(scene.Object("circle")));
  EXPECT_EQ(Shape(out.at("output_masks")), (std::vector<int64_t>{1, 1, 3, kHeight, kWidth}));
  EXPECT_EQ(Shape(out.at("iou_predictions")), (std::vector<int64_t>{1, 1, 3}));
  EXPECT_EQ(Shape(out.at("onnx::Shape_1785")), (std::vector<int64_t>{1, 3, 256, 256}));
  ExpectShapesSegmented("demo-efficientsam", EfficientSam{});
}

// ---- EdgeSAM and SAM-HQ (SAM 1 frames)

struct Sam1 {
  Graph encoder;
  Graph decoder;
  bool hq;

  std::map<std::string, Ort::Value> Encode(const Scene& scene) const {
    Inputs in;
    in.Add("image", Sam1Input(scene), {1, 3, 1024, 1024});
    return encoder.Run(in);
  }
  std::map<std::string, Ort::Value> Run(std::map<std::string, Ort::Value>& emb, const Scene& s,
                                        const Prompt& p, bool feed_interm = true) const {
    Prompt f = Scaled(p, Sam1Scale(s), Sam1Scale(s));
    if (!IsBox(f)) f.xy.insert(f.xy.end(), {0, 0}), f.labels.push_back(-1);  // SAM's padding point
    const int64_t n = static_cast<int64_t>(f.labels.size());
    Inputs in;
    in.Add("image_embeddings", std::move(emb.at("image_embeddings")));
    if (hq) {
      if (feed_interm) {
        in.Add("interm_embeddings", std::move(emb.at("interm_embeddings")));
      } else {
        in.Add("interm_embeddings", std::vector<float>(4ull * 64 * 64 * 768, 0.0f), {4, 1, 64, 64, 768});
      }
    }
    in.Add("point_coords", f.xy, {1, n, 2});
    in.Add("point_labels", f.labels, {1, n});
    if (hq) {
      in.Add("mask_input", std::vector<float>(256 * 256, 0.0f), {1, 1, 256, 256});
      in.Add("has_mask_input", std::vector<float>{0}, {1});
      in.Add("orig_im_size",
             std::vector<float>{static_cast<float>(s.image.height), static_cast<float>(s.image.width)}, {2});
    }
    auto out = decoder.Run(in);
    emb.at("image_embeddings") = std::move(in.values[0]);
    if (hq && feed_interm) emb.at("interm_embeddings") = std::move(in.values[1]);
    return out;
  }
  std::vector<uint8_t> Decode(std::map<std::string, Ort::Value>& emb, const Scene& s, const Prompt& p) const {
    auto out = Run(emb, s, p);
    if (hq) return Threshold(Plane(out.at("masks"), Best(out.at("iou_predictions"))));
    return FromPadded(Plane(out.at("masks"), Best(out.at("scores"))), s);
  }
};

TEST(DemoVariantsTest, EdgeSamInterfaceAndSegmentation) {
  Sam1 edge{Graph(kModels / "demo-edgesam" / "encoder.onnx"),
            Graph(kModels / "demo-edgesam" / "decoder.onnx"), false};
  EXPECT_EQ(edge.encoder.output_names(), (std::vector<std::string>{"image_embeddings"}));
  EXPECT_EQ(edge.decoder.InputNames(),
            (std::vector<std::string>{"image_embeddings", "point_coords", "point_labels"}));
  EXPECT_EQ(edge.decoder.output_names(), (std::vector<std::string>{"scores", "masks"}));
  Scene scene = MakeShapesScene(kWidth, kHeight);
  auto emb = edge.Encode(scene);
  auto out = edge.Run(emb, scene, Click(scene.Object("circle")));
  EXPECT_EQ(Shape(out.at("scores")), (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(Shape(out.at("masks")), (std::vector<int64_t>{1, 4, 256, 256}));
  ExpectShapesSegmented("demo-edgesam", std::move(edge));
}

TEST(DemoVariantsTest, SamHqInterfaceAndSegmentation) {
  Sam1 hq{Graph(kModels / "demo-samhq" / "encoder.onnx"), Graph(kModels / "demo-samhq" / "decoder.onnx"),
          true};
  EXPECT_EQ(hq.encoder.output_names(), (std::vector<std::string>{"image_embeddings", "interm_embeddings"}));
  EXPECT_EQ(hq.decoder.InputNames(),
            (std::vector<std::string>{"image_embeddings", "interm_embeddings", "point_coords", "point_labels",
                                      "mask_input", "has_mask_input", "orig_im_size"}));
  EXPECT_EQ(hq.decoder.output_names(),
            (std::vector<std::string>{"masks", "iou_predictions", "low_res_masks"}));
  Scene scene = MakeShapesScene(kWidth, kHeight);
  auto emb = hq.Encode(scene);
  EXPECT_EQ(Shape(emb.at("interm_embeddings")), (std::vector<int64_t>{4, 1, 64, 64, 768}));
  auto out = hq.Run(emb, scene, Click(scene.Object("circle")));
  EXPECT_EQ(Shape(out.at("masks")), (std::vector<int64_t>{1, 1, kHeight, kWidth}));
  EXPECT_EQ(Shape(out.at("low_res_masks")), (std::vector<int64_t>{1, 1, 256, 256}));
  // Without its interm_embeddings the decoder has no colour: the click no longer finds the circle.
  auto blind = hq.Run(emb, scene, Click(scene.Object("circle")), false);
  EXPECT_LT(MaskIoU(Threshold(Plane(blind.at("masks"), 0)), scene.Object("circle").mask), 0.5);
  ExpectShapesSegmented("demo-samhq", std::move(hq));
}

}  // namespace
}  // namespace samcache
