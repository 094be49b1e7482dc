// Shared helpers for the tests: temporary folders, generated images, and the real samcache
// binary started as a child process.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "image/image_decoder.h"

namespace samcache::testing {

// A fresh folder under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// A deterministic picture: a background gradient with a few coloured shapes. Different
// seeds give different pictures.
DecodedImage MakeScene(int width, int height, int seed);
// MakeScene encoded in a format (".png", ".jpg", ".bmp", ".webp", ".tiff").
std::string MakeImageFile(int width, int height, int seed, const std::string& extension);

// Inserts an EXIF APP1 segment with the given orientation tag (1..8) right after the SOI of
// a JPEG.
std::string WithExifOrientation(const std::string& jpeg, int orientation);

void WriteFile(const std::filesystem::path& path, const std::string& bytes);
std::string ReadFileOrDie(const std::filesystem::path& path);
// Regular files below `dir`, recursively.
std::vector<std::filesystem::path> ListFiles(const std::filesystem::path& dir);

// Among ServerProcess's extra_args: start `serve` with accounts. Without it, `serve` runs with
// --insecure-no-auth (the tests of everything but accounts).
inline const std::string kWithAccounts = "(with accounts)";

// `samcache serve` (or another command that listens, e.g. `worker`) on an ephemeral
// loopback port, with its own data folder. Its combined output goes to a log file next to
// the data folder, which tests can read. Throws std::runtime_error if it does not start.
class ServerProcess {
 public:
  explicit ServerProcess(std::filesystem::path data_dir, std::vector<std::string> extra_args = {},
                         std::string binary = SAMCACHE_BINARY, std::string command = "serve");
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return pid_; }  // -1 once stopped
  const std::filesystem::path& log_path() const { return log_path_; }
  std::string Log() const;
  // How many times `needle` is in the log, e.g. "[ENCODE]": pictures encoded so far (the
  // catalog's saved progress lags by a save interval).
  size_t LogCount(const std::string& needle) const;
  // SIGTERM and wait; returns the exit status (as from waitpid).
  int Stop();
  // SIGKILL and wait: a crash at whatever point the server had reached.
  void Kill();
  // Sends a signal without waiting (SIGSTOP / SIGCONT: a hung process).
  void Signal(int signal);

 private:
  std::filesystem::path log_path_;
  pid_t pid_ = -1;
  int port_ = 0;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};
// Runs the samcache binary with `args` and waits for it.
CommandResult RunSamcache(const std::vector<std::string>& args);
// Runs it, and sends `signal` once `ready()` (polled every 20 ms, for up to a minute) is true.
CommandResult RunSamcacheAndSignal(const std::vector<std::string>& args, const std::function<bool()>& ready,
                                   int signal);

}  // namespace samcache::testing
