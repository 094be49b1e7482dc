// The access parts of a server, made from its options (http/access_gate.h). A file of its own
// so that the transport can be built without the API (the http_request fuzz target brings its
// own).
#include "access/accounts.h"
#include "app/app.h"
#include "http/access_gate.h"
#include "http/server.h"

namespace samcache {

ServerAccess MakeServerAccess(App& app, const ServerOptions& options) {
  ServerAccess access;
  if (options.accounts && !options.metrics_only) {
    access.authenticator = std::make_unique<Authenticator>(app.catalog());
    access.accounts = std::make_unique<Accounts>(app.catalog(), *access.authenticator);
    access.limiter = std::make_unique<RateLimiter>(options.rate_limits, app.redis());
  } else if (options.accounts) {
    // A metrics-only listener still admits admins' tokens elsewhere; it needs none itself.
    access.authenticator = std::make_unique<Authenticator>(app.catalog());
  }
  GateOptions gate;
  gate.accounts = options.accounts;
  gate.allowed_hosts = options.allowed_hosts;
  gate.cors_origins = options.cors_origins;
  gate.metrics_listener = options.metrics_only;
  access.gate = std::make_unique<AccessGate>(gate, access.authenticator.get(), access.limiter.get());
  return access;
}

}  // namespace samcache
