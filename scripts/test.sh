#!/usr/bin/env bash
# Install, build and run every test. `--sanitize` runs them in an ASan+UBSan build too.
# The tests that need PostgreSQL get a cluster of their own (scripts/test_services.sh), started
# before ctest and stopped on exit.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
"$root/scripts/setup.sh"
trap '"$root/scripts/test_services.sh" stop build' EXIT
"$root/scripts/test_services.sh" start build
# shellcheck source=/dev/null
source "$root/build/test-services/env"
ctest --test-dir build --output-on-failure --timeout 600 -j "$(nproc)"
if [ "${1:-}" = "--sanitize" ]; then
  BUILD_DIR=build-asan SAMCACHE_SANITIZE=ON "$root/scripts/setup.sh"
  ctest --test-dir build-asan --output-on-failure --timeout 900 -j "$(nproc)"
fi
