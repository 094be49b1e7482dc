// Accounts over HTTP: logging in and out (the page's session cookie), who am I, and the
// admin's users, projects, memberships and tokens. The rules live in access/accounts.h.
#include <nlohmann/json.hpp>

#include "access/accounts.h"
#include "access/authenticator.h"
#include "access/rate_limiter.h"
#include "access/secrets.h"
#include "app/app.h"
#include "catalog/access_names.h"
#include "http/access_gate.h"
#include "http/ids.h"
#include "http/json_reply.h"
#include "http/route.h"
#include "http/scope.h"
#include "http/server.h"

namespace samcache {
namespace {

using json = nlohmann::json;

constexpr std::string_view kLoginExample = R"({"token": "sc_..."} or {"user": "ada", "password": "..."})";

json UserJson(const UserRecord& u) {
  return json{{"id", u.id},
              {"name", u.name},
              {"role", RoleName(u.role)},
              {"has_password", !u.password_hash.empty()},
              {"created_at", u.created_at}};
}

json TokenJson(const TokenRecord& t) {
  return json{{"id", t.id},
              {"name", t.name},
              {"user_id", t.user_id},
              {"created_at", t.created_at},
              {"last_used_at", t.last_used_at},
              {"expires_at", t.expires_at},
              {"revoked", !t.revoked_at.empty()},
              {"revoked_at", t.revoked_at}};
}

json ProjectJson(const ProjectRecord& p, std::optional<Role> role) {
  json j{{"id", p.id}, {"name", p.name}, {"created_at", p.created_at}};
  j["role"] = role ? json(RoleName(*role)) : json(nullptr);
  return j;
}

std::string SessionCookie(const std::string& secret, std::chrono::seconds lifetime) {
  return std::string(kSessionCookie) + "=" + secret +
         "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" + std::to_string(lifetime.count());
}

std::string ClearedCookie() {
  return std::string(kSessionCookie) + "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0";
}

Result<std::string> StringField(const json& body, const std::string& name, bool required) {
  if (!body.contains(name) || body[name].is_null()) {
    if (required) return Status::InvalidArgument("\"" + name + "\" is required");
    return std::string();
  }
  if (!body[name].is_string()) return Status::InvalidArgument("\"" + name + "\" must be a string");
  return body[name].get<std::string>();
}

Result<Role> RoleField(const json& body, Role fallback) {
  SAMCACHE_ASSIGN_OR_RETURN(const std::string name, StringField(body, "role", false));
  if (name.empty()) return fallback;
  const std::optional<Role> role = ParseRole(name);
  if (!role) return Status::InvalidArgument("\"role\" must be viewer, annotator or admin");
  return *role;
}

Result<json> Me(App& app, const Request& req, bool accounts) {
  const Caller& caller = CallerOf(req);
  SAMCACHE_ASSIGN_OR_RETURN(const std::vector<ProjectRecord> projects, app.catalog().ListProjects());
  json list = json::array();
  for (const ProjectRecord& p : projects) {
    if (caller.Sees(p.id)) list.push_back(ProjectJson(p, caller.RoleIn(p.id)));
  }
  json user = nullptr;
  if (accounts) user = {{"id", caller.user_id}, {"name", caller.user_name}, {"role", RoleName(caller.role)}};
  return json{{"accounts", accounts}, {"user", user}, {"projects", std::move(list)}};
}

Result<Reply> Login(App& app, Authenticator* auth, RateLimiter* limiter, const Request& req) {
  if (limiter != nullptr)
    SAMCACHE_RETURN_IF_ERROR(limiter->Admit("address " + req.client_address, RateKind::kLogin));
  if (auth == nullptr) return Status::InvalidArgument("this server has no accounts (--insecure-no-auth)");
  SAMCACHE_ASSIGN_OR_RETURN(const json body, ParseJsonObject(req.body, kLoginExample));
  SAMCACHE_ASSIGN_OR_RETURN(const std::string token, StringField(body, "token", false));
  SAMCACHE_ASSIGN_OR_RETURN(const std::string user, StringField(body, "user", false));
  SAMCACHE_ASSIGN_OR_RETURN(const std::string password, StringField(body, "password", false));
  Result<IssuedToken> session =
      !token.empty() ? auth->LoginWithSecret(token)
      : !user.empty()
          ? auth->LoginWithPassword(user, password)
          : Result<IssuedToken>(Status::InvalidArgument("send a token, or a user and a password"));
  SAMCACHE_RETURN_IF_ERROR(session);
  SAMCACHE_ASSIGN_OR_RETURN(const Caller caller, auth->Authenticate(session->secret));
  Request as_caller = req;
  as_caller.caller = &caller;
  SAMCACHE_ASSIGN_OR_RETURN(const json me, Me(app, as_caller, true));
  Reply reply = JsonReply(200, me);
  reply.Header("Set-Cookie", SessionCookie(session->secret, AuthOptions{}.session_lifetime));
  return reply;
}

// GET /login?token=...: the link printed at first start. Sets the session and goes to the page.
Reply LoginLink(Authenticator* auth, const Request& req) {
  Reply reply;
  reply.status = 303;
  reply.Header("Cache-Control", "no-store");
  if (auth == nullptr) return reply.Header("Location", "/"), reply;
  // Opened from a terminal or typed: the browser says "none". A link on another site that
  // would log the visitor in as someone else (login CSRF) is not followed.
  const std::string site = req.header("Sec-Fetch-Site");
  if (!site.empty() && site != "none" && site != "same-origin") {
    return reply.Header("Location", "/?login=failed"), reply;
  }
  Result<IssuedToken> session = auth->LoginWithSecret(req.query_value("token"));
  if (!session.ok()) return reply.Header("Location", "/?login=failed"), reply;
  reply.Header("Set-Cookie", SessionCookie(session->secret, AuthOptions{}.session_lifetime));
  reply.Header("Location", "/");
  return reply;
}

Result<Reply> Logout(Authenticator* auth, const Request& req) {
  if (auth != nullptr) SAMCACHE_RETURN_IF_ERROR(auth->Logout(CallerOf(req)));
  Reply reply = JsonReply(200, json{{"logged_out", true}});
  reply.Header("Set-Cookie", ClearedCookie());
  return reply;
}

Result<Reply> ListTokens(App& app, const Request& req) {
  const Caller& caller = CallerOf(req);
  const bool everyone = caller.admin() && req.query_value("all") == "1";
  SAMCACHE_ASSIGN_OR_RETURN(const std::vector<TokenRecord> tokens,
                            app.catalog().ListTokens(everyone ? "" : caller.user_id, TokenKind::kApi));
  json list = json::array();
  for (const TokenRecord& t : tokens) list.push_back(TokenJson(t));
  return JsonReply(200, json{{"tokens", std::move(list)}});
}

Result<Reply> CreateToken(Accounts& accounts, const Request& req) {
  const Caller& caller = CallerOf(req);
  SAMCACHE_ASSIGN_OR_RETURN(const json body, ParseJsonObject(req.body, R"({"name": "laptop"})"));
  SAMCACHE_ASSIGN_OR_RETURN(const std::string name, StringField(body, "name", true));
  SAMCACHE_ASSIGN_OR_RETURN(std::string user, StringField(body, "user", false));
  if (user.empty()) user = caller.user_id;
  if (user != caller.user_id && user != caller.user_name && !caller.admin()) {
    return Status::PermissionDenied("only an admin may create tokens for other users");
  }
  int64_t days = 0;
  if (body.contains("expires_in_days") && !body["expires_in_days"].is_null()) {
    if (!body["expires_in_days"].is_number_integer() || body["expires_in_days"].get<int64_t>() < 0 ||
        body["expires_in_days"].get<int64_t>() > 3650) {
      return Status::InvalidArgument("\"expires_in_days\" must be a whole number from 0 (never) to 3650");
    }
    days = body["expires_in_days"].get<int64_t>();
  }
  SAMCACHE_ASSIGN_OR_RETURN(const IssuedToken issued,
                            accounts.CreateToken(caller.Who(), user, name, std::chrono::hours(24 * days)));
  return JsonReply(201, json{{"token", TokenJson(issued.record)}, {"secret", issued.secret}});
}

Result<Reply> RevokeToken(App& app, Accounts& accounts, const Request& req) {
  const Caller& caller = CallerOf(req);
  const std::string id = req.param("id");
  SAMCACHE_RETURN_IF_ERROR(CheckId(id, "token"));
  SAMCACHE_ASSIGN_OR_RETURN(const std::optional<TokenRecord> token, app.catalog().GetToken(id));
  // Someone else's token is as unknown as a made-up id, unless the caller is an admin.
  if (!token || token->kind != TokenKind::kApi || (token->user_id != caller.user_id && !caller.admin())) {
    return Status::NotFound("no token with id '" + id + "'");
  }
  SAMCACHE_RETURN_IF_ERROR(accounts.RevokeToken(caller.Who(), id));
  return JsonReply(200, json{{"revoked", id}});
}

Result<Reply> ListUsers(App& app) {
  SAMCACHE_ASSIGN_OR_RETURN(const std::vector<UserRecord> users, app.catalog().ListUsers());
  json list = json::array();
  for (const UserRecord& u : users) list.push_back(UserJson(u));
  return JsonReply(200, json{{"users", std::move(list)}});
}

Result<Reply> AddUser(Accounts& accounts, const Request& req) {
  SAMCACHE_ASSIGN_OR_RETURN(const json body,
                            ParseJsonObject(req.body, R"({"name": "ada", "role": "annotator"})"));
  SAMCACHE_ASSIGN_OR_RETURN(const std::string name, StringField(body, "name", true));
  SAMCACHE_ASSIGN_OR_RETURN(const Role role, RoleField(body, Role::kAnnotator));
  SAMCACHE_ASSIGN_OR_RETURN(const std::string password, StringField(body, "password", false));
  SAMCACHE_ASSIGN_OR_RETURN(const UserRecord user,
                            accounts.AddUser(CallerOf(req).Who(), name, role, password));
  return JsonReply(201, UserJson(user));
}

// PUT /api/sam/user/{id}: {"role"} and/or {"password"} (an empty password is not one).
Result<Reply> ChangeUser(App& app, Accounts& accounts, const Request& req) {
  SAMCACHE_RETURN_IF_ERROR(CheckId(req.param("id"), "user"));
  SAMCACHE_ASSIGN_OR_RETURN(const json body,
                            ParseJsonObject(req.body, R"({"role": "viewer", "password": "..."})"));
  SAMCACHE_ASSIGN_OR_RETURN(const std::string role_name, StringField(body, "role", false));
  SAMCACHE_ASSIGN_OR_RETURN(const std::string password, StringField(body, "password", false));
  if (role_name.empty() && password.empty())
    return Status::InvalidArgument("send \"role\", \"password\" or both");
  SAMCACHE_ASSIGN_OR_RETURN(const UserRecord user, accounts.FindUser(req.param("id")));
  const std::string who = CallerOf(req).Who();
  if (!password.empty()) SAMCACHE_RETURN_IF_ERROR(accounts.SetPassword(who, user.id, password));
  if (!role_name.empty()) {
    SAMCACHE_ASSIGN_OR_RETURN(const Role role, RoleField(body, Role::kViewer));
    SAMCACHE_RETURN_IF_ERROR(accounts.SetRole(who, user.id, role));
  }
  SAMCACHE_ASSIGN_OR_RETURN(const std::optional<UserRecord> changed, app.catalog().FindUser(user.id));
  if (!changed) return Status::NotFound("no user with id '" + user.id + "'");
  return JsonReply(200, UserJson(*changed));
}

Result<Reply> ListProjects(App& app, const Request& req) {
  const Caller& caller = CallerOf(req);
  SAMCACHE_ASSIGN_OR_RETURN(const std::vector<ProjectRecord> projects, app.catalog().ListProjects());
  json list = json::array();
  for (const ProjectRecord& p : projects) {
    if (caller.Sees(p.id)) list.push_back(ProjectJson(p, caller.RoleIn(p.id)));
  }
  return JsonReply(200, json{{"projects", std::move(list)}});
}

Result<Reply> AddProject(Accounts& accounts, const Request& req) {
  SAMCACHE_ASSIGN_OR_RETURN(const json body, ParseJsonObject(req.body, R"({"name": "street scenes"})"));
  SAMCACHE_ASSIGN_OR_RETURN(const std::string name, StringField(body, "name", true));
  SAMCACHE_ASSIGN_OR_RETURN(const ProjectRecord project, accounts.AddProject(CallerOf(req).Who(), name));
  return JsonReply(201, ProjectJson(project, Role::kAdmin));
}

Result<Reply> ListMembers(App& app, Accounts& accounts, const Request& req) {
  SAMCACHE_RETURN_IF_ERROR(CheckId(req.param("id"), "project"));
  SAMCACHE_ASSIGN_OR_RETURN(const ProjectRecord project, accounts.FindProject(req.param("id")));
  SAMCACHE_ASSIGN_OR_RETURN(const std::vector<MembershipRecord> members,
                            app.catalog().ListMemberships("", project.id));
  json list = json::array();
  for (const MembershipRecord& m : members) {
    SAMCACHE_ASSIGN_OR_RETURN(const std::optional<UserRecord> user, app.catalog().FindUser(m.user_id));
    list.push_back(
        {{"user_id", m.user_id}, {"user_name", user ? user->name : ""}, {"role", RoleName(m.role)}});
  }
  return JsonReply(200, json{{"project_id", project.id}, {"members", std::move(list)}});
}

Result<Reply> SetMember(Accounts& accounts, const Request& req) {
  SAMCACHE_RETURN_IF_ERROR(CheckId(req.param("id"), "project"));
  SAMCACHE_ASSIGN_OR_RETURN(const json body, ParseJsonObject(req.body, R"({"role": "annotator"})"));
  SAMCACHE_ASSIGN_OR_RETURN(const Role role, RoleField(body, Role::kAnnotator));
  SAMCACHE_RETURN_IF_ERROR(accounts.SetMember(CallerOf(req).Who(), req.param("id"), req.param("user"), role));
  return JsonReply(
      200, json{{"project_id", req.param("id")}, {"user", req.param("user")}, {"role", RoleName(role)}});
}

}  // namespace

void AddAccountRoutes(RouteTable& routes, const RouteContext& context) {
  App& app = context.app;
  Authenticator* auth = context.authenticator;
  RateLimiter* limiter = context.limiter;
  const bool with_accounts = context.accounts != nullptr;
  routes.push_back({Method::kGet, "/api/sam/me", [&app, with_accounts](const Request& req) -> Result<Reply> {
                      SAMCACHE_ASSIGN_OR_RETURN(const json me, Me(app, req, with_accounts));
                      return JsonReply(200, me);
                    }});
  routes.push_back({Method::kPost, "/api/sam/login",
                    [&app, auth, limiter](const Request& req) { return Login(app, auth, limiter, req); },
                    /*upload=*/false, /*system=*/false, Access::kPublic});
  routes.push_back({Method::kGet, "/login",
                    [auth](const Request& req) -> Result<Reply> { return LoginLink(auth, req); },
                    /*upload=*/false, /*system=*/false, Access::kPublic});
  routes.push_back(
      {Method::kPost, "/api/sam/logout", [auth](const Request& req) { return Logout(auth, req); }});
  routes.push_back(
      {Method::kGet, "/api/sam/projects", [&app](const Request& req) { return ListProjects(app, req); }});
  // Without accounts these routes exist (the API is the same) and answer that there are none.
  static Accounts* const kNone = nullptr;
  Accounts* const accounts_ptr = with_accounts ? context.accounts : kNone;
  auto guarded = [accounts_ptr](std::function<Result<Reply>(Accounts&, const Request&)> inner) -> Handler {
    return [accounts_ptr, inner = std::move(inner)](const Request& req) -> Result<Reply> {
      if (accounts_ptr == nullptr)
        return Status::InvalidArgument("this server has no accounts (--insecure-no-auth)");
      return inner(*accounts_ptr, req);
    };
  };
  auto admin = [&routes, &guarded](Method method, std::string pattern,
                                   std::function<Result<Reply>(Accounts&, const Request&)> handler) {
    routes.push_back({method, std::move(pattern), guarded(std::move(handler)), false, false, Access::kAdmin});
  };
  routes.push_back({Method::kGet, "/api/sam/tokens",
                    guarded([&app](Accounts&, const Request& req) { return ListTokens(app, req); })});
  routes.push_back({Method::kPost, "/api/sam/tokens", guarded([](Accounts& accounts, const Request& req) {
                      return CreateToken(accounts, req);
                    })});
  routes.push_back(
      {Method::kDelete, "/api/sam/token/{id}",
       guarded([&app](Accounts& accounts, const Request& req) { return RevokeToken(app, accounts, req); })});
  admin(Method::kGet, "/api/sam/users", [&app](Accounts&, const Request&) { return ListUsers(app); });
  admin(Method::kPost, "/api/sam/users",
        [](Accounts& accounts, const Request& req) { return AddUser(accounts, req); });
  admin(Method::kPut, "/api/sam/user/{id}",
        [&app](Accounts& accounts, const Request& req) { return ChangeUser(app, accounts, req); });
  admin(Method::kDelete, "/api/sam/user/{id}", [](Accounts& accounts, const Request& req) -> Result<Reply> {
    SAMCACHE_RETURN_IF_ERROR(CheckId(req.param("id"), "user"));
    SAMCACHE_RETURN_IF_ERROR(accounts.RemoveUser(CallerOf(req).Who(), req.param("id")));
    return JsonReply(200, json{{"deleted", req.param("id")}});
  });
  admin(Method::kPost, "/api/sam/projects",
        [](Accounts& accounts, const Request& req) { return AddProject(accounts, req); });
  admin(Method::kDelete, "/api/sam/project/{id}",
        [](Accounts& accounts, const Request& req) -> Result<Reply> {
          SAMCACHE_RETURN_IF_ERROR(CheckId(req.param("id"), "project"));
          SAMCACHE_RETURN_IF_ERROR(accounts.RemoveProject(CallerOf(req).Who(), req.param("id")));
          return JsonReply(200, json{{"deleted", req.param("id")}});
        });
  admin(Method::kGet, "/api/sam/project/{id}/members",
        [&app](Accounts& accounts, const Request& req) { return ListMembers(app, accounts, req); });
  admin(Method::kPut, "/api/sam/project/{id}/members/{user}",
        [](Accounts& accounts, const Request& req) { return SetMember(accounts, req); });
  admin(Method::kDelete, "/api/sam/project/{id}/members/{user}",
        [](Accounts& accounts, const Request& req) -> Result<Reply> {
          SAMCACHE_RETURN_IF_ERROR(CheckId(req.param("id"), "project"));
          SAMCACHE_RETURN_IF_ERROR(
              accounts.RemoveMember(CallerOf(req).Who(), req.param("id"), req.param("user")));
          return JsonReply(200, json{{"removed", req.param("user")}});
        });
}

}  // namespace samcache
