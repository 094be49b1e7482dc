// Accounts through the real binary over loopback: the first-start login link, 401 on every
// route without a token, tokens, sessions and passwords, roles and projects (404 for what a
// caller may not see), revocation, the Host allow-list, the Origin check, security headers,
// rate limits, the audit log and the account commands of the CLI.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/http_reply.h"
#include "support/raw_http.h"
#include "support/test_support.h"

namespace samcache::testing {
namespace {

using json = nlohmann::json;

// A client speaking as one token (or none).
class As {
 public:
  As(int port, std::string secret) : client_("127.0.0.1", port), secret_(std::move(secret)) {
    client_.set_read_timeout(60, 0);
  }
  httplib::Headers Headers(httplib::Headers extra = {}) const {
    if (!secret_.empty()) extra.emplace("Authorization", "Bearer " + secret_);
    return extra;
  }
  Reply Get(const std::string& path, httplib::Headers extra = {}) {
    return ToReply(client_.Get(path.c_str(), Headers(std::move(extra))));
  }
  Reply Post(const std::string& path, const json& body, httplib::Headers extra = {}) {
    return ToReply(client_.Post(path.c_str(), Headers(std::move(extra)), body.dump(), "application/json"));
  }
  Reply Put(const std::string& path, const json& body) {
    return ToReply(client_.Put(path.c_str(), Headers(), body.dump(), "application/json"));
  }
  Reply Delete(const std::string& path, httplib::Headers extra = {}) {
    return ToReply(client_.Delete(path.c_str(), Headers(std::move(extra))));
  }
  Reply Upload(const std::string& path, const std::vector<NamedFile>& files, httplib::Headers extra = {}) {
    return ToReply(client_.Post(path.c_str(), Headers(std::move(extra)), ImageItems(files)));
  }

 private:
  httplib::Client client_;
  std::string secret_;
};

// The one-time login link the first start printed.
std::string LoginLinkSecret(const std::string& log) {
  std::smatch m;
  const std::regex link(R"(/login\?token=(sc_[0-9a-f]{64}))");
  EXPECT_TRUE(std::regex_search(log, m, link)) << log;
  return m.size() > 1 ? m[1].str() : "";
}

NamedFile Picture(int seed) {
  return {"pic" + std::to_string(seed) + ".png", MakeImageFile(96, 64, seed, ".png")};
}

class AccountsHttpTest : public ::testing::Test {
 protected:
  void SetUp() override { Start({}); }

  void Start(std::vector<std::string> extra) {
    server_.reset();
    extra.push_back(kWithAccounts);
    server_ = std::make_unique<ServerProcess>(tmp_ / "data", extra);
    if (admin_secret_.empty()) admin_secret_ = AdminToken();
  }

  // Logs in with the first-start link and creates an API token for the admin.
  std::string AdminToken() {
    As anonymous(port(), "");
    const Reply login = anonymous.Post("/api/sam/login", json{{"token", LoginLinkSecret(server_->Log())}});
    EXPECT_EQ(login.status, 200) << login.raw;
    const std::string cookie = login.header("Set-Cookie");
    EXPECT_NE(cookie.find("HttpOnly"), std::string::npos);
    EXPECT_NE(cookie.find("SameSite=Strict"), std::string::npos);
    const std::string session = cookie.substr(cookie.find('=') + 1, cookie.find(';') - cookie.find('=') - 1);
    As admin_by_cookie(port(), "");
    const Reply created = admin_by_cookie.Post("/api/sam/tokens", json{{"name", "tests"}},
                                               {{"Cookie", "samcache_session=" + session}});
    EXPECT_EQ(created.status, 201) << created.raw;
    return created.body.value("secret", "");
  }

  int port() const { return server_->port(); }
  As Admin() { return As(port(), admin_secret_); }

  // A user with a token, member of `project` with `role`.
  std::string UserToken(const std::string& name, const std::string& project, const std::string& role) {
    As admin = Admin();
    EXPECT_EQ(admin.Post("/api/sam/users", json{{"name", name}, {"role", role}}).status, 201);
    if (!project.empty()) {
      const Reply member =
          admin.Put("/api/sam/project/" + project + "/members/" + name, json{{"role", role}});
      EXPECT_EQ(member.status, 200) << member.raw;
    }
    const Reply token = admin.Post("/api/sam/tokens", json{{"name", name + "'s"}, {"user", name}});
    EXPECT_EQ(token.status, 201) << token.raw;
    return token.body.value("secret", "");
  }

  std::string Project(const std::string& name) {
    const Reply created = Admin().Post("/api/sam/projects", json{{"name", name}});
    EXPECT_EQ(created.status, 201) << created.raw;
    return created.body.value("id", "");
  }

  TempDir tmp_;
  std::unique_ptr<ServerProcess> server_;
  std::string admin_secret_;
};

TEST_F(AccountsHttpTest, EveryRouteButTheOpenOnesAnswers401WithoutAToken) {
  const std::string id = "0123456789abcdef";
  const std::vector<std::pair<std::string, std::string>> closed = {
      {"GET", "/api"},
      {"GET", "/api/sam/datasets"},
      {"POST", "/api/sam/dataset/init"},
      {"GET", "/api/sam/dataset/" + id},
      {"DELETE", "/api/sam/dataset/" + id},
      {"POST", "/api/sam/dataset/" + id + "/images"},
      {"GET", "/api/sam/image/" + id},
      {"GET", "/api/sam/image/" + id + "/thumb"},
      {"GET", "/api/sam/image/" + id + "/embedding.npy"},
      {"GET", "/api/sam/image/" + id + "/embedding.safetensors"},
      {"GET", "/api/sam/image/" + id + "/similar"},
      {"POST", "/api/sam/image/" + id + "/warm"},
      {"GET", "/api/sam/model"},
      {"GET", "/api/sam/models"},
      {"POST", "/api/sam/predict"},
      {"POST", "/api/sam/dataset/" + id + "/prewarm"},
      {"GET", "/api/sam/prewarm/" + id},
      {"GET", "/api/sam/prewarm/" + id + "/events"},
      {"DELETE", "/api/sam/prewarm/" + id},
      {"POST", "/api/sam/prewarm/" + id + "/resume"},
      {"GET", "/api/sam/image/" + id + "/annotations"},
      {"POST", "/api/sam/image/" + id + "/annotations"},
      {"PUT", "/api/sam/annotation/" + id},
      {"DELETE", "/api/sam/annotation/" + id},
      {"GET", "/api/sam/dataset/" + id + "/export/coco"},
      {"GET", "/api/sam/dataset/" + id + "/deletion"},
      {"GET", "/api/sam/stats"},
      {"GET", "/metrics"},
      {"GET", "/api/sam/me"},
      {"POST", "/api/sam/logout"},
      {"GET", "/api/sam/projects"},
      {"POST", "/api/sam/projects"},
      {"DELETE", "/api/sam/project/" + id},
      {"GET", "/api/sam/project/" + id + "/members"},
      {"PUT", "/api/sam/project/" + id + "/members/ann"},
      {"DELETE", "/api/sam/project/" + id + "/members/ann"},
      {"GET", "/api/sam/users"},
      {"POST", "/api/sam/users"},
      {"PUT", "/api/sam/user/" + id},
      {"DELETE", "/api/sam/user/" + id},
      {"GET", "/api/sam/tokens"},
      {"POST", "/api/sam/tokens"},
      {"DELETE", "/api/sam/token/" + id},
  };
  httplib::Client client("127.0.0.1", port());
  for (const std::string& secret :
       {std::string(), std::string("sc_") + std::string(64, 'a'), std::string("nonsense")}) {
    httplib::Headers headers;
    if (!secret.empty()) headers.emplace("Authorization", "Bearer " + secret);
    for (const auto& [method, path] : closed) {
      httplib::Request req;
      req.method = method;
      req.path = path;
      req.headers = headers;
      if (method != "GET" && method != "DELETE") {
        req.body = "{}";
        req.set_header("Content-Type", "application/json");
      }
      const Reply reply = ToReply(client.send(req));
      EXPECT_EQ(reply.status, 401) << method << " " << path << " with '" << secret << "': " << reply.raw;
      EXPECT_TRUE(reply.body.contains("error")) << method << " " << path;
      // Also a refusal carries the page's protections.
      EXPECT_NE(reply.header("Content-Security-Policy").find("frame-ancestors 'none'"), std::string::npos);
      EXPECT_EQ(reply.header("X-Content-Type-Options"), "nosniff");
    }
  }
  // The listing of every endpoint (/api, as an admin) is the list above plus the open ones.
  const Reply index = Admin().Get("/api");
  ASSERT_EQ(index.status, 200);
  std::set<std::string> listed;
  for (const json& e : index.body["endpoints"]) listed.insert(e.get<std::string>());
  std::set<std::string> expected = {"GET /healthz", "POST /api/sam/login", "GET /login"};
  for (const auto& [method, path] : closed) {
    if (path == "/api") continue;  // the index does not list itself
    std::string pattern = std::regex_replace(path, std::regex(id), "{id}");
    pattern = std::regex_replace(pattern, std::regex("/prewarm/\\{id\\}"), "/prewarm/{job_id}");
    pattern = std::regex_replace(pattern, std::regex("/members/ann"), "/members/{user}");
    expected.insert(method + " " + pattern);
  }
  EXPECT_EQ(listed, expected);

  // What stays open: health, the page and its files, the login.
  As anonymous(port(), "");
  EXPECT_EQ(anonymous.Get("/healthz").status, 200);
  EXPECT_EQ(anonymous.Get("/").status, 200);
  EXPECT_EQ(anonymous.Get("/web/js/main.js").status, 200);
  EXPECT_EQ(anonymous.Post("/api/sam/login", json{{"token", "sc_" + std::string(64, '0')}}).status, 401);
}

TEST_F(AccountsHttpTest, TheLoginLinkWorksOnceAndSetsASession) {
  // SetUp used the first link; a new one from the CLI, as the log suggests.
  const CommandResult link = RunSamcache({"user", "login-link", "admin", "--data", (tmp_ / "data").string(),
                                          "--url", "http://127.0.0.1:" + std::to_string(port())});
  ASSERT_EQ(link.exit_code, 0) << link.output;
  const std::string secret = LoginLinkSecret(link.output);
  httplib::Client client("127.0.0.1", port());
  // A link on another site may not log the visitor in (login CSRF); it stays unused.
  const Reply cross =
      ToReply(client.Get(("/login?token=" + secret).c_str(), {{"Sec-Fetch-Site", "cross-site"}}));
  EXPECT_EQ(cross.header("Location"), "/?login=failed");
  EXPECT_TRUE(cross.header("Set-Cookie").empty());
  const Reply first = ToReply(client.Get(("/login?token=" + secret).c_str(), {{"Sec-Fetch-Site", "none"}}));
  EXPECT_EQ(first.status, 303);
  EXPECT_EQ(first.header("Location"), "/");
  const std::string cookie = first.header("Set-Cookie");
  ASSERT_NE(cookie.find("samcache_session=sc_"), std::string::npos) << cookie;
  const std::string session = cookie.substr(0, cookie.find(';'));
  const Reply me = ToReply(client.Get("/api/sam/me", {{"Cookie", session}}));
  ASSERT_EQ(me.status, 200) << me.raw;
  EXPECT_EQ(me.body["user"]["name"], "admin");
  EXPECT_EQ(me.body["user"]["role"], "admin");

  const Reply again = ToReply(client.Get(("/login?token=" + secret).c_str()));
  EXPECT_EQ(again.status, 303);
  EXPECT_EQ(again.header("Location"), "/?login=failed");
  EXPECT_TRUE(again.header("Set-Cookie").empty());
  // A login link is not an API token.
  EXPECT_EQ(As(port(), secret).Get("/api/sam/me").status, 401);

  // Logging out ends the session.
  const Reply out = ToReply(client.Post("/api/sam/logout", {{"Cookie", session}}, "", "application/json"));
  EXPECT_EQ(out.status, 200) << out.raw;
  EXPECT_EQ(ToReply(client.Get("/api/sam/me", {{"Cookie", session}})).status, 401);
  EXPECT_NE(server_->Log().find("[AUDIT] who=admin action=session.login"), std::string::npos);
}

TEST_F(AccountsHttpTest, ProjectsHideEachOthersDataAndRolesLimitWhatMembersDo) {
  const std::string a = Project("street");
  const std::string b = Project("medical");
  const std::string ann = UserToken("ann", a, "annotator");
  const std::string vic = UserToken("vic", a, "viewer");
  As as_ann(port(), ann), as_vic(port(), vic), admin = Admin();

  // The admin puts a dataset into B; ann uploads into A (her only writable project).
  const Reply in_b = admin.Upload("/api/sam/dataset/init?name=secret-scans&project=" + b, {Picture(1)});
  ASSERT_EQ(in_b.status, 200) << in_b.raw;
  const std::string b_dataset = in_b.body["dataset_id"];
  const std::string b_image = in_b.body["images"][0]["id"];
  const Reply in_a = as_ann.Upload("/api/sam/dataset/init?name=streets", {Picture(2)});
  ASSERT_EQ(in_a.status, 200) << in_a.raw;
  const std::string a_dataset = in_a.body["dataset_id"];
  const std::string a_image = in_a.body["images"][0]["id"];

  // Ann sees A only: B's dataset, image, thumbnail and export answer exactly as unknown ids.
  const Reply list = as_ann.Get("/api/sam/datasets");
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.body["datasets"].size(), 1u);
  EXPECT_EQ(list.body["datasets"][0]["id"], a_dataset);
  EXPECT_EQ(list.raw.find("secret-scans"), std::string::npos);
  const Reply hidden = as_ann.Get("/api/sam/dataset/" + b_dataset);
  EXPECT_EQ(hidden.status, 404);
  EXPECT_EQ(hidden.body["error"], "no dataset with id '" + b_dataset + "'");
  for (const std::string& path :
       {"/api/sam/image/" + b_image, "/api/sam/image/" + b_image + "/thumb",
        "/api/sam/image/" + b_image + "/similar", "/api/sam/image/" + b_image + "/annotations",
        "/api/sam/dataset/" + b_dataset + "/export/coco"}) {
    EXPECT_EQ(as_ann.Get(path).status, 404) << path;
  }
  EXPECT_EQ(as_ann.Delete("/api/sam/dataset/" + b_dataset).status, 404);
  EXPECT_EQ(as_ann.Upload("/api/sam/dataset/" + b_dataset + "/images", {Picture(3)}).status, 404);
  EXPECT_EQ(as_ann.Upload("/api/sam/dataset/init?project=" + b, {Picture(3)}).status, 404);
  const Reply projects = as_ann.Get("/api/sam/projects");
  ASSERT_EQ(projects.body["projects"].size(), 1u);
  EXPECT_EQ(projects.body["projects"][0]["id"], a);
  EXPECT_EQ(projects.body["projects"][0]["role"], "annotator");

  // A viewer reads and exports, and changes nothing.
  EXPECT_EQ(as_vic.Get("/api/sam/dataset/" + a_dataset).status, 200);
  EXPECT_EQ(as_vic.Get("/api/sam/dataset/" + a_dataset + "/export/coco").status, 200);
  EXPECT_EQ(as_vic.Get("/api/sam/image/" + a_image).status, 200);
  EXPECT_EQ(as_vic.Delete("/api/sam/dataset/" + a_dataset).status, 403);
  EXPECT_EQ(as_vic.Upload("/api/sam/dataset/" + a_dataset + "/images", {Picture(4)}).status, 403);
  EXPECT_EQ(as_vic.Upload("/api/sam/dataset/init", {Picture(4)}).status, 403);
  EXPECT_EQ(as_vic.Post("/api/sam/dataset/" + a_dataset + "/prewarm", json::object()).status, 403);
  EXPECT_EQ(as_vic
                .Post("/api/sam/predict",
                      json{{"image_id", a_image}, {"points", json::array({json{{"x", 5}, {"y", 5}}})}})
                .status,
            403);

  // Only admins manage accounts and see the whole server.
  for (As* member : {&as_ann, &as_vic}) {
    EXPECT_EQ(member->Get("/api/sam/users").status, 403);
    EXPECT_EQ(member->Post("/api/sam/projects", json{{"name", "mine"}}).status, 403);
    EXPECT_EQ(member->Get("/api/sam/stats").status, 403);
    EXPECT_EQ(member->Get("/metrics").status, 403);
  }
  EXPECT_EQ(admin.Get("/metrics").status, 200);
  EXPECT_EQ(admin.Get("/api/sam/dataset/" + b_dataset).status, 200);
  // A project with datasets stays; the audit log has the changes.
  EXPECT_EQ(admin.Delete("/api/sam/project/" + b).status, 409);
  const std::string log = server_->Log();
  for (const std::string_view line :
       {"action=project.add", "action=user.add", "action=token.create", "action=dataset.create",
        "action=project.member", "who=ann action=dataset.create"}) {
    EXPECT_NE(
        log.find("[AUDIT] " + std::string(line.starts_with("who") ? "" : "who=admin ") + std::string(line)),
        std::string::npos)
        << line;
  }
}

TEST_F(AccountsHttpTest, ARevokedTokenIsRefusedWithinASecond) {
  const std::string a = Project("a");
  const std::string ann = UserToken("ann", a, "annotator");
  As as_ann(port(), ann);
  ASSERT_EQ(as_ann.Get("/api/sam/me").status, 200);
  const Reply tokens = Admin().Get("/api/sam/tokens?all=1");
  std::string id;
  for (const json& t : tokens.body["tokens"]) {
    if (t["name"] == "ann's") id = t["id"];
  }
  ASSERT_FALSE(id.empty()) << tokens.raw;
  // Ann may not revoke the admin's token, nor see it.
  for (const json& t : tokens.body["tokens"]) {
    if (t["name"] == "tests") {
      EXPECT_EQ(as_ann.Delete("/api/sam/token/" + t["id"].get<std::string>()).status, 404);
    }
  }
  // A page session opened with the token goes with it.
  const Reply login = As(port(), "").Post("/api/sam/login", json{{"token", ann}});
  ASSERT_EQ(login.status, 200) << login.raw;
  const std::string cookie = login.header("Set-Cookie").substr(0, login.header("Set-Cookie").find(';'));
  As by_cookie(port(), "");
  ASSERT_EQ(by_cookie.Get("/api/sam/me", {{"Cookie", cookie}}).status, 200);
  ASSERT_EQ(Admin().Delete("/api/sam/token/" + id).status, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_EQ(as_ann.Get("/api/sam/me").status, 401);
  EXPECT_EQ(by_cookie.Get("/api/sam/me", {{"Cookie", cookie}}).status, 401);
}

TEST_F(AccountsHttpTest, PasswordsLogInAndWrongOnesTellNothing) {
  ASSERT_EQ(
      Admin()
          .Post("/api/sam/users", json{{"name", "pia"}, {"role", "viewer"}, {"password", "correct horse"}})
          .status,
      201);
  EXPECT_EQ(Admin().Post("/api/sam/users", json{{"name", "short"}, {"password", "1234"}}).status, 400);
  As anonymous(port(), "");
  const Reply ok = anonymous.Post("/api/sam/login", json{{"user", "pia"}, {"password", "correct horse"}});
  ASSERT_EQ(ok.status, 200) << ok.raw;
  EXPECT_EQ(ok.body["user"]["name"], "pia");
  const Reply wrong = anonymous.Post("/api/sam/login", json{{"user", "pia"}, {"password", "wrong horse"}});
  const Reply nobody =
      anonymous.Post("/api/sam/login", json{{"user", "nobody"}, {"password", "wrong horse"}});
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(nobody.status, 401);
  EXPECT_EQ(wrong.body["error"], nobody.body["error"]);
  // An admin changes the password and the role; the old password stops working.
  const Reply users = Admin().Get("/api/sam/users");
  std::string pia_id;
  for (const json& u : users.body["users"]) {
    if (u["name"] == "pia") pia_id = u["id"];
  }
  const Reply changed =
      Admin().Put("/api/sam/user/" + pia_id, json{{"role", "annotator"}, {"password", "battery staple"}});
  ASSERT_EQ(changed.status, 200) << changed.raw;
  EXPECT_EQ(changed.body["role"], "annotator");
  EXPECT_EQ(anonymous.Post("/api/sam/login", json{{"user", "pia"}, {"password", "correct horse"}}).status,
            401);
  EXPECT_EQ(anonymous.Post("/api/sam/login", json{{"user", "pia"}, {"password", "battery staple"}}).status,
            200);
  std::string admin_id;
  for (const json& u : users.body["users"]) {
    if (u["name"] == "admin") admin_id = u["id"];
  }
  EXPECT_EQ(Admin().Put("/api/sam/user/" + admin_id, json{{"role", "viewer"}}).status,
            409);  // the last admin
  // The catalog holds an Argon2id hash, never the password.
  for (const char* file : {"samcache.db", "samcache.db-wal"}) {
    if (std::filesystem::exists(tmp_ / "data" / file)) {
      EXPECT_EQ(ReadFileOrDie(tmp_ / "data" / file).find("correct horse"), std::string::npos) << file;
    }
  }
}

TEST_F(AccountsHttpTest, ForeignHostsAndCrossSiteRequestsAreRefused) {
  As admin = Admin();
  // DNS rebinding: a name that is not ours.
  const Reply rebound = admin.Get("/api/sam/datasets", {{"Host", "attacker.example:3000"}});
  EXPECT_EQ(rebound.status, 403);
  EXPECT_NE(rebound.body.value("error", "").find("host name"), std::string::npos);
  EXPECT_EQ(admin.Get("/api/sam/datasets", {{"Host", "localhost:1"}}).status, 200);
  EXPECT_EQ(admin.Get("/api/sam/datasets", {{"Host", "127.0.0.1"}}).status, 200);
  EXPECT_EQ(admin.Get("/api/sam/datasets", {{"Host", "[::1]:80"}}).status, 200);
  EXPECT_EQ(As(port(), "").Get("/healthz", {{"Host", "attacker.example"}}).status, 200);

  // Cross-site writes, also "simple" ones (a form post, text/plain) that need no preflight.
  const std::string self = "http://127.0.0.1:" + std::to_string(port());
  const Reply forged =
      admin.Upload("/api/sam/dataset/init", {Picture(5)}, {{"Origin", "http://127.0.0.1:9"}});
  EXPECT_EQ(forged.status, 403) << forged.raw;
  EXPECT_EQ(admin.Upload("/api/sam/dataset/init", {Picture(5)}, {{"Origin", "null"}}).status, 403);
  EXPECT_EQ(admin.Upload("/api/sam/dataset/init", {Picture(5)}, {{"Sec-Fetch-Site", "same-site"}}).status,
            403);
  EXPECT_EQ(admin.Get("/api/sam/datasets").body["datasets"].size(), 0u);
  const Reply same = admin.Upload("/api/sam/dataset/init", {Picture(5)}, {{"Origin", self}});
  EXPECT_EQ(same.status, 200) << same.raw;
  EXPECT_EQ(admin
                .Delete("/api/sam/dataset/" + same.body["dataset_id"].get<std::string>(),
                        {{"Origin", "http://evil.example"}})
                .status,
            403);

  // Framing and sniffing: the page says no.
  const Reply page = As(port(), "").Get("/");
  EXPECT_NE(page.header("Content-Security-Policy").find("frame-ancestors 'none'"), std::string::npos);
  EXPECT_NE(page.header("Content-Security-Policy").find("script-src 'self'"), std::string::npos);
  EXPECT_EQ(page.header("X-Frame-Options"), "DENY");
  EXPECT_EQ(page.raw.find("<script>"), std::string::npos);  // no inline script

  // --allowed-host admits a name.
  Start({"--allowed-host", "samcache.internal"});
  EXPECT_EQ(Admin().Get("/api/sam/datasets", {{"Host", "samcache.internal:8080"}}).status, 200);
  EXPECT_EQ(Admin().Get("/api/sam/datasets", {{"Host", "other.internal"}}).status, 403);
}

TEST_F(AccountsHttpTest, RateLimitsCountPerToken) {
  Start({"--rate-limit-uploads", "2"});
  As admin = Admin();
  EXPECT_EQ(admin.Upload("/api/sam/dataset/init", {Picture(6)}).status, 200);
  EXPECT_EQ(admin.Upload("/api/sam/dataset/init", {Picture(7)}).status, 200);
  // A minute boundary may fall between the three; the limit then starts over once.
  Reply third = admin.Upload("/api/sam/dataset/init", {Picture(8)});
  if (third.status == 200) third = admin.Upload("/api/sam/dataset/init", {Picture(9)});
  if (third.status == 200) third = admin.Upload("/api/sam/dataset/init", {Picture(10)});
  EXPECT_EQ(third.status, 429) << third.raw;
  EXPECT_NE(third.body.value("error", "").find("a minute"), std::string::npos);
  // Another token has its own count.
  const std::string other = UserToken("uma", "", "admin");
  EXPECT_EQ(As(port(), other).Upload("/api/sam/dataset/init", {Picture(11)}).status, 200);
}

TEST_F(AccountsHttpTest, CommandLineManagesUsersTokensAndProjects) {
  const std::string data = (tmp_ / "data").string();
  const CommandResult project = RunSamcache({"project", "add", "field work", "--data", data});
  ASSERT_EQ(project.exit_code, 0) << project.output;
  ASSERT_EQ(RunSamcache({"user", "add", "cli-user", "--role", "annotator", "--data", data}).exit_code, 0);
  ASSERT_EQ(RunSamcache({"project", "grant", "field work", "cli-user", "--data", data}).exit_code, 0);
  const CommandResult token =
      RunSamcache({"token", "create", "--user", "cli-user", "--name", "laptop", "--data", data});
  ASSERT_EQ(token.exit_code, 0) << token.output;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(token.output, m, std::regex(R"(sc_[0-9a-f]{64})")));
  As cli_user(port(), m[0].str());
  const Reply me = cli_user.Get("/api/sam/me");
  ASSERT_EQ(me.status, 200) << me.raw;
  EXPECT_EQ(me.body["projects"].size(), 1u);
  EXPECT_EQ(me.body["projects"][0]["name"], "field work");
  const CommandResult list = RunSamcache({"token", "list", "--user", "cli-user", "--data", data});
  EXPECT_NE(list.output.find("laptop"), std::string::npos) << list.output;
  EXPECT_EQ(list.output.find(m[0].str()), std::string::npos);  // never the secret
  const std::string token_id = list.output.substr(0, 16);
  ASSERT_EQ(RunSamcache({"token", "revoke", token_id, "--data", data}).exit_code, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_EQ(cli_user.Get("/api/sam/me").status, 401);
  // Refusals: a taken name, the last admin.
  EXPECT_NE(RunSamcache({"user", "add", "cli-user", "--data", data}).exit_code, 0);
  const CommandResult last = RunSamcache({"user", "remove", "admin", "--data", data});
  EXPECT_NE(last.exit_code, 0);
  EXPECT_NE(last.output.find("last admin"), std::string::npos) << last.output;
}

TEST_F(AccountsHttpTest, WithoutAccountsEverythingIsOpenAndSaysSo) {
  server_.reset();
  ServerProcess open(tmp_ / "open");  // the tests' default: --insecure-no-auth
  As anonymous(open.port(), "");
  const Reply me = anonymous.Get("/api/sam/me");
  ASSERT_EQ(me.status, 200) << me.raw;
  EXPECT_EQ(me.body["accounts"], false);
  EXPECT_EQ(anonymous.Upload("/api/sam/dataset/init", {Picture(12)}).status, 200);
  EXPECT_NE(open.Log().find("--insecure-no-auth"), std::string::npos);
  EXPECT_EQ(open.Log().find("/login?token="), std::string::npos);
}

}  // namespace
}  // namespace samcache::testing

namespace samcache::testing {
namespace {

TEST_F(AccountsHttpTest, CorsIsOffUnlessAnOriginIsConfigured) {
  httplib::Client client("127.0.0.1", port());
  auto preflight = [&](const std::string& origin) {
    httplib::Request req;
    req.method = "OPTIONS";
    req.path = "/api/sam/datasets";
    req.headers = {{"Origin", origin}, {"Access-Control-Request-Method", "GET"}};
    return ToReply(client.send(req));
  };
  const Reply off = preflight("https://app.example.org");
  EXPECT_EQ(off.status, 403);
  EXPECT_TRUE(off.header("Access-Control-Allow-Origin").empty());
  EXPECT_TRUE(Admin()
                  .Get("/api/sam/datasets", {{"Origin", "https://app.example.org"}})
                  .header("Access-Control-Allow-Origin")
                  .empty());

  Start({"--cors-origin", "https://app.example.org"});
  httplib::Client again("127.0.0.1", port());
  httplib::Request req;
  req.method = "OPTIONS";
  req.path = "/api/sam/dataset/init";
  req.headers = {{"Origin", "https://app.example.org"}, {"Access-Control-Request-Method", "POST"}};
  const Reply on = ToReply(again.send(req));
  EXPECT_EQ(on.status, 204);
  EXPECT_EQ(on.header("Access-Control-Allow-Origin"), "https://app.example.org");
  EXPECT_NE(on.header("Access-Control-Allow-Headers").find("Authorization"), std::string::npos);
  EXPECT_TRUE(on.header("Access-Control-Allow-Credentials").empty());
  // The configured origin may write with a token, and reads its errors too; others may not.
  As admin = Admin();
  const Reply upload =
      admin.Upload("/api/sam/dataset/init", {Picture(20)}, {{"Origin", "https://app.example.org"}});
  EXPECT_EQ(upload.status, 200) << upload.raw;
  EXPECT_EQ(upload.header("Access-Control-Allow-Origin"), "https://app.example.org");
  const Reply refused = As(port(), "").Get("/api/sam/datasets", {{"Origin", "https://app.example.org"}});
  EXPECT_EQ(refused.status, 401);
  EXPECT_EQ(refused.header("Access-Control-Allow-Origin"), "https://app.example.org");
  EXPECT_EQ(
      admin.Upload("/api/sam/dataset/init", {Picture(21)}, {{"Origin", "https://other.example.org"}}).status,
      403);
}

}  // namespace
}  // namespace samcache::testing

namespace samcache::testing {
namespace {

// An upload without a key is refused on its headers: the server reads none of a (never sent)
// 500 MB body and spools nothing, with or without Expect: 100-continue.
TEST_F(AccountsHttpTest, AnUploadWithoutAKeyIsRefusedBeforeItsBody) {
  for (const std::string expect : {"", "Expect: 100-continue\r\n"}) {
    RawConnection connection(port());
    ASSERT_TRUE(
        connection.Send("POST /api/sam/dataset/init HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        "Content-Type: multipart/form-data; boundary=xyz\r\n"
                        "Content-Length: 500000000\r\n" +
                        expect + "\r\n--xyz\r\n"));
    const RawReply reply = connection.ReadReply(std::chrono::seconds(10));
    EXPECT_EQ(reply.status, 401) << reply.head;
    EXPECT_NE(reply.body.find("API token"), std::string::npos) << reply.body;
    EXPECT_TRUE(connection.WaitForClose(std::chrono::seconds(10)));
  }
  EXPECT_TRUE(ListFiles(tmp_ / "data" / "spool").empty());
}

}  // namespace
}  // namespace samcache::testing

namespace samcache::testing {
namespace {

TEST_F(AccountsHttpTest, LoginAttemptsAreLimitedPerAddress) {
  Start({"--rate-limit-logins", "3"});
  As anonymous(port(), "");
  std::vector<int> statuses;
  for (int i = 0; i < 4; ++i) {
    statuses.push_back(
        anonymous.Post("/api/sam/login", json{{"user", "admin"}, {"password", "guess" + std::to_string(i)}})
            .status);
  }
  // Three guesses a minute; a minute boundary in between may allow a fourth.
  EXPECT_EQ(std::vector<int>(statuses.begin(), statuses.begin() + 3), (std::vector<int>{401, 401, 401}));
  const Reply fifth = anonymous.Post("/api/sam/login", json{{"user", "admin"}, {"password", "guess"}});
  EXPECT_TRUE(statuses[3] == 429 || fifth.status == 429) << fifth.raw;
}

}  // namespace
}  // namespace samcache::testing
