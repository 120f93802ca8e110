#!/bin/sh
# Runs the black-box suite against a built bookd (BOOKD_BIN, else the newest build*/bookd).
# Usage: tests/blackbox/run.sh [extra pytest arguments]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
if [ -n "${BOOKD_BIN:-}" ]; then
  export BOOKD_BIN
fi
cd "$repo"
exec /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/blackbox "$@"
