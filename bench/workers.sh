#!/usr/bin/env bash
# Booking throughput of cluster mode: bookd --workers 2 beside --workers 1, same machine, same run.
#
#   bench/workers.sh                               # build Release, 3 rounds of 10 s per scenario
#   RUNS=1 DURATION=3 WARMUP=1 bench/workers.sh    # a quick smoke run
#
# Two bookd servers run side by side, each on its own fresh SQLite database in a temporary
# directory: one with --workers 1, one with --workers 2 (the same --threads each). Each round runs
# bookd-loadgen's uniform and flash scenarios against the one and then the other, back to back, so
# that the ratio compares figures taken seconds apart under the same background load. Medians of
# the rounds and the ratios are printed; every JSON line is kept in $OUT_DIR.
#
# Environment (defaults in brackets): RUNS [3], DURATION seconds [10], WARMUP seconds [2],
# CONNECTIONS [128], CLIENT_THREADS [1], BOOKD_THREADS [2], SCENARIOS [uniform flash],
# BUILD_DIR [build-release], SKIP_BUILD [0], OUT_DIR [$BUILD_DIR/bench-results/workers-<time>].
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS="${RUNS:-3}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
CONNECTIONS="${CONNECTIONS:-128}"
CLIENT_THREADS="${CLIENT_THREADS:-1}"
BOOKD_THREADS="${BOOKD_THREADS:-2}"
SCENARIOS="${SCENARIOS:-uniform flash}"
BUILD_DIR="${BUILD_DIR:-$ROOT/build-release}"
OUT_DIR="${OUT_DIR:-$BUILD_DIR/bench-results/workers-$(date -u +%Y%m%dT%H%M%SZ)}"
SKIP_BUILD="${SKIP_BUILD:-0}"

# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ "$SKIP_BUILD" != 1 ]]; then
  log "building Release into $BUILD_DIR"
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD_DIR" --target bookd bookd-loadgen -j2 >/dev/null
fi
BOOKD="$BUILD_DIR/bookd"
LOADGEN="$BUILD_DIR/bench/bookd-loadgen"
[[ -x "$BOOKD" && -x "$LOADGEN" ]] || die "missing $BOOKD or $LOADGEN"

TMP="$(mktemp -d /tmp/bookd-workers.XXXXXX)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

declare -A PORT KEY
for workers in 1 2; do
  port="$(free_port)"
  mkdir -p "$TMP/w$workers"
  "$BOOKD" serve --listen "127.0.0.1:$port" --db "$TMP/w$workers/bench.db" \
    --threads "$BOOKD_THREADS" --workers "$workers" --connections-per-address 0 \
    >"$TMP/w$workers/bookd.out" 2>"$TMP/w$workers/bookd.err" &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$port/healthz" ||
    die "bookd --workers $workers did not start: $(tail "$TMP/w$workers/bookd.err")"
  key="$(bootstrap_key "$TMP/w$workers/bookd.out")"
  [[ -n "$key" ]] || key="$(create_admin_key "$BOOKD" "$TMP/w$workers/bench.db")"
  [[ -n "$key" ]] || die "no admin key for --workers $workers"
  PORT[$workers]="$port"
  KEY[$workers]="$key"
  log "bookd --workers $workers --threads $BOOKD_THREADS on 127.0.0.1:$port"
done

mkdir -p "$OUT_DIR"
RESULTS="$OUT_DIR/results.jsonl"
: >"$RESULTS"
for round in $(seq 1 "$RUNS"); do
  log "round $round of $RUNS ($(uptime | sed 's/.*load/load/'))"
  for scenario in $SCENARIOS; do
    for workers in 1 2; do
      rc=0
      line="$("$LOADGEN" --target "127.0.0.1:${PORT[$workers]}" --scenario "$scenario" \
        --key "${KEY[$workers]}" --list-by all --connections "$CONNECTIONS" \
        --threads "$CLIENT_THREADS" --duration "$DURATION" --warmup "$WARMUP" --json \
        2>>"$OUT_DIR/loadgen.log")" || rc=$?
      [[ $rc -eq 0 ]] || log "$scenario --workers $workers: loadgen exit status $rc"
      [[ -n "$line" ]] || continue
      printf '{"scenario":"%s","workers":%d,"exit":%d,"result":%s}\n' "$scenario" "$workers" \
        "$rc" "$line" >>"$RESULTS"
      python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("   %-8s workers %s %9.0f answers/s %9.0f created/s  p50 %.2f p99 %.2f ms verified=%s clean=%s" % (sys.argv[2], sys.argv[3], r["answers_per_s"], r["created_per_s"], r["p50_ms"], r["p99_ms"], r["verified"], r["clean"]))' \
        "$line" "$scenario" "$workers" >&2
    done
  done
done

python3 - "$RESULTS" "$RUNS" "$DURATION" "$CONNECTIONS" <<'EOF'
import json, statistics, sys
path, runs, duration, connections = sys.argv[1:5]
rows = [json.loads(line) for line in open(path)]
by = {}
for row in rows:
    by.setdefault((row["scenario"], row["workers"]), []).append(row)
print(f"\nmedians of {runs} run(s) of {duration} s, {connections} connections")
print(f"{'scenario':<8} {'workers':>7} {'answers/s':>10} {'201/s':>8} {'p50 ms':>7} {'p99 ms':>8} "
      f"{'w2/w1':>6}  per-round w2/w1   clean/verified")
for scenario in ["uniform", "flash"]:
    for workers in [1, 2]:
        rs = by.get((scenario, workers))
        if not rs:
            continue
        med = lambda k: statistics.median(r["result"][k] for r in rs)
        ratio, per_round = "", ""
        if workers == 2 and (scenario, 1) in by:
            ones = by[(scenario, 1)]
            ratio = f"{med('answers_per_s') / statistics.median(r['result']['answers_per_s'] for r in ones):.2f}x"
            per_round = " ".join(f"{b['result']['answers_per_s'] / a['result']['answers_per_s']:.2f}"
                                 for a, b in zip(ones, rs))
        ok = sum(1 for r in rs if r["result"]["clean"] and r["result"]["verified"] is not False)
        print(f"{scenario:<8} {workers:>7} {med('answers_per_s'):10.0f} {med('created_per_s'):8.0f} "
              f"{med('p50_ms'):7.2f} {med('p99_ms'):8.2f} {ratio:>6}  {per_round:<17}  {ok}/{len(rs)}")
EOF
log "every run's JSON line: $RESULTS"
