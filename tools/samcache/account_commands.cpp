// `samcache user|token|project`: accounts from the command line, on the catalog of a data
// folder (or --db), also while a server runs on it. The rules and the audit lines are
// access/accounts.h's; secrets are printed once, on stdout alone, so a script can take them.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "access/accounts.h"
#include "access/authenticator.h"
#include "app/app.h"
#include "app_options.h"
#include "catalog/access_names.h"
#include "catalog/catalog.h"
#include "command.h"

namespace samcache {
namespace {

struct AccountArgs {
  CommonOptions common;
  std::string name;
  std::string user;
  std::string project;
  std::string role;
  std::string id;
  std::string url = "http://127.0.0.1:3000";
  bool password_stdin = false;
  int expires_days = 0;
};

// Who the audit log names for a change made here.
std::string CommandLineUser() {
  const char* user = std::getenv("USER");
  return std::string("cli:") + (user != nullptr ? user : std::to_string(getuid()));
}

Result<Role> ParsedRole(const std::string& name, Role fallback) {
  if (name.empty()) return fallback;
  std::optional<Role> role = ParseRole(name);
  if (!role) return Status::InvalidArgument("--role must be viewer, annotator or admin");
  return *role;
}

Result<std::string> PasswordFromStdin() {
  std::string password;
  std::getline(std::cin, password);
  if (!password.empty() && password.back() == '\r') password.pop_back();
  return password;
}

// Runs `work` with the accounts of the data folder's catalog.
int WithAccounts(const CommonOptions& common, const std::function<Status(Accounts&, Catalog&)>& work) {
  auto app = OpenApp(common);
  if (!app.ok()) return Fail(app.status());
  Authenticator authenticator((*app)->catalog());
  Accounts accounts((*app)->catalog(), authenticator);
  return ExitCode(work(accounts, (*app)->catalog()));
}

CLI::App* Sub(CLI::App* parent, const std::string& name, const std::string& help, AccountArgs& args) {
  CLI::App* sub = parent->add_subcommand(name, help);
  AddCommonOptions(sub, args.common);
  return sub;
}

void AddUserCommands(CLI::App* user, std::shared_ptr<AccountArgs> args,
                     std::vector<std::pair<CLI::App*, std::function<int()>>>& runs) {
  AccountArgs& a = *args;
  CLI::App* add = Sub(user, "add", "Add a user", a);
  add->add_option("name", a.name, "User name (letters, digits, . _ @ -)")->required();
  add->add_option("--role", a.role, "admin, annotator or viewer (default annotator)");
  add->add_flag("--password-stdin", a.password_stdin, "Read a password for the page's login from stdin");
  runs.emplace_back(add, [args] {
    return WithAccounts(args->common, [&](Accounts& accounts, Catalog&) -> Status {
      SAMCACHE_ASSIGN_OR_RETURN(const Role role, ParsedRole(args->role, Role::kAnnotator));
      std::string password;
      if (args->password_stdin) {
        SAMCACHE_ASSIGN_OR_RETURN(password, PasswordFromStdin());
      }
      SAMCACHE_ASSIGN_OR_RETURN(const UserRecord u,
                                accounts.AddUser(CommandLineUser(), args->name, role, password));
      std::fprintf(stderr, "added user %s (%s), id %s\n", u.name.c_str(),
                   std::string(RoleName(u.role)).c_str(), u.id.c_str());
      return Status::Ok();
    });
  });

  CLI::App* list = Sub(user, "list", "List the users", a);
  runs.emplace_back(list, [args] {
    return WithAccounts(args->common, [](Accounts&, Catalog& catalog) -> Status {
      SAMCACHE_ASSIGN_OR_RETURN(const std::vector<UserRecord> users, catalog.ListUsers());
      for (const UserRecord& u : users) {
        std::printf("%s  %-24s %-9s %s%s\n", u.id.c_str(), u.name.c_str(),
                    std::string(RoleName(u.role)).c_str(), u.created_at.c_str(),
                    u.password_hash.empty() ? "" : "  (password)");
      }
      return Status::Ok();
    });
  });

  CLI::App* remove = Sub(user, "remove", "Remove a user with its tokens and memberships", a);
  remove->add_option("user", a.user, "User name or id")->required();
  runs.emplace_back(remove, [args] {
    return WithAccounts(args->common, [&](Accounts& accounts, Catalog&) {
      return accounts.RemoveUser(CommandLineUser(), args->user);
    });
  });

  CLI::App* password = Sub(user, "password", "Set a user's password for the page (read from stdin)", a);
  password->add_option("user", a.user, "User name or id")->required();
  runs.emplace_back(password, [args] {
    return WithAccounts(args->common, [&](Accounts& accounts, Catalog&) -> Status {
      SAMCACHE_ASSIGN_OR_RETURN(const std::string secret, PasswordFromStdin());
      return accounts.SetPassword(CommandLineUser(), args->user, secret);
    });
  });

  CLI::App* link =
      Sub(user, "login-link", "Print a one-time link that logs the user in to the page (24 h)", a);
  link->add_option("user", a.user, "User name or id")->required();
  link->add_option("--url", a.url, "The server's address as the browser reaches it")->capture_default_str();
  runs.emplace_back(link, [args] {
    return WithAccounts(args->common, [&](Accounts& accounts, Catalog&) -> Status {
      SAMCACHE_ASSIGN_OR_RETURN(const IssuedToken issued,
                                accounts.CreateLoginLink(CommandLineUser(), args->user));
      std::string base = args->url;
      while (!base.empty() && base.back() == '/') base.pop_back();
      std::printf("%s/login?token=%s\n", base.c_str(), issued.secret.c_str());
      return Status::Ok();
    });
  });
}

void AddTokenCommands(CLI::App* token, std::shared_ptr<AccountArgs> args,
                      std::vector<std::pair<CLI::App*, std::function<int()>>>& runs) {
  AccountArgs& a = *args;
  CLI::App* create = Sub(token, "create", "Create an API token; prints its secret once, on stdout", a);
  create->add_option("--user", a.user, "Whose token (name or id)")->required();
  create->add_option("--name", a.name, "What it is for (e.g. the machine)")->default_val("api");
  create->add_option("--expires-days", a.expires_days, "Days until it expires (0: never)")
      ->capture_default_str()
      ->check(CLI::Range(0, 3650));
  runs.emplace_back(create, [args] {
    return WithAccounts(args->common, [&](Accounts& accounts, Catalog&) -> Status {
      SAMCACHE_ASSIGN_OR_RETURN(const IssuedToken issued,
                                accounts.CreateToken(CommandLineUser(), args->user, args->name,
                                                     std::chrono::hours(24 * args->expires_days)));
      std::fprintf(stderr, "token %s '%s' created; it is shown once:\n", issued.record.id.c_str(),
                   issued.record.name.c_str());
      std::printf("%s\n", issued.secret.c_str());
      return Status::Ok();
    });
  });

  CLI::App* list = Sub(token, "list", "List API tokens (never their secrets)", a);
  list->add_option("--user", a.user, "Only this user's (name or id)");
  runs.emplace_back(list, [args] {
    return WithAccounts(args->common, [&](Accounts& accounts, Catalog& catalog) -> Status {
      std::string user_id;
      if (!args->user.empty()) {
        SAMCACHE_ASSIGN_OR_RETURN(const UserRecord u, accounts.FindUser(args->user));
        user_id = u.id;
      }
      SAMCACHE_ASSIGN_OR_RETURN(const std::vector<TokenRecord> tokens,
                                catalog.ListTokens(user_id, TokenKind::kApi));
      for (const TokenRecord& t : tokens) {
        std::printf("%s  %-20s user %s  created %s  last used %s%s%s\n", t.id.c_str(), t.name.c_str(),
                    t.user_id.c_str(), t.created_at.c_str(),
                    t.last_used_at.empty() ? "never" : t.last_used_at.c_str(),
                    t.expires_at.empty() ? "" : ("  expires " + t.expires_at).c_str(),
                    t.revoked_at.empty() ? "" : "  REVOKED");
      }
      return Status::Ok();
    });
  });

  CLI::App* revoke = Sub(token, "revoke", "Revoke a token: refused by every instance within a second", a);
  revoke->add_option("id", a.id, "The token's id (samcache token list)")->required();
  runs.emplace_back(revoke, [args] {
    return WithAccounts(args->common, [&](Accounts& accounts, Catalog&) {
      return accounts.RevokeToken(CommandLineUser(), args->id);
    });
  });
}

void AddProjectCommands(CLI::App* project, std::shared_ptr<AccountArgs> args,
                        std::vector<std::pair<CLI::App*, std::function<int()>>>& runs) {
  AccountArgs& a = *args;
  CLI::App* add = Sub(project, "add", "Add a project", a);
  add->add_option("name", a.name, "Project name")->required();
  runs.emplace_back(add, [args] {
    return WithAccounts(args->common, [&](Accounts& accounts, Catalog&) -> Status {
      SAMCACHE_ASSIGN_OR_RETURN(const ProjectRecord p, accounts.AddProject(CommandLineUser(), args->name));
      std::printf("%s\n", p.id.c_str());
      return Status::Ok();
    });
  });
  CLI::App* list = Sub(project, "list", "List the projects", a);
  runs.emplace_back(list, [args] {
    return WithAccounts(args->common, [](Accounts&, Catalog& catalog) -> Status {
      SAMCACHE_ASSIGN_OR_RETURN(const std::vector<ProjectRecord> projects, catalog.ListProjects());
      for (const ProjectRecord& p : projects) std::printf("%s  %s\n", p.id.c_str(), p.name.c_str());
      return Status::Ok();
    });
  });
  CLI::App* remove = Sub(project, "remove", "Remove an empty project", a);
  remove->add_option("project", a.project, "Project name or id")->required();
  runs.emplace_back(remove, [args] {
    return WithAccounts(args->common, [&](Accounts& accounts, Catalog&) {
      return accounts.RemoveProject(CommandLineUser(), args->project);
    });
  });
  CLI::App* grant = Sub(project, "grant", "Make a user a member of a project (or change its role)", a);
  grant->add_option("project", a.project, "Project name or id")->required();
  grant->add_option("user", a.user, "User name or id")->required();
  grant->add_option("--role", a.role, "annotator or viewer (default: the user's own role)");
  runs.emplace_back(grant, [args] {
    return WithAccounts(args->common, [&](Accounts& accounts, Catalog&) -> Status {
      std::optional<Role> role;
      if (!args->role.empty()) {
        SAMCACHE_ASSIGN_OR_RETURN(role, ParsedRole(args->role, Role::kViewer));
      }
      return accounts.SetMember(CommandLineUser(), args->project, args->user, role);
    });
  });
  CLI::App* ungrant = Sub(project, "remove-member", "Take a user out of a project", a);
  ungrant->add_option("project", a.project, "Project name or id")->required();
  ungrant->add_option("user", a.user, "User name or id")->required();
  runs.emplace_back(ungrant, [args] {
    return WithAccounts(args->common, [&](Accounts& accounts, Catalog&) {
      return accounts.RemoveMember(CommandLineUser(), args->project, args->user);
    });
  });
}

// One top-level command whose run is that of the sub-subcommand the line named.
Command Group(CLI::App& cli, const std::string& name, const std::string& help,
              void (*add)(CLI::App*, std::shared_ptr<AccountArgs>,
                          std::vector<std::pair<CLI::App*, std::function<int()>>>&)) {
  auto args = std::make_shared<AccountArgs>();
  auto runs = std::make_shared<std::vector<std::pair<CLI::App*, std::function<int()>>>>();
  CLI::App* group = cli.add_subcommand(name, help);
  group->require_subcommand(1);
  add(group, args, *runs);
  return {group, [runs] {
            for (const auto& [parser, run] : *runs) {
              if (parser->parsed()) return run();
            }
            return 1;
          }};
}

}  // namespace

Command AddUserCommand(CLI::App& cli) {
  return Group(cli, "user", "Users: add, list, remove, password, login-link", AddUserCommands);
}
Command AddTokenCommand(CLI::App& cli) {
  return Group(cli, "token", "API tokens: create, list, revoke", AddTokenCommands);
}
Command AddProjectCommand(CLI::App& cli) {
  return Group(cli, "project", "Projects: add, list, remove, grant, remove-member", AddProjectCommands);
}

}  // namespace samcache
