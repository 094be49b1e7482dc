// edge_bench: the transport under idle load (issue 14's acceptance).
//
// The real `samcache serve` on loopback (demo model, a temporary data folder, --prewarm-jobs 0
// so a prewarm job stays queued and its event streams stay open). One image is uploaded and its
// embedding computed by a first click. Then, with no idle load and again with N idle keep-alive
// connections (each has made one request) and M open event streams on the queued job:
//   - /healthz latency p50/p99/max: R sequential requests on one keep-alive connection, and
//     R/2 on a new connection each;
//   - cached-click latency p50/p99 and throughput: 1 and 4 clients, each sending K predicts
//     (a click inside a shape, RLE answer) on the cached embedding; every answer is checked.
// The two runs are printed side by side; so is how many of the idle connections and streams
// were still open at the end.
//
//   edge_bench [--idle N] [--streams M] [--healthz R] [--clicks K] [--binary PATH]
#include <httplib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "image/image_decoder.h"
#include "support/raw_http.h"
#include "support/scenes.h"
#include "support/test_support.h"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using samcache::bench::MsSince;
using samcache::bench::Percentile;
using samcache::testing::RawConnection;

[[noreturn]] void Fail(const std::string& message) { throw std::runtime_error(message); }

struct Latencies {
  double p50 = 0, p99 = 0, max = 0, per_second = 0;
};

Latencies Summarise(const std::vector<double>& ms, double seconds) {
  Latencies l;
  l.p50 = Percentile(ms, 50);
  l.p99 = Percentile(ms, 99);
  for (double v : ms) l.max = std::max(l.max, v);
  l.per_second = seconds > 0 ? static_cast<double>(ms.size()) / seconds : 0;
  return l;
}

struct Round {
  Latencies healthz_keepalive, healthz_new, click1, click4, healthz_during_clicks;
  double idle_cpu_percent = 0;  // the server's CPU over a quiet pause, in % of one core
};

// utime + stime of a process, in seconds (/proc/<pid>/stat fields 14 and 15).
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i >= 14) ticks += std::stod(field);
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

Latencies TimeHealthz(int port, int requests, bool new_connection_each) {
  std::vector<double> ms;
  const Clock::time_point start = Clock::now();
  std::unique_ptr<RawConnection> kept;
  for (int i = 0; i < requests; ++i) {
    if (new_connection_each || !kept) kept = std::make_unique<RawConnection>(port);
    const Clock::time_point sent = Clock::now();
    if (!kept->Send(samcache::testing::GetRequest("/healthz"))) Fail("/healthz: the connection was closed");
    const samcache::testing::RawReply reply = kept->ReadReply(std::chrono::seconds(30));
    if (reply.status != 200) Fail("/healthz answered " + std::to_string(reply.status));
    ms.push_back(MsSince(sent));
    // A server may end a keep-alive connection after some requests; the next one reconnects.
    if (reply.closed || reply.header("Connection") == "close") kept.reset();
  }
  return Summarise(ms, MsSince(start) / 1000.0);
}

Latencies TimeClicks(int port, const std::string& body, int clients, int requests) {
  std::vector<std::vector<double>> ms(static_cast<size_t>(clients));
  std::vector<std::string> errors(static_cast<size_t>(clients));
  const Clock::time_point start = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      httplib::Client client("127.0.0.1", port);
      client.set_read_timeout(120, 0);
      for (int i = 0; i < requests && errors[static_cast<size_t>(c)].empty(); ++i) {
        const Clock::time_point sent = Clock::now();
        auto r = client.Post("/api/sam/predict", body, "application/json");
        if (!r || r->status != 200 || json::parse(r->body)["embedding"] != "cached") {
          errors[static_cast<size_t>(c)] =
              r ? "predict: HTTP " + std::to_string(r->status) : "predict: no answer";
          continue;
        }
        ms[static_cast<size_t>(c)].push_back(MsSince(sent));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const double seconds = MsSince(start) / 1000.0;
  for (const std::string& e : errors) {
    if (!e.empty()) Fail(e);
  }
  std::vector<double> all;
  for (const auto& m : ms) all.insert(all.end(), m.begin(), m.end());
  return Summarise(all, seconds);
}

Round Measure(int port, pid_t server, const std::string& click, int healthz, int clicks) {
  Round round;
  const double cpu_before = CpuSeconds(server);
  const Clock::time_point pause = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(3));
  round.idle_cpu_percent = 100.0 * (CpuSeconds(server) - cpu_before) / (MsSince(pause) / 1000.0);
  round.healthz_keepalive = TimeHealthz(port, healthz, false);
  round.healthz_new = TimeHealthz(port, healthz / 2, true);
  round.click1 = TimeClicks(port, click, 1, clicks);
  // /healthz never waits behind handlers: probe it while 4 clients keep every worker busy.
  std::atomic<bool> clicking{true};
  std::vector<double> probe_ms;
  std::string probe_error;
  std::thread probe([&] {
    std::optional<RawConnection> connection;
    try {
      connection.emplace(port);
    } catch (const std::exception& e) {
      probe_error = e.what();
    }
    while (clicking && probe_error.empty()) {
      const Clock::time_point sent = Clock::now();
      connection->Send(samcache::testing::GetRequest("/healthz"));
      const samcache::testing::RawReply reply = connection->ReadReply(std::chrono::seconds(30));
      if (reply.status != 200) probe_error = "/healthz during clicks: " + std::to_string(reply.status);
      probe_ms.push_back(MsSince(sent));
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  round.click4 = TimeClicks(port, click, 4, clicks);
  clicking = false;
  probe.join();
  if (!probe_error.empty()) Fail(probe_error);
  round.healthz_during_clicks = Summarise(probe_ms, 0);
  return round;
}

void PrintRow(const char* what, const Latencies& quiet, const Latencies& loaded, bool throughput) {
  std::printf("%-34s %8.2f %8.2f %8.2f | %8.2f %8.2f %8.2f", what, quiet.p50, quiet.p99, quiet.max,
              loaded.p50, loaded.p99, loaded.max);
  if (throughput) std::printf("   %7.1f -> %7.1f req/s", quiet.per_second, loaded.per_second);
  std::printf("\n");
}

// Reads and drops what the streams send (progress, keep-alive comments) so they never stall.
void Drain(std::vector<RawConnection>& streams, std::atomic<bool>& stop) {
  char buffer[4096];
  while (!stop) {
    for (RawConnection& s : streams) {
      while (recv(s.fd(), buffer, sizeof(buffer), MSG_DONTWAIT) > 0) {
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

size_t StillOpen(std::vector<RawConnection>& connections) {
  size_t open = 0;
  for (RawConnection& c : connections) {
    char byte;
    const ssize_t n = recv(c.fd(), &byte, 1, MSG_DONTWAIT | MSG_PEEK);
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))) ++open;
  }
  return open;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"samcache edge benchmark: /healthz and cached clicks under idle load"};
  int idle = 2000, stream_count = 500, healthz = 500, clicks = 40;
  std::string binary = (fs::path(argv[0]).parent_path().parent_path() / "samcache").string();
  cli.add_option("--idle", idle, "Idle keep-alive connections")->capture_default_str();
  cli.add_option("--streams", stream_count, "Open event streams")->capture_default_str();
  cli.add_option("--healthz", healthz, "Sequential /healthz requests per round")->capture_default_str();
  cli.add_option("--clicks", clicks, "Predict requests per client")->capture_default_str();
  cli.add_option("--binary", binary, "The samcache binary to start")->capture_default_str();
  CLI11_PARSE(cli, argc, argv);

  try {
    // Each connection is a descriptor here and one in the server (which raises its own limit).
    const long files = samcache::testing::RaiseOpenFileLimit();
    if (files < idle + stream_count + 100) Fail("open-file limit " + std::to_string(files) + " is too low");
    const int total = idle + stream_count + 200;
    samcache::testing::TempDir dir;
    samcache::testing::ServerProcess server(
        dir / "data",
        {"--prewarm-jobs", "0", "--max-connections", std::to_string(total), "--max-connections-per-client",
         std::to_string(total), "--max-event-streams", std::to_string(stream_count + 10), "--idle-timeout",
         "3600"},
        binary);
    const int port = server.port();
    std::printf(
        "samcache edge benchmark (bench/edge_bench)\nmachine: %u hardware threads; open-file limit %ld; %s\n",
        std::thread::hardware_concurrency(), files, binary.c_str());
    std::fflush(stdout);

    const samcache::testing::Scene scene = samcache::testing::MakeShapesScene(640, 480, 7);
    samcache::Result<std::string> jpeg = samcache::EncodeImage(scene.image, ".jpg", 90);
    if (!jpeg.ok()) Fail(jpeg.status().message());
    httplib::Client client("127.0.0.1", port);
    client.set_read_timeout(120, 0);
    auto uploaded =
        client.Post("/api/sam/dataset/init",
                    httplib::MultipartFormDataItems{{"images", *jpeg, "scene.jpg", "image/jpeg"}});
    if (!uploaded || uploaded->status != 200) Fail("upload failed");
    const json upload = json::parse(uploaded->body);
    const auto& circle = scene.Object("circle");
    const std::string click = json{{"image_id", upload["images"][0]["id"]},
                                   {"points", {{{"x", circle.click_x}, {"y", circle.click_y}, {"label", 1}}}}}
                                  .dump();
    auto warm = client.Post("/api/sam/predict", click, "application/json");
    if (!warm || warm->status != 200) Fail("the first predict failed");
    auto job = client.Post("/api/sam/dataset/" + upload["dataset_id"].get<std::string>() + "/prewarm", "",
                           "application/json");
    if (!job || job->status != 202) Fail("prewarm did not start");
    const std::string events = json::parse(job->body)["events_url"].get<std::string>();

    const pid_t server_pid = samcache::testing::FindChildProcess((dir / "data").string());
    if (server_pid <= 0) Fail("cannot find the server's pid");
    const Round quiet = Measure(port, server_pid, click, healthz, clicks);

    const Clock::time_point opening = Clock::now();
    std::vector<RawConnection> idle_connections;
    for (int i = 0; i < idle; ++i) {
      idle_connections.emplace_back(port);
      if (!idle_connections.back().Send(samcache::testing::GetRequest("/healthz")) ||
          idle_connections.back().ReadReply(std::chrono::seconds(30)).status != 200)
        Fail("idle connection " + std::to_string(i) + " got no /healthz answer");
    }
    std::vector<RawConnection> streams;
    for (int i = 0; i < stream_count; ++i) {
      streams.emplace_back(port);
      if (!streams.back().Send(samcache::testing::GetRequest(events)) ||
          streams.back().ReadHead(std::chrono::seconds(30)).status != 200)
        Fail("event stream " + std::to_string(i) + " did not open");
    }
    std::printf("opened %d idle keep-alive connections and %d event streams in %.1f s\n", idle, stream_count,
                MsSince(opening) / 1000.0);
    std::atomic<bool> stop{false};
    std::thread drain([&] { Drain(streams, stop); });
    const Round loaded = Measure(port, server_pid, click, healthz, clicks);
    stop = true;
    drain.join();

    std::printf("\n%-34s %26s | %26s\n", "", "no idle load (ms)", "with the idle load (ms)");
    std::printf("%-34s %8s %8s %8s | %8s %8s %8s\n", "", "p50", "p99", "max", "p50", "p99", "max");
    PrintRow(("/healthz, keep-alive (" + std::to_string(healthz) + ")").c_str(), quiet.healthz_keepalive,
             loaded.healthz_keepalive, false);
    PrintRow(("/healthz, new connection (" + std::to_string(healthz / 2) + ")").c_str(), quiet.healthz_new,
             loaded.healthz_new, false);
    PrintRow("/healthz while 4 clients click", quiet.healthz_during_clicks, loaded.healthz_during_clicks,
             false);
    PrintRow(("cached click, 1 client (" + std::to_string(clicks) + ")").c_str(), quiet.click1, loaded.click1,
             true);
    PrintRow(("cached click, 4 clients (4x" + std::to_string(clicks) + ")").c_str(), quiet.click4,
             loaded.click4, true);
    std::printf("\nserver CPU over a 3 s pause: %.1f%% of a core with no idle load, %.1f%% with it\n",
                quiet.idle_cpu_percent, loaded.idle_cpu_percent);
    std::printf("still open at the end: %zu of %d idle connections, %zu of %d event streams\n",
                StillOpen(idle_connections), idle, StillOpen(streams), stream_count);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "edge_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
