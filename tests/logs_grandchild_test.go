package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A program that leaves a setsid'd daemon behind, holding its stdout and
// stderr: once the program has exited, tend waits for the pipes' EOF at
// most TEND_STOP_FLUSH_RESERVE, not most of the stop budget, and says what
// it waits for: the program, the stream and the PID holding the pipe.
// tend runs as an ordinary child here (not PID 1), as under docker run
// --init, so the daemon outlives it.
func TestStopWaitsForAPipeAGrandchildHoldsAtMostTheFlushReserve(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "daemon.pid")
	p := startTend(t, tendOptions{
		Env: []string{
			"TEND_STOP_TIMEOUT=60s",
			"TEND_STOP_FLUSH_RESERVE=1s",
			"TEND_EVENT_FORMAT=json",
		},
		// The shell waits until the daemon has its own session (field 6
		// of /proc/PID/stat), so that the end of main's group does not
		// take it along.
		Args: []string{"--", "sh", "-c", "setsid sleep 120 & d=$!; echo $d > " + pidFile +
			`; until [ "$(cut -d' ' -f6 /proc/$d/stat)" = "$d" ]; do sleep 0.01; done; echo main done`},
	})
	t.Cleanup(func() {
		if data, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	// Before the fix tend waited until a tenth of the 60 s budget was
	// left, about 54 s; the bound here is far above a 1 s reserve.
	code := p.Wait(30 * time.Second)
	if code != 0 {
		t.Fatalf("tend exited %d\nstderr:\n%s", code, tail(p.Stderr()))
	}
	if !strings.Contains(p.Stdout(), "main done") {
		t.Errorf("the main program's output is missing:\n%s", p.Stdout())
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	daemon, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	var streams []string
	for _, e := range tendEvents(p.Stderr()) {
		if !strings.Contains(e.str("event"), "waiting for a log pipe") || e.str("program") != "main" {
			continue
		}
		pids, _ := e["held_by_pids"].([]any)
		if len(pids) != 1 || fmt.Sprint(pids[0]) != strconv.Itoa(daemon) {
			t.Errorf("event %v: want the pipe held by the daemon, PID %d", e, daemon)
		}
		streams = append(streams, e.str("stream"))
	}
	slices.Sort(streams)
	if !slices.Equal(streams, []string{"stderr", "stdout"}) {
		t.Errorf("events say tend waited for %v; want both pipes of main named\nstderr:\n%s", streams, tail(p.Stderr()))
	}
}
