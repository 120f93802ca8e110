#!/usr/bin/env bash
# Pool isolation: the latency of GET /healthz and GET /v1/bookings/{id} with the CPU pool idle and
# with it saturated by availability searches over 10,000 resources.
#
#   bench/pool_isolation.sh                          # build Release, 3 rounds of 10 s each way
#   RUNS=1 DURATION=3 WARMUP=1 bench/pool_isolation.sh
#
# It builds the search benchmark's data set (bookd-search-bench --build-only: 10,000 resources with
# opening hours, about 20 bookings each) into a temporary SQLite database, starts bookd on it and
# runs bookd-pool-probe in rounds: each round measures the probes alone ("idle"), then the probes
# while SEARCHERS connections send the search again as soon as each answer arrives ("saturated").
# Every probe path has one connection sending one request per INTERVAL_MS. Everything it started
# is stopped on exit.
#
# Environment (defaults in brackets): RUNS [3], DURATION seconds [10], WARMUP seconds [2],
# SEARCHERS [4], INTERVAL_MS [2], LIMIT [10: limit_per_resource of the search], BOOKD_THREADS [2],
# POOL_THREADS [2], POOL_QUEUE [64], IDS [0; 1: the search names all 10,000 resource_ids, so that
# bookd does not list the resources on the connection's thread first], BUILD_DIR [build-release], SKIP_BUILD [0],
# OUT_DIR [$BUILD_DIR/bench-results/pool-<time>].
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS="${RUNS:-3}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
SEARCHERS="${SEARCHERS:-4}"
INTERVAL_MS="${INTERVAL_MS:-2}"
LIMIT="${LIMIT:-10}"
BOOKD_THREADS="${BOOKD_THREADS:-2}"
POOL_THREADS="${POOL_THREADS:-2}"
POOL_QUEUE="${POOL_QUEUE:-64}"
BUILD_DIR="${BUILD_DIR:-$ROOT/build-release}"
OUT_DIR="${OUT_DIR:-$BUILD_DIR/bench-results/pool-$(date -u +%Y%m%dT%H%M%SZ)}"
SKIP_BUILD="${SKIP_BUILD:-0}"
IDS="${IDS:-0}"

# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ "$SKIP_BUILD" != 1 ]]; then
  log "building Release into $BUILD_DIR"
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD_DIR" --target bookd bookd-search-bench bookd-pool-probe -j2 >/dev/null
fi
BOOKD="$BUILD_DIR/bookd"
SEARCH_BENCH="$BUILD_DIR/bench/bookd-search-bench"
PROBE="$BUILD_DIR/bench/bookd-pool-probe"
for b in "$BOOKD" "$SEARCH_BENCH" "$PROBE"; do [[ -x "$b" ]] || die "missing $b"; done
command -v curl >/dev/null || die "curl is needed"

TMP="$(mktemp -d /tmp/bookd-pool.XXXXXX)"
BOOKD_PID=""
cleanup() {
  [[ -n "$BOOKD_PID" ]] && kill "$BOOKD_PID" 2>/dev/null && wait "$BOOKD_PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

log "building the data set"
"$SEARCH_BENCH" --db "$TMP/search.db" --build-only >&2
KEY="$(create_admin_key "$BOOKD" "$TMP/search.db")"
[[ -n "$KEY" ]] || die "no admin key"

PORT="$(free_port)"
"$BOOKD" serve --listen "127.0.0.1:$PORT" --db "$TMP/search.db" --threads "$BOOKD_THREADS" \
  --pool-threads "$POOL_THREADS" --pool-queue "$POOL_QUEUE" --connections-per-address 0 \
  >"$TMP/bookd.out" 2>"$TMP/bookd.err" &
BOOKD_PID=$!
wait_http "http://127.0.0.1:$PORT/healthz" || die "bookd did not start: $(tail "$TMP/bookd.err")"
log "bookd on 127.0.0.1:$PORT: --threads $BOOKD_THREADS --pool-threads $POOL_THREADS --pool-queue $POOL_QUEUE"

BOOKING="$(curl -fs -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PORT/v1/bookings?limit=1" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')"
[[ -n "$BOOKING" ]] || die "no booking to probe"
python3 - "$LIMIT" "$IDS" >"$TMP/search.json" <<'EOF'
import json, sys
body = {"from": "2027-01-04T00:00:00Z", "to": "2027-02-03T00:00:00Z", "duration": 3600,
        "step": 900, "quantity": 1, "limit_per_resource": int(sys.argv[1])}
if sys.argv[2] == "1":
    body = {"resource_ids": [f"r{i:05d}" for i in range(10000)], **body}
print(json.dumps(body, separators=(",", ":")))
EOF

mkdir -p "$OUT_DIR"
RESULTS="$OUT_DIR/results.jsonl"
: >"$RESULTS"
run_one() {  # LABEL SEARCHERS
  local label="$1" searchers="$2" args=()
  if [[ "$searchers" -gt 0 ]]; then args=(--search-body "$TMP/search.json" --searchers "$searchers"); fi
  "$PROBE" --target "127.0.0.1:$PORT" --key "$KEY" --get /healthz --get "/v1/bookings/$BOOKING" \
    --duration "$DURATION" --warmup "$WARMUP" --interval-ms "$INTERVAL_MS" "${args[@]}" |
    while read -r line; do
      printf '{"label":"%s","result":%s}\n' "$label" "$line" | tee -a "$RESULTS" >&2
    done
}

for round in $(seq 1 "$RUNS"); do
  log "round $round of $RUNS ($(uptime | sed 's/.*load/load/'))"
  run_one idle 0
  run_one saturated "$SEARCHERS"
done

python3 - "$RESULTS" "$RUNS" "$DURATION" "$SEARCHERS" <<'EOF'
import json, statistics, sys
path, runs, duration, searchers = sys.argv[1:5]
by = {}
for line in open(path):
    row = json.loads(line)
    name = row["result"]["name"]
    name = "/v1/bookings/{id}" if name.startswith("/v1/bookings/") else name
    by.setdefault((row["label"], name), []).append(row["result"])
print(f"\nmedians of {runs} run(s) of {duration} s; saturated = {searchers} search connections")
print(f"{'pool':<10} {'request':<20} {'count':>7} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}  statuses")
for (label, name), rs in sorted(by.items()):
    med = lambda k: statistics.median(r[k] for r in rs)
    statuses = {}
    for r in rs:
        for s, n in r["statuses"].items():
            statuses[s] = statuses.get(s, 0) + n
    print(f"{label:<10} {name:<20} {med('count'):7.0f} {med('p50_ms'):8.2f} {med('p90_ms'):8.2f} "
          f"{med('p99_ms'):8.2f} {med('max_ms'):8.1f}  {statuses}")
EOF
log "every run's JSON line: $RESULTS"
