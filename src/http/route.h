// The API as values: each route is a method, a path pattern and a function from Request to
// Reply. One file per resource adds its routes to the table; the transport adapter
// serves the table (http/mhd_transport.cpp).
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "http/metrics.h"
#include "http/reply.h"
#include "http/request.h"

namespace samcache {

class AccessGate;
class Accounts;
class App;
class Authenticator;
class RateLimiter;
struct ServerOptions;

enum class Method { kGet, kPost, kPut, kDelete };

// Who may reach a route at all (http/access_gate.h); what a caller may do in a project is
// the handler's check (http/scope.h).
enum class Access {
  kCaller,   // any valid token or session; the handler checks the project
  kPublic,   // no token: /healthz, the login, the page's files
  kAdmin,    // an admin's token or session
  kMetrics,  // an admin, or anyone on a metrics-only listener
};

// The requests a token's rate limit counts (access/rate_limiter.h).
enum class Metered { kNo, kUpload, kClick };

// A non-ok Status becomes the JSON error reply of its code (http/json_reply.h: StatusReply).
using Handler = std::function<Result<Reply>(const Request& request)>;

struct Route {
  Method method;
  // Literal segments and parameters: "/api/sam/dataset/{id}/images"; "{name*}" takes the
  // rest of the path, slashes included. A parameter is a whole segment or the rest.
  std::string pattern;
  Handler handler;
  // A multipart upload: the transport spools its file parts to disk under the upload limit
  // and hands them over in Request::upload. Any other body arrives whole in Request::body,
  // under the much smaller JSON limit.
  bool upload = false;
  // Served by the transport's own system thread, never queued behind API work: /healthz
  // and /metrics must answer while every worker is busy.
  bool system = false;
  Access access = Access::kCaller;
  Metered metered = Metered::kNo;
};

using RouteTable = std::vector<Route>;

// What the routes work with; all of it outlives the server.
struct RouteContext {
  App& app;
  const ServerOptions& options;
  const std::atomic<bool>& stopping;  // true once the server shuts down: streams end
  // The transport's connection counters, for /metrics; empty: none to report.
  std::function<TransportStats()> transport_stats;
  // Who may do what; the authenticator and accounts are null on a server without accounts.
  AccessGate& gate;
  Authenticator* authenticator = nullptr;
  Accounts* accounts = nullptr;
  RateLimiter* limiter = nullptr;  // login attempts per address
};

// The whole table: GET /healthz and /metrics, and unless options.metrics_only the API and
// the web page.
RouteTable BuildRoutes(const RouteContext& context);

// One per resource, in http/<resource>_routes.cpp.
void AddSystemRoutes(RouteTable& routes, const RouteContext& context);  // /api, stats
void AddDatasetRoutes(RouteTable& routes, const RouteContext& context);
void AddImageRoutes(RouteTable& routes, const RouteContext& context);
void AddPredictRoutes(RouteTable& routes, const RouteContext& context);
void AddPrewarmRoutes(RouteTable& routes, const RouteContext& context);
void AddAnnotationRoutes(RouteTable& routes, const RouteContext& context);
void AddWebRoutes(RouteTable& routes, const RouteContext& context);
void AddAccountRoutes(RouteTable& routes, const RouteContext& context);  // login, users, projects, tokens

}  // namespace samcache
