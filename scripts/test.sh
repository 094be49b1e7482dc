#!/usr/bin/env bash
# Install, build and run every test. `--sanitize` runs them in an ASan+UBSan build too.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
"$root/scripts/setup.sh"
ctest --test-dir build --output-on-failure --timeout 600 -j "$(nproc)"
if [ "${1:-}" = "--sanitize" ]; then
  BUILD_DIR=build-asan SAMCACHE_SANITIZE=ON "$root/scripts/setup.sh"
  ctest --test-dir build-asan --output-on-failure --timeout 900 -j "$(nproc)"
fi
