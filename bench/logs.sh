#!/usr/bin/env bash
# The log pipeline through the tend binary against cat, s6-log and svlogd,
# in one run: 1 GiB of 120-byte lines from one program, wall time,
# throughput, CPU of the logger and its peak RSS, as ratios to `cat > file`.
# `make bench` runs it after `make build`.
#
#   bench/logs.sh [TEND_BINARY] [-- extra flags for bench/logsbench]
#
# s6-log (Debian package s6) and svlogd (runit) are measured when installed.
# Prints markdown on stdout; the figures are for reading, not pass/fail.
set -euo pipefail
cd "$(dirname "$0")/.."
tend="${1:-bin/tend}"
shift || true
[ "${1:-}" = "--" ] && shift
if [ ! -x "$tend" ]; then
  echo "bench/logs.sh: $tend not found; run make build first" >&2
  exit 1
fi
exec go run ./bench/logsbench -tend "$tend" "$@"
