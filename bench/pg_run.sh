#!/usr/bin/env bash
# bookd on PostgreSQL against pgbench running the same booking transaction on the same server.
#
#   bench/pg_run.sh                                   # 3 rounds of 10 s per scenario
#   RUNS=1 DURATION=3 WARMUP=1 bench/pg_run.sh        # a quick smoke run
#
# It builds Release into build-release, starts a throwaway PostgreSQL (scripts/pg.sh: fsync on,
# 127.0.0.1 only), makes one database, applies bookd's migrations with `bookd migrate` and
# starts `bookd serve` on it. Each round then measures, back to back and for each scenario:
#   pgbench   bench/pgbench_booking.sql: one booking per transaction (lock the resource, add up
#             what overlaps, insert booking and item), CONNECTIONS clients, on fresh resources
#             created through bookd's API;
#   bookd     bookd-loadgen --scenario uniform|flash over HTTP, CONNECTIONS connections (it
#             creates its own fresh resources and verifies every booking afterwards).
# uniform: 100 resources of ample capacity, one random hour of 2027 per booking.
# flash:   10 resources of capacity 500, every booking asks for the same interval, so they sell
#          out and most decisions are refusals (pgbench still locks and checks for each).
# It prints medians and the ratio of bookd's booking decisions per second over HTTP to
# pgbench's transactions per second, and writes every figure as a JSON line to $OUT_DIR.
#
# Environment (defaults in brackets): RUNS [3], DURATION seconds [10], WARMUP seconds [2],
# CONNECTIONS [128], CLIENT_THREADS [1], PGBENCH_THREADS [2], BOOKD_THREADS [2],
# SCENARIOS [uniform flash], LIST_BY [all] (loadgen's verification listing), BUILD_DIR
# [build-release], OUT_DIR [$BUILD_DIR/bench-results/pg-<time>], SKIP_BUILD [0].
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS="${RUNS:-3}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
CONNECTIONS="${CONNECTIONS:-128}"
CLIENT_THREADS="${CLIENT_THREADS:-1}"
PGBENCH_THREADS="${PGBENCH_THREADS:-2}"
BOOKD_THREADS="${BOOKD_THREADS:-2}"
SCENARIOS="${SCENARIOS:-uniform flash}"
BUILD_DIR="${BUILD_DIR:-$ROOT/build-release}"
OUT_DIR="${OUT_DIR:-$BUILD_DIR/bench-results/pg-$(date -u +%Y%m%dT%H%M%SZ)}"
SKIP_BUILD="${SKIP_BUILD:-0}"
SQL="$ROOT/bench/pgbench_booking.sql"

# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# ---- build ------------------------------------------------------------------------------------
if [[ "$SKIP_BUILD" != 1 ]]; then
  log "building Release into $BUILD_DIR"
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD_DIR" --target bookd bookd-loadgen -j2 >/dev/null
fi
BOOKD="$BUILD_DIR/bookd"
LOADGEN="$BUILD_DIR/bench/bookd-loadgen"
[[ -x "$BOOKD" && -x "$LOADGEN" ]] || die "missing $BOOKD or $LOADGEN"
install_missing curl

# ---- PostgreSQL and bookd ---------------------------------------------------------------------
TMP="$(mktemp -d /tmp/bookd-pgbench.XXXXXX)"
PG_DIR="$(mktemp -d /tmp/bookd-pgbench-db.XXXXXX)"  # its own: the postgres user must enter it
BOOKD_PID=""
cleanup() {
  [[ -n "$BOOKD_PID" ]] && kill "$BOOKD_PID" 2>/dev/null && wait "$BOOKD_PID" 2>/dev/null
  "$ROOT/scripts/pg.sh" stop "$PG_DIR" || true
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

ADMIN_URL="$("$ROOT/scripts/pg.sh" start "$PG_DIR")"
PG_BIN="$(dirname "$(ls -1 /usr/lib/postgresql/*/bin/pgbench | sort -V | tail -n 1)")"
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$ADMIN_URL" -c 'CREATE DATABASE bookd_bench'
DB_URL="${ADMIN_URL%/*}/bookd_bench"
log "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') at $DB_URL (fsync on)"

"$BOOKD" migrate --db "$DB_URL" >"$TMP/migrate.log" 2>&1 || die "bookd migrate: $(cat "$TMP/migrate.log")"
KEY="$(create_admin_key "$BOOKD" "$DB_URL")"
[[ -n "$KEY" ]] || die "no admin key for bookd"

BOOKD_PORT="$(free_port)"
"$BOOKD" serve --listen "127.0.0.1:$BOOKD_PORT" --db "$DB_URL" --threads "$BOOKD_THREADS" \
  >"$TMP/bookd.out" 2>"$TMP/bookd.err" &
BOOKD_PID=$!
wait_http "http://127.0.0.1:$BOOKD_PORT/healthz" ||
  die "bookd did not start: $(tail -20 "$TMP/bookd.err")"
log "bookd on 127.0.0.1:$BOOKD_PORT, $BOOKD_THREADS threads"

# ---- run --------------------------------------------------------------------------------------
mkdir -p "$OUT_DIR"
RESULTS="$OUT_DIR/results.jsonl"
: >"$RESULTS"
FAILED=0

create_resources() {  # SET COUNT CAPACITY: pgb-SET-1 .. pgb-SET-COUNT through bookd's API
  local set="$1" count="$2" capacity="$3" i code
  for i in $(seq 1 "$count"); do
    code="$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$BOOKD_PORT/v1/resources" \
      -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
      -d "{\"id\":\"pgb-$set-$i\",\"name\":\"pgbench\",\"capacity\":$capacity}")"
    [[ "$code" == 201 ]] || die "creating resource pgb-$set-$i: HTTP $code"
  done
}

run_pgbench() {  # LABEL SET COUNT CAPACITY FLASH
  local label="$1" set="$2" count="$3" capacity="$4" flash="$5" out tps failed oversold
  create_resources "$set" "$count" "$capacity"
  out="$("$PG_BIN/pgbench" -n -c "$CONNECTIONS" -j "$PGBENCH_THREADS" -T "$DURATION" \
    -D set="$set" -D nres="$count" -D flash="$flash" -f "$SQL" "$DB_URL" 2>&1)" ||
    { echo "$out" >>"$OUT_DIR/pgbench.log"; die "$label: pgbench failed (see $OUT_DIR/pgbench.log)"; }
  echo "$out" >>"$OUT_DIR/pgbench.log"
  tps="$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' <<<"$out")"
  failed="$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' <<<"$out")"
  [[ -n "$tps" ]] || die "$label: no tps in pgbench's output"
  # The transaction must keep the invariant as bookd does, or the comparison means nothing.
  oversold="$("$PG_BIN/psql" -X -A -t -d "$DB_URL" -c "SELECT count(*) FROM (
      SELECT i.resource_id FROM booking_items i JOIN resources r
        ON r.tenant = i.tenant AND r.id = i.resource_id
      WHERE i.resource_id LIKE 'pgb-$set-%'
      GROUP BY i.resource_id, i.start_at, r.capacity HAVING sum(i.quantity) > r.capacity) o")"
  [[ "$oversold" == 0 ]] || { log "$label: $oversold oversold slots"; FAILED=1; }
  printf '{"label":"%s","pgbench":{"tps":%s,"failed":%s,"oversold":%s}}\n' \
    "$label" "$tps" "${failed:-0}" "$oversold" >>"$RESULTS"
  printf '   %-16s %10.0f transactions/s  failed=%s oversold=%s\n' "$label" "$tps" "${failed:-0}" \
    "$oversold" >&2
}

run_loadgen() {  # LABEL SCENARIO
  local label="$1" scenario="$2" line rc=0
  line="$("$LOADGEN" --target "127.0.0.1:$BOOKD_PORT" --connections "$CONNECTIONS" \
    --threads "$CLIENT_THREADS" --duration "$DURATION" --warmup "$WARMUP" --json \
    --scenario "$scenario" --key "$KEY" --list-by "${LIST_BY:-all}" \
    2>>"$OUT_DIR/loadgen.log")" || rc=$?
  if [[ $rc -ne 0 ]]; then
    log "$label: loadgen exit status $rc (1 verification failed, 2 setup, 3 unclean); see $OUT_DIR/loadgen.log"
    FAILED=1
  fi
  if [[ -n "$line" ]]; then
    printf '{"label":"%s","exit":%d,"result":%s}\n' "$label" "$rc" "$line" >>"$RESULTS"
    python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("   %-16s %10.0f answers/s %10.0f created/s  p50 %.2f p99 %.2f ms  verified=%s clean=%s" % (sys.argv[2], r["answers_per_s"], r["created_per_s"], r["p50_ms"], r["p99_ms"], r["verified"], r["clean"]))' "$line" "$label" >&2
  fi
}

for round in $(seq 1 "$RUNS"); do
  log "round $round of $RUNS"
  for scenario in $SCENARIOS; do
    case "$scenario" in
      uniform) run_pgbench pgbench-uniform "${round}1" 100 1000000 0 ;;
      flash) run_pgbench pgbench-flash "${round}2" 10 500 1 ;;
      *) die "unknown scenario $scenario" ;;
    esac
    run_loadgen "bookd-$scenario" "$scenario"
  done
done

# ---- summary ----------------------------------------------------------------------------------
python3 - "$RESULTS" "$RUNS" "$DURATION" "$CONNECTIONS" <<'EOF'
import json, statistics, sys
path, runs, duration, connections = sys.argv[1:5]
rows = [json.loads(line) for line in open(path)]
def med(label, get):
    values = [get(r) for r in rows if r["label"] == label]
    return statistics.median(values) if values else None
print(f"\nmedians of {runs} run(s) of {duration} s, {connections} clients, one PostgreSQL")
print(f"{'scenario':<9} {'pgbench tx/s':>13} {'bookd answers/s':>16} {'bookd 201/s':>12} "
      f"{'p99 ms':>8} {'bookd/pgbench':>14}")
for scenario in ("uniform", "flash"):
    tps = med(f"pgbench-{scenario}", lambda r: r["pgbench"]["tps"])
    answers = med(f"bookd-{scenario}", lambda r: r["result"]["answers_per_s"])
    if tps is None or answers is None:
        continue
    created = med(f"bookd-{scenario}", lambda r: r["result"]["created_per_s"])
    p99 = med(f"bookd-{scenario}", lambda r: r["result"]["p99_ms"])
    print(f"{scenario:<9} {tps:13.0f} {answers:16.0f} {created:12.0f} {p99:8.2f} "
          f"{answers / tps:13.2f}x")
EOF
log "every run's JSON line: $RESULTS"
exit "$FAILED"
