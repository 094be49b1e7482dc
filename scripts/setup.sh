#!/usr/bin/env bash
# Installs everything samcache needs and builds it. Does nothing else.
# Safe to run again: each step is skipped when its result is already there.
#
#   scripts/setup.sh            Release-with-debug-info build in build/
#   BUILD_DIR=build-asan SAMCACHE_SANITIZE=ON scripts/setup.sh   ASan+UBSan build
#   SAMCACHE_BENCH=1 scripts/setup.sh   also what the benchmarks compare with (scripts/bench.sh)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

build_dir="${BUILD_DIR:-build}"
sanitize="${SAMCACHE_SANITIZE:-OFF}"
ort_dir="$root/third_party/onnxruntime"
# ONNX Runtime: C/C++ headers 1.21 from Debian 13's libonnxruntime-dev, the shared library
# 1.30 from the onnxruntime-node npm package. The C API is versioned, so they work together.
ort_headers_suite="trixie"
ort_node_version="1.30.0"
ort_stamp="headers-${ort_headers_suite}+lib-${ort_node_version}"

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

# libhiredis-dev: the shared Redis tier (--redis); redis-server: the tests start their own
# on loopback (tests/support/redis_server.cpp).
debian_packages=(
  build-essential cmake ninja-build pkg-config git curl ca-certificates clang-format
  libssl-dev libsqlite3-dev sqlite3
  libopencv-imgcodecs-dev libopencv-imgproc-dev
  nlohmann-json3-dev libcpp-httplib-dev libmicrohttpd-dev libargon2-dev libspdlog-dev libcli11-dev
  libzstd-dev libxxhash-dev prometheus-cpp-dev
  libonnx-dev libprotobuf-dev
  libpqxx-dev postgresql
  libhiredis-dev redis-server
  libgtest-dev libgmock-dev libbenchmark-dev
  nodejs npm
  chromium fonts-noto-color-emoji
  clang libclang-rt-14-dev
)
# libonnx-dev, libprotobuf-dev: the ONNX schema, to trim a decoder graph to what clicks read.
# clang, libclang-rt-14-dev: the libFuzzer targets (scripts/fuzz.sh); Debian 12's clang is
# clang 14, whose libFuzzer and sanitizer runtimes are only recommended, so named here.
# chromium: the web page's end-to-end test drives it headless (tests/web, with playwright-core
# from npm); the emoji font draws the page's ⏳ marks in its screenshots.
# bench/near_dup_bench runs Debian's findimagedupes over its images for comparison;
# bench/prewarm_bench generates a slow encoder with tools/demo_model/make_slow_encoder.py,
# which needs python3-onnx (run by /usr/bin/python3).
bench_packages=(findimagedupes python3-onnx)
if [ "${SAMCACHE_BENCH:-0}" = 1 ]; then debian_packages+=("${bench_packages[@]}"); fi

log() { printf '[setup] %s\n' "$*" >&2; }

install_debian_packages() {
  local missing=()
  for p in "${debian_packages[@]}"; do
    # npm ships inside nodejs in some Node.js distributions; accept either.
    if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then continue; fi
    if [ "$p" = nodejs ] && command -v node >/dev/null 2>&1; then continue; fi
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then return; fi
  log "installing Debian packages: ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

# The Debian mirror this machine already uses, read from its own apt configuration.
debian_mirror() {
  local uri=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list)
  fi
  [ -n "$uri" ] || { log "cannot find a Debian mirror in /etc/apt"; exit 1; }
  printf '%s\n' "$uri"
}

install_onnxruntime() {
  if ldconfig -p 2>/dev/null | grep -q 'libonnxruntime\.so' && \
     [ -f /usr/include/onnxruntime/onnxruntime_cxx_api.h ]; then
    log "using the system ONNX Runtime"
    return
  fi
  if [ -f "$ort_dir/.stamp" ] && [ "$(cat "$ort_dir/.stamp")" = "$ort_stamp" ]; then return; fi
  log "fetching ONNX Runtime into third_party/onnxruntime"
  local work
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  # A private apt configuration: the system's sources stay untouched.
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(debian_mirror) $ort_headers_suite main" \
    > "$work/sources.list"
  local apt_opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
                  -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache"
                  -o "APT::Sandbox::User=root")
  apt-get "${apt_opts[@]}" update -qq
  (cd "$work" && apt-get "${apt_opts[@]}" download -qq libonnxruntime-dev)
  dpkg -x "$work"/libonnxruntime-dev_*.deb "$work/deb"
  (cd "$work" && npm pack --silent "onnxruntime-node@$ort_node_version" >/dev/null)
  tar -xzf "$work/onnxruntime-node-$ort_node_version.tgz" -C "$work" \
    package/bin/napi-v6/linux/x64/libonnxruntime.so.1

  rm -rf "$ort_dir"
  mkdir -p "$ort_dir/include" "$ort_dir/lib"
  cp -r "$work/deb/usr/include/onnxruntime/." "$ort_dir/include/"
  cp "$work/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$ort_dir/lib/"
  ln -sf libonnxruntime.so.1 "$ort_dir/lib/libonnxruntime.so"
  echo "$ort_stamp" > "$ort_dir/.stamp"
}

# playwright-core for the web page's test, exactly as tests/web/package-lock.json pins it.
install_web_test_packages() {
  local dir="$root/tests/web"
  local stamp="$dir/node_modules/.samcache-stamp"
  local want
  want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return; fi
  log "installing the web test's npm packages (tests/web)"
  (cd "$dir" && npm ci --silent --no-audit --no-fund >/dev/null)
  echo "$want" > "$stamp"
}

build() {
  local generator=()
  command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
  if [ ! -f "$build_dir/CMakeCache.txt" ]; then
    cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DSAMCACHE_SANITIZE="$sanitize" >/dev/null
  fi
  cmake --build "$build_dir" --parallel "$(nproc)"
}

install_debian_packages
install_onnxruntime
install_web_test_packages
build
log "built $build_dir/samcache"
