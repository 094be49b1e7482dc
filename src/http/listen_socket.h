// The listening socket, opened before the server starts (so Bind can report the port), and
// the small socket facts the transport needs.
#pragma once

#include <sys/socket.h>

#include <string>

#include "common/status.h"

namespace samcache {

struct ListenSocket {
  int fd = -1;
  int port = 0;  // the one bound, also when 0 was asked for
};

// Binds host:port (IPv4 or IPv6, port 0 = any free one) and listens, non-blocking.
Result<ListenSocket> OpenListenSocket(const std::string& host, int port);

// "127.0.0.1" or "::1"; empty for other families.
std::string SocketAddressText(const sockaddr& address);

// Every connection is a file descriptor: raise the soft limit to the hard one.
void RaiseOpenFileLimit();

}  // namespace samcache
