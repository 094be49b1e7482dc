// The transport: libmicrohttpd, and the only file that knows it. Its network threads (epoll)
// read every request and write every reply, so an idle, slow or streaming connection costs
// no worker; a handler runs on the bounded worker pool while its connection is suspended.
// Limits hold while reading: headers and bodies have deadlines (http/connection_watch.h), a
// body over its cap gets 413 as soon as it is known to be (from Content-Length, or while a
// chunked body passes the cap), and an upload's files stream to disk (http/upload_spool.h).
#include <microhttpd.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>

#include "common/thread_pool.h"
#include "http/access_gate.h"
#include "http/connection_watch.h"
#include "http/ids.h"
#include "http/json_reply.h"
#include "http/listen_socket.h"
#include "http/route.h"
#include "http/route_match.h"
#include "http/server.h"
#include "http/stream_pump.h"
#include "http/upload_spool.h"

namespace samcache {
namespace {

constexpr size_t kPostBufferBytes = 16 * 1024;   // a part's header must fit: a 10 KB filename does
constexpr size_t kConnectionMemory = 64 * 1024;  // request line and headers
constexpr size_t kStreamBacklogBytes = 1 << 20;  // an event stream's client that stops reading
// Below this, a stream's buffer asks the pump for more (StreamPump::Nudge): large bodies flow.
constexpr size_t kStreamLowWaterBytes = 64 * 1024;
constexpr auto kStreamPeriod = std::chrono::milliseconds(250);
// How far past its limit a body is still read (and dropped) so the client can read the 413.
constexpr uint64_t kDrainBytes = 4 << 20;

// The reply to one request, sent from the network thread when the worker is done.
struct Exchange {
  enum class Phase { kStart, kBody, kWorking, kReplied };

  Phase phase = Phase::kStart;
  MHD_Connection* connection = nullptr;
  Request request;
  const Route* route = nullptr;
  size_t body_limit = 0;
  uint64_t body_bytes = 0;
  bool discard_body = false;     // a reply is queued already, or the body is not wanted
  std::optional<Reply> refusal;  // the answer once the dropped body has ended
  std::unique_ptr<UploadSpool> spool;
  MHD_PostProcessor* post = nullptr;
  std::mutex mutex;
  std::optional<Reply> reply;  // from the worker

  ~Exchange() {
    if (post != nullptr) MHD_destroy_post_processor(post);
  }
};

// Whether the peer has hung up; valid while the connection is suspended (MHD does not close
// a suspended connection, so the socket is still ours to look at).
bool PeerGone(int fd) {
  pollfd p{fd, POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

// A streamed reply's output: the pump writes into `pending`; the network thread takes from
// it when the socket can take more, and the connection sleeps (suspended) while it is empty.
class MhdStreamOutput final : public StreamOutput {
 public:
  MhdStreamOutput(MHD_Connection* connection, int fd, StreamPump& pump)
      : connection_(connection), fd_(fd), pump_(pump) {}

  // While the connection sleeps its socket is ours to look at: a client that left frees its
  // stream now, not at the next keep-alive write.
  bool Writable() const override {
    std::lock_guard lock(mutex_);
    if (closed_ || aborted_) return false;
    return !(suspended_ && fd_ >= 0 && PeerGone(fd_));
  }
  bool Write(std::string_view bytes) override {
    std::lock_guard lock(mutex_);
    if (closed_ || aborted_) return false;
    // Checked before adding: one write may be larger than the backlog (a big annotation).
    if (pending_.size() - taken_ > kStreamBacklogBytes) {
      aborted_ = true;  // the client stopped reading: do not buffer for it forever
      WakeLocked();
      return false;
    }
    pending_.append(bytes);
    WakeLocked();
    return true;
  }
  void Done() override {
    std::lock_guard lock(mutex_);
    done_ = true;
    WakeLocked();
  }
  size_t Buffered() const override {
    std::lock_guard lock(mutex_);
    return pending_.size() - taken_;
  }
  bool Finished() const override {
    std::lock_guard lock(mutex_);
    return done_ || aborted_ || closed_;
  }
  void Abort() override {
    std::lock_guard lock(mutex_);
    aborted_ = true;
    WakeLocked();
  }

  // MHD's content reader, on the network thread.
  ssize_t Read(char* buffer, size_t max) {
    std::unique_lock lock(mutex_);
    if (taken_ < pending_.size()) {
      const size_t before = pending_.size() - taken_;
      const size_t n = std::min(max, before);
      std::copy_n(pending_.data() + taken_, n, buffer);
      taken_ += n;
      // Taken from the front without moving the rest each time: compacted once half is read.
      if (taken_ == pending_.size()) {
        pending_.clear();
        taken_ = 0;
      } else if (taken_ >= kStreamLowWaterBytes && 2 * taken_ >= pending_.size()) {
        pending_.erase(0, taken_);
        taken_ = 0;
      }
      const bool wants_more = before >= kStreamLowWaterBytes && before - n < kStreamLowWaterBytes && !done_;
      lock.unlock();  // the pump's lock is never taken under an output's (Stop aborts under its own)
      if (wants_more) pump_.Nudge(this);
      return static_cast<ssize_t>(n);
    }
    if (aborted_) return MHD_CONTENT_READER_END_WITH_ERROR;
    if (done_) return MHD_CONTENT_READER_END_OF_STREAM;
    suspended_ = true;
    MHD_suspend_connection(connection_);
    return 0;
  }
  // The response is gone with its connection.
  void Close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }

 private:
  void WakeLocked() {
    if (!suspended_) return;
    suspended_ = false;
    MHD_resume_connection(connection_);  // a suspended connection cannot close: still valid
  }

  MHD_Connection* const connection_;
  const int fd_;
  StreamPump& pump_;
  mutable std::mutex mutex_;
  std::string pending_;
  size_t taken_ = 0;  // bytes at the front of pending_ already sent
  bool done_ = false;
  bool aborted_ = false;
  bool closed_ = false;
  bool suspended_ = false;
};

std::string PeerAddress(MHD_Connection* connection) {
  const MHD_ConnectionInfo* info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (info == nullptr || info->client_addr == nullptr) return {};
  return SocketAddressText(*info->client_addr);
}

int SocketOf(MHD_Connection* connection) {
  const MHD_ConnectionInfo* info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
  return info == nullptr ? -1 : info->connect_fd;
}

MHD_Result CollectHeader(void* cls, MHD_ValueKind, const char* key, size_t key_size, const char* value,
                         size_t value_size) {
  auto* request = static_cast<Request*>(cls);
  request->headers.emplace(std::string(key, key_size),
                           value == nullptr ? "" : std::string(value, value_size));
  return MHD_YES;
}

MHD_Result CollectQuery(void* cls, MHD_ValueKind, const char* key, size_t key_size, const char* value,
                        size_t value_size) {
  auto* request = static_cast<Request*>(cls);
  request->query.emplace(std::string(key, key_size), value == nullptr ? "" : std::string(value, value_size));
  return MHD_YES;
}

// On every answer, whatever route or refusal made it: nothing here may be framed, sniffed
// into another type, loaded by another origin's page, or leak its URL (a login link) onward.
void AddSecurityHeaders(MHD_Response* response) {
  MHD_add_response_header(response, "X-Content-Type-Options", "nosniff");
  MHD_add_response_header(response, "X-Frame-Options", "DENY");
  MHD_add_response_header(response, "Content-Security-Policy", kContentSecurityPolicy);
  MHD_add_response_header(response, "Referrer-Policy", "no-referrer");
  MHD_add_response_header(response, "Cross-Origin-Resource-Policy", "same-origin");
}

MHD_Response* ToResponse(Reply& reply) {
  MHD_Response* response = nullptr;
  if (!reply.body.empty()) {
    auto* body = new std::string(std::move(reply.body));
    response = MHD_create_response_from_buffer_with_free_callback_cls(
        body->size(), body->data(), [](void* cls) { delete static_cast<std::string*>(cls); }, body);
  } else {
    response = MHD_create_response_from_buffer(0, nullptr, MHD_RESPMEM_PERSISTENT);
  }
  if (!reply.content_type.empty())
    MHD_add_response_header(response, "Content-Type", reply.content_type.c_str());
  for (const auto& [name, value] : reply.headers)
    MHD_add_response_header(response, name.c_str(), value.c_str());
  AddSecurityHeaders(response);
  return response;
}

}  // namespace

struct HttpServer::Impl {
  Impl(App& app, ServerOptions options)
      : app(app),
        options(std::move(options)),
        access(MakeServerAccess(app, this->options)),
        routes(BuildRoutes(RouteContext{app, this->options, stopping, [this] { return Stats(); },
                                        *access.gate, access.authenticator.get(), access.accounts.get(),
                                        access.limiter.get()})),
        matcher(routes),
        workers(static_cast<size_t>(std::max(1, this->options.threads))),
        system(1),
        pump(kStreamPeriod, static_cast<size_t>(std::max(1, this->options.max_event_streams))),
        watch(ConnectionDeadlines{std::chrono::seconds(this->options.header_timeout_seconds),
                                  std::chrono::seconds(this->options.idle_timeout_seconds),
                                  std::chrono::seconds(this->options.body_timeout_seconds)}) {}

  // MHD's callbacks.
  static MHD_Result OnRequest(void* cls, MHD_Connection* connection, const char* url, const char* method,
                              const char* version, const char* upload_data, size_t* upload_data_size,
                              void** con_cls);
  static void* OnRequestLine(void* cls, const char* uri, MHD_Connection* connection);
  static void OnCompleted(void* cls, MHD_Connection* connection, void** con_cls, MHD_RequestTerminationCode);
  static void OnConnection(void* cls, MHD_Connection* connection, void** socket_context,
                           MHD_ConnectionNotificationCode code);
  static MHD_Result OnPostData(void* cls, MHD_ValueKind kind, const char* key, const char* filename,
                               const char* content_type, const char* transfer_encoding, const char* data,
                               uint64_t off, size_t size);

  MHD_Result Step(Exchange& ex, MHD_Connection* connection, const char* url, const char* method,
                  const char* upload_data, size_t* upload_data_size);
  MHD_Result Start(Exchange& ex, MHD_Connection* connection, const char* url, const char* method);
  MHD_Result Receive(Exchange& ex, const char* data, size_t size);
  MHD_Result Dispatch(Exchange& ex);
  MHD_Result Answer(Exchange& ex, Reply reply);
  MHD_Result Refuse(Exchange& ex, int status, const std::string& message);
  std::string TooLargeMessage(const Exchange& ex) const {
    return ex.route->upload ? "the upload is larger than the server's limit of " +
                                  std::to_string(options.max_upload_bytes >> 20) +
                                  " MiB; send fewer or smaller files per request"
                            : "the request body is larger than the server's limit of " +
                                  std::to_string(options.max_json_bytes >> 10) + " KiB";
  }
  Reply TooLarge(const Exchange& ex) const {
    Reply reply = ErrorReply(413, TooLargeMessage(ex));
    reply.Header("Connection", "close");
    return reply;
  }
  Reply RunHandler(const Exchange& ex);
  TransportStats Stats() const {
    return TransportStats{watch.open_connections(), pump.open_streams(), static_cast<size_t>(queued.load()),
                          watch.closed_by_deadline()};
  }

  App& app;
  ServerOptions options;
  std::atomic<bool> stopping{false};
  ServerAccess access;  // before the routes, which keep pointers into it
  RouteTable routes;
  RouteMatcher matcher;
  ThreadPool workers;
  ThreadPool system;  // /healthz and /metrics
  std::atomic<int> queued{0};
  StreamPump pump;
  ConnectionWatch watch;
  int listen_fd = -1;
  MHD_Daemon* daemon = nullptr;
  std::mutex stop_mutex;
  std::condition_variable stop_cv;
  bool stop_requested = false;
};

void* HttpServer::Impl::OnRequestLine(void* cls, const char*, MHD_Connection* connection) {
  static_cast<Impl*>(cls)->watch.RequestStarted(connection);
  auto* ex = new Exchange;
  ex->connection = connection;
  return ex;
}

void HttpServer::Impl::OnCompleted(void* cls, MHD_Connection* connection, void** con_cls,
                                   MHD_RequestTerminationCode) {
  static_cast<Impl*>(cls)->watch.Idle(connection);
  delete static_cast<Exchange*>(*con_cls);
  *con_cls = nullptr;
}

void HttpServer::Impl::OnConnection(void* cls, MHD_Connection* connection, void**,
                                    MHD_ConnectionNotificationCode code) {
  Impl& impl = *static_cast<Impl*>(cls);
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    impl.watch.Opened(connection, SocketOf(connection));
  } else {
    impl.watch.Closed(connection);
  }
}

MHD_Result HttpServer::Impl::OnRequest(void* cls, MHD_Connection* connection, const char* url,
                                       const char* method, const char*, const char* upload_data,
                                       size_t* upload_data_size, void** con_cls) {
  auto* ex = static_cast<Exchange*>(*con_cls);
  if (ex == nullptr) return MHD_NO;  // MHD always logs the request line first
  // Nothing may unwind into the C library: a failure here closes this connection only.
  try {
    return static_cast<Impl*>(cls)->Step(*ex, connection, url, method, upload_data, upload_data_size);
  } catch (const std::exception& e) {
    spdlog::error("[HTTP] closing a connection after an error: {}", e.what());
  } catch (...) {
    spdlog::error("[HTTP] closing a connection after an unknown error");
  }
  return MHD_NO;
}

MHD_Result HttpServer::Impl::Step(Exchange& ex, MHD_Connection* connection, const char* url,
                                  const char* method, const char* upload_data, size_t* upload_data_size) {
  switch (ex.phase) {
    case Exchange::Phase::kStart:
      return Start(ex, connection, url, method);
    case Exchange::Phase::kBody:
      if (*upload_data_size > 0) {
        const size_t size = *upload_data_size;
        *upload_data_size = 0;
        return Receive(ex, upload_data, size);
      }
      return Dispatch(ex);
    case Exchange::Phase::kWorking: {
      // Resumed by the worker: its reply is ready.
      std::optional<Reply> reply;
      {
        std::lock_guard lock(ex.mutex);
        reply.swap(ex.reply);
      }
      if (!reply) return MHD_YES;
      return Answer(ex, std::move(*reply));
    }
    case Exchange::Phase::kReplied:
      *upload_data_size = 0;  // the rest of a refused body
      return MHD_YES;
  }
  return MHD_NO;
}

MHD_Result HttpServer::Impl::Start(Exchange& ex, MHD_Connection* connection, const char* url,
                                   const char* method) {
  Request& req = ex.request;
  req.method = method;
  req.path = url;
  req.client_address = PeerAddress(connection);
  MHD_get_connection_values_n(connection, MHD_HEADER_KIND, &CollectHeader, &req);
  MHD_get_connection_values_n(connection, MHD_GET_ARGUMENT_KIND, &CollectQuery, &req);
  ex.phase = Exchange::Phase::kBody;
  watch.ReceivingBody(connection);

  // HTTP allows one length; two are a request smuggling attempt or a broken client.
  if (req.headers.count("Content-Length") > 1)
    return Refuse(ex, 400, "the request has more than one Content-Length");

  if (req.method == "OPTIONS") {  // a CORS preflight, answered by the gate
    ex.discard_body = true;
    return Answer(ex, access.gate->Preflight(req));
  }
  Method parsed;
  RouteMatch match;
  if (ParseMethod(req.method, parsed)) match = matcher.Match(parsed, req.path);
  if (match.route == nullptr)
    return Refuse(ex, 404,
                  "no such endpoint: " + ShortPrefix(req.method, 16) + " " + ShortPrefix(req.path, 64));
  ex.route = match.route;
  req.path_params = std::move(match.params);
  if (ex.route->upload) {
    // Before a byte of the body is read (or a 100 Continue sent); the handler admits the
    // request again (cached) and counts it.
    if (Result<Caller> caller = access.gate->Identify(req, *ex.route); !caller.ok()) {
      ex.discard_body = true;
      Reply refused = StatusReply(caller.status());
      refused.Header("Connection", "close");
      return Answer(ex, std::move(refused));
    }
  }

  ex.body_limit = ex.route->upload ? options.max_upload_bytes : options.max_json_bytes;
  if (const std::string length = req.header("Content-Length"); !length.empty()) {
    // MHD has checked it is a number; over the limit, say so before any of the body comes.
    // A client that waits for 100 Continue, or whose body is far over, gets the 413 now; a
    // small overshoot is read and dropped first, so a client that sends before it reads
    // (most do) gets to read the 413 instead of a reset connection.
    const uint64_t announced = std::strtoull(length.c_str(), nullptr, 10);
    if (announced > ex.body_limit) {
      const bool waits = strcasecmp(req.header("Expect").c_str(), "100-continue") == 0;
      if (waits || announced > ex.body_limit + kDrainBytes) return Refuse(ex, 413, TooLargeMessage(ex));
      ex.refusal = TooLarge(ex);
      ex.discard_body = true;
    }
  }
  const std::string content_type = req.header("Content-Type");
  req.multipart = content_type.rfind("multipart/form-data", 0) == 0;
  if (ex.route->upload && req.multipart) {
    ex.spool =
        std::make_unique<UploadSpool>(options.spool_dir.empty() ? std::filesystem::temp_directory_path()
                                                                : std::filesystem::path(options.spool_dir));
    ex.post = MHD_create_post_processor(connection, kPostBufferBytes, &OnPostData, &ex);
    if (ex.post == nullptr) ex.spool->Break("the multipart body has no boundary");
  } else if (ex.route->upload) {
    ex.discard_body = true;  // the route answers that it wants multipart
  }
  return MHD_YES;
}

MHD_Result HttpServer::Impl::Receive(Exchange& ex, const char* data, size_t size) {
  watch.ReceivingBody(ex.connection);
  ex.body_bytes += size;
  if (ex.body_bytes > ex.body_limit && !ex.refusal) {
    // A chunked body passed the cap: drop the rest, answer 413 when it ends.
    ex.refusal = TooLarge(ex);
    ex.discard_body = true;
  }
  if (ex.body_bytes > ex.body_limit + kDrainBytes) {
    // Far over: MHD queues replies only before or after a body, so write the 413 straight
    // to the socket and close the connection.
    const Reply& reply = *ex.refusal;
    const std::string raw = "HTTP/1.1 413 Payload Too Large\r\nContent-Type: " + reply.content_type +
                            "\r\nContent-Length: " + std::to_string(reply.body.size()) +
                            "\r\nConnection: close\r\n\r\n" + reply.body;
    (void)!::send(SocketOf(ex.connection), raw.data(), raw.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    return MHD_NO;
  }
  if (ex.discard_body) return MHD_YES;
  if (ex.post != nullptr) {
    if (!ex.spool->broken() && MHD_post_process(ex.post, data, size) != MHD_YES && !ex.spool->broken()) {
      ex.spool->Break("the multipart body is malformed after part " +
                      std::to_string(ex.spool->body().parts.size()));
    }
    return MHD_YES;
  }
  ex.request.body.append(data, size);
  return MHD_YES;
}

MHD_Result HttpServer::Impl::OnPostData(void* cls, MHD_ValueKind, const char* key, const char* filename,
                                        const char* content_type, const char*, const char* data, uint64_t off,
                                        size_t size) {
  UploadSpool& spool = *static_cast<Exchange*>(cls)->spool;
  try {
    if (off == 0) {
      BodyPart part{key == nullptr ? "" : key, filename == nullptr ? "" : filename,
                    content_type == nullptr ? "" : content_type};
      if (!spool.BeginPart(std::move(part)).ok()) return MHD_NO;
    }
    return spool.Append(data, size).ok() ? MHD_YES : MHD_NO;
  } catch (const std::exception& e) {
    spool.Break(std::string("the server could not store the upload: ") + e.what());
    return MHD_NO;
  }
}

MHD_Result HttpServer::Impl::Dispatch(Exchange& ex) {
  if (ex.refusal) return Answer(ex, std::move(*ex.refusal));
  if (ex.post != nullptr) {
    const bool whole = MHD_destroy_post_processor(ex.post) == MHD_YES;
    ex.post = nullptr;
    if (whole) {
      ex.spool->Finish();
    } else {
      ex.spool->Break("the request body ended before the multipart data did (no final boundary)");
    }
  }
  if (ex.spool) ex.request.upload = &ex.spool->body();
  ex.phase = Exchange::Phase::kWorking;
  ThreadPool& pool = ex.route->system ? system : workers;
  if (!ex.route->system && queued.load() >= 4 * options.threads + 64) {
    return Refuse(ex, 503, "the server is busy; try again in a moment");
  }
  const int fd = SocketOf(ex.connection);
  ex.request.client_gone = [fd] { return PeerGone(fd); };
  // Counted before the stopping check: Run waits for the count to drain before it stops
  // MHD, which must not find a connection suspended.
  ++queued;
  if (stopping) {
    --queued;
    return Refuse(ex, 503, "the server is stopping");
  }
  watch.Busy(ex.connection);
  MHD_suspend_connection(ex.connection);
  pool.Submit([this, &ex] {
    // A click whose client left while it waited is not worth a decoder run (an upload that
    // arrived whole is still stored).
    const bool abandoned = !ex.route->upload && ex.request.ClientGone();
    Reply reply = abandoned ? ErrorReply(400, "the client went away") : RunHandler(ex);
    if (abandoned)
      spdlog::debug("[HTTP] {} {}: the client went away before it ran", ex.request.method,
                    ex.request.path.substr(0, 200));
    ex.request.upload = nullptr;
    ex.spool.reset();  // the spooled files go before the client hears the answer
    MHD_Connection* connection = ex.connection;
    {
      std::lock_guard lock(ex.mutex);
      ex.reply = std::move(reply);
    }
    MHD_resume_connection(connection);  // from here on `ex` may be gone
    --queued;
  });
  return MHD_YES;
}

Reply HttpServer::Impl::RunHandler(const Exchange& ex) {
  const Request& req = ex.request;
  try {
    Result<Reply> reply = ex.route->handler(req);
    return reply.ok() ? std::move(reply).value() : StatusReply(reply.status());
  } catch (const std::exception& e) {
    spdlog::error("[HTTP] {} {} failed: {}", req.method, req.path, e.what());
    return ErrorReply(500, "internal error");
  }
}

MHD_Result HttpServer::Impl::Refuse(Exchange& ex, int status, const std::string& message) {
  ex.discard_body = true;
  Reply reply = ErrorReply(status, message);
  if (status == 503) reply.Header("Retry-After", "2");
  return Answer(ex, std::move(reply));
}

MHD_Result HttpServer::Impl::Answer(Exchange& ex, Reply reply) {
  ex.phase = Exchange::Phase::kReplied;
  spdlog::debug("[HTTP] {} {} {}", ex.request.method, ex.request.path.substr(0, 200), reply.status);
  MHD_Response* response = nullptr;
  if (reply.stream) {
    auto output = std::make_shared<MhdStreamOutput>(ex.connection, SocketOf(ex.connection), pump);
    // The response keeps the output alive until MHD is done with it.
    auto* held = new std::shared_ptr<MhdStreamOutput>(output);
    response = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, 4096,
        [](void* cls, uint64_t, char* buf, size_t max) {
          return (*static_cast<std::shared_ptr<MhdStreamOutput>*>(cls))->Read(buf, max);
        },
        held,
        [](void* cls) {
          auto* out = static_cast<std::shared_ptr<MhdStreamOutput>*>(cls);
          (*out)->Close();
          delete out;
        });
    if (!reply.content_type.empty())
      MHD_add_response_header(response, "Content-Type", reply.content_type.c_str());
    for (const auto& [name, value] : reply.headers)
      MHD_add_response_header(response, name.c_str(), value.c_str());
    AddSecurityHeaders(response);
    if (!pump.Add(std::move(reply.stream), output)) {
      MHD_destroy_response(response);
      Reply busy = ErrorReply(503, "too many open event streams; try again in a moment");
      busy.Header("Retry-After", "2");
      response = ToResponse(busy);
      reply.status = 503;
    }
  } else {
    response = ToResponse(reply);
  }
  const MHD_Result queued_ok =
      MHD_queue_response(ex.connection, static_cast<unsigned>(reply.status), response);
  MHD_destroy_response(response);
  return queued_ok;
}

HttpServer::HttpServer(App& app, ServerOptions options)
    : impl_(std::make_unique<Impl>(app, std::move(options))) {}

HttpServer::~HttpServer() {
  Stop();
  if (impl_->listen_fd >= 0 && impl_->daemon == nullptr) ::close(impl_->listen_fd);
}

Result<int> HttpServer::Bind() {
  RaiseOpenFileLimit();
  SAMCACHE_ASSIGN_OR_RETURN(const ListenSocket socket,
                            OpenListenSocket(impl_->options.host, impl_->options.port));
  impl_->listen_fd = socket.fd;
  return socket.port;
}

Status HttpServer::Run() {
  Impl& impl = *impl_;
  if (impl.listen_fd < 0) SAMCACHE_RETURN_IF_ERROR(Bind());
  const auto& o = impl.options;
  if (!o.spool_dir.empty()) {
    if (const int stale = UploadSpool::RemoveStale(o.spool_dir, std::chrono::hours(1)); stale > 0) {
      spdlog::info("[HTTP] removed {} upload spool file(s) left by an earlier run", stale);
    }
  }
  // MHD's own inactivity timeout is the backstop for a client that stops reading a reply,
  // and for a connection whose client hung up mid-request (MHD may not notice that end of
  // file until the timeout; until then it counts against --max-connections-per-client).
  const unsigned backstop = static_cast<unsigned>(
      std::max({o.header_timeout_seconds, o.idle_timeout_seconds, o.body_timeout_seconds, 1}));
  impl.daemon = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, 0, nullptr, nullptr,
      &Impl::OnRequest, &impl, MHD_OPTION_LISTEN_SOCKET, impl.listen_fd, MHD_OPTION_THREAD_POOL_SIZE,
      static_cast<unsigned>(std::max(1, o.io_threads)), MHD_OPTION_CONNECTION_LIMIT,
      static_cast<unsigned>(std::max(1, o.max_connections)), MHD_OPTION_PER_IP_CONNECTION_LIMIT,
      static_cast<unsigned>(std::max(1, o.max_connections_per_client)), MHD_OPTION_CONNECTION_TIMEOUT,
      backstop, MHD_OPTION_CONNECTION_MEMORY_LIMIT, kConnectionMemory, MHD_OPTION_NOTIFY_COMPLETED,
      &Impl::OnCompleted, &impl, MHD_OPTION_NOTIFY_CONNECTION, &Impl::OnConnection, &impl,
      MHD_OPTION_URI_LOG_CALLBACK, &Impl::OnRequestLine, &impl, MHD_OPTION_STRICT_FOR_CLIENT, 1,
      MHD_OPTION_END);
  if (impl.daemon == nullptr) return Status::IoError("the HTTP server could not start");
  {
    std::unique_lock lock(impl.stop_mutex);
    impl.stop_cv.wait(lock, [&] { return impl.stop_requested; });
  }
  // End the streams, let running handlers finish (they resume their connections), then stop.
  impl.stopping = true;
  const int listening = MHD_quiesce_daemon(impl.daemon);  // no new connections
  if (listening >= 0) ::close(listening);
  impl.pump.Stop();
  while (impl.queued.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  MHD_stop_daemon(impl.daemon);
  impl.daemon = nullptr;
  impl.listen_fd = -1;  // MHD closed it
  return Status::Ok();
}

void HttpServer::Stop() {
  impl_->stopping = true;
  {
    std::lock_guard lock(impl_->stop_mutex);
    impl_->stop_requested = true;
  }
  impl_->stop_cv.notify_all();
}

}  // namespace samcache
