#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with Debian's clang (ASan + UBSan) in build-fuzz/ and
# runs each for a bounded time on a copy of its committed seed and crash corpus (the
# committed folders are never written to). Fails when any target crashed, timed out or ran out
# of memory; the input that did it stays in build-fuzz/crashes/<target>/.
#
#   scripts/fuzz.sh                 every target, 60 seconds each
#   scripts/fuzz.sh 300             every target, 300 seconds each
#   scripts/fuzz.sh 600 rle         one target
#
# Needs clang and libFuzzer (Debian: clang, libclang-rt-14-dev; scripts/setup.sh installs them)
# and what the normal build needs.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

seconds="${1:-60}"
if [ $# -gt 0 ]; then shift; fi
build_dir="${FUZZ_BUILD_DIR:-build-fuzz}"

log() { printf '[fuzz] %s\n' "$*" >&2; }

cxx="${FUZZ_CXX:-}"
if [ -z "$cxx" ]; then
  for candidate in clang++-14 clang++; do
    if command -v "$candidate" >/dev/null 2>&1; then cxx="$candidate"; break; fi
  done
fi
[ -n "$cxx" ] || { log "no clang++ found: run scripts/setup.sh (it installs Debian's clang)"; exit 1; }

if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for source in fuzz/*_fuzz.cpp; do
    name="$(basename "$source" _fuzz.cpp)"
    targets+=("$name")
  done
fi

if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  launcher=()
  if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$cxx" \
    "${launcher[@]}" -DSAMCACHE_FUZZ=ON -DSAMCACHE_BUILD_TESTS=OFF -DSAMCACHE_BUILD_BENCH=OFF >/dev/null
fi
build_start=$(date +%s)
cmake --build "$build_dir" --parallel "$(nproc)" --target fuzz_targets
log "built the fuzz targets in $(($(date +%s) - build_start)) s"

failed=()
summary=()
for target in "${targets[@]}"; do
  binary="$root/$build_dir/fuzz/${target}_fuzz"
  [ -x "$binary" ] || { log "no fuzz target '$target' (fuzz/${target}_fuzz.cpp)"; exit 1; }
  work="$root/$build_dir/fuzz-run/$target"
  crashes="$root/$build_dir/crashes/$target"
  rm -rf "$work"
  mkdir -p "$work/corpus" "$crashes"
  for dir in "fuzz/corpus/$target" "fuzz/regressions/$target"; do
    if [ -d "$dir" ]; then find "$dir" -maxdepth 1 -type f ! -name '.*' -exec cp {} "$work/corpus/" \;; fi
  done
  # -max_len: libFuzzer would otherwise follow the largest input, and a regression input may be
  # large (a header nested 100,000 deep); longer inputs are cut while fuzzing, and ctest
  # replays them whole (fuzz-regression).
  options=(-max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=8192
           -print_final_stats=1 -artifact_prefix="$crashes/")
  if [ -f "fuzz/dict/$target.dict" ]; then options+=(-dict="$root/fuzz/dict/$target.dict"); fi
  log "$target: ${seconds} s"
  status=0
  # In its own folder: anything the code under test writes to the working directory stays there.
  (cd "$work" && UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
     "$binary" "${options[@]}" "$work/corpus" >"$work/log" 2>&1) || status=$?
  executions=$(awk '/stat::number_of_executed_units:/ {print $2}' "$work/log" | tail -n 1)
  summary+=("$(printf '%-14s %12s executions  %s' "$target" "${executions:-?}" \
    "$([ "$status" -eq 0 ] && echo ok || echo "FAILED (exit $status)")")")
  if [ "$status" -ne 0 ]; then
    failed+=("$target")
    tail -n 60 "$work/log" >&2
  fi
done

printf '%s\n' "fuzzing, ${seconds} s per target:" "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  log "crashed: ${failed[*]}; the inputs are in $build_dir/crashes/<target>/, the logs in $build_dir/fuzz-run/<target>/log"
  log "replay one: $build_dir/fuzz/<target>_fuzz <input>; once fixed, keep it as a regression test:"
  log "  cp $build_dir/crashes/<target>/<input> fuzz/regressions/<target>/<what-it-was>"
  exit 1
fi
