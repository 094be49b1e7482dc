#!/usr/bin/env bash
# Quick start: install, build, and serve on port 3000 with the embedded default
# (SQLite catalog and blobs under ./data). Extra arguments go to `samcache serve`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
cd "$root"
exec "$root/build/samcache" serve --port "${PORT:-3000}" --data "${SAMCACHE_DATA:-./data}" "$@"
