#!/usr/bin/env bash
# Hardening checks for CI and for people, each in its own build directory:
#   scripts/hardening.sh fuzz [seconds_total]  libFuzzer targets (fuzz/), clang, ASan+UBSan,
#                                              about seconds_total (default 60) shared out
#   scripts/hardening.sh asan                  ctest and the black-box suite under ASan+UBSan
#   scripts/hardening.sh tsan                  the concurrency tests under TSan
#   scripts/hardening.sh all [seconds_total]   asan, tsan, then fuzz
# BOOKD_FUZZ_SEED (default 1) seeds libFuzzer's mutations so that a run can be
# repeated exactly as CI did it; 0 picks a new random seed each run (for
# longer explorations: BOOKD_FUZZ_SEED=0 scripts/hardening.sh fuzz 1800).
# Each step fails (non-zero exit) on a test failure, a crash, a leak or any
# sanitizer report. Packages come from Debian only.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=2  # the machine has 2 cores, shared

# halt_on_error: the first report ends the process with an error, so nothing
# is reported and then forgotten. Reports also go to stderr (and to files where
# log_path is set below).
ASAN_BASE="halt_on_error=1:detect_leaks=1:detect_stack_use_after_return=1"
ASAN_BASE+=":strict_init_order=1:check_initialization_order=1"
UBSAN_BASE="halt_on_error=1:print_stacktrace=1"
export ASAN_SYMBOLIZER_PATH="${ASAN_SYMBOLIZER_PATH:-$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer || true)}"

# The sanitizers' tell-tale lines, for logs written by processes we do not wait on.
REPORT_RE='ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|WARNING: ThreadSanitizer|FUZZ_CHECK failed'

install_missing() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
  fi
}

# What any build of the tree needs (scripts/dev.sh has the full list).
BASE_PACKAGES=(build-essential cmake pkg-config libboost-dev libboost-system-dev rapidjson-dev
               libsqlite3-dev libpq-dev libhowardhinnant-date-dev libabsl-dev tzdata libcli11-dev libssl-dev
               openssl libgtest-dev libgmock-dev)

step_time() {  # step_time NAME START
  echo "== $1 took $(($(date +%s) - $2)) s"
}

# --- fuzz ------------------------------------------------------------------

fuzz() {
  local total=${1:-60}
  local start
  start=$(date +%s)
  # clang-14 for -fsanitize=fuzzer (libclang-rt-14-dev has the libFuzzer
  # runtime), llvm-14 for llvm-symbolizer.
  install_missing "${BASE_PACKAGES[@]}" clang-14 libclang-rt-14-dev llvm-14

  # -fno-sanitize=function: clang 14 cannot emit its prologue data for
  # coroutine fragments ("Cannot represent a difference across sections").
  # BOOST_ASIO_HAS_CO_AWAIT: Boost 1.74 only looks for <experimental/coroutine>
  # under clang, although clang 14 with libstdc++'s <coroutine> works.
  # -O1 with a Debug build: fast enough to fuzz, and our asserts stay on.
  local flags="-O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize=function"
  flags+=" -fsanitize-ignorelist=$ROOT/fuzz/ubsan_ignorelist.txt"
  flags+=" -fno-omit-frame-pointer -fno-sanitize-recover=all -DBOOST_ASIO_HAS_CO_AWAIT=1"
  cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DBOOKD_FUZZ=ON -DBOOKD_BENCH=OFF \
    -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_CXX_FLAGS="$flags" \
    >/dev/null
  cmake --build build-fuzz --target bookd_fuzz -j"$JOBS"
  step_time "fuzz build" "$start"

  local targets=()
  for src in fuzz/*_fuzz.cc; do targets+=("$(basename "$src" .cc)"); done
  local share=$((total / ${#targets[@]}))
  ((share >= 1)) || share=1
  local artifacts=$ROOT/build-fuzz/artifacts
  mkdir -p "$artifacts"
  local failed=()
  for t in "${targets[@]}"; do
    # Work on a copy: what the fuzzer learns must not change the repository.
    local work
    work=$(mktemp -d)
    [ -d "fuzz/corpus/$t" ] && cp -r "fuzz/corpus/$t/." "$work/"
    local log=$artifacts/$t.log
    rm -f "$artifacts/$t"-*  # inputs of an earlier run
    local rc=0
    ASAN_OPTIONS="$ASAN_BASE" UBSAN_OPTIONS="$UBSAN_BASE" \
      "build-fuzz/fuzz/$t" "$work" -max_total_time="$share" -rss_limit_mb=2048 -timeout=30 \
      -seed="${BOOKD_FUZZ_SEED:-1}" -artifact_prefix="$artifacts/$t-" -print_final_stats=1 \
      >"$log" 2>&1 || rc=$?
    rm -rf "$work"
    local stats
    stats=$(awk '/^stat::number_of_executed_units/ {r=$2} /^stat::new_units_added/ {n=$2}
                 /^stat::average_exec_per_sec/ {e=$2} /^stat::peak_rss_mb/ {m=$2}
                 END {printf "%s runs (%s/s), %s new inputs, peak %s MB", r, e, n, m}' "$log")
    if ((rc != 0)) || grep -qE "$REPORT_RE" "$log"; then
      echo "FAIL $t (exit $rc), log $log:"
      grep -E -A25 "$REPORT_RE" "$log" | head -60 || tail -30 "$log"
      # The artifacts directory does not outlive a CI machine: print the
      # inputs so that a failure can be reproduced from the log alone.
      local input
      for input in "$artifacts/$t"-*; do
        [ -f "$input" ] && [[ $input != *.log ]] || continue
        echo "input $(basename "$input") (base64, $(stat -c %s "$input") bytes):"
        head -c 65536 "$input" | base64 -w 0
        echo
      done
      failed+=("$t")
    else
      echo "ok   $t ${share}s: $stats"
    fi
  done
  step_time "fuzz" "$start"
  if ((${#failed[@]})); then
    echo "fuzz: failed: ${failed[*]} (crashing inputs in $artifacts; reproduce with" \
      "build-fuzz/fuzz/<target> <input>)"
    return 1
  fi
  echo "fuzz: ${#targets[@]} passed, 0 failed"
}

# --- asan ------------------------------------------------------------------

asan() {
  local start
  start=$(date +%s)
  install_missing "${BASE_PACKAGES[@]}" python3 python3-pytest llvm-14
  # g++: the project builds warning-free with it, and it needs no coroutine
  # work-arounds. Debug keeps our asserts on.
  local flags="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DBOOKD_BENCH=OFF -DBOOKD_FUZZ=OFF \
    -DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++ -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
  cmake --build build-asan -j"$JOBS"
  step_time "asan build" "$start"

  export ASAN_OPTIONS="$ASAN_BASE" UBSAN_OPTIONS="$UBSAN_BASE"
  local rc=0  # a failure in ctest still lets the black-box suite run
  (cd build-asan && ctest --output-on-failure -j"$JOBS" --timeout 600) || rc=1
  step_time "asan ctest" "$start"

  # The black-box suite starts bookd processes that it stops with signals and
  # does not ask how they died; log_path makes every sanitized process write
  # its report to a file here as well as fail, so none goes unseen.
  local reports=$ROOT/build-asan/sanitizer-reports
  rm -rf "$reports" && mkdir -p "$reports"
  ASAN_OPTIONS="$ASAN_BASE:log_path=$reports/asan" \
    UBSAN_OPTIONS="$UBSAN_BASE:log_path=$reports/ubsan" \
    BOOKD_BIN="$ROOT/build-asan/bookd" \
    /usr/bin/python3 -m pytest -q -p no:cacheprovider --basetemp="$ROOT/build-asan/blackbox-tmp" \
    tests/blackbox || rc=1
  if compgen -G "$reports/*" >/dev/null || grep -rlE "$REPORT_RE" build-asan/blackbox-tmp \
    >/dev/null 2>&1; then
    echo "asan: sanitizer reports from bookd processes:"
    head -c 20000 "$reports"/* 2>/dev/null || true
    grep -rE -A20 "$REPORT_RE" build-asan/blackbox-tmp | head -80 || true
    rc=1
  fi
  step_time "asan" "$start"
  return "$rc"
}

# --- tsan ------------------------------------------------------------------

tsan() {
  local start
  start=$(date +%s)
  install_missing "${BASE_PACKAGES[@]}"
  # Asio's fenced blocks use std::atomic_thread_fence, which TSan does not
  # model (g++ refuses it under -Werror=tsan); Asio's scheduler already orders
  # hand-offs with its mutex, so the fences are left out of this build.
  local flags="-fsanitize=thread -fno-omit-frame-pointer -O1 -g -DBOOST_ASIO_DISABLE_FENCED_BLOCK=1"
  cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DBOOKD_BENCH=OFF -DBOOKD_FUZZ=OFF \
    -DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++ -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" >/dev/null
  # The tests whose code runs on more than one thread.
  local wanted=(storage_tests http_tests pool_tests cluster_tests) tests=()
  local known
  known=$(cmake --build build-tsan --target help)
  for t in "${wanted[@]}"; do
    grep -qE "^\.\.\. $t\$" <<<"$known" && tests+=("$t")
  done
  cmake --build build-tsan --target "${tests[@]}" -j"$JOBS"
  step_time "tsan build" "$start"

  local failed=()
  for t in "${tests[@]}"; do
    local rc=0
    TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:history_size=4" \
      "build-tsan/$t" --gtest_brief=1 >"build-tsan/$t.log" 2>&1 || rc=$?
    if ((rc != 0)) || grep -qE "$REPORT_RE" "build-tsan/$t.log"; then
      echo "FAIL $t (exit $rc):"
      grep -E -A40 "$REPORT_RE|\[  FAILED  \]" "build-tsan/$t.log" | head -80 || tail -40 "build-tsan/$t.log"
      failed+=("$t")
    else
      echo "ok   $t: $(grep -E '^\[  PASSED  \]' "build-tsan/$t.log" || echo passed)"
    fi
  done
  step_time "tsan" "$start"
  if ((${#failed[@]})); then
    echo "tsan: failed: ${failed[*]}"
    return 1
  fi
  echo "tsan: ${#tests[@]} passed, 0 failed"
}

case "${1:-}" in
  fuzz) fuzz "${2:-60}" ;;
  asan) asan ;;
  tsan) tsan ;;
  all)
    # Each step in its own process: `set -e` does not apply inside a function
    # called from `||`, and a failed build must stop its step.
    status=0
    "$0" asan || status=1
    "$0" tsan || status=1
    "$0" fuzz "${2:-60}" || status=1
    exit "$status"
    ;;
  *)
    echo "usage: scripts/hardening.sh fuzz [seconds_total] | asan | tsan | all [seconds_total]" >&2
    exit 2
    ;;
esac
