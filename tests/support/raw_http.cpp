#include "support/raw_http.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace samcache::testing {
namespace {

using Clock = std::chrono::steady_clock;

// Writes that cannot go on for this long (the server stopped reading) give up.
constexpr auto kSendTimeout = std::chrono::seconds(10);

int MsUntil(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 1 << 30));
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::string RawReply::header(std::string_view name) const {
  const std::string wanted = Lower(name);
  std::istringstream lines(head);
  std::string line;
  std::getline(lines, line);  // the status line
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t colon = line.find(':');
    if (colon == std::string::npos || Lower(line.substr(0, colon)) != wanted) continue;
    const size_t start = line.find_first_not_of(" \t", colon + 1);
    return start == std::string::npos ? std::string() : line.substr(start);
  }
  return {};
}

RawConnection::RawConnection(int port) {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  const int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 && errno != EINPROGRESS) {
    const std::string error = std::strerror(errno);
    close(fd_);
    throw std::runtime_error("connect: " + error);
  }
  pollfd p{fd_, POLLOUT, 0};
  int error = 0;
  socklen_t length = sizeof(error);
  if (poll(&p, 1, 10000) != 1 || getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &length) != 0 || error != 0) {
    close(fd_);
    throw std::runtime_error(std::string("connect: ") + std::strerror(error ? error : ETIMEDOUT));
  }
}

RawConnection::~RawConnection() {
  if (fd_ >= 0) close(fd_);
}

RawConnection::RawConnection(RawConnection&& other) noexcept
    : fd_(other.fd_), closed_(other.closed_), buffer_(std::move(other.buffer_)) {
  other.fd_ = -1;
}

bool RawConnection::Send(std::string_view bytes) {
  const Clock::time_point deadline = Clock::now() + kSendTimeout;
  while (!bytes.empty()) {
    const ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd_, POLLOUT, 0};
      if (poll(&p, 1, MsUntil(deadline)) <= 0 || (p.revents & (POLLERR | POLLHUP))) return false;
      continue;
    }
    return false;  // EPIPE, ECONNRESET: the server closed
  }
  return true;
}

bool RawConnection::Readable(std::chrono::milliseconds wait) const {
  if (!buffer_.empty() || closed_) return true;
  pollfd p{fd_, POLLIN, 0};
  return poll(&p, 1, static_cast<int>(wait.count())) == 1;
}

bool RawConnection::Fill(Clock::time_point deadline) {
  if (closed_) return false;
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, MsUntil(deadline)) != 1) return false;
  char chunk[65536];
  const ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
  if (n > 0) {
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
  closed_ = true;  // 0: an orderly close; an error: a reset
  return false;
}

RawReply RawConnection::ReadHead(std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  RawReply reply;
  size_t end = std::string::npos;
  while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    if (!Fill(deadline)) {
      reply.closed = closed_;
      return reply;
    }
  }
  reply.head = buffer_.substr(0, end);
  buffer_.erase(0, end + 4);
  if (reply.head.rfind("HTTP/1.", 0) == 0 && reply.head.size() >= 12)
    reply.status = std::atoi(reply.head.substr(9, 3).c_str());
  reply.closed = closed_;
  return reply;
}

RawReply RawConnection::ReadReply(std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  RawReply reply = ReadHead(timeout);
  if (reply.status == 0 || reply.status < 200 || reply.status == 204 || reply.status == 304) return reply;
  const std::string length = reply.header("Content-Length");
  if (!length.empty()) {
    const size_t wanted = std::stoul(length);
    while (buffer_.size() < wanted && Fill(deadline)) {
    }
    reply.body = buffer_.substr(0, std::min(wanted, buffer_.size()));
    buffer_.erase(0, reply.body.size());
  } else if (Lower(reply.header("Transfer-Encoding")).find("chunked") != std::string::npos) {
    for (;;) {
      size_t line_end;
      while ((line_end = buffer_.find("\r\n")) == std::string::npos && Fill(deadline)) {
      }
      if (line_end == std::string::npos) break;
      const size_t size = std::stoul(buffer_.substr(0, line_end), nullptr, 16);
      while (buffer_.size() < line_end + 2 + size + 2 && Fill(deadline)) {
      }
      if (buffer_.size() < line_end + 2 + size + 2) break;
      reply.body.append(buffer_, line_end + 2, size);
      buffer_.erase(0, line_end + 2 + size + 2);
      if (size == 0) break;  // no trailers are expected from the server
    }
  } else {
    while (Fill(deadline)) {
    }
    reply.body = std::move(buffer_);
    buffer_.clear();
  }
  reply.closed = closed_;
  return reply;
}

bool RawConnection::WaitForClose(std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  while (!closed_ && Clock::now() < deadline) {
    Fill(deadline);
    buffer_.clear();
  }
  return closed_;
}

RawReply RawExchange(int port, std::string_view request, std::chrono::milliseconds timeout) {
  RawConnection connection(port);
  connection.Send(request);  // a refusal may close before all is sent: the reply still counts
  return connection.ReadReply(timeout);
}

std::string GetRequest(std::string_view path) {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n";
}

pid_t FindChildProcess(std::string_view part) {
  namespace fs = std::filesystem;
  const pid_t self = getpid();
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator("/proc", error)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    std::ifstream stat_file(entry.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
    const size_t paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream fields(stat.substr(paren + 1));
    std::string state;
    pid_t parent = 0;
    fields >> state >> parent;
    if (parent != self) continue;
    std::ifstream cmdline_file(entry.path() / "cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(cmdline_file)), std::istreambuf_iterator<char>());
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.find(part) != std::string::npos) return static_cast<pid_t>(std::stol(name));
  }
  return -1;
}

long ResidentKb(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

long RaiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return -1;
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
  getrlimit(RLIMIT_NOFILE, &limit);
  return static_cast<long>(limit.rlim_cur);
}

}  // namespace samcache::testing
