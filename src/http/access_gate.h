// The gate in front of every route: the Host allow-list (DNS rebinding), the Origin check on
// state-changing requests (cross-site requests, also the "simple" ones that need no
// preflight), then the caller (a Bearer token or the page's session cookie), the route's
// access level and the caller's rate limit. A route's handler then only checks the project.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "access/accounts.h"
#include "access/authenticator.h"
#include "access/rate_limiter.h"
#include "common/status.h"
#include "http/route.h"

namespace samcache {

struct GateOptions {
  // False: a server without accounts (--insecure-no-auth); every caller is Caller::Everyone().
  bool accounts = true;
  // Host names (without port) requests may be addressed to, besides the localhost names and
  // IP literals (a rebinding attack needs a name); "*" turns the check off.
  std::vector<std::string> allowed_hosts;
  // A listener that serves only /metrics and /healthz: /metrics needs no token there.
  bool metrics_listener = false;
  // Origins (https://app.example.org) whose pages may call the API with a Bearer token: their
  // requests pass the Origin check and their answers carry CORS headers. Empty: CORS is off.
  // Cookies are never sent cross-origin (SameSite=Strict, no Allow-Credentials).
  std::vector<std::string> cors_origins;

  static GateOptions WithoutAccounts() {
    GateOptions options;
    options.accounts = false;
    return options;
  }
};

// Sent with every answer: the page's own scripts, styles and images only (no inline script),
// and no framing.
inline constexpr const char* kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

// The page's session cookie.
inline constexpr const char* kSessionCookie = "samcache_session";

class AccessGate {
 public:
  // `authenticator` (null without accounts) and `limiter` (may be null) must outlive the gate.
  AccessGate(GateOptions options, Authenticator* authenticator, RateLimiter* limiter);

  // Admits the request to the route, or says why not: 403 for a foreign Host or
  // Origin, 401 without a valid token or session, 403 for a non-admin on an admin
  // route, 429 over the rate limit.
  Result<Caller> Admit(const Request& request, const Route& route) const;
  // Admit without counting the request against a rate limit: what the transport asks before
  // it reads an upload's body, so that nobody without a key can make it spool a gigabyte.
  Result<Caller> Identify(const Request& request, const Route& route) const;

  // Host and Origin alone (the login routes, which have no caller yet).
  Status CheckHostAndOrigin(const Request& request) const;

  bool accounts() const { return options_.accounts; }

  // The CORS headers for an answer to this request: none unless its Origin is configured.
  std::vector<std::pair<std::string, std::string>> CorsHeaders(const Request& request) const;
  // The answer to a preflight (OPTIONS): 204 with what a configured origin may send, 403
  // otherwise.
  Reply Preflight(const Request& request) const;

 private:
  bool CorsOrigin(const std::string& origin) const;
  Status CheckHost(const Request& request) const;
  Status CheckOrigin(const Request& request) const;

  GateOptions options_;
  Authenticator* authenticator_;
  RateLimiter* limiter_;
};

class App;
struct ServerOptions;

// What a server needs to admit requests, made from its options: without accounts only the
// gate (and no authenticator).
struct ServerAccess {
  std::unique_ptr<Authenticator> authenticator;
  std::unique_ptr<Accounts> accounts;
  std::unique_ptr<RateLimiter> limiter;
  std::unique_ptr<AccessGate> gate;
};
ServerAccess MakeServerAccess(App& app, const ServerOptions& options);

// Wraps every route's handler in the gate: the handler sees Request::caller set.
void GuardRoutes(RouteTable& routes, const AccessGate& gate);

// The secret a request carries: `Authorization: Bearer <secret>`, or the session cookie.
std::string SecretOf(const Request& request);
// The value of one cookie of the Cookie header; empty when absent.
std::string CookieValue(const std::string& cookie_header, const std::string& name);

}  // namespace samcache
