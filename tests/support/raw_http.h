// A raw-socket HTTP/1.1 client over loopback for the abuse tests and the edge bench: it sends
// any bytes (malformed headers, dripped bytes, bodies that never come) and reads what the
// server answers, with a timeout, without trusting the server to be well behaved.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <string_view>

namespace samcache::testing {

// One reply as read from the wire: status 0 when none came before the timeout or the close.
struct RawReply {
  int status = 0;
  std::string head;  // status line and headers, without the blank line
  std::string body;
  bool closed = false;  // the server closed the connection (read() returned 0 or a reset)

  // The value of a header (case-insensitive name); empty when missing.
  std::string header(std::string_view name) const;
};

class RawConnection {
 public:
  // Connects to 127.0.0.1:port; throws std::runtime_error when the connection is refused.
  explicit RawConnection(int port);
  ~RawConnection();
  RawConnection(RawConnection&& other) noexcept;
  RawConnection& operator=(RawConnection&& other) = delete;
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  // Writes all of `bytes`; false when the server closed or reset the connection first.
  bool Send(std::string_view bytes);
  // True when the server has sent something or closed, within `wait` (a poll for reading).
  bool Readable(std::chrono::milliseconds wait = std::chrono::milliseconds(0)) const;
  // Reads one reply (headers, then a Content-Length, chunked or until-close body). Interim
  // 1xx replies are returned as they are, so a test can see a 100 Continue.
  RawReply ReadReply(std::chrono::milliseconds timeout);
  // Reads the status line and headers only (an event stream's start).
  RawReply ReadHead(std::chrono::milliseconds timeout);
  // Reads and discards until the server closes; true when it did within `timeout`.
  bool WaitForClose(std::chrono::milliseconds timeout);
  // Bytes received but not yet consumed by ReadReply / ReadHead.
  const std::string& pending() const { return buffer_; }
  int fd() const { return fd_; }

 private:
  // Reads what is there into buffer_, waiting at most until `deadline`; false on close/timeout.
  bool Fill(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  bool closed_ = false;
  std::string buffer_;
};

// Sends `request` on a new connection and reads one reply.
RawReply RawExchange(int port, std::string_view request,
                     std::chrono::milliseconds timeout = std::chrono::seconds(10));

// A GET of `path` as a browser sends it, keep-alive.
std::string GetRequest(std::string_view path);

// The pid of a child of this process whose command line contains `part` (the server started
// by ServerProcess, found by its data folder); -1 when there is none.
pid_t FindChildProcess(std::string_view part);
// VmRSS of a process in KiB, from /proc/<pid>/status; -1 when it cannot be read.
long ResidentKb(pid_t pid);
// Raises this process's open-file limit to its hard limit; returns the new soft limit.
long RaiseOpenFileLimit();

}  // namespace samcache::testing
