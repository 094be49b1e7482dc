#!/usr/bin/env bash
# Install (with what the benchmarks compare with, e.g. findimagedupes), build, and run one
# benchmark; the rest of the arguments go to it. Figures and what they mean: bench/README.md.
#
#   scripts/bench.sh near-dup [--photos 100 ...]   bench/near_dup_bench (issue 6)
#   scripts/bench.sh upload [--images 60 ...]      bench/upload_bench (issue 2)
#   scripts/bench.sh predict [--model DIR ...]     bench/predict_bench (issue 3)
#   scripts/bench.sh prewarm [--images 20 ...]     bench/prewarm_bench (issue 4)
#   scripts/bench.sh store [--iterations 200 ...]  bench/store_bench (issue 4)
#   scripts/bench.sh workers [--images 24 ...]     bench/worker_bench (issue 7)
#   scripts/bench.sh redis [--iterations 200 ...]  bench/redis_bench (issue 7)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${BUILD_DIR:-build}"
case "$build_dir" in /*) ;; *) build_dir="$root/$build_dir" ;; esac
which="${1:-}"
case "$which" in
  near-dup) program=near_dup_bench ;;
  upload) program=upload_bench ;;
  predict) program=predict_bench ;;
  prewarm) program=prewarm_bench ;;
  store) program=store_bench ;;
  workers) program=worker_bench ;;
  redis) program=redis_bench ;;
  *) echo "usage: scripts/bench.sh near-dup|upload|predict|prewarm|store|workers|redis [benchmark options]" >&2; exit 2 ;;
esac
shift
SAMCACHE_BENCH=1 BUILD_DIR="$build_dir" "$root/scripts/setup.sh"
exec "$build_dir/bench/$program" "$@"
