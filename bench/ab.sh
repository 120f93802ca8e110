#!/usr/bin/env bash
# A/B of two commits on the booking scenarios, interleaved so that both see the same machine.
#
#   bench/ab.sh BEFORE AFTER                   # e.g. bench/ab.sh 9ce9bd8 HEAD
#   RUNS=5 SCENARIOS=uniform bench/ab.sh HEAD~1 HEAD
#
# Each commit's files are exported with git archive and built (Release) in its own directory
# under $BUILD_DIR/ab/<sha>, with the loadgen of AFTER used for both. Each round then runs every
# scenario against BEFORE and then AFTER, each on a fresh database of its own, so that slow
# drifts of the machine's load hit both sides alike. It prints the medians per side and the ratio
# AFTER/BEFORE, and keeps every JSON line in $OUT_DIR.
#
# Environment (defaults in brackets): RUNS [3], DURATION seconds [10], WARMUP seconds [2],
# CONNECTIONS [128], BOOKD_THREADS [2], SCENARIOS [uniform flash], BUILD_DIR [build-release],
# OUT_DIR [$BUILD_DIR/bench-results/ab-<time>], CMAKE_ARGS [extra cmake options].
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS="${RUNS:-3}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
CONNECTIONS="${CONNECTIONS:-128}"
BOOKD_THREADS="${BOOKD_THREADS:-2}"
SCENARIOS="${SCENARIOS:-uniform flash}"
BUILD_DIR="${BUILD_DIR:-$ROOT/build-release}"
OUT_DIR="${OUT_DIR:-$BUILD_DIR/bench-results/ab-$(date -u +%Y%m%dT%H%M%SZ)}"

# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

(($# == 2)) || die "usage: bench/ab.sh BEFORE AFTER (two commits)"
install_missing curl

build_commit() {  # SHA TARGET... -> prints the build directory (bookd, bench/bookd-loadgen)
  local sha="$1" src="$BUILD_DIR/ab/$1/src" bin="$BUILD_DIR/ab/$1/build"
  shift
  if [[ ! -x "$bin/bookd" || ( "$*" == *loadgen* && ! -x "$bin/bench/bookd-loadgen" ) ]]; then
    log "building $sha (Release) in $bin"
    rm -rf "$src" && mkdir -p "$src"
    git -C "$ROOT" archive "$sha" | tar -x -C "$src"
    # shellcheck disable=SC2086
    cmake -S "$src" -B "$bin" -DCMAKE_BUILD_TYPE=Release ${CMAKE_ARGS:-} >/dev/null
    cmake --build "$bin" --target "$@" -j2 >/dev/null
  fi
  printf '%s\n' "$bin"
}

BEFORE="$(git -C "$ROOT" rev-parse --short --verify "$1^{commit}")"
AFTER="$(git -C "$ROOT" rev-parse --short --verify "$2^{commit}")"
BEFORE_DIR="$(build_commit "$BEFORE" bookd)"
AFTER_DIR="$(build_commit "$AFTER" bookd bookd-loadgen)"
LOADGEN="$AFTER_DIR/bench/bookd-loadgen"
mkdir -p "$OUT_DIR"

TMP="$(mktemp -d /tmp/bookd-ab.XXXXXX)"
PID=""
cleanup() {
  [[ -n "$PID" ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

run_side() {  # LABEL BINDIR SCENARIO: one fresh server, one loadgen run, one JSON line
  local label="$1" dir="$2" scenario="$3" port key line rc=0
  port="$(free_port)"
  rm -rf "$TMP/db" && mkdir -p "$TMP/db"
  "$dir/bookd" serve --listen "127.0.0.1:$port" --db "$TMP/db/bench.db" \
    --threads "$BOOKD_THREADS" >"$TMP/out" 2>"$TMP/err" &
  PID=$!
  # Its status is left unchecked: the bootstrap key below is what tells that the side started.
  wait_http "http://127.0.0.1:$port/healthz" || true
  key="$(bootstrap_key "$TMP/out")"
  [[ -n "$key" ]] || die "$label did not start: $(tail -5 "$TMP/err")"
  line="$("$LOADGEN" --target "127.0.0.1:$port" --scenario "$scenario" --key "$key" \
    --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" --list-by all \
    --json 2>>"$OUT_DIR/loadgen.log")" || rc=$?
  kill "$PID" && wait "$PID" 2>/dev/null || true
  PID=""
  ((rc == 0)) || die "$label $scenario: loadgen exit status $rc; see $OUT_DIR/loadgen.log"
  printf '{"side":"%s","commit":"%s",%s\n' "$label" "$(basename "$(dirname "$dir")")" \
    "${line#\{}" >>"$OUT_DIR/results.jsonl"
  python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print("   %-7s %-8s %8.0f answers/s %8.0f created/s  p50 %.2f p99 %.2f ms  verified=%s" % (sys.argv[2], sys.argv[3], d["answers_per_s"], d["created_per_s"], d["p50_ms"], d["p99_ms"], d["verified"]))' \
    "$line" "$label" "$scenario" >&2
}

for round in $(seq 1 "$RUNS"); do
  log "round $round of $RUNS"
  for scenario in $SCENARIOS; do
    run_side before "$BEFORE_DIR" "$scenario"
    run_side after "$AFTER_DIR" "$scenario"
  done
done

python3 - "$OUT_DIR/results.jsonl" "$BEFORE" "$AFTER" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"medians of {len(rows) // 2 // max(1, len({r['scenario'] for r in rows}))} run(s); "
      f"before = {sys.argv[2]}, after = {sys.argv[3]}")
print(f"{'scenario':10} {'side':7} {'answers/s':>10} {'201/s':>8} {'p50 ms':>7} {'p99 ms':>7}")
for scenario in sorted({r["scenario"] for r in rows}):
    med = {}
    for side in ("before", "after"):
        rs = [r for r in rows if r["scenario"] == scenario and r["side"] == side]
        med[side] = {k: statistics.median(r[k] for r in rs)
                     for k in ("answers_per_s", "created_per_s", "p50_ms", "p99_ms")}
        m = med[side]
        print(f"{scenario:10} {side:7} {m['answers_per_s']:10.0f} {m['created_per_s']:8.0f} "
              f"{m['p50_ms']:7.2f} {m['p99_ms']:7.2f}")
    b, a = med["before"]["answers_per_s"], med["after"]["answers_per_s"]
    print(f"{scenario:10} after/before answers/s: {a / b:.2f}x, p99 "
          f"{med['before']['p99_ms']:.2f} -> {med['after']['p99_ms']:.2f} ms")
EOF
log "every run's JSON line: $OUT_DIR/results.jsonl"
