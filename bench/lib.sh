# shellcheck shell=bash
# Helpers shared by the benchmark scripts in bench/. A script sources this file after its own
# `set -euo pipefail`, as in
#
#   # shellcheck source-path=SCRIPTDIR
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# and gets:
#   log MESSAGE...              a progress line on stderr: "== MESSAGE"
#   die MESSAGE...              "SCRIPT: MESSAGE" on stderr, then exit status 1
#   install_missing COMMAND...  apt-get installs each COMMAND that is not on PATH
#   free_port                   prints a loopback TCP port that was free a moment ago
#   wait_http URL               polls URL for up to 20 s; status 0 once it answers 200, else 1
#   bootstrap_key STDOUT_FILE   prints the admin key `bookd serve` wrote to its stdout, if any
#   create_admin_key BOOKD DB   creates an admin key in DB with the binary BOOKD and prints it
#
# It only defines functions. Failures are left to the caller's errexit and pipefail, so that a
# failing apt-get or `bookd keys create` ends the script with that command's own status.

log() { printf '== %s\n' "$*" >&2; }

# Sourcing leaves $0 alone: it is the script that was run, and the message names it.
die() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }

# The tools wanted here (nginx, curl) come in Debian packages of the same name.
install_missing() {  # COMMAND...
  local tool
  for tool in "$@"; do
    if ! command -v "$tool" >/dev/null; then
      log "installing $tool"
      apt-get install -y "$tool" >/dev/null
    fi
  done
}

# The kernel picks the port and it is released at once: another process could take it before the
# caller binds it, which on a benchmark machine is rare enough.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_http() {  # URL: waits up to 20 s for a 200
  local url="$1"
  for _ in $(seq 1 200); do
    if curl -fs -o /dev/null "$url"; then return 0; fi
    sleep 0.1
  done
  return 1
}

# `bookd serve` prints this line once, when it creates the first key of a database that has none;
# on a database that already has keys it prints nothing and neither does this.
bootstrap_key() {  # STDOUT_FILE
  sed -n 's/^bootstrap admin key: //p' "$1" | head -1
}

create_admin_key() {  # BOOKD DB: the key is the last line `keys create` prints
  "$1" keys create --role admin --db "$2" | tail -1
}
