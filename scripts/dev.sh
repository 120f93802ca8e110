#!/usr/bin/env bash
# One entry point for people and CI:
#   scripts/dev.sh serve   install what is missing, build (Release), start bookd
#   scripts/dev.sh test    install what is missing, build (Debug), run every test
# Packages come from Debian only; nothing else is downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake pkg-config
  libboost-dev libboost-system-dev      # HTTP (Beast) and async I/O (Asio)
  rapidjson-dev                          # JSON in and out
  libsqlite3-dev                         # embedded storage
  libhowardhinnant-date-dev tzdata       # IANA time zones and DST rules
  libabsl-dev                            # B-tree containers for the capacity ledgers
  libcli11-dev                           # command line
  libssl-dev openssl                     # SHA-256 of API keys, randomness, TLS (and test certificates)
  libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev libsimdjson-dev
  python3 python3-pytest                 # black-box tests of the running binary
  libpq-dev                              # the PostgreSQL backend's client library
  postgresql                             # a throwaway server for the PostgreSQL tests (scripts/pg.sh)
  haproxy                                # the load balancer of the multi-host tests
  nginx                                  # the benchmark's reference server
  clang-format
)

install_missing() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
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

build() {  # build DIR TYPE [extra cmake args]
  local dir=$1 type=$2
  shift 2
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="$type" "$@" >/dev/null
  cmake --build "$dir" -j"$(nproc)"
}

start_postgres() {  # a throwaway server for the PostgreSQL half of every test; gone on exit
  local dir
  dir=$(mktemp -d -t bookd-pg.XXXXXX)
  trap "scripts/pg.sh stop '$dir' || true" EXIT
  BOOKD_TEST_PG_URL=$(scripts/pg.sh start "$dir")
  export BOOKD_TEST_PG_URL BOOKD_BACKENDS=sqlite,postgres
  echo "== PostgreSQL for the tests at $BOOKD_TEST_PG_URL"
}

case "${1:-}" in
  serve)
    install_missing
    build build-release Release -DBOOKD_BENCH=OFF
    mkdir -p data
    shift
    exec ./build-release/bookd serve "$@"
    ;;
  test)
    install_missing
    echo "== format check"
    find src bench fuzz -name '*.cc' -o -name '*.h' | xargs clang-format --dry-run --Werror
    echo "== build (Debug, assertions on)"
    build build-debug Debug
    start_postgres
    echo "== unit and component tests"
    (cd build-debug && ctest --output-on-failure -j2 --timeout 300)
    echo "== black-box tests of the running binary"
    BOOKD_BIN="$PWD/build-debug/bookd" /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/blackbox
    echo "== sanitizers (ASan+UBSan: every test; TSan: the concurrency tests) and fuzzing"
    scripts/hardening.sh all 60
    ;;
  *)
    echo "usage: scripts/dev.sh serve [bookd serve flags] | test" >&2
    exit 2
    ;;
esac
