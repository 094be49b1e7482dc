#include "http/access_gate.h"

#include "http/json_reply.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <utility>

namespace samcache {

namespace {

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

// "example.org:3000" → "example.org"; "[::1]:3000" → "::1".
std::string HostName(const std::string& host) {
  if (host.starts_with('[')) {
    const size_t close = host.find(']');
    return close == std::string::npos ? host : host.substr(1, close - 1);
  }
  const size_t colon = host.find(':');
  return Lower(colon == std::string::npos ? host : host.substr(0, colon));
}

bool IsIpLiteral(const std::string& name) {
  unsigned char buffer[16];
  return inet_pton(AF_INET, name.c_str(), buffer) == 1 || inet_pton(AF_INET6, name.c_str(), buffer) == 1;
}

bool StateChanging(const std::string& method) { return method != "GET" && method != "HEAD"; }

std::string Clip(const std::string& text) { return text.substr(0, 64); }

}  // namespace

std::string CookieValue(const std::string& cookie_header, const std::string& name) {
  size_t pos = 0;
  while (pos < cookie_header.size()) {
    size_t end = cookie_header.find(';', pos);
    if (end == std::string::npos) end = cookie_header.size();
    size_t start = pos;
    while (start < end && cookie_header[start] == ' ') ++start;
    const size_t equals = cookie_header.find('=', start);
    if (equals != std::string::npos && equals < end &&
        cookie_header.compare(start, equals - start, name) == 0 && equals - start == name.size()) {
      return cookie_header.substr(equals + 1, end - equals - 1);
    }
    pos = end + 1;
  }
  return "";
}

std::string SecretOf(const Request& request) {
  const std::string authorization = request.header("Authorization");
  if (authorization.size() > 7 && strncasecmp(authorization.c_str(), "Bearer ", 7) == 0) {
    return authorization.substr(7);
  }
  return CookieValue(request.header("Cookie"), kSessionCookie);
}

AccessGate::AccessGate(GateOptions options, Authenticator* authenticator, RateLimiter* limiter)
    : options_(std::move(options)), authenticator_(authenticator), limiter_(limiter) {
  for (std::string& host : options_.allowed_hosts) host = Lower(host);
  for (std::string& origin : options_.cors_origins) origin = Lower(origin);
}

bool AccessGate::CorsOrigin(const std::string& origin) const {
  const std::string lower = Lower(origin);
  return !origin.empty() && std::find(options_.cors_origins.begin(), options_.cors_origins.end(), lower) !=
                                options_.cors_origins.end();
}

std::vector<std::pair<std::string, std::string>> AccessGate::CorsHeaders(const Request& request) const {
  const std::string origin = request.header("Origin");
  if (!CorsOrigin(origin)) return {};
  return {{"Access-Control-Allow-Origin", origin},
          {"Vary", "Origin"},
          {"Access-Control-Expose-Headers", "Location, Retry-After, Content-Disposition"}};
}

Reply AccessGate::Preflight(const Request& request) const {
  if (!CorsOrigin(request.header("Origin"))) {
    return ErrorReply(403, "cross-origin requests are not allowed from this origin (serve --cors-origin)");
  }
  Reply reply;
  reply.status = 204;
  for (auto& [name, value] : CorsHeaders(request)) reply.Header(name, value);
  reply.Header("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE")
      .Header("Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID")
      .Header("Access-Control-Max-Age", "600");
  return reply;
}

Status AccessGate::CheckHost(const Request& request) const {
  const std::string host = request.header("Host");
  // HTTP/1.0 clients may omit it; a browser never does.
  if (host.empty()) return Status::Ok();
  const std::string name = HostName(host);
  if (name == "localhost" || name.ends_with(".localhost") || IsIpLiteral(name)) return Status::Ok();
  for (const std::string& allowed : options_.allowed_hosts) {
    if (allowed == "*" || allowed == name) return Status::Ok();
  }
  return Status::PermissionDenied("this server does not answer to the host name '" + Clip(name) +
                                  "'; add it with --allowed-host if it is meant to");
}

Status AccessGate::CheckOrigin(const Request& request) const {
  if (!StateChanging(request.method)) return Status::Ok();
  const std::string origin = request.header("Origin");
  if (origin.empty()) {
    // Not from a browser page (curl, scripts), or a browser that sends Sec-Fetch-Site.
    const std::string site = request.header("Sec-Fetch-Site");
    if (site.empty() || site == "same-origin" || site == "none") return Status::Ok();
    return Status::PermissionDenied("cross-site requests may not change anything here");
  }
  const std::string host = Lower(request.header("Host"));
  if (!host.empty() && (Lower(origin) == "http://" + host || Lower(origin) == "https://" + host)) {
    return Status::Ok();
  }
  if (CorsOrigin(origin)) return Status::Ok();
  return Status::PermissionDenied("requests from the page at '" + Clip(origin) +
                                  "' may not change anything here (another origin)");
}

Status AccessGate::CheckHostAndOrigin(const Request& request) const {
  SAMCACHE_RETURN_IF_ERROR(CheckHost(request));
  return CheckOrigin(request);
}

Result<Caller> AccessGate::Identify(const Request& request, const Route& route) const {
  // /healthz answers whatever the Host: load balancers probe by address or by internal name.
  // A metrics-only listener is the scrapers': no cookies, nothing to change.
  if (route.system && (route.access == Access::kPublic || options_.metrics_listener))
    return Caller::Everyone();
  SAMCACHE_RETURN_IF_ERROR(CheckHostAndOrigin(request));
  if (route.access == Access::kPublic) return Caller();
  if (!options_.accounts) return Caller::Everyone();
  const std::string secret = SecretOf(request);
  if (secret.empty()) {
    return Status::Unauthenticated(
        "this needs an API token (Authorization: Bearer <token>) or a login session; "
        "create a token with `samcache token create`");
  }
  SAMCACHE_ASSIGN_OR_RETURN(Caller caller, authenticator_->Authenticate(secret));
  if ((route.access == Access::kAdmin || route.access == Access::kMetrics) && !caller.admin()) {
    return Status::PermissionDenied("only an admin may do this");
  }
  return caller;
}

Result<Caller> AccessGate::Admit(const Request& request, const Route& route) const {
  SAMCACHE_ASSIGN_OR_RETURN(Caller caller, Identify(request, route));
  if (limiter_ != nullptr && route.metered != Metered::kNo) {
    SAMCACHE_RETURN_IF_ERROR(limiter_->Admit(
        caller.token_id, route.metered == Metered::kUpload ? RateKind::kUpload : RateKind::kClick));
  }
  return caller;
}

void GuardRoutes(RouteTable& routes, const AccessGate& gate) {
  for (Route& route : routes) {
    route.handler = [&gate, inner = std::move(route.handler),
                     route_copy = route](const Request& request) -> Result<Reply> {
      Result<Caller> caller = gate.Admit(request, route_copy);
      Result<Reply> reply = caller.status();
      if (caller.ok()) {
        Request admitted = request;
        admitted.caller = &*caller;
        reply = inner(admitted);
      }
      const auto cors = gate.CorsHeaders(request);
      if (cors.empty()) return reply;
      // A configured origin's page reads its errors too.
      Reply answer = reply.ok() ? std::move(reply).value() : StatusReply(reply.status());
      for (const auto& [name, value] : cors) answer.Header(name, value);
      return answer;
    };
  }
}

}  // namespace samcache
