// Several models in one server (issue 16): the built-in demo model, the HWC demo variant
// (tests/fixtures/models/demo-hwc, another encoder, so another model id) and, when the shared
// graphs are there, MobileSAM's real architecture. The real binary over loopback: model
// selection, each model's own cache and encoder, per-model prewarm jobs, workers, downloads,
// refusals, and a kill -9 in the middle of per-model prewarms.
#include <gtest/gtest.h>

#include <httplib.h>
#include <csignal>

#include <chrono>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/http_reply.h"
#include "support/test_support.h"

namespace samcache::testing {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

const fs::path kSharedModels = SAMCACHE_SHARED_MODELS;
const std::string kHwcName = "demo-hwc (test copy)";
const std::vector<std::string> kFastQueue = {"--prewarm-poll-ms", "50", "--prewarm-stale-seconds", "1"};

std::vector<NamedFile> MakeImages(int count, int first_seed, int width = 320, int height = 240) {
  std::vector<NamedFile> files;
  for (int i = 0; i < count; ++i) {
    files.push_back({"img" + std::to_string(first_seed + i) + ".jpg",
                     MakeImageFile(width, height, first_seed + i, ".jpg")});
  }
  return files;
}

// Embedding files on disk per model id (<data>/embeddings/<model id>/...).
std::map<std::string, size_t> CacheFilesPerModel(const fs::path& data) {
  std::map<std::string, size_t> counts;
  if (!fs::exists(data / "embeddings")) return counts;
  for (const fs::path& p : ListFiles(data / "embeddings")) {
    const fs::path relative = p.lexically_relative(data / "embeddings");
    if (p.extension() == ".safetensors" && *relative.begin() != "tmp") ++counts[relative.begin()->string()];
  }
  return counts;
}

bool Eventually(const std::function<bool()>& done) {
  for (int i = 0; i < 3000 && !done(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return done();
}

class MultiModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A copy of the HWC demo under its own name: the fixture's name is the built-in model's,
    // and two models may not share a name (DuplicateModelsAreRefused uses that).
    hwc_dir_ = tmp_ / "models" / "demo-hwc";
    fs::create_directories(hwc_dir_);
    const fs::path fixture = fs::path(SAMCACHE_SOURCE_DIR) / "tests/fixtures/models/demo-hwc";
    for (const char* file : {"encoder.onnx", "decoder.onnx"}) fs::copy_file(fixture / file, hwc_dir_ / file);
    json meta = json::parse(ReadFileOrDie(fixture / "model.json"));
    meta["name"] = kHwcName;
    WriteFile(hwc_dir_ / "model.json", meta.dump(2));
  }
  fs::path data() const { return tmp_ / "data"; }
  static bool HaveMobileSam() { return fs::exists(kSharedModels / "mobilesam-arch" / "encoder.onnx"); }
  std::vector<std::string> ModelArgs(bool with_mobilesam = false) const {
    std::vector<std::string> args{"--model", "builtin", "--model", hwc_dir_.string()};
    if (with_mobilesam) {
      args.push_back("--model");
      args.push_back((kSharedModels / "mobilesam-arch").string());
    }
    return args;
  }
  void Start(std::vector<std::string> args) {
    client_.reset();
    server_.reset();
    server_ = std::make_unique<ServerProcess>(data(), std::move(args));
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(300, 0);
  }
  Reply Get(const std::string& path) { return ToReply(client_->Get(path)); }
  Reply PostJson(const std::string& path, const json& body) {
    return ToReply(client_->Post(path, body.dump(), "application/json"));
  }
  Reply Upload(const std::vector<NamedFile>& files) {
    Reply reply = ToReply(client_->Post("/api/sam/dataset/init", ImageItems(files)));
    EXPECT_EQ(reply.status, 200) << reply.raw;
    return reply;
  }
  // Model id by name, from GET /api/sam/models.
  std::map<std::string, std::string> Ids() {
    std::map<std::string, std::string> ids;
    const Reply models = Get("/api/sam/models");  // held: the loop reads into it
    for (const json& m : models.body["models"]) ids[m["name"].get<std::string>()] = m["id"];
    EXPECT_EQ(ids.size(), models.body["models"].size()) << models.raw;
    return ids;
  }
  Reply PredictCenter(const json& image, const std::string& model) {
    json body{
        {"image_id", image["id"]},
        {"points",
         json::array(
             {{{"x", image["width"].get<int>() / 2}, {"y", image["height"].get<int>() / 2}, {"label", 1}}})}};
    if (!model.empty()) body["model"] = model;
    return PostJson("/api/sam/predict", body);
  }
  // Encoder runs of one model, from /metrics (as the stats say, checked in Predicts...).
  double Runs(const std::string& model_id, httplib::Client* client = nullptr) {
    auto res = (client != nullptr ? client : client_.get())->Get("/metrics");
    EXPECT_TRUE(res && res->status == 200);
    return res ? Metric(res->body, "samcache_model_encoder_runs_total{model_id=\"" + model_id + "\"}") : -1;
  }

  TempDir tmp_;
  fs::path hwc_dir_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<httplib::Client> client_;
};

// `ready`: every model becomes ready once its encoder has warmed up; with --no-warm-up at once.
TEST_F(MultiModelTest, ModelsSayWhenTheirEncoderIsReady) {
  Start(ModelArgs());
  for (bool all_ready = false; !all_ready;) {
    const Reply models = Get("/api/sam/models");
    ASSERT_EQ(models.status, 200) << models.raw;
    all_ready = true;
    for (const json& m : models.body["models"]) all_ready = all_ready && m["ready"] == true;
    if (!all_ready) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(Get("/api/sam/model").body["ready"], true);

  std::vector<std::string> args = ModelArgs();
  args.push_back("--no-warm-up");
  Start(args);
  const Reply models = Get("/api/sam/models");
  ASSERT_EQ(models.body["models"].size(), 2u) << models.raw;
  for (const json& m : models.body["models"]) EXPECT_EQ(m["ready"], true) << m.dump();
}

// Clicks run each model's decoder trimmed to the outputs they read (both demo decoders compute
// a full-size `masks` no click reads), unless --whole-decoder; the click's mask is the same.
TEST_F(MultiModelTest, ClicksRunATrimmedDecoderUnlessTheWholeOneIsAskedFor) {
  const std::string trimmed_line = "clicks run the decoder without";
  std::vector<json> masks;
  for (bool whole : {false, true}) {
    std::vector<std::string> args = ModelArgs();
    if (whole) args.push_back("--whole-decoder");
    Start(args);
    EXPECT_EQ(server_->LogCount(trimmed_line), whole ? 0u : 2u) << server_->Log();
    Reply upload = Upload(MakeImages(1, 3, 640, 480));
    Reply predict = PredictCenter(upload.body["images"][0], "");
    ASSERT_EQ(predict.status, 200) << predict.raw;
    masks.push_back(predict.body["masks"]);
  }
  EXPECT_EQ(masks[0], masks[1]);
}

// GET /api/sam/models, /api/sam/model?model=, and what an unknown or hostile `model` gets.
TEST_F(MultiModelTest, ListsTheModelsAndRefusesUnknownOnes) {
  Start(ModelArgs());
  Reply models = Get("/api/sam/models");
  ASSERT_EQ(models.status, 200) << models.raw;
  ASSERT_EQ(models.body["models"].size(), 2u) << models.raw;
  const json& builtin = models.body["models"][0];
  const json& hwc = models.body["models"][1];
  EXPECT_EQ(models.body["default_model"], builtin["id"]);
  EXPECT_EQ(builtin["default"], true);
  EXPECT_EQ(hwc["default"], false);
  EXPECT_EQ(hwc["name"], kHwcName);
  EXPECT_NE(builtin["id"], hwc["id"]);
  for (const json& m : models.body["models"]) {
    EXPECT_EQ(m["family"], "sam") << m.dump();
    EXPECT_EQ(m["demo"], true);
    EXPECT_EQ(m["input_size"], 1024);
    EXPECT_EQ(m["frame_fit"], "longest-side");
    EXPECT_TRUE(m["max_points"].is_null());
    EXPECT_EQ(m["embedding_tensors"],
              json::parse(R"([{"name": "image_embeddings", "shape": [1,256,64,64]}])"));
    EXPECT_EQ(m["embedding_bytes"], 4 * 256 * 64 * 64);
    EXPECT_TRUE(m["ready"].is_boolean()) << m.dump();  // false while the encoder warms up
  }
  EXPECT_TRUE(Get("/api/sam/model").body["ready"].is_boolean());
  // One model's description, by id or by name; the default without `model`.
  EXPECT_EQ(Get("/api/sam/model").body["id"], builtin["id"]);
  Reply by_id = Get("/api/sam/model?model=" + hwc["id"].get<std::string>());
  EXPECT_EQ(by_id.body["id"], hwc["id"]);
  EXPECT_EQ(by_id.body["family"], "sam");
  Reply by_name = ToReply(client_->Get("/api/sam/model", httplib::Params{{"model", kHwcName}}, {}));
  EXPECT_EQ(by_name.body["id"], hwc["id"]) << by_name.raw;

  // Unknown: 400 naming the models; at most 64 characters of what was sent come back.
  const std::string names = "samcache demo (colour/texture similarity - not SAM), " + kHwcName;
  Reply unknown = Get("/api/sam/model?model=sam-vit-h");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(unknown.body["error"], "model: no model \"sam-vit-h\" here (models: " + names + ")");
  const std::string long_name(200, 'x');
  Reply echoed = Get("/api/sam/model?model=" + long_name);
  EXPECT_EQ(echoed.status, 400);
  EXPECT_NE(echoed.raw.find(std::string(64, 'x') + "…"), std::string::npos) << echoed.raw;
  EXPECT_EQ(echoed.raw.find(std::string(65, 'x')), std::string::npos) << echoed.raw;
  Reply too_long = Get("/api/sam/model?model=" + std::string(300, 'y'));
  EXPECT_EQ(too_long.status, 400);
  EXPECT_EQ(too_long.raw.find("yyyyyyyyyyyyyyyyyyyy"), std::string::npos) << too_long.raw;
  EXPECT_NE(too_long.body["error"].get<std::string>().find("at most 256 bytes"), std::string::npos);

  Reply upload = Upload(MakeImages(1, 1));
  const json& image = upload.body["images"][0];
  json body{{"image_id", image["id"]}, {"points", json::array({{{"x", 5}, {"y", 5}, {"label", 1}}})}};
  body["model"] = 7;
  Reply not_string = PostJson("/api/sam/predict", body);
  EXPECT_EQ(not_string.status, 400);
  EXPECT_EQ(not_string.body["error"],
            "model must be a string: a model's id or name (see GET /api/sam/models)");
  body["model"] = "nope";
  EXPECT_EQ(PostJson("/api/sam/predict", body).status, 400);
  const std::string id = image["id"];
  EXPECT_EQ(ToReply(client_->Post("/api/sam/image/" + id + "/warm?model=nope", "", "text/plain")).status,
            400);
  EXPECT_EQ(Get("/api/sam/image/" + id + "/embedding.npy?model=nope").status, 400);
  EXPECT_EQ(Get("/api/sam/image/" + id + "/embedding.safetensors?model=nope").status, 400);
  EXPECT_EQ(Get("/api/sam/dataset/" + upload.body["dataset_id"].get<std::string>() + "?model=nope").status,
            400);
  EXPECT_EQ(PostJson("/api/sam/dataset/" + upload.body["dataset_id"].get<std::string>() + "/prewarm",
                     json{{"model", "nope"}})
                .status,
            400);
  EXPECT_EQ(Runs(builtin["id"]) + Runs(hwc["id"]), 0) << "a refused request ran an encoder";
}

// Predicts for each model on the same pictures come from that model's cache: switching back
// and forth runs each encoder once per picture.
TEST_F(MultiModelTest, EachModelEncodesEachPictureOnce) {
  const bool mobilesam = HaveMobileSam();
  Start(ModelArgs(mobilesam));
  std::map<std::string, std::string> ids = Ids();
  // Selected by id, by name, and (MobileSAM) by id.
  std::vector<std::string> models{ids.at("samcache demo (colour/texture similarity - not SAM)"), kHwcName};
  for (const auto& [name, id] : ids) {
    if (name != kHwcName && id != models[0]) models.push_back(id);
  }
  ASSERT_EQ(models.size(), mobilesam ? 3u : 2u);
  Reply upload = Upload(MakeImages(2, 10, 640, 480));
  for (int round = 0; round < 3; ++round) {
    for (const json& image : upload.body["images"]) {
      for (const std::string& model : models) {
        Reply predict = PredictCenter(image, model);
        ASSERT_EQ(predict.status, 200) << predict.raw;
        const std::string model_id = predict.body["model"]["id"];
        EXPECT_TRUE(model_id == model || predict.body["model"]["name"] == model) << predict.raw;
        EXPECT_EQ(predict.body["model"]["family"], "sam");
        EXPECT_EQ(predict.body["embedding"], round == 0 ? "computed" : "cached")
            << model << " round " << round;
        EXPECT_EQ(predict.body["width"], 640);
        ASSERT_FALSE(predict.body["masks"].empty());
        EXPECT_EQ(predict.body["masks"][0]["rle"]["size"], json::array({480, 640}));
      }
    }
  }
  // Each encoder ran once per picture; the stats say the same per model.
  Reply stats = Get("/api/sam/stats");
  ASSERT_EQ(stats.status, 200);
  ASSERT_EQ(stats.body["models"].size(), models.size()) << stats.raw;
  for (const auto& [name, id] : ids) {
    EXPECT_EQ(Runs(id), 2) << name;
    EXPECT_EQ(stats.body["models"][id]["encoder_runs"], 2) << stats.raw;
    EXPECT_EQ(stats.body["models"][id]["model_entries"], 2) << stats.raw;
    EXPECT_EQ(stats.body["models"][id]["name"], name);
  }
  EXPECT_EQ(Metric(Get("/metrics").raw, "samcache_encoder_runs_total"),
            2.0 * static_cast<double>(models.size()));
  EXPECT_EQ(CacheFilesPerModel(data()).size(), models.size());
  if (!mobilesam)
    GTEST_SKIP() << "no " << kSharedModels / "mobilesam-arch"
                 << ": checked with the two demo models";
}

// One prewarm job per dataset and model; each with its own counts and the seed's texts; the
// dataset view, uploads and downloads follow the selected model.
TEST_F(MultiModelTest, PrewarmPerModelAndWhatEachModelHasCached) {
  Start(ModelArgs());
  std::map<std::string, std::string> ids = Ids();
  const std::string builtin = ids.at("samcache demo (colour/texture similarity - not SAM)");
  const std::string hwc = ids.at(kHwcName);
  const auto files = MakeImages(4, 20);
  Reply upload = Upload(files);
  const std::string dataset = upload.body["dataset_id"];
  for (const json& image : upload.body["images"]) {
    EXPECT_EQ(image["embedding_cached_models"], json({{builtin, false}, {hwc, false}})) << image.dump();
  }

  // The HWC model only, by name in the body: the default model has nothing yet.
  Reply hwc_job = ToReply(client_->Post("/api/sam/dataset/" + dataset + "/prewarm",
                                        json{{"model", kHwcName}}.dump(), "application/json"));
  ASSERT_EQ(hwc_job.status, 202) << hwc_job.raw;
  EXPECT_EQ(hwc_job.body["model_id"], hwc);
  EXPECT_EQ(hwc_job.body["model_name"], kHwcName);
  Reply hwc_done = WaitForPrewarm(*client_, hwc_job.body["job_id"]);
  ASSERT_EQ(hwc_done.body["status"], "completed") << hwc_done.raw;
  EXPECT_EQ(hwc_done.body["message"], "Dataset ready (cache: 4 embeddings, computed: 4, skipped: 0)");
  EXPECT_EQ(hwc_done.body["progress_text"], "Pre-warming cache... 4/4");
  EXPECT_EQ(Runs(hwc), 4);
  EXPECT_EQ(Runs(builtin), 0);
  EXPECT_EQ(Get("/api/sam/dataset/" + dataset + "?model=" + hwc).body["embeddings_cached"], 4);
  EXPECT_EQ(Get("/api/sam/dataset/" + dataset).body["embeddings_cached"], 0) << "the default model's view";

  // The same pictures again: cached for the HWC model, not for the default one.
  Reply again = Upload(files);
  for (const json& image : again.body["images"]) {
    EXPECT_EQ(image["embedding_cached"], false) << "embedding_cached is the default model's";
    EXPECT_EQ(image["embedding_cached_models"], json({{builtin, false}, {hwc, true}})) << image.dump();
  }
  EXPECT_FALSE(again.body.contains("duplicates_message")) << again.raw;

  // Two jobs on one dataset at once, one per model (by id in the query, by name in the body).
  Reply builtin_job =
      ToReply(client_->Post("/api/sam/dataset/" + dataset + "/prewarm?model=" + builtin, "", ""));
  Reply hwc_again = ToReply(client_->Post("/api/sam/dataset/" + dataset + "/prewarm",
                                          json{{"model", hwc}}.dump(), "application/json"));
  ASSERT_EQ(builtin_job.status, 202) << builtin_job.raw;
  ASSERT_EQ(hwc_again.status, 202) << hwc_again.raw;
  EXPECT_NE(builtin_job.body["job_id"], hwc_again.body["job_id"]);
  EXPECT_EQ(builtin_job.body["model_id"], builtin);
  Reply builtin_done = WaitForPrewarm(*client_, builtin_job.body["job_id"]);
  Reply hwc_skipped = WaitForPrewarm(*client_, hwc_again.body["job_id"]);
  EXPECT_EQ(builtin_done.body["message"], "Dataset ready (cache: 4 embeddings, computed: 4, skipped: 0)")
      << builtin_done.raw;
  EXPECT_EQ(hwc_skipped.body["message"], "Dataset ready (cache: 4 embeddings, computed: 0, skipped: 4)")
      << hwc_skipped.raw;
  EXPECT_EQ(Runs(builtin), 4);
  EXPECT_EQ(Runs(hwc), 4);
  const std::string log = server_->Log();
  EXPECT_NE(log.find("[PREWARM] job " + builtin_job.body["job_id"].get<std::string>() +
                     " queued for dataset " + dataset + " (4 image(s), model " + builtin + ")"),
            std::string::npos)
      << log;

  // Downloads per model: .npy (one tensor) and .safetensors (every tensor), from the cache.
  const std::string image_id = upload.body["images"][0]["id"];
  Reply npy = Get("/api/sam/image/" + image_id + "/embedding.npy?model=" + kHwcName);
  ASSERT_EQ(npy.status, 200);
  EXPECT_EQ(npy.header("X-Model-Id"), hwc);
  EXPECT_EQ(npy.header("X-Embedding"), "cached");
  EXPECT_EQ(npy.raw.size(), 128 + 4u * 256 * 64 * 64);
  Reply st = Get("/api/sam/image/" + image_id + "/embedding.safetensors?model=" + builtin);
  ASSERT_EQ(st.status, 200) << st.raw.substr(0, 200);
  EXPECT_EQ(st.header("X-Model-Id"), builtin);
  EXPECT_EQ(st.header("X-Tensor-Names"), "image_embeddings");
  EXPECT_NE(st.header("Content-Disposition").find(image_id + ".safetensors"), std::string::npos);
  ASSERT_GT(st.raw.size(), 8u);
  uint64_t header_size = 0;
  std::memcpy(&header_size, st.raw.data(), 8);  // little-endian, as this machine
  ASSERT_LT(header_size, st.raw.size());
  const json header = json::parse(st.raw.substr(8, header_size));
  EXPECT_EQ(header["image_embeddings"]["dtype"], "F32");
  EXPECT_EQ(header["image_embeddings"]["shape"], json::array({1, 256, 64, 64}));
  EXPECT_EQ(header["__metadata__"]["model_id"], builtin);
  EXPECT_EQ(st.raw.size(), 8 + header_size + 4u * 256 * 64 * 64);
  EXPECT_EQ(Runs(builtin), 4) << "the download was computed again";

  // An annotation remembers the model that made its mask.
  json annotation{{"category", "thing"},
                  {"segmentation", {{"size", {240, 320}}, {"counts", json::array({0, 240 * 320})}}},
                  {"model", kHwcName}};
  Reply created = PostJson("/api/sam/image/" + image_id + "/annotations", annotation);
  ASSERT_EQ(created.status, 201) << created.raw;
  EXPECT_EQ(created.body["model_id"], hwc);
  annotation.erase("model");
  EXPECT_EQ(PostJson("/api/sam/image/" + image_id + "/annotations", annotation).body["model_id"], builtin);
  annotation["model"] = "nope";
  EXPECT_EQ(PostJson("/api/sam/image/" + image_id + "/annotations", annotation).status, 400);

  // gc keeps every model's claimed embeddings.
  ASSERT_EQ(server_->Stop(), 0);
  const std::map<std::string, size_t> before = CacheFilesPerModel(data());
  EXPECT_EQ(before, (std::map<std::string, size_t>{{builtin, 4}, {hwc, 4}}));
  CommandResult gc = RunSamcache({"gc", "--data", data().string(), "--grace-minutes", "0"});
  EXPECT_EQ(gc.exit_code, 0) << gc.output;
  EXPECT_NE(gc.output.find("removed 0 embedding(s) no project claims"), std::string::npos) << gc.output;
  EXPECT_EQ(CacheFilesPerModel(data()), before);
}

// Duplicate models (same encoder, or same name) and an unknown default are refused at start.
TEST_F(MultiModelTest, DuplicateModelsAreRefused) {
  const std::vector<std::string> base{"serve",  "--data", data().string(),
                                      "--port", "0",      "--insecure-no-auth"};
  auto run = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return RunSamcache(args);
  };
  CommandResult same_id = run({"--model", "builtin", "--model", "builtin"});
  EXPECT_NE(same_id.exit_code, 0);
  EXPECT_NE(same_id.output.find("two models with the same id"), std::string::npos) << same_id.output;
  const std::string fixture = (fs::path(SAMCACHE_SOURCE_DIR) / "tests/fixtures/models/demo-hwc").string();
  CommandResult same_name = run({"--model", "builtin", "--model", fixture});
  EXPECT_NE(same_name.exit_code, 0);
  EXPECT_NE(same_name.output.find("two models named \"samcache demo (colour/texture similarity - not SAM)\""),
            std::string::npos)
      << same_name.output;
  CommandResult no_default =
      run({"--model", "builtin", "--model", hwc_dir_.string(), "--default-model", "zzz"});
  EXPECT_NE(no_default.exit_code, 0);
  EXPECT_NE(no_default.output.find("--default-model: no model \"zzz\" is loaded"), std::string::npos)
      << no_default.output;
  CommandResult empty_models = run({"--models", tmp_.path().string()});
  EXPECT_NE(empty_models.exit_code, 0);
  EXPECT_NE(empty_models.output.find("no subfolder holds an encoder.onnx"), std::string::npos)
      << empty_models.output;

  // --models: every model folder under it, and --default-model by name.
  Start({"--models", (tmp_ / "models").string(), "--model", "builtin", "--default-model", kHwcName});
  Reply models = Get("/api/sam/models");
  ASSERT_EQ(models.body["models"].size(), 2u) << models.raw;
  EXPECT_EQ(models.body["models"][1]["name"], kHwcName) << "--model first, then --models";
  EXPECT_EQ(models.body["default_model"], models.body["models"][1]["id"]);
}

// A worker with two models claims both models' jobs; serve runs none.
TEST_F(MultiModelTest, AWorkerWithTwoModelsRunsBothModelsJobs) {
  std::vector<std::string> serve_args = ModelArgs();
  serve_args.insert(serve_args.end(), {"--prewarm-jobs", "0"});
  Start(serve_args);
  std::vector<std::string> worker_args = ModelArgs();
  worker_args.insert(worker_args.end(), kFastQueue.begin(), kFastQueue.end());
  ServerProcess worker(data(), worker_args, SAMCACHE_BINARY, "worker");
  httplib::Client worker_client("127.0.0.1", worker.port());
  std::map<std::string, std::string> ids = Ids();
  Reply upload = Upload(MakeImages(3, 40));
  const std::string dataset = upload.body["dataset_id"];
  std::vector<std::string> jobs;
  for (const auto& [name, id] : ids) {
    Reply started = ToReply(client_->Post("/api/sam/dataset/" + dataset + "/prewarm?model=" + id, "", ""));
    ASSERT_EQ(started.status, 202) << started.raw;
    jobs.push_back(started.body["job_id"]);
  }
  for (const std::string& job : jobs) {
    Reply done = WaitForPrewarm(*client_, job);
    EXPECT_EQ(done.body["message"], "Dataset ready (cache: 3 embeddings, computed: 3, skipped: 0)")
        << done.raw;
    EXPECT_NE(worker.Log().find("[WORKER] claimed job " + job), std::string::npos) << worker.Log();
  }
  for (const auto& [name, id] : ids) {
    EXPECT_EQ(Runs(id, &worker_client), 3) << name;
    EXPECT_EQ(Runs(id), 0) << name << ": serve --prewarm-jobs 0 ran a job";
  }
  EXPECT_EQ(worker.Stop(), 0);
}

// kill -9 while both models prewarm one dataset: the next server resumes both jobs and each
// encoder still runs once per picture.
TEST_F(MultiModelTest, KillDuringPerModelPrewarmsResumesEachOnce) {
  // The demo and the SAM 2.1 demo variant: one embedding of one tensor, one of three.
  const std::vector<std::string> args{"--model", "builtin", "--model",
                                      (fs::path(SAMCACHE_SOURCE_DIR) / "models" / "demo-sam2").string()};
  Start(args);
  std::map<std::string, std::string> ids = Ids();
  const int count = 12;
  Reply upload = Upload(MakeImages(count, 60, 2400, 1800));
  const std::string dataset = upload.body["dataset_id"];
  std::map<std::string, std::string> jobs;  // model id -> job id
  for (const auto& [name, id] : ids) {
    Reply started = ToReply(client_->Post("/api/sam/dataset/" + dataset + "/prewarm?model=" + id, "", ""));
    ASSERT_EQ(started.status, 202) << started.raw;
    jobs[id] = started.body["job_id"];
  }
  // After four pictures in all, from the server's own log (the saved progress lags by a save
  // interval, in which the demo models may finish both jobs), it is stopped and then killed:
  // mid-jobs on a machine of any speed.
  ASSERT_TRUE(Eventually([&] { return server_->LogCount("[ENCODE]") >= 4; })) << server_->Log();
  server_->Signal(SIGSTOP);
  server_->Kill();
  const std::map<std::string, size_t> stored = CacheFilesPerModel(data());
  size_t total_stored = 0;
  for (const auto& [model, n] : stored) total_stored += n;
  ASSERT_LT(total_stored, 2u * count) << "both jobs finished before the kill; nothing to resume";

  Start(args);
  for (const auto& [model, job] : jobs) {
    Reply done = WaitForPrewarm(*client_, job);
    ASSERT_EQ(done.body["status"], "completed") << done.raw;
    EXPECT_EQ(done.body["done"], count);
    EXPECT_EQ(done.body["failed"], 0);
    EXPECT_EQ(done.body["model_id"], model);
    const size_t before = stored.count(model) ? stored.at(model) : 0;
    EXPECT_EQ(Runs(model), static_cast<double>(count - before))
        << "an embedding stored before the kill was recomputed";
  }
  EXPECT_EQ(
      CacheFilesPerModel(data()),
      (std::map<std::string, size_t>{{jobs.begin()->first, count}, {std::next(jobs.begin())->first, count}}));
}

}  // namespace
}  // namespace samcache::testing
