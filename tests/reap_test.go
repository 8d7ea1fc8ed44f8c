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

// orphanCount is how many orphans the reaping tests leave behind.
const orphanCount = 1000

// TestPID1ReapsEveryOrphan runs tend as PID 1 of a PID namespace; its main
// program double-forks 1,000 short-lived processes, which the kernel
// re-parents to tend. One second after the last of them exited, no process
// in the namespace may be a zombie.
func TestPID1ReapsEveryOrphan(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	dir := t.TempDir()
	p := startTend(t, tendOptions{
		PID1: true,
		Args: []string{"--", "orphanmaker", "-n", strconv.Itoa(orphanCount), "-dir", dir},
	})
	if got := nsPID(t, p.PID()); got != 1 {
		t.Fatalf("tend's PID in its namespace is %d, want 1", got)
	}
	report := orphanReport(t, p, dir)
	if report.selfPPID != 1 {
		t.Errorf("the main program's parent is PID %d in the namespace, want tend (1)", report.selfPPID)
	}
	report.assertAdoptedBy(t, 1)
	assertNoZombiesAfterOrphansExit(t, p, dir)
}

// TestSubreaperReapsEveryOrphan is the same with tend not PID 1: the
// namespace's PID 1 is an init that never reaps (nonreaper), so the
// orphans are collected only if tend made itself a child subreaper.
func TestSubreaperReapsEveryOrphan(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	dir := t.TempDir()
	p := startTend(t, tendOptions{
		PID1: true,
		Init: []string{helperPath(t, "nonreaper"), "--"},
		Args: []string{"--", "orphanmaker", "-n", strconv.Itoa(orphanCount), "-dir", dir},
	})
	tendNS := nsPID(t, p.PID())
	if tendNS == 1 {
		t.Fatal("tend is PID 1 of its namespace; this test needs it below another init")
	}
	report := orphanReport(t, p, dir)
	if report.selfPPID != tendNS {
		t.Errorf("the main program's parent is PID %d in the namespace, want tend (%d)", report.selfPPID, tendNS)
	}
	// Without PR_SET_CHILD_SUBREAPER the orphans would go to PID 1.
	report.assertAdoptedBy(t, tendNS)
	assertNoZombiesAfterOrphansExit(t, p, dir)
}

// orphans is what orphanmaker reports about the orphans it made.
type orphans struct {
	count    int
	selfPPID int
	parents  map[int]int // parent PID in the namespace -> running orphans
}

// orphanReport waits for orphanmaker's report.
func orphanReport(t *testing.T, p *tendProcess, dir string) orphans {
	t.Helper()
	var data string
	waitFor(t, 60*time.Second, "orphanmaker's report", func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "orphans"))
		data = string(b)
		if p.Exited() {
			t.Fatalf("tend exited early with code %d\nstderr:\n%s", p.Wait(0), p.Stderr())
		}
		return err == nil
	})
	r := orphans{parents: map[int]int{}}
	for _, line := range strings.Split(strings.TrimSpace(data), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "orphans":
			r.count, _ = strconv.Atoi(f[1])
		case len(f) == 2 && f[0] == "self_ppid":
			r.selfPPID, _ = strconv.Atoi(f[1])
		case len(f) == 3 && f[0] == "ppid":
			ppid, _ := strconv.Atoi(f[1])
			n, _ := strconv.Atoi(f[2])
			r.parents[ppid] = n
		default:
			t.Fatalf("unexpected line in orphanmaker's report: %q", line)
		}
	}
	if r.count != orphanCount {
		t.Fatalf("orphanmaker made %d orphans, want %d", r.count, orphanCount)
	}
	return r
}

// assertAdoptedBy checks that every orphan had been re-parented to the
// namespace PID want.
func (r orphans) assertAdoptedBy(t *testing.T, want int) {
	t.Helper()
	seen := 0
	for ppid, n := range r.parents {
		seen += n
		if ppid != want {
			t.Errorf("%d orphans were adopted by PID %d, want all by tend (%d)", n, ppid, want)
		}
	}
	if seen != orphanCount {
		t.Errorf("%d of %d orphans were running when their parents were checked; all should have been", seen, orphanCount)
	}
}

// assertNoZombiesAfterOrphansExit waits until every orphan has exited,
// waits one more second, and fails on any zombie left in tend's PID
// namespace. Then it stops tend with TERM and expects exit code 0.
func assertNoZombiesAfterOrphansExit(t *testing.T, p *tendProcess, dir string) {
	t.Helper()
	waitForFile(t, 60*time.Second, filepath.Join(dir, "exited"))
	time.Sleep(time.Second)

	// Every process of the namespace descends from its PID 1, unshare's
	// child, since orphans are re-parented inside the namespace.
	init := p.nsInit()
	if init == 0 {
		t.Fatal("the namespace's PID 1 is gone")
	}
	var zombies []string
	for _, pid := range append([]int{init}, descendants(init)...) {
		info, err := readProc(pid)
		if err == nil && info.State == 'Z' {
			zombies = append(zombies, fmt.Sprintf("pid %d (%s) parent %d", pid, info.Comm, info.PPID))
		}
	}
	if len(zombies) > 0 {
		shown := zombies
		if len(shown) > 10 {
			shown = shown[:10]
		}
		t.Errorf("%d zombies in tend's namespace one second after the orphans exited, such as:\n  %s",
			len(zombies), strings.Join(shown, "\n  "))
	}

	p.Signal(syscall.SIGTERM)
	if code := p.Wait(15 * time.Second); code != 0 {
		t.Errorf("tend exited with %d after TERM, want 0 (orphanmaker exits 0 on TERM)\nstderr:\n%s", code, p.Stderr())
	}
}
