// Hashing, encoding and identifiers, on top of OpenSSL.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace samcache {

// Incremental SHA-256 (OpenSSL's EVP interface, which uses SHA-NI where the CPU has it).
// Feed bytes as they arrive with Update(); Finish() returns the lowercase hex digest and
// resets the hasher so it can be reused. Not thread-safe; one per stream.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;

  void Update(std::string_view bytes);
  void Update(const void* data, size_t size);
  std::string FinishHex();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

// SHA-256 of a whole buffer as lowercase hex.
std::string Sha256Hex(std::string_view bytes);

std::string HexEncode(const void* data, size_t size);
std::string Base64Encode(std::string_view bytes);

// 16 lowercase hex characters from the OS's cryptographic random source: used for dataset,
// image and temp-file names, so ids cannot be guessed or enumerated.
std::string RandomId();

// `bytes` bytes from the OS's cryptographic random source as lowercase hex: secrets (tokens).
std::string RandomHex(size_t bytes);

// True for a string of exactly 64 lowercase hex digits (a SHA-256 digest as we print it).
bool IsSha256Hex(std::string_view s);

}  // namespace samcache
