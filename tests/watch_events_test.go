package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The watcher reacts to events, and rescans everything only rarely (every
// minute or more): these tests give tend far less time than a rescan, so
// each finding below must come from an event or from auto's look at the
// programs' descriptors every two seconds.

// wantTailed waits until the records of each program tailed to the JSON
// console are the lines given, in order.
func wantTailed(t *testing.T, p *tendProcess, within time.Duration, want map[string][]string) {
	t.Helper()
	done := func() bool {
		for prog, lines := range want {
			if !slices.Equal(tailedMessages(t, p.Stdout(), prog), lines) {
				return false
			}
		}
		return true
	}
	waitFor(t, within, "the lines of the watched files on the console", func() bool { return done() || p.Exited() })
	for prog, lines := range want {
		if got := tailedMessages(t, p.Stdout(), prog); !slices.Equal(got, lines) {
			t.Errorf("tailed lines of %s: %q, want %q\nstderr:\n%s", prog, got, lines, p.Stderr())
		}
	}
}

// numbered returns prefix-1 .. prefix-n.
func numbered(prefix string, n int) []string {
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, fmt.Sprintf("%s-%d", prefix, i))
	}
	return out
}

// A pattern whose directories do not exist when tend starts (a literal
// path, and a wildcard among directories) is found as soon as they are
// made, and again when its directory is removed and made anew.
func TestWatchFindsDirectoriesMadeAfterStart(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	script := fmt.Sprintf(`cd %s
sleep 0.5
mkdir -p later/logs svc-b
for i in 1 2 3; do echo first-$i >> later/logs/first.log; echo second-$i >> svc-b/second.log; sleep 0.2; done
sleep 1
rm -r later
sleep 1
mkdir -p later/logs
sleep 0.5
echo first-again >> later/logs/first.log
exec sleep 100`, root)
	p := startTend(t, tendOptions{
		Env: []string{
			"TEND_LOG_WATCH=" + filepath.Join(root, "later/logs/*.log") + "," + filepath.Join(root, "svc-*/second.log"),
			"TEND_LOG_TAIL=true",
			"TEND_LOG_FORMAT=json",
			"TEND_EVENT_FORMAT=json",
		},
		Args: []string{"--", "sh", "-c", script},
	})
	wantTailed(t, p, 15*time.Second, map[string][]string{
		"first":  append(numbered("first", 3), "first-again"),
		"second": numbered("second", 3),
	})
	p.Signal(syscall.SIGTERM)
	p.Wait(20 * time.Second)
}

// auto finds a file a program opens in a new directory after it started,
// and the file it opens next under another name on the same descriptor
// (a log named by the date), without waiting for a rescan. The program
// is one bash that starts no process meanwhile (it waits on a named pipe
// instead of running sleep), so that no new process shows the file, and
// its number of open descriptors stays the same when it opens day2.log.
func TestWatchAutoFindsFilesAProgramOpensLater(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(root, "tick"), 0o600); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`cd %s
mkdir d
exec 9<>tick
read -t 1 -u 9
exec 3>>d/day1.log
i=1; while [ $i -le 10 ]; do echo day1-$i >&3; i=$((i+1)); read -t 0.3 -u 9; done
exec 3>>d/day2.log
i=1; while [ $i -le 10 ]; do echo day2-$i >&3; i=$((i+1)); read -t 0.3 -u 9; done
exec sleep 100`, root)
	p := startTend(t, tendOptions{
		Env: []string{
			"TEND_LOG_WATCH=auto",
			"TEND_LOG_TAIL=true",
			"TEND_LOG_FORMAT=json",
			"TEND_EVENT_FORMAT=json",
			"TEND_EVENT_LEVEL=info",
		},
		Args: []string{"--", "bash", "-c", script},
	})
	wantTailed(t, p, 20*time.Second, map[string][]string{"main": append(numbered("day1", 10), numbered("day2", 10)...)})
	found := 0
	for _, e := range tendEvents(p.Stderr()) {
		if e.str("event") == "watching a file a program writes" && strings.HasPrefix(e.str("file"), root) {
			found++
		}
	}
	if found != 2 {
		t.Errorf("%d events of files found, want 2 (day1.log and day2.log)\nstderr:\n%s", found, p.Stderr())
	}
	p.Signal(syscall.SIGTERM)
	p.Wait(20 * time.Second)
}

// More files made at once than the kernel's inotify queue holds (16,384
// events by default) while tend is stopped: the queue overflows, the
// events of many files are lost, and tend finds them all by a rescan at
// once rather than at the next safety-net rescan.
func TestWatchRescansWhenTheEventQueueOverflows(t *testing.T) {
	t.Parallel()
	const files = 30000
	if data, err := os.ReadFile("/proc/sys/fs/inotify/max_queued_events"); err == nil {
		var max int
		if _, err := fmt.Sscan(string(data), &max); err == nil && max >= files {
			t.Skipf("fs.inotify.max_queued_events is %d: %d files do not overflow it", max, files)
		}
	}
	logs := t.TempDir()
	p := startTend(t, tendOptions{
		Env:  []string{"TEND_LOG_WATCH=" + logs, "TEND_EVENT_FORMAT=json"},
		Args: []string{"--", "sleep", "100"},
	})
	waitFor(t, 20*time.Second, "tend's control socket", func() bool {
		_, err := os.Stat(p.socket())
		return err == nil || p.Exited()
	})
	p.Signal(syscall.SIGSTOP)
	for i := range files {
		if err := os.WriteFile(filepath.Join(logs, fmt.Sprintf("f%05d.log", i)), []byte("x\n"), 0o644); err != nil {
			p.Signal(syscall.SIGCONT)
			t.Fatal(err)
		}
	}
	p.Signal(syscall.SIGCONT)
	var st watchStatus
	var more int
	waitFor(t, 30*time.Second, "tend status to count every file", func() bool {
		st, more = watchedCount(t, p)
		return len(st.Watched)+more == files || p.Exited()
	})
	if n := len(st.Watched) + more; n != files {
		t.Errorf("tend watches %d files, want %d", n, files)
	}
	p.Signal(syscall.SIGTERM)
	p.Wait(20 * time.Second)
}

// watchedCount returns the logs object of `tend status --json` and how
// many watched files it leaves out of its list.
func watchedCount(t *testing.T, p *tendProcess) (watchStatus, int) {
	t.Helper()
	var doc struct {
		Logs struct {
			WatchedMore int `json:"watched_more"`
		} `json:"logs"`
	}
	out := mustCtl(t, p, "status", "--json")
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("tend status --json: %v\n%s", err, out)
	}
	return logsStatus(t, p), doc.Logs.WatchedMore
}
