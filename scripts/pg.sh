#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests and benchmarks, in one directory:
#   scripts/pg.sh start DIR    install PostgreSQL if missing, initdb in DIR, start it on a free
#                              port of 127.0.0.1, print its admin URL on stdout
#   scripts/pg.sh halt DIR     stop the server (fast shutdown), keep its data
#   scripts/pg.sh resume DIR   start a halted server again on the same port
#   scripts/pg.sh stop DIR     stop the server and remove DIR
#   scripts/pg.sh url DIR      print the admin URL again
# The server runs as the `postgres` user when called as root (PostgreSQL refuses root), as the
# caller otherwise. It listens on 127.0.0.1 only, with trust authentication, its Unix socket
# inside DIR. fsync stays on: a benchmark or test of durable bookings must pay for durability.
# DIR's parent directories must be traversable by the `postgres` user (any mktemp -d is).
set -euo pipefail

die() {
  echo "pg.sh: $*" >&2
  exit 1
}

find_bindir() {
  local initdb
  initdb=$(ls -1 /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$initdb" ] && dirname "$initdb"
}

install_postgres() {
  [ -n "$(find_bindir)" ] && return 0
  echo "pg.sh: installing postgresql from Debian's packages" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q >&2
  # policy-rc.d keeps Debian's own cluster from being started where services may start.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q postgresql postgresql-client >&2
  [ -n "$(find_bindir)" ] || die "postgresql installed but no initdb under /usr/lib/postgresql"
}

# Runs a PostgreSQL program as the server's owner: never as root.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_of() {
  sed -n 's/^port = \([0-9]*\)$/\1/p' "$1/data/postgresql.auto.conf" | tail -n 1
}

print_url() {
  local port
  port=$(port_of "$1")
  [ -n "$port" ] || die "no port recorded in $1/data"
  echo "postgres://postgres@127.0.0.1:$port/postgres"
}

start_server() {  # start_server DIR BINDIR
  as_owner "$2/pg_ctl" -D "$1/data" -l "$1/server.log" -w -t 60 -s start >&2
}

cmd_start() {
  local dir=$1
  install_postgres
  local bindir
  bindir=$(find_bindir)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [ ! -e "$dir/data" ] || die "$dir/data exists already"
  [ "$(id -u)" -ne 0 ] || chown postgres: "$dir"
  chmod 700 "$dir"
  as_owner "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }

  # A port can be taken between choosing and binding it: a few tries with fresh ports.
  local attempt port
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    cat >"$dir/data/postgresql.auto.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = on
synchronous_commit = on
max_connections = 400
logging_collector = off
EOF
    [ "$(id -u)" -ne 0 ] || chown postgres: "$dir/data/postgresql.auto.conf"
    if start_server "$dir" "$bindir"; then
      local n
      for n in $(seq 1 100); do  # pg_ctl -w already waited; this also proves TCP works
        "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" && break
        sleep 0.1
      done
      print_url "$dir"
      return 0
    fi
    echo "pg.sh: start on port $port failed (attempt $attempt), retrying" >&2
  done
  tail -n 20 "$dir/server.log" >&2 || true
  die "could not start PostgreSQL in $dir"
}

cmd_halt() {
  local bindir
  bindir=$(find_bindir)
  [ -d "$1/data" ] || die "no server in $1"
  as_owner "$bindir/pg_ctl" -D "$1/data" -m fast -w -t 60 -s stop >&2
}

cmd_resume() {
  local bindir
  bindir=$(find_bindir)
  [ -d "$1/data" ] || die "no server in $1"
  start_server "$1" "$bindir"
}

cmd_stop() {
  local dir=$1 bindir
  bindir=$(find_bindir)
  if [ -n "$bindir" ] && [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 -s stop >&2 || true
  fi
  rm -rf "$dir"
}

[ $# -eq 2 ] || die "usage: scripts/pg.sh start|halt|resume|stop|url DIR"
case "$1" in
  start) cmd_start "$2" ;;
  halt) cmd_halt "$2" ;;
  resume) cmd_resume "$2" ;;
  stop) cmd_stop "$2" ;;
  url) print_url "$2" ;;
  *) die "unknown command $1" ;;
esac
