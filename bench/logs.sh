#!/usr/bin/env bash
# The log path through the tend binary with the writers real programs are
# (whole-line runs, Go bufio, JVM, C stdio, one write per line, a real JVM)
# against cat, and against s6-log, svlogd, tini and supervisord when they
# are installed: wall time, throughput, the logger's own CPU and peak RSS,
# as ratios to `writer | cat > file`, every run's output checked line by
# line. `make bench` runs it after `make build`.
#
#   bench/logs.sh [TEND_BINARY] [-- flags for bench/logsbench]
#   bench/logs.sh bin/tend -- -quick      # 128 MiB per run, for a smoke run
#
# The Java writer (bench/java/Writer.java) is compiled into bin/bench-java
# when javac is installed; without it the JVM writers are left out.
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
classes=bin/bench-java
if command -v javac >/dev/null 2>&1; then
  rm -rf "$classes"
  mkdir -p "$classes"
  javac -d "$classes" bench/java/Writer.java
else
  echo "bench/logs.sh: no javac: the JVM writers are left out" >&2
fi
exec go run ./bench/logsbench -tend "$tend" -java "$classes" "$@"
