// A route's answer, whatever carries it: status, headers and a body that is either whole or
// produced piece by piece (the prewarm event stream, the COCO export). The transport adapter writes it out.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace samcache {

// Where a streamed body goes.
class ReplySink {
 public:
  virtual ~ReplySink() = default;
  // False once the client has gone.
  virtual bool Writable() const = 0;
  // False when the bytes could not be sent.
  virtual bool Write(std::string_view bytes) = 0;
  // The body is complete.
  virtual void Done() = 0;
  // Bytes written and not yet taken by the client: a step producing a large body (the COCO
  // export) writes while this is small, and stops for the client to catch up.
  virtual size_t Buffered() const { return 0; }
};

// One step of a streamed body: the transport's stream pump calls it a few times a second
// until it calls Done on the sink, or returns false to cut the connection. A step writes
// what is new and returns at once: one thread steps every open stream, so it must not wait.
using ReplyStream = std::function<bool(ReplySink& sink)>;

struct Reply {
  int status = 200;
  std::string content_type;  // with neither body nor content type, no body at all (a 304)
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  ReplyStream stream;  // when set, the body instead of `body`

  Reply& Header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

}  // namespace samcache
