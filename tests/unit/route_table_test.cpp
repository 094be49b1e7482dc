// The API as values: routes called as plain functions, with no HTTP server in between, the
// way a second transport would call them. The black-box tests in tests/http/ cover the
// cpp-httplib adapter.
#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <set>

#include "app/app.h"
#include "http/access_gate.h"
#include "http/json_reply.h"
#include "http/route.h"
#include "http/route_match.h"
#include "http/server.h"
#include "http/upload_spool.h"
#include "support/test_support.h"

namespace samcache::testing {
namespace {

using json = nlohmann::json;

// Spools prepared parts as the transport does, a few bytes at a time.
void Spool(UploadSpool& spool, const std::vector<std::pair<BodyPart, std::string>>& parts) {
  for (const auto& [part, bytes] : parts) {
    ASSERT_TRUE(spool.BeginPart(part).ok());
    for (size_t at = 0; at < bytes.size(); at += 1000) {
      ASSERT_TRUE(spool.Append(bytes.data() + at, std::min<size_t>(1000, bytes.size() - at)).ok());
    }
  }
}

class RouteTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    AppOptions options;
    options.data_dir = dir_.path();
    Result<std::unique_ptr<App>> app = App::Open(options);
    ASSERT_TRUE(app.ok()) << app.status().message();
    app_ = std::move(app).value();
  }

  // Without accounts (the gate admits everyone), as the routes' own rules are tested here.
  RouteTable Routes() { return BuildRoutes(RouteContext{*app_, server_options_, stopping_, {}, gate_}); }

  // The reply of a route, failures mapped as the adapter maps them.
  Reply Call(Method method, const std::string& pattern, Request request) {
    for (const Route& route : Routes()) {
      if (route.method == method && route.pattern == pattern) {
        Result<Reply> reply = route.handler(request);
        return reply.ok() ? std::move(reply).value() : StatusReply(reply.status());
      }
    }
    ADD_FAILURE() << "no route " << MethodName(method) << " " << pattern;
    return Reply{};
  }

  static std::string Header(const Reply& reply, const std::string& name) {
    for (const auto& [n, v] : reply.headers) {
      if (n == name) return v;
    }
    return "";
  }

  TempDir dir_;
  ServerOptions server_options_;
  std::atomic<bool> stopping_{false};
  AccessGate gate_{GateOptions::WithoutAccounts(), nullptr, nullptr};
  std::unique_ptr<App> app_;
};

TEST_F(RouteTableTest, EveryEndpointOfTheIndexIsARoute) {
  std::set<std::string> table;
  for (const Route& route : Routes())
    table.insert(std::string(MethodName(route.method)) + " " + route.pattern);
  const Reply index = Call(Method::kGet, "/api", Request{});
  ASSERT_EQ(index.status, 200);
  const json body = json::parse(index.body);
  for (const json& endpoint : body["endpoints"]) {
    EXPECT_EQ(table.count(endpoint.get<std::string>()), 1u) << endpoint;
  }
  EXPECT_EQ(table.size(), body["endpoints"].size() + 3) << "plus GET /api, GET / and GET /web/{path*}";
}

TEST_F(RouteTableTest, MetricsOnlyServesHealthAndMetrics) {
  server_options_.metrics_only = true;
  std::set<std::string> table;
  for (const Route& route : Routes())
    table.insert(std::string(MethodName(route.method)) + " " + route.pattern);
  EXPECT_EQ(table, (std::set<std::string>{"GET /healthz", "GET /metrics"}));
}

TEST_F(RouteTableTest, AFailedStatusBecomesItsCodeAndAJsonError) {
  Request request;
  request.path_params["id"] = "nope";
  const Reply reply = Call(Method::kGet, "/api/sam/dataset/{id}", request);
  EXPECT_EQ(reply.status, 404);
  EXPECT_EQ(reply.content_type, "application/json");
  EXPECT_EQ(json::parse(reply.body), (json{{"error", "no dataset with id 'nope'"}}));
  EXPECT_EQ(Header(reply, "Retry-After"), "");
}

TEST_F(RouteTableTest, UnavailableAsksToRetryAndNoModelDoesNot) {
  const Reply busy = StatusReply(Status::Unavailable("the encoder queue is full"));
  EXPECT_EQ(busy.status, 503);
  EXPECT_EQ(Header(busy, "Retry-After"), "2");
  // Without a model no retry helps: a plain 503.
  const Reply no_model = Call(Method::kGet, "/api/sam/model", Request{});
  EXPECT_EQ(no_model.status, 503);
  EXPECT_EQ(json::parse(no_model.body), (json{{"error", "no model is loaded"}}));
  EXPECT_EQ(Header(no_model, "Retry-After"), "");
}

TEST_F(RouteTableTest, AnUploadTakesItsSpooledParts) {
  UploadSpool spool(dir_.path() / "spool");
  Spool(spool, {{BodyPart{"name", "", ""}, "holiday"},
                {BodyPart{"images", "a.png", "image/png"}, MakeImageFile(64, 48, 1, ".png")},
                {BodyPart{"images", "b.png", "image/png"}, MakeImageFile(64, 48, 2, ".png")}});
  spool.Finish();
  Request request;
  request.multipart = true;
  request.upload = &spool.body();
  const Reply reply = Call(Method::kPost, "/api/sam/dataset/init", request);
  ASSERT_EQ(reply.status, 200) << reply.body;
  const json body = json::parse(reply.body);
  EXPECT_EQ(body["name"], "holiday");
  ASSERT_EQ(body["images"].size(), 2u);
  EXPECT_EQ(body["images"][0]["filename"], "a.png");
  EXPECT_EQ(body["errors"].size(), 0u);

  Request show;
  show.path_params["id"] = body["dataset_id"].get<std::string>();
  const json dataset = json::parse(Call(Method::kGet, "/api/sam/dataset/{id}", show).body);
  EXPECT_EQ(dataset["image_count"], 2);
  EXPECT_EQ(dataset["embeddings_cached"], 0);
  EXPECT_EQ(dataset["prewarm_job"], nullptr);
}

TEST_F(RouteTableTest, ABrokenUploadKeepsTheWholePartsBeforeTheBreak) {
  UploadSpool spool(dir_.path() / "spool");
  Spool(spool, {{BodyPart{"images", "a.png", "image/png"}, MakeImageFile(64, 48, 1, ".png")},
                {BodyPart{"images", "b.png", "image/png"}, MakeImageFile(64, 48, 2, ".png")},
                {BodyPart{"images", "c.png", "image/png"}, MakeImageFile(64, 48, 3, ".png").substr(0, 100)}});
  spool.Break("the request body ended before the multipart data did (no final boundary)");
  Request request;
  request.multipart = true;
  request.upload = &spool.body();
  const Reply reply = Call(Method::kPost, "/api/sam/dataset/init", request);
  ASSERT_EQ(reply.status, 200) << reply.body;
  const json body = json::parse(reply.body);
  ASSERT_EQ(body["images"].size(), 2u);
  EXPECT_EQ(body["images"][1]["filename"], "b.png");
  ASSERT_EQ(body["errors"].size(), 1u);
  EXPECT_NE(body["errors"][0]["error"].get<std::string>().find("no final boundary"), std::string::npos);
}

TEST_F(RouteTableTest, AnOverlongFilenameIsCutNotRefused) {
  UploadSpool spool(dir_.path() / "spool");
  Spool(spool, {{BodyPart{"images", std::string(10000, 'n') + ".png", "image/png"},
                 MakeImageFile(64, 48, 1, ".png")}});
  spool.Finish();
  Request request;
  request.multipart = true;
  request.upload = &spool.body();
  const Reply reply = Call(Method::kPost, "/api/sam/dataset/init", request);
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(json::parse(reply.body)["images"][0]["filename"].get<std::string>(), std::string(255, 'n'));
}

TEST_F(RouteTableTest, SpoolFilesGoWithTheSpool) {
  std::filesystem::path spooled;
  {
    UploadSpool spool(dir_.path() / "spool");
    Spool(spool, {{BodyPart{"images", "a.png", "image/png"}, "some bytes"}});
    spool.Finish();
    ASSERT_EQ(spool.body().parts.size(), 1u);
    spooled = spool.body().parts[0].spool_path;
    EXPECT_TRUE(std::filesystem::exists(spooled));
    EXPECT_EQ(spool.body().parts[0].size, 10u);
  }
  EXPECT_FALSE(std::filesystem::exists(spooled));
}

TEST_F(RouteTableTest, AnUploadThatIsNotMultipartIsRefusedUnread) {
  Request request;
  const Reply reply = Call(Method::kPost, "/api/sam/dataset/init", request);
  EXPECT_EQ(reply.status, 400);
}

}  // namespace
}  // namespace samcache::testing
