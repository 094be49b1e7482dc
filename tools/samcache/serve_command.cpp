// `samcache serve`: the HTTP API and the web page, until SIGINT or SIGTERM.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <thread>

#include "access/authenticator.h"
#include "app/app.h"
#include "app_options.h"
#include "catalog/catalog.h"
#include "command.h"
#include "http/server.h"
#include "model/sam_model.h"

namespace samcache {
namespace {

struct ServeArgs {
  CommonOptions common;
  ModelCliOptions model;
  ServerOptions server;
  bool insecure_no_auth = false;
  int metrics_port = -1;
  size_t max_upload_mb = ServerOptions{}.max_upload_bytes >> 20;
  size_t max_json_kb = ServerOptions{}.max_json_bytes >> 10;
};

bool IsLoopback(const std::string& host) {
  return host == "127.0.0.1" || host == "::1" || host == "localhost" || host.starts_with("127.");
}

// First start with accounts: an admin and a one-time link to log in as it (Jupyter's way: a
// local user is never asked to configure anything).
Status PrintFirstLogin(App& app, const ServerOptions& options, int port) {
  Authenticator authenticator(app.catalog());
  SAMCACHE_ASSIGN_OR_RETURN(const std::optional<IssuedToken> link, authenticator.Bootstrap());
  if (!link) return Status::Ok();
  const std::string host = options.host == "0.0.0.0" || options.host == "::" ? "127.0.0.1" : options.host;
  const std::string url = "http://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
                          std::to_string(port) + "/login?token=" + link->secret;
  spdlog::info("first start: created the user 'admin'. Open this link once to log in (it works one time):");
  spdlog::info("    {}", url);
  std::fprintf(stderr, "\n    To log in, open this link in a browser (once):\n\n        %s\n\n", url.c_str());
  spdlog::info(
      "a new link later: samcache user login-link admin; an API token: samcache token create --user admin");
  return Status::Ok();
}

int Serve(const CommonOptions& common, const ModelCliOptions& model, ServerOptions server_options,
          int metrics_port) {
  const sigset_t signals = BlockStopSignals();
  auto app = OpenApp(common, &model);
  if (!app.ok()) return Fail(app.status());
  Status near_duplicates = (*app)->EnableNearDuplicates();
  if (!near_duplicates.ok()) return Fail(near_duplicates);
  // Deletions a restart interrupted go on in the background.
  if (Status deleting = (*app)->deleter().Start(); !deleting.ok()) return Fail(deleting);
  HttpServer server(**app, server_options);
  Result<int> port = server.Bind();
  if (!port.ok()) return Fail(port.status());
  spdlog::info("samcache {} (ONNX Runtime {}), data in {}, catalog {}", kVersion, OnnxRuntimeVersion(),
               std::filesystem::absolute(common.data_dir).lexically_normal().string(),
               RedactCatalogLocation((*app)->options().catalog_path));
  if (!server_options.accounts) {
    spdlog::warn(
        "--insecure-no-auth: no accounts; {} may read, change and delete everything",
        IsLoopback(server_options.host) ? "every local user and program" : "anyone who reaches this address");
  } else if (Status first = PrintFirstLogin(**app, server_options, *port); !first.ok()) {
    return Fail(first);
  }
  // Last: tools and tests wait for this line, and the login link must be out by then.
  spdlog::info("samcache listening on http://{}:{}", server_options.host, *port);
  // /metrics without a token, on an address of its own (e.g. only the monitoring network).
  std::unique_ptr<HttpServer> metrics_server;
  std::thread metrics_thread;
  if (metrics_port >= 0) {
    ServerOptions metrics_options = server_options;
    metrics_options.metrics_only = true;
    metrics_options.port = metrics_port;
    metrics_server = std::make_unique<HttpServer>(**app, metrics_options);
    Result<int> bound = metrics_server->Bind();
    if (!bound.ok()) return Fail(bound.status());
    spdlog::info("metrics listening on http://{}:{}/metrics (no token needed there)", metrics_options.host,
                 *bound);
    metrics_thread = std::thread([&metrics_server] { (void)metrics_server->Run(); });
  }
  if (model.prewarm_jobs == 0) {
    spdlog::info(
        "[PREWARM] this process runs no prewarm jobs (--prewarm-jobs 0): it queues them in the catalog "
        "for `samcache worker` processes");
  }
  for (const std::unique_ptr<ServedModel>& served : (*app)->models().all()) {
    Result<std::vector<std::string>> resumed = served->prewarm->ResumeOrphaned();
    if (!resumed.ok()) {
      spdlog::error("[PREWARM] cannot look for interrupted jobs: {}", resumed.status().message());
    } else if (!resumed->empty()) {
      spdlog::info("[PREWARM] resumed {} interrupted job(s)", resumed->size());
    }
  }

  std::thread stopper([&server, signals] {
    int sig = 0;
    sigwait(&signals, &sig);
    spdlog::info("signal {} received, stopping", sig);
    server.Stop();
  });
  Status st = server.Run();
  if (metrics_server) {
    metrics_server->Stop();
    metrics_thread.join();
  }
  // Wake the stopper if the server ended by itself.
  pthread_kill(stopper.native_handle(), SIGTERM);
  stopper.join();
  return ExitCode(st);
}

}  // namespace

Command AddServeCommand(CLI::App& cli) {
  auto args = std::make_shared<ServeArgs>();
  CLI::App* serve = cli.add_subcommand("serve", "Run the HTTP API");
  AddCommonOptions(serve, args->common);
  AddModelOptions(serve, args->model, /*with_cache=*/true, /*several=*/true);
  ServerOptions& server = args->server;
  serve->add_option("--port", server.port, "TCP port (0 picks a free one)")->capture_default_str();
  serve
      ->add_option("--host", server.host,
                   "Address to listen on (0.0.0.0: every interface; put TLS in front for a network)")
      ->capture_default_str();
  serve->add_flag("--insecure-no-auth", args->insecure_no_auth,
                  "No accounts: anyone who reaches the port may read, change and delete everything");
  serve
      ->add_option("--allowed-host", server.allowed_hosts,
                   "A host name the server answers to besides localhost and IP addresses (repeat; * for any)")
      ->type_name("NAME");
  serve
      ->add_option("--cors-origin", server.cors_origins,
                   "An origin (https://app.example.org) whose pages may call the API with a token (repeat); "
                   "CORS is off without it")
      ->type_name("ORIGIN");
  serve
      ->add_option("--rate-limit-uploads", server.rate_limits.uploads_per_minute,
                   "Upload requests per minute and token (0: no limit)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  serve
      ->add_option("--rate-limit-clicks", server.rate_limits.clicks_per_minute,
                   "Predict requests per minute and token (0: no limit)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  serve
      ->add_option("--rate-limit-logins", server.rate_limits.logins_per_minute,
                   "Login attempts per minute and client address (0: no limit)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  serve
      ->add_option(
          "--metrics-port", args->metrics_port,
          "Also serve GET /metrics without a token on this port (on --host); /metrics on the main port "
          "needs an admin's token")
      ->check(CLI::Range(0, 65535));
  serve
      ->add_option("--threads", server.threads,
                   "Request handler threads (connections and event streams hold none)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  serve->add_option("--io-threads", server.io_threads, "Network threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  serve->add_option("--max-connections", server.max_connections, "Open connections at most")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  serve
      ->add_option("--max-connections-per-client", server.max_connections_per_client,
                   "Open connections from one IP address at most; more are closed at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  serve
      ->add_option("--header-timeout", server.header_timeout_seconds,
                   "Seconds a request may take from its first byte to its last header")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  serve->add_option("--idle-timeout", server.idle_timeout_seconds, "Seconds a keep-alive connection may idle")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  serve
      ->add_option("--body-timeout", server.body_timeout_seconds,
                   "Longest pause, in seconds, inside a request body")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  serve->add_option("--max-event-streams", server.max_event_streams, "Open prewarm event streams at most")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  serve
      ->add_option("--web-dir", server.web_dir,
                   "Serve the web page from this folder (development) instead of the copy built in")
      ->check(CLI::ExistingDirectory);
  serve
      ->add_option("--max-upload-mb", args->max_upload_mb, "Largest accepted upload (multipart body), in MiB")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  serve->add_option("--max-json-kb", args->max_json_kb, "Largest accepted JSON request body, in KiB")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  AddNearDuplicateOption(serve, args->common);
  AddDeletionOptions(serve, args->common);
  return {serve, [args] {
            ServerOptions server_options = args->server;
            server_options.max_upload_bytes = args->max_upload_mb << 20;
            server_options.max_json_bytes = args->max_json_kb << 10;
            server_options.spool_dir = (std::filesystem::path(args->common.data_dir) / "spool").string();
            server_options.accounts = !args->insecure_no_auth;
            return Serve(args->common, args->model, server_options, args->metrics_port);
          }};
}

}  // namespace samcache
