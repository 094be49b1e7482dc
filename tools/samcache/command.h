// The subcommands of the `samcache` binary. Each lives in its own file (<name>_command.cpp):
// its Add*Command function adds the subcommand and its options to the parser, and returns
// what to run when the command line names it. main.cpp only registers, parses and dispatches.
#pragma once

#include <signal.h>

#include <functional>

#include "common/status.h"

namespace CLI {
class App;
}  // namespace CLI

namespace samcache {

inline constexpr const char* kVersion = "0.1.0";
inline constexpr const char* kLogPattern = "[%Y-%m-%d %H:%M:%S.%e] [%^%l%$] %v";

// One subcommand: its entry in the parser, and its work once the parser has chosen it.
struct Command {
  CLI::App* parser = nullptr;  // owned by the top-level CLI::App
  std::function<int()> run;    // returns the process exit code; errors are logged
};

// In the order `samcache --help` lists them.
Command AddServeCommand(CLI::App& cli);
Command AddWorkerCommand(CLI::App& cli);
Command AddIngestCommand(CLI::App& cli);
Command AddEmbedCommand(CLI::App& cli);
Command AddPrewarmCommand(CLI::App& cli);
Command AddMigrateCommand(CLI::App& cli);
Command AddStatsCommand(CLI::App& cli);
Command AddListCommand(CLI::App& cli);
Command AddGcCommand(CLI::App& cli);
Command AddDupesCommand(CLI::App& cli);
Command AddUserCommand(CLI::App& cli);  // account_commands.cpp, with token and project
Command AddTokenCommand(CLI::App& cli);
Command AddProjectCommand(CLI::App& cli);

// Logs the error and returns the exit code 1.
int Fail(const Status& st);
// 0 when ok, else Fail(st).
int ExitCode(const Status& st);

// SIGINT and SIGTERM are taken by one thread with sigwait, so the process stops cleanly;
// call before any thread starts, so that every thread inherits the mask.
sigset_t BlockStopSignals();

}  // namespace samcache
