package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A service writing its own rolling log files on a small tmpfs, as
// logback or logrotate rotate them: TEND_LOG_WATCH keeps them, and a file
// the service never closes, under the disk budget, and TEND_LOG_TAIL
// copies every line to the console once, in order, across the rotations.
func TestWatchedRollingFilesStayUnderBudgetAndTailInOrder(t *testing.T) {
	for _, mode := range []string{"rename", "copytruncate"} {
		// Not parallel, neither with each other nor with the package's
		// parallel tests: the peak on disk measures how soon tend reacts
		// to a file growing at 1 MB/s, which the other tests' JVMs and
		// containers would measure instead.
		t.Run(mode, func(t *testing.T) {
			requireRoot(t)
			const (
				lines  = 25000 // 100 bytes each, 2.5 MB at 6,000 lines/s: a rotation every 220 ms
				budget = 1 << 20
				slack  = 256 << 10 // what a few ms of writing and whole tmpfs pages add
			)
			fs := mountTmpfs(t, "16m")
			logs := filepath.Join(fs, "logs")
			if err := os.Mkdir(logs, 0o755); err != nil {
				t.Fatal(err)
			}
			done := filepath.Join(t.TempDir(), "done")
			p := startTend(t, tendOptions{
				Env: []string{
					"TEND_LOG_WATCH=" + logs,
					"TEND_LOG_DISK_BUDGET=1MiB",
					"TEND_LOG_TAIL=true",
					"TEND_LOG_FORMAT=json",
					"TEND_EVENT_FORMAT=json",
				},
				Args: []string{"--", "rollwriter", "-dir", logs, "-n", strconv.Itoa(lines), "-rate", "6000",
					"-size", "131072", "-keep", "20", "-mode", mode, "-grow", "big.log", "-grow-rate", "1000000",
					"-done", done, "-hold"},
			})
			sampler := sampleDisk(logs)
			waitFor(t, 30*time.Second, "the writer to finish", func() bool {
				_, err := os.Stat(done)
				return err == nil || p.Exited()
			})
			// The tailer reads what is left; then the watcher's view settles.
			time.Sleep(300 * time.Millisecond)
			peak, samples := sampler.Stop()
			st := logsStatus(t, p)
			p.Signal(syscall.SIGTERM)
			if code := p.Wait(20 * time.Second); code != 0 {
				t.Fatalf("tend exited %d\nstderr:\n%s", code, p.Stderr())
			}

			t.Logf("peak %d bytes on disk in %d samples; %d cleanups freed %d bytes", peak, samples, st.CleanupsTotal, st.CleanedBytes)
			if peak > budget+slack {
				t.Errorf("the watched files took %d bytes at their peak; the budget is %d (+%d slack)", peak, budget, slack)
			}
			if now := diskBytes(logs); now > budget {
				t.Errorf("the watched files take %d bytes at the end; the budget is %d", now, budget)
			}
			var deleted, truncatedBig bool
			for _, c := range st.Cleanups {
				switch {
				case c.Action == "deleted" && c.Reason == "disk budget":
					deleted = true
				case c.Action == "truncated" && filepath.Base(c.File) == "big.log":
					truncatedBig = true
				}
			}
			if !deleted {
				t.Errorf("no rotated file was deleted for the budget: %+v", st.Cleanups)
			}
			if !truncatedBig {
				t.Errorf("big.log, open and over-sized, was not truncated: %+v", st.Cleanups)
			}
			for _, w := range st.Watched {
				if filepath.Base(w.Path) == "big.log" && !w.Open {
					t.Errorf("tend status shows big.log as closed; the writer holds it open: %+v", w)
				}
			}
			events := 0
			for _, e := range tendEvents(p.Stderr()) {
				if strings.Contains(e.str("event"), "to keep the disk limits") {
					events++
				}
			}
			if int64(events) != st.CleanupsTotal {
				t.Errorf("%d cleanup events in tend's log, %d cleanups in tend status", events, st.CleanupsTotal)
			}

			msgs := tailedMessages(t, p.Stdout(), "app")
			if len(msgs) != lines {
				t.Errorf("%d lines of app.log tailed; the writer wrote %d", len(msgs), lines)
			}
			for i, m := range msgs {
				want := fmt.Sprintf("%08d ", i)
				if !strings.HasPrefix(m, want) {
					t.Fatalf("tailed line %d is %.20q, want it to start with %q (lines lost, repeated or out of order)", i, m, want)
				}
			}
		})
	}
}
