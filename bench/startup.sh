#!/usr/bin/env bash
# Start-up overhead, idle memory and binary size of tend against true,
# tini and dumb-init, in one run. `make bench` runs it after `make build`.
#
#   bench/startup.sh [TEND_BINARY] [-- extra flags for bench/startup]
#
# Needs hyperfine; tini and dumb-init are measured when installed. Prints
# markdown tables on stdout; the figures are for reading, not pass/fail.
set -euo pipefail
cd "$(dirname "$0")/.."
tend="${1:-bin/tend}"
shift || true
[ "${1:-}" = "--" ] && shift
if [ ! -x "$tend" ]; then
  echo "bench/startup.sh: $tend not found; run make build first" >&2
  exit 1
fi
exec go run ./bench/startup -tend "$tend" "$@"
