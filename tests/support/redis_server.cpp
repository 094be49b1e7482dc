#include "support/redis_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <thread>
#include <vector>

namespace samcache::testing {
namespace fs = std::filesystem;

namespace {

constexpr const char* kRedisServer = "/usr/bin/redis-server";
constexpr const char* kRedisCli = "/usr/bin/redis-cli";

// A port nothing listens on right now (the kernel's choice for an ephemeral bind).
int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    if (fd >= 0) close(fd);
    throw std::runtime_error("cannot find a free loopback port");
  }
  close(fd);
  return ntohs(address.sin_port);
}

// True when a server on `port` answers PING with +PONG.
bool AnswersPing(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  timeval timeout{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  bool ok = false;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      write(fd, "PING\r\n", 6) == 6) {
    char reply[16] = {};
    ok = read(fd, reply, sizeof reply - 1) >= 5 && std::string(reply).starts_with("+PONG");
  }
  close(fd);
  return ok;
}

}  // namespace

RedisServer::RedisServer(uint64_t max_memory_bytes) : max_memory_bytes_(max_memory_bytes) {
  if (access(kRedisServer, X_OK) != 0) {
    throw std::runtime_error(std::string(kRedisServer) +
                             " is missing: install Debian's redis-server (scripts/setup.sh)");
  }
  port_ = FreeLoopbackPort();
  Start();
}

RedisServer::~RedisServer() { Stop(); }

std::string RedisServer::url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

void RedisServer::Start() {
  if (pid_ > 0) return;
  const fs::path log = dir_ / "redis.log";
  std::vector<std::string> args = {kRedisServer,
                                   "--port",
                                   std::to_string(port_),
                                   "--bind",
                                   "127.0.0.1",
                                   "--dir",
                                   dir_.path().string(),
                                   "--save",
                                   "",
                                   "--appendonly",
                                   "no",
                                   "--daemonize",
                                   "no",
                                   "--maxmemory",
                                   std::to_string(max_memory_bytes_),
                                   "--maxmemory-policy",
                                   "allkeys-lru",
                                   "--logfile",
                                   log.string()};
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  ++starts_;
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("cannot fork redis-server");
  if (pid_ == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test
    const int null = open("/dev/null", O_RDWR);
    dup2(null, STDIN_FILENO);
    dup2(null, STDOUT_FILENO);
    dup2(null, STDERR_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (AnswersPing(port_)) return;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("redis-server exited at start:\n" + Log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Stop();
  throw std::runtime_error("redis-server did not answer on port " + std::to_string(port_) + ":\n" + Log());
}

void RedisServer::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

std::string RedisServer::Cli(const std::vector<std::string>& args) const {
  std::string command = std::string(kRedisCli) + " -h 127.0.0.1 -p " + std::to_string(port_);
  for (const std::string& arg : args) command += " '" + arg + "'";  // tests pass plain words
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("cannot run " + command);
  std::string output;
  char buffer[4096];
  size_t n = 0;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
  pclose(pipe);
  while (!output.empty() && (output.back() == '\n' || output.back() == '\r')) output.pop_back();
  return output;
}

std::string RedisServer::Log() const {
  std::error_code ec;
  if (!fs::exists(dir_ / "redis.log", ec)) return "(no log)";
  return ReadFileOrDie(dir_ / "redis.log");
}

}  // namespace samcache::testing
