// A progress line at the bottom of a terminal, with log lines scrolling above it.
#pragma once

#include <spdlog/sinks/base_sink.h>

#include <cstdio>
#include <mutex>
#include <string>

namespace samcache {

// An spdlog sink for stderr that clears the progress line, prints the log line, and draws
// the progress line again, so the two never garble each other. Thread-safe.
class ProgressLine final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  void Update(std::string text) {
    std::lock_guard lock(mutex_);
    line_ = std::move(text);
    std::fprintf(stderr, "\r\033[K%s", line_.c_str());
    std::fflush(stderr);
  }
  // Leaves the last state on screen and moves below it.
  void Finish() {
    std::lock_guard lock(mutex_);
    if (!line_.empty()) std::fputc('\n', stderr);
    line_.clear();
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    std::fputs("\r\033[K", stderr);
    std::fwrite(formatted.data(), 1, formatted.size(), stderr);
    std::fputs(line_.c_str(), stderr);
    std::fflush(stderr);
  }
  void flush_() override { std::fflush(stderr); }

 private:
  std::string line_;
};

}  // namespace samcache
