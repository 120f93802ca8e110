#!/usr/bin/env bash
# The reproducible benchmark of bookd against nginx, on this machine, with one client tool.
#
#   bench/run.sh                 # 3 rounds of 10 s per scenario, then the JSON microbenchmark
#   RUNS=1 DURATION=3 WARMUP=1 bench/run.sh      # a quick smoke run
#
# It builds Release into build-release, starts nginx (static 200, the reference) and bookd on a
# fresh SQLite database in a temporary directory, both on free loopback ports, and runs
# bookd-loadgen in rounds: each round measures nginx static, bookd /healthz, uniform bookings and
# a flash sale back to back, so that every ratio compares figures taken minutes apart under the
# same background load. It prints the medians and ratios and writes every JSON line to
# $OUT_DIR. Everything it started is stopped on exit.
#
# Environment (defaults in brackets): RUNS [3], DURATION seconds [10], WARMUP seconds [2],
# CONNECTIONS [128], CLIENT_THREADS [1], BOOKD_THREADS [2], SCENARIOS [static uniform flash],
# JSON_BENCH [1], BUILD_DIR [build-release], OUT_DIR [$BUILD_DIR/bench-results/<time>],
# SKIP_BUILD [0], BENCH_COMMIT [unset: build the working tree; else a commit, e.g. HEAD, whose
# files are exported with git archive and built in $BUILD_DIR/commit-src, so that the figures
# belong to exactly that commit and not to work in progress], CMAKE_ARGS [extra cmake options,
# e.g. -DBOOKD_WERROR=OFF], LOADGEN [the loadgen binary to use], LIST_BY [all: how the loadgen
# lists bookings for its verification; "resource" pages GET /v1/bookings?resource_id= per
# resource, which the SQLite store currently answers in time quadratic in the bookings].
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS="${RUNS:-3}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
CONNECTIONS="${CONNECTIONS:-128}"
CLIENT_THREADS="${CLIENT_THREADS:-1}"
BOOKD_THREADS="${BOOKD_THREADS:-2}"
SCENARIOS="${SCENARIOS:-static uniform flash}"
JSON_BENCH="${JSON_BENCH:-1}"
BUILD_DIR="${BUILD_DIR:-$ROOT/build-release}"
OUT_DIR="${OUT_DIR:-$BUILD_DIR/bench-results/$(date -u +%Y%m%dT%H%M%SZ)}"
SKIP_BUILD="${SKIP_BUILD:-0}"

# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# ---- build ------------------------------------------------------------------------------------
SOURCE_DIR="$ROOT"
BINARY_DIR="$BUILD_DIR"
if [[ -n "${BENCH_COMMIT:-}" ]]; then
  SHA="$(git -C "$ROOT" rev-parse --verify "$BENCH_COMMIT^{commit}")"
  SOURCE_DIR="$BUILD_DIR/commit-src"
  BINARY_DIR="$BUILD_DIR/commit-build"
  if [[ "$SKIP_BUILD" != 1 ]]; then
    # git archive stamps every file with the commit time: a new commit rebuilds everything.
    rm -rf "$SOURCE_DIR"
    mkdir -p "$SOURCE_DIR"
    git -C "$ROOT" archive "$SHA" | tar -x -C "$SOURCE_DIR"
  fi
  log "measuring commit $SHA"
fi
if [[ "$SKIP_BUILD" != 1 ]]; then
  log "building Release into $BINARY_DIR"
  # shellcheck disable=SC2086 # CMAKE_ARGS is a list of options.
  cmake -S "$SOURCE_DIR" -B "$BINARY_DIR" -DCMAKE_BUILD_TYPE=Release ${CMAKE_ARGS:-} >/dev/null
  cmake --build "$BINARY_DIR" --target bookd bookd-loadgen bookd-json-bench -j2 >/dev/null
fi
BOOKD="$BINARY_DIR/bookd"
LOADGEN="${LOADGEN:-$BINARY_DIR/bench/bookd-loadgen}"
JSONBENCH="$BINARY_DIR/bench/bookd-json-bench"
[[ -x "$BOOKD" && -x "$LOADGEN" ]] || die "missing $BOOKD or $LOADGEN"

install_missing nginx curl

# ---- start the servers ------------------------------------------------------------------------
TMP="$(mktemp -d /tmp/bookd-bench.XXXXXX)"
NGINX_PID=""
BOOKD_PID=""
cleanup() {
  [[ -n "$BOOKD_PID" ]] && kill "$BOOKD_PID" 2>/dev/null && wait "$BOOKD_PID" 2>/dev/null
  [[ -n "$NGINX_PID" ]] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

NGINX_PORT="$(free_port)"
mkdir -p "$TMP/nginx"
cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes auto;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $TMP/nginx/body;
  proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fastcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi;
  scgi_temp_path $TMP/nginx/scgi;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      default_type application/json;
      return 200 '{"status":"ok"}';
    }
  }
}
EOF
nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" 2>"$TMP/nginx/stderr.log" &
NGINX_PID=$!
wait_http "http://127.0.0.1:$NGINX_PORT/healthz" || die "nginx did not start: $(cat "$TMP/nginx/"*.log)"
log "nginx $(nginx -v 2>&1 | sed 's/.*\///') on 127.0.0.1:$NGINX_PORT"

BOOKD_PORT="$(free_port)"
"$BOOKD" serve --listen "127.0.0.1:$BOOKD_PORT" --db "$TMP/bench.db" --threads "$BOOKD_THREADS" \
  >"$TMP/bookd.out" 2>"$TMP/bookd.err" &
BOOKD_PID=$!
wait_http "http://127.0.0.1:$BOOKD_PORT/healthz" ||
  die "bookd did not start: $(tail -20 "$TMP/bookd.err")"
KEY="$(bootstrap_key "$TMP/bookd.out")"
if [[ -z "$KEY" ]]; then
  KEY="$(create_admin_key "$BOOKD" "$TMP/bench.db")"
fi
[[ -n "$KEY" ]] || die "no admin key for bookd"
log "bookd on 127.0.0.1:$BOOKD_PORT, db $TMP/bench.db, $BOOKD_THREADS threads"

# ---- run --------------------------------------------------------------------------------------
mkdir -p "$OUT_DIR"
RESULTS="$OUT_DIR/results.jsonl"
: >"$RESULTS"
FAILED=0

run_one() {  # LABEL TARGET loadgen-args...
  local label="$1" target="$2"
  shift 2
  local line rc=0
  line="$("$LOADGEN" --target "$target" --connections "$CONNECTIONS" --threads "$CLIENT_THREADS" \
    --duration "$DURATION" --warmup "$WARMUP" --json "$@" 2>>"$OUT_DIR/loadgen.log")" || rc=$?
  if [[ $rc -ne 0 ]]; then
    log "$label: loadgen exit status $rc (1 verification failed, 2 setup, 3 unclean); see $OUT_DIR/loadgen.log"
    FAILED=1
  fi
  if [[ -n "$line" ]]; then
    printf '{"label":"%s","exit":%d,"result":%s}\n' "$label" "$rc" "$line" >>"$RESULTS"
    python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("   %-14s %10.0f answers/s %10.0f created/s  p50 %.2f p99 %.2f max %.1f ms  verified=%s clean=%s" % (sys.argv[2], r["answers_per_s"], r["created_per_s"], r["p50_ms"], r["p99_ms"], r["max_ms"], r["verified"], r["clean"]))' "$line" "$label" >&2
  fi
}

for round in $(seq 1 "$RUNS"); do
  log "round $round of $RUNS"
  for scenario in $SCENARIOS; do
    case "$scenario" in
      static)
        run_one nginx-static "127.0.0.1:$NGINX_PORT" --scenario static --path /healthz
        run_one bookd-static "127.0.0.1:$BOOKD_PORT" --scenario static --path /healthz
        ;;
      uniform | flash)
        run_one "bookd-$scenario" "127.0.0.1:$BOOKD_PORT" --scenario "$scenario" --key "$KEY" \
          --list-by "${LIST_BY:-all}"
        ;;
      *) die "unknown scenario $scenario" ;;
    esac
  done
done

# ---- summary ----------------------------------------------------------------------------------
python3 - "$RESULTS" "$RUNS" "$DURATION" "$CONNECTIONS" <<'EOF'
import json, statistics, sys
path, runs, duration, connections = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
rows = [json.loads(line) for line in open(path)]
by = {}
for row in rows:
    by.setdefault(row["label"], []).append(row["result"])
def med(label, key):
    values = [r[key] for r in by.get(label, [])]
    return statistics.median(values) if values else None
nginx = med("nginx-static", "answers_per_s")
print(f"\nmedians of {runs} run(s) of {duration} s, {connections} connections")
print(f"{'scenario':<14} {'answers/s':>11} {'201/s':>9} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} "
      f"{'max ms':>8} {'vs nginx':>9}  clean/verified")
for label in ["nginx-static", "bookd-static", "bookd-uniform", "bookd-flash"]:
    if label not in by:
        continue
    a = med(label, "answers_per_s")
    ratio = f"{a / nginx:9.1%}" if nginx else f"{'-':>9}"
    ok = sum(1 for r in by[label] if r["clean"] and r["verified"] is not False)
    print(f"{label:<14} {a:11.0f} {med(label, 'created_per_s'):9.0f} {med(label, 'p50_ms'):8.2f} "
          f"{med(label, 'p90_ms'):8.2f} {med(label, 'p99_ms'):8.2f} {med(label, 'max_ms'):8.1f} "
          f"{ratio}  {ok}/{len(by[label])}")
EOF
log "every run's JSON line: $RESULTS"

if [[ "$JSON_BENCH" == 1 && -x "$JSONBENCH" ]]; then
  log "JSON parser microbenchmark"
  "$JSONBENCH" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
    --benchmark_out="$OUT_DIR/json_bench.json" --benchmark_out_format=json
fi

exit "$FAILED"
