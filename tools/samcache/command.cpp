#include "command.h"

#include <spdlog/spdlog.h>

namespace samcache {

int Fail(const Status& st) {
  spdlog::error("{}", st.message());
  return 1;
}

int ExitCode(const Status& st) { return st.ok() ? 0 : Fail(st); }

sigset_t BlockStopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return signals;
}

}  // namespace samcache
