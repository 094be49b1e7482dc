// samcache: the command-line entry point. It registers the subcommands, parses the command
// line and runs the one named; each subcommand lives in its own <name>_command.cpp.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "command.h"
#include "model/sam_model.h"

int main(int argc, char** argv) {
  using namespace samcache;
  spdlog::set_default_logger(spdlog::stderr_color_mt("samcache"));
  spdlog::set_pattern(kLogPattern);

  CLI::App cli{"samcache: runs the SAM image encoder once per distinct image, ever"};
  cli.require_subcommand(1);
  cli.set_version_flag("--version",
                       std::string("samcache ") + kVersion + " (ONNX Runtime " + OnnxRuntimeVersion() + ")");

  // Braced initialisation runs in order: `samcache --help` lists the commands as added here.
  const std::vector<Command> commands = {
      AddServeCommand(cli),   AddWorkerCommand(cli),  AddIngestCommand(cli), AddEmbedCommand(cli),
      AddPrewarmCommand(cli), AddMigrateCommand(cli), AddStatsCommand(cli),  AddListCommand(cli),
      AddGcCommand(cli),      AddDupesCommand(cli),   AddUserCommand(cli),   AddTokenCommand(cli),
      AddProjectCommand(cli),
  };

  CLI11_PARSE(cli, argc, argv);
  for (const Command& command : commands) {
    if (command.parser->parsed()) return command.run();
  }
  return 1;
}
