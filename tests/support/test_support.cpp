#include "support/test_support.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <opencv2/imgproc.hpp>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace samcache::testing {
namespace fs = std::filesystem;

TempDir::TempDir() {
  std::string pattern = (fs::temp_directory_path() / "samcache-test-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

DecodedImage MakeScene(int width, int height, int seed) {
  cv::Mat rgb(height, width, CV_8UC3);
  for (int y = 0; y < height; ++y) {
    auto* row = rgb.ptr<cv::Vec3b>(y);
    for (int x = 0; x < width; ++x) {
      row[x] = cv::Vec3b(static_cast<uchar>((x * 255 / std::max(1, width - 1) + seed * 37) % 256),
                         static_cast<uchar>((y * 255 / std::max(1, height - 1) + seed * 91) % 256),
                         static_cast<uchar>((seed * 53) % 256));
    }
  }
  const int s = std::min(width, height);
  cv::circle(rgb, {width / 3, height / 2}, std::max(2, s / 5), cv::Scalar((seed * 71) % 256, 200, 40),
             cv::FILLED);
  cv::rectangle(rgb, {width / 2 + s / 10, height / 5}, {width / 2 + s / 3, height / 5 + s / 4},
                cv::Scalar(30, (seed * 29) % 256, 220), cv::FILLED);
  DecodedImage out;
  out.width = static_cast<uint32_t>(width);
  out.height = static_cast<uint32_t>(height);
  out.rgb.assign(reinterpret_cast<const char*>(rgb.data), rgb.total() * 3);
  return out;
}

std::string MakeImageFile(int width, int height, int seed, const std::string& extension) {
  Result<std::string> bytes = EncodeImage(MakeScene(width, height, seed), extension);
  if (!bytes.ok()) throw std::runtime_error(bytes.status().message());
  return *bytes;
}

std::string WithExifOrientation(const std::string& jpeg, int orientation) {
  // Little-endian TIFF header, one IFD with one entry: Orientation (0x0112), SHORT, 1.
  const unsigned char tiff[] = {'I',  'I',  0x2A, 0, 8, 0, 0, 0,  // header, IFD at 8
                                1,    0,                          // one entry
                                0x12, 0x01, 3,    0, 1, 0, 0, 0, static_cast<unsigned char>(orientation),
                                0,    0,    0,    0, 0, 0, 0};  // no next IFD
  std::string payload =
      std::string("Exif\0\0", 6) + std::string(reinterpret_cast<const char*>(tiff), sizeof tiff);
  const size_t length = payload.size() + 2;
  std::string segment = {static_cast<char>(0xFF), static_cast<char>(0xE1), static_cast<char>(length >> 8),
                         static_cast<char>(length & 0xFF)};
  segment += payload;
  return jpeg.substr(0, 2) + segment + jpeg.substr(2);
}

void WriteFile(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string ReadFileOrDie(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<fs::path> ListFiles(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out.push_back(e.path());
  }
  return out;
}

namespace {

pid_t Spawn(const std::vector<std::string>& args, const fs::path& output) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

}  // namespace

ServerProcess::ServerProcess(fs::path data_dir, std::vector<std::string> extra_args, std::string binary,
                             std::string command) {
  fs::create_directories(data_dir);
  // A new log file per start: a restarted server must not be mistaken for the last one.
  static std::atomic<int> starts{0};
  log_path_ = data_dir.parent_path() /
              (data_dir.filename().string() + "-server-" + std::to_string(++starts) + ".log");
  std::vector<std::string> args = {binary,   command,     "--port", "0",
                                   "--host", "127.0.0.1", "--data", data_dir.string()};
  // Most tests are about something else than accounts: they run without, unless they ask.
  const auto accounts = std::find(extra_args.begin(), extra_args.end(), kWithAccounts);
  if (accounts != extra_args.end()) {
    extra_args.erase(accounts);
  } else if (command == "serve") {
    args.push_back("--insecure-no-auth");
  }
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  // The child truncates it, but maybe after the first look below: a log left by an earlier
  // process with this data folder would name its port.
  std::error_code ignored;
  fs::remove(log_path_, ignored);
  pid_ = Spawn(args, log_path_);
  const std::regex listening(R"(listening on http://127\.0\.0\.1:(\d+))");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    std::smatch m;
    const std::string log = Log();
    if (std::regex_search(log, m, listening)) {
      port_ = std::stoi(m[1]);
      return;
    }
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("samcache " + command + " exited early:\n" + log);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error("samcache " + command + " did not start:\n" + Log());
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

std::string ServerProcess::Log() const {
  std::ifstream in(log_path_, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t ServerProcess::LogCount(const std::string& needle) const {
  const std::string log = Log();
  size_t n = 0;
  for (size_t at = log.find(needle); at != std::string::npos; at = log.find(needle, at + needle.size())) ++n;
  return n;
}

int ServerProcess::Stop() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

void ServerProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void ServerProcess::Signal(int signal) {
  if (pid_ > 0) kill(pid_, signal);
}

CommandResult RunSamcache(const std::vector<std::string>& args) {
  return RunSamcacheAndSignal(args, nullptr, 0);
}

CommandResult RunSamcacheAndSignal(const std::vector<std::string>& args, const std::function<bool()>& ready,
                                   int signal) {
  TempDir tmp;
  std::vector<std::string> full = {SAMCACHE_BINARY};
  full.insert(full.end(), args.begin(), args.end());
  const fs::path out = tmp / "output.txt";
  pid_t pid = Spawn(full, out);
  int status = 0;
  bool reaped = false;
  for (int i = 0; ready && i < 3000; ++i) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      reaped = true;
      break;
    }
    if (ready()) {
      kill(pid, signal);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!reaped) waitpid(pid, &status, 0);
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.output = ReadFileOrDie(out);
  return r;
}

}  // namespace samcache::testing
