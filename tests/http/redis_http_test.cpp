// Two real `samcache serve` processes, each with its own data folder and SQLite catalog,
// sharing one real redis-server (--redis), as two instances behind a load balancer: an
// embedding computed through A is found through B with no encoder run on B; the same
// image asked on both at once is encoded once in total; Redis stopped mid-run costs no
// user-visible failure (each side computes locally, the log says [REDIS]); Redis restarted,
// the instances reconnect and share again. Also the start-up checks of --redis.
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "image/image_decoder.h"
#include "support/http_reply.h"
#include "support/redis_server.h"
#include "support/scenes.h"
#include "support/test_support.h"

namespace samcache::testing {
namespace {

using json = nlohmann::json;

struct Instance {
  Instance(const std::filesystem::path& data, const std::string& redis_url)
      : server(data, {"--redis", redis_url}), client("127.0.0.1", server.port()) {
    client.set_read_timeout(120, 0);
  }

  // Uploads `png` as a new dataset; returns the image id.
  std::string Upload(const std::string& png, const std::string& filename) {
    Reply reply = ToReply(client.Post("/api/sam/dataset/init", ImageItems({{filename, png}})));
    EXPECT_EQ(reply.status, 200) << reply.raw;
    return reply.body["images"][0]["id"].get<std::string>();
  }
  Reply Predict(const std::string& image_id, const SceneObject& object) {
    const json body = {
        {"image_id", image_id},
        {"points", json::array({{{"x", object.click_x}, {"y", object.click_y}, {"label", 1}}})}};
    return ToReply(client.Post("/api/sam/predict", body.dump(), "application/json"));
  }
  json Stats() {
    Reply reply = ToReply(client.Get("/api/sam/stats"));
    EXPECT_EQ(reply.status, 200) << reply.raw;
    return reply.body;
  }
  uint64_t EncoderRuns() { return Stats()["embeddings"]["encoder_runs"].get<uint64_t>(); }

  ServerProcess server;
  httplib::Client client;
};

std::string Png(const Scene& scene) {
  Result<std::string> png = EncodeImage(scene.image, ".png");
  EXPECT_TRUE(png.ok());
  return *png;
}

// Until both instances report a working Redis connection (each stats call tries it).
bool BothConnected(Instance& a, Instance& b) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (a.Stats()["embeddings"]["redis"]["connected"] == true &&
        b.Stats()["embeddings"]["redis"]["connected"] == true) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

class RedisHttpTest : public ::testing::Test {
 protected:
  RedisServer redis_;
  TempDir tmp_;
};

TEST_F(RedisHttpTest, AnEmbeddingComputedOnOneInstanceIsFoundOnTheOther) {
  Instance a(tmp_ / "a", redis_.url());
  Instance b(tmp_ / "b", redis_.url());
  const Scene scene = MakeShapesScene(400, 300, 1);
  const std::string on_a = a.Upload(Png(scene), "scene.png");
  const std::string on_b = b.Upload(Png(scene), "scene-copy.png");

  Reply first = a.Predict(on_a, scene.objects[0]);
  ASSERT_EQ(first.status, 200) << first.raw;
  EXPECT_EQ(first.body["embedding"], "computed");
  Reply second = b.Predict(on_b, scene.objects[0]);
  ASSERT_EQ(second.status, 200) << second.raw;
  // From Redis (no encoder run on B, below), but new to B's project: "cached" is said only
  // for what a project asked for before.
  EXPECT_EQ(second.body["embedding"], "computed");
  EXPECT_EQ(second.body["masks"][0]["rle"], first.body["masks"][0]["rle"]);
  EXPECT_EQ(a.EncoderRuns(), 1u);
  EXPECT_EQ(b.EncoderRuns(), 0u);

  const json stats = b.Stats();
  EXPECT_EQ(stats["embeddings"]["redis"]["hits"], 1);
  EXPECT_EQ(stats["embeddings"]["redis"]["connected"], true);
  EXPECT_EQ(stats["embeddings"]["redis"]["errors"], 0);
  EXPECT_EQ(stats["embeddings"]["redis"]["url"], redis_.url() + "/0");
  EXPECT_EQ(stats["embeddings"]["disk"]["entries"], 1);  // promoted into B's own disk tier
  // One embedding and no lease left in Redis.
  EXPECT_EQ(redis_.Cli({"DBSIZE"}), "1");

  Reply metrics = ToReply(b.client.Get("/metrics"));
  ASSERT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.raw.find("samcache_embedding_cache_hits_total{tier=\"redis\"} 1"), std::string::npos)
      << metrics.raw;
  EXPECT_NE(metrics.raw.find("samcache_redis_connected 1"), std::string::npos);
  EXPECT_NE(metrics.raw.find("samcache_encoder_runs_total 0"), std::string::npos);
  EXPECT_NE(metrics.raw.find("samcache_redis_errors_total 0"), std::string::npos);
  EXPECT_NE(metrics.raw.find("samcache_encoder_remote_joined_total"), std::string::npos);

  // B's upload answer knows the picture is cached once A computed it.
  Reply again = ToReply(b.client.Post("/api/sam/dataset/init", ImageItems({{"third.png", Png(scene)}})));
  ASSERT_EQ(again.status, 200) << again.raw;
  EXPECT_EQ(again.body["images"][0]["embedding_cached"], true);
}

TEST_F(RedisHttpTest, OneImageAskedOnBothInstancesAtOnceIsEncodedOnce) {
  Instance a(tmp_ / "a", redis_.url());
  Instance b(tmp_ / "b", redis_.url());
  const Scene scene = MakeShapesScene(420, 300, 2);
  const std::string on_a = a.Upload(Png(scene), "scene.png");
  const std::string on_b = b.Upload(Png(scene), "scene.png");

  std::vector<std::thread> clients;
  std::vector<int> statuses(8, 0);
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back([&, i] {
      // Each thread its own connection, half of them to each instance.
      Instance& target = i % 2 == 0 ? a : b;
      httplib::Client client("127.0.0.1", target.server.port());
      client.set_read_timeout(120, 0);
      const json body = {
          {"image_id", i % 2 == 0 ? on_a : on_b},
          {"points",
           json::array({{{"x", scene.objects[0].click_x}, {"y", scene.objects[0].click_y}, {"label", 1}}})}};
      statuses[i] = ToReply(client.Post("/api/sam/predict", body.dump(), "application/json")).status;
    });
  }
  for (auto& thread : clients) thread.join();
  EXPECT_EQ(statuses, std::vector<int>(8, 200));
  EXPECT_EQ(a.EncoderRuns() + b.EncoderRuns(), 1u);
  EXPECT_EQ(redis_.Cli({"KEYS", "samcache:lease:*"}), "");
}

TEST_F(RedisHttpTest, RedisGoingAwayAndComingBackIsInvisibleToUsers) {
  Instance a(tmp_ / "a", redis_.url());
  Instance b(tmp_ / "b", redis_.url());
  std::vector<Scene> scenes;
  std::vector<std::string> ids_a, ids_b;
  for (int seed = 10; seed < 13; ++seed) {
    scenes.push_back(MakeShapesScene(360, 280, seed));
    ids_a.push_back(a.Upload(Png(scenes.back()), "s.png"));
    ids_b.push_back(b.Upload(Png(scenes.back()), "s.png"));
  }

  // Redis stops mid-run: both instances answer, computing on their own.
  redis_.Stop();
  Reply on_a = a.Predict(ids_a[0], scenes[0].objects[0]);
  Reply on_b = b.Predict(ids_b[0], scenes[0].objects[0]);
  ASSERT_EQ(on_a.status, 200) << on_a.raw;
  ASSERT_EQ(on_b.status, 200) << on_b.raw;
  EXPECT_EQ(on_a.body["embedding"], "computed");
  EXPECT_EQ(on_b.body["embedding"], "computed");
  Reply cached_locally = a.Predict(ids_a[0], scenes[0].objects[0]);
  ASSERT_EQ(cached_locally.status, 200);
  EXPECT_EQ(cached_locally.body["embedding"], "cached");
  Reply npy = ToReply(b.client.Get("/api/sam/image/" + ids_b[1] + "/embedding.npy"));
  EXPECT_EQ(npy.status, 200);
  EXPECT_NE(a.server.Log().find("[REDIS]"), std::string::npos) << a.server.Log();
  EXPECT_NE(b.server.Log().find("[REDIS]"), std::string::npos);
  const json down = a.Stats();
  EXPECT_EQ(down["embeddings"]["redis"]["connected"], false);
  EXPECT_GT(down["embeddings"]["redis"]["errors"].get<uint64_t>(), 0u);
  Reply metrics = ToReply(a.client.Get("/metrics"));
  EXPECT_NE(metrics.raw.find("samcache_redis_connected 0"), std::string::npos);

  // Redis is back (empty: it keeps nothing on disk); the instances reconnect by themselves
  // and share again.
  redis_.Start();
  ASSERT_TRUE(BothConnected(a, b)) << a.server.Log();
  const uint64_t runs_b = b.EncoderRuns();
  Reply computed = a.Predict(ids_a[2], scenes[2].objects[0]);
  ASSERT_EQ(computed.status, 200) << computed.raw;
  EXPECT_EQ(computed.body["embedding"], "computed");
  Reply shared = b.Predict(ids_b[2], scenes[2].objects[0]);
  ASSERT_EQ(shared.status, 200) << shared.raw;
  EXPECT_EQ(shared.body["embedding"], "computed");  // shared (no run), but new to B's project
  EXPECT_EQ(b.EncoderRuns(), runs_b);
  EXPECT_NE(a.server.Log().find("reachable again"), std::string::npos) << a.server.Log();
}

TEST_F(RedisHttpTest, StartUpChecksTheUrlAndOnlyWarnsWhenRedisIsDown) {
  CommandResult malformed =
      RunSamcache({"serve", "--data", (tmp_ / "bad").string(), "--port", "0", "--redis", "localhost:6379"});
  EXPECT_NE(malformed.exit_code, 0);
  EXPECT_NE(malformed.output.find("--redis localhost:6379: the URL must start with redis://"),
            std::string::npos)
      << malformed.output;

  const std::string url = redis_.url();
  redis_.Stop();
  Instance a(tmp_ / "a", url);  // starts anyway
  EXPECT_NE(a.server.Log().find("[REDIS] cannot reach"), std::string::npos) << a.server.Log();
  const Scene scene = MakeShapesScene(300, 240, 3);
  Reply reply = a.Predict(a.Upload(Png(scene), "s.png"), scene.objects[0]);
  ASSERT_EQ(reply.status, 200) << reply.raw;
  EXPECT_EQ(reply.body["embedding"], "computed");
  // Comes up later: used without a restart of samcache.
  redis_.Start();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (a.Stats()["embeddings"]["redis"]["connected"] != true &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const Scene later = MakeShapesScene(310, 240, 4);
  ASSERT_EQ(a.Predict(a.Upload(Png(later), "l.png"), later.objects[0]).status, 200);
  EXPECT_EQ(redis_.Cli({"DBSIZE"}), "1");
}

TEST_F(RedisHttpTest, EmbedReadsAndFillsTheSharedTier) {
  const Scene scene = MakeShapesScene(320, 240, 5);
  WriteFile(tmp_ / "in.png", Png(scene));
  CommandResult first = RunSamcache(
      {"embed", (tmp_ / "in.png").string(), "--out", (tmp_ / "one.npy").string(), "--redis", redis_.url()});
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_NE(first.output.find("encoder"), std::string::npos) << first.output;
  EXPECT_EQ(redis_.Cli({"DBSIZE"}), "1");
  CommandResult second = RunSamcache(
      {"embed", (tmp_ / "in.png").string(), "--out", (tmp_ / "two.npy").string(), "--redis", redis_.url()});
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_NE(second.output.find("embedding cached in redis"), std::string::npos) << second.output;
  EXPECT_EQ(ReadFileOrDie(tmp_ / "one.npy"), ReadFileOrDie(tmp_ / "two.npy"));
}

}  // namespace
}  // namespace samcache::testing
