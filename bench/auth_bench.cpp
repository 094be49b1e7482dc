// auth_bench (issue 15): what accounts cost a request. The same cached click (demo model,
// 640x480) and GET /api/sam/me through two real `samcache serve` processes side by side, one
// without accounts (--insecure-no-auth) and one with an API token, on one keep-alive
// connection each, interleaved; then the first request of a token no answer is cached for
// (a catalog lookup), and a password login (Argon2id).
#include <httplib.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "support/http_reply.h"
#include "support/test_support.h"

namespace {

using json = nlohmann::json;
using samcache::bench::MsSince;
using samcache::bench::Percentile;
using namespace samcache::testing;

struct Side {
  std::unique_ptr<ServerProcess> server;
  std::unique_ptr<httplib::Client> client;
  httplib::Headers headers;
  std::string image_id;
  std::vector<double> click_ms, me_ms;
};

std::string LoginSecret(const std::string& log) {
  std::smatch m;
  std::regex_search(log, m, std::regex(R"(/login\?token=(sc_[0-9a-f]{64}))"));
  return m.size() > 1 ? m[1].str() : "";
}

void Prepare(Side& side, const std::filesystem::path& dir, bool accounts) {
  side.server = std::make_unique<ServerProcess>(
      dir, accounts ? std::vector<std::string>{kWithAccounts, "--rate-limit-logins", "0"}
                    : std::vector<std::string>{});
  side.client = std::make_unique<httplib::Client>("127.0.0.1", side.server->port());
  side.client->set_keep_alive(true);
  if (accounts) {
    const Reply login = ToReply(side.client->Post(
        "/api/sam/login", json{{"token", LoginSecret(side.server->Log())}}.dump(), "application/json"));
    const std::string cookie = login.header("Set-Cookie").substr(0, login.header("Set-Cookie").find(';'));
    const Reply token = ToReply(side.client->Post("/api/sam/tokens", {{"Cookie", cookie}},
                                                  json{{"name", "bench"}}.dump(), "application/json"));
    side.headers = {{"Authorization", "Bearer " + token.body.value("secret", "")}};
  }
  const Reply up =
      ToReply(side.client->Post("/api/sam/dataset/init", side.headers,
                                ImageItems({{"scene.png", MakeImageFile(640, 480, 7, ".png")}})));
  side.image_id = up.body["images"][0]["id"];
}

void Click(Side& side) {
  const json body{{"image_id", side.image_id},
                  {"points", json::array({json{{"x", 320}, {"y", 240}, {"label", 1}}})}};
  auto start = std::chrono::steady_clock::now();
  const auto r = side.client->Post("/api/sam/predict", side.headers, body.dump(), "application/json");
  side.click_ms.push_back(MsSince(start));
  if (!r || r->status != 200) std::fprintf(stderr, "click failed: %d\n", r ? r->status : 0);
  start = std::chrono::steady_clock::now();
  const auto me = side.client->Get("/api/sam/me", side.headers);
  side.me_ms.push_back(MsSince(start));
  if (!me || me->status != 200) std::fprintf(stderr, "me failed: %d\n", me ? me->status : 0);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"auth_bench: the cost of accounts on a request"};
  int rounds = 400;
  cli.add_option("--rounds", rounds, "Clicks per side")->capture_default_str();
  CLI11_PARSE(cli, argc, argv);

  TempDir tmp;
  Side open, keyed;
  Prepare(open, tmp / "open", false);
  Prepare(keyed, tmp / "keyed", true);
  for (int i = 0; i < 20; ++i) Click(open), Click(keyed);  // warm: embeddings, connections
  open.click_ms.clear(), open.me_ms.clear(), keyed.click_ms.clear(), keyed.me_ms.clear();
  for (int i = 0; i < rounds; ++i) Click(open), Click(keyed);

  std::printf(
      "cached click and GET /api/sam/me, %d each, one keep-alive connection per server, interleaved\n",
      rounds);
  std::printf("%-34s %10s %10s %10s %10s\n", "", "click p50", "click p99", "me p50", "me p99");
  for (const auto& [name, side] :
       {std::pair<const char*, Side*>{"--insecure-no-auth", &open}, {"API token", &keyed}}) {
    std::printf("%-34s %8.2f ms %8.2f ms %8.2f ms %8.2f ms\n", name, Percentile(side->click_ms, 50),
                Percentile(side->click_ms, 99), Percentile(side->me_ms, 50), Percentile(side->me_ms, 99));
  }
  std::printf("%-34s %8.2f ms %10s %8.2f ms\n", "difference (token - none), p50",
              Percentile(keyed.click_ms, 50) - Percentile(open.click_ms, 50), "",
              Percentile(keyed.me_ms, 50) - Percentile(open.me_ms, 50));

  // A token whose answer is not cached: every request 0.6 s apart pays the catalog lookup.
  std::vector<double> cold;
  for (int i = 0; i < 20; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    const auto start = std::chrono::steady_clock::now();
    keyed.client->Get("/api/sam/me", keyed.headers);
    cold.push_back(MsSince(start));
  }
  // A password login: Argon2id (19 MiB, 2 passes) on the server.
  const json user{{"name", "bench-user"}, {"role", "viewer"}, {"password", "a long enough password"}};
  keyed.client->Post("/api/sam/users", keyed.headers, user.dump(), "application/json");
  std::vector<double> logins;
  for (int i = 0; i < 10; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const auto r = keyed.client->Post(
        "/api/sam/login", json{{"user", "bench-user"}, {"password", "a long enough password"}}.dump(),
        "application/json");
    logins.push_back(MsSince(start));
    if (!r || r->status != 200) std::fprintf(stderr, "login failed: %d\n", r ? r->status : 0);
  }
  std::printf("GET /api/sam/me, token not cached (p50 of 20):   %6.2f ms\n", Percentile(cold, 50));
  std::printf("password login, Argon2id (p50 of 10):           %6.2f ms\n", Percentile(logins, 50));
  return 0;
}
