package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A watched log over the budget is truncated while its writer holds it
// open; but a file that another process maps into memory (a reader, an
// indexer) is never cut under the mapping: that process would die of
// SIGBUS at its next read. The file is left, announced, and shown as
// mapped in tend status, and the reader lives on.
func TestWatchNeverTruncatesAFileAProcessMaps(t *testing.T) {
	requireRoot(t)
	fs := mountTmpfs(t, "64m")
	logs := filepath.Join(fs, "logs")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(logs, "big.log")
	ready := filepath.Join(t.TempDir(), "mapped")
	// The reader is a side program: it maps the first 256 KiB of big.log
	// once it is that large (before it passes the budget), and holds no
	// descriptor of it.
	mapper := "mapper -file " + big + " -size 262144 -ready " + ready
	p := startTend(t, tendOptions{
		PID1: true,
		Env: []string{
			"TEND_MAPPER_COMMAND=" + mapper,
			"TEND_LOG_WATCH=" + logs,
			"TEND_LOG_DISK_BUDGET=1MiB",
			"TEND_EVENT_FORMAT=json",
		},
		// The writer holds big.log open for appending and grows it by
		// 1 MiB/s for 10 s, far past the 1 MiB budget.
		Args: []string{"--", "rollwriter", "-dir", logs, "-n", "10000", "-rate", "1000", "-grow", "big.log", "-grow-rate", "1048576", "-hold"},
	})
	waitForFile(t, 30*time.Second, ready)
	// The file keeps growing past the budget: the watcher wants room.
	waitFor(t, 30*time.Second, "the watcher to refuse truncating the mapped file", func() bool {
		return strings.Contains(p.Stderr(), "not truncating a watched file a process maps into memory") || p.Exited()
	})
	var doc struct {
		Logs struct {
			Watched []struct {
				Path   string `json:"path"`
				Mapped bool   `json:"mapped"`
			} `json:"watched"`
		} `json:"logs"`
	}
	if out := mustCtl(t, p, "status", "--json"); json.Unmarshal([]byte(out), &doc) != nil {
		t.Fatalf("tend status --json:\n%s", out)
	}
	mapped := false
	for _, w := range doc.Logs.Watched {
		if filepath.Base(w.Path) == "big.log" {
			mapped = w.Mapped
		}
	}
	if !mapped {
		t.Errorf("tend status does not show big.log as mapped: %+v", doc.Logs.Watched)
	}
	st := logsStatus(t, p)
	for _, c := range st.Cleanups {
		if filepath.Base(c.File) == "big.log" {
			t.Errorf("big.log was %s while a process mapped it: %+v", c.Action, c)
		}
	}
	var fi syscall.Stat_t
	if err := syscall.Stat(big, &fi); err != nil || fi.Size < 256<<10 {
		t.Errorf("big.log is %d bytes (%v); the mapped 256 KiB must still be there", fi.Size, err)
	}
	// STARTING is running too, for less than its startsecs: on a busy
	// machine the watcher can get here within the mapper's first second.
	if m := programLogs(t, p, "mapper"); m.Restarts != 0 || (m.State != "RUNNING" && m.State != "STARTING") {
		t.Errorf("the process mapping big.log is %s after %d restarts; it must have run on", m.State, m.Restarts)
	}
	p.Signal(syscall.SIGTERM)
	p.Wait(30 * time.Second)
	if !strings.Contains(p.Stdout(), "mapper survived") {
		t.Errorf("the process mapping big.log did not survive\nstdout:\n%s\nstderr:\n%s", tail(p.Stdout()), tail(p.Stderr()))
	}
	if strings.Contains(p.Stderr(), "unexpected fault address") || strings.Contains(p.Stderr(), "SIGBUS") {
		t.Errorf("the mapper faulted:\n%s", tail(p.Stderr()))
	}
}
