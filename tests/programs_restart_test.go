package tests

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A program that exits at once is started startretries+1 times, each
// time after a longer wait, then left FATAL; the container goes on.
func TestCrashLoopBacksOffThenIsFatal(t *testing.T) {
	t.Parallel()
	events := filepath.Join(t.TempDir(), "events")
	conf := writeConfD(t, map[string]string{
		"crash.conf": fmt.Sprintf("[program:crash]\ncommand = sideprog -name crash -log %s -exit 1\nstartretries = 3\nstartsecs = 1\n", events),
	})
	p := startTend(t, tendOptions{
		Args: []string{"--", "sideprog", "-name", "main", "-log", events},
		Env:  []string{conf, "TEND_EVENT_LEVEL=info", "TEND_EVENT_FORMAT=json"},
	})
	st := waitStatus(t, p, 15*time.Second, "crash to be FATAL", func(st statusDoc) bool {
		return st.program(t, "crash").State == "FATAL"
	})
	crash := st.program(t, "crash")
	if crash.LastExit == nil || crash.LastExit.Code != 1 || crash.Pid != 0 {
		t.Errorf("crash: %+v", crash)
	}
	if !strings.Contains(crash.Reason, "4 times") {
		t.Errorf("reason %q does not say how often it failed", crash.Reason)
	}
	if m := st.program(t, "main"); m.State != "RUNNING" && m.State != "STARTING" {
		t.Errorf("the main program should go on: %+v", m)
	}
	// No fifth start, even a while later.
	time.Sleep(500 * time.Millisecond)
	starts := find(readEvents(t, events), "crash", "start")
	if len(starts) != 4 {
		t.Fatalf("crash started %d times, want startretries+1 = 4", len(starts))
	}
	// The waits tend chose, from its backoff events: each start came no
	// sooner than its wait (on a busy machine, later: a program's start
	// takes its own time, so the gaps between starts say little of the
	// waits' growth).
	var waits []time.Duration
	for _, e := range tendEvents(p.Stderr()) {
		if e.str("event") == "backoff" && e.str("program") == "crash" {
			d, err := time.ParseDuration(e.str("wait"))
			if err != nil {
				t.Fatalf("backoff event %v: %v", e, err)
			}
			waits = append(waits, d)
		}
	}
	if len(waits) != len(starts)-1 {
		t.Fatalf("%d backoff events for %d starts, want one before each restart\nstderr:\n%s", len(waits), len(starts), p.Stderr())
	}
	for i := 1; i < len(starts); i++ {
		if gap := starts[i].At.Sub(starts[i-1].At); gap < waits[i-1] {
			t.Errorf("restart %d came %s after the start before it, sooner than its backoff of %s", i, gap, waits[i-1])
		}
	}
	// The first retry comes after a short wait; each next wait is longer.
	if waits[0] < 100*time.Millisecond || waits[0] > time.Second {
		t.Errorf("first retry after %s, want a short backoff", waits[0])
	}
	for i := 1; i < len(waits); i++ {
		if waits[i] <= waits[i-1] {
			t.Errorf("backoff waits %v do not grow", waits)
			break
		}
	}
	if last := waits[len(waits)-1]; last < 2*waits[0] {
		t.Errorf("backoff waits %v: the last is not at least twice the first (exponential backoff)", waits)
	}
	// The status text shows the state too.
	if out := mustCtl(t, p, "status"); !strings.Contains(out, "FATAL") || !strings.Contains(out, "crash") {
		t.Errorf("tend status:\n%s", out)
	}
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(10 * time.Second); code != 0 {
		t.Errorf("exit code %d\nstderr:\n%s", code, p.Stderr())
	}
}

// A critical program that becomes FATAL stops the container: the other
// programs are stopped in order, tend exits non-zero, and an event says
// which program failed and why.
func TestFatalCriticalProgramStopsTheContainer(t *testing.T) {
	t.Parallel()
	events := filepath.Join(t.TempDir(), "events")
	conf := writeConfD(t, map[string]string{
		"vault.conf": fmt.Sprintf("[program:vault]\ncommand = sideprog -name vault -log %s -exit 7\nstartretries = 1\ncritical = true\n", events),
		"agent.conf": fmt.Sprintf("[program:agent]\ncommand = sideprog -name agent -log %s\nstartsecs = 0\n", events),
	})
	p := startTend(t, tendOptions{
		Args: []string{"--", "sideprog", "-name", "main", "-log", events},
		Env:  []string{conf},
	})
	code := p.Wait(15 * time.Second)
	if code == 0 {
		t.Errorf("exit code 0 after a critical program failed\nstderr:\n%s", p.Stderr())
	}
	stderr := p.Stderr()
	if !strings.Contains(stderr, "critical program failed") || !strings.Contains(stderr, "vault") || !strings.Contains(stderr, "last exit code 7") {
		t.Errorf("no event saying that vault failed and why:\n%s", stderr)
	}
	evs := readEvents(t, events)
	if n := len(find(evs, "vault", "start")); n != 2 {
		t.Errorf("vault started %d times, want startretries+1 = 2", n)
	}
	for _, name := range []string{"main", "agent"} {
		if len(find(evs, name, "signal TERM")) != 1 {
			t.Errorf("%s was not stopped with TERM: %v", name, evs)
		}
	}
}

// TEND_MAIN_ON_EXIT=hold: a main program that fails at start leaves the
// container up for inspection, side programs running and readiness
// failing, with the main program's exit code in tend status; after
// TEND_HOLD_FOR tend exits with that code.
func TestHoldKeepsTheContainerUpAfterTheMainProgramFails(t *testing.T) {
	t.Parallel()
	events := filepath.Join(t.TempDir(), "events")
	conf := writeConfD(t, map[string]string{
		"sshd.conf": fmt.Sprintf("[program:sshd]\ncommand = sideprog -name sshd -log %s\nstartsecs = 0.1\n", events),
	})
	const holdFor = 3 * time.Second
	p := startTend(t, tendOptions{
		Args: []string{"--", "sideprog", "-name", "main", "-log", events, "-exit", "3", "-lines", "5", "-after", "200ms"},
		Env:  []string{conf, "TEND_MAIN_ON_EXIT=hold", "TEND_HOLD_FOR=3s"},
	})
	st := waitStatus(t, p, 10*time.Second, "the main program to exit", func(st statusDoc) bool {
		return st.program(t, "main").LastExit != nil
	})
	evs := readEvents(t, events)
	exitedAt := find(evs, "main", "exit 3")
	if len(exitedAt) != 1 {
		t.Fatalf("main did not record its exit: %v", evs)
	}
	m := st.program(t, "main")
	if m.LastExit.Code != 3 || m.State != "EXITED" || m.Ready {
		t.Errorf("main: %+v", m)
	}
	if !st.Holding || st.Ready {
		t.Errorf("status: holding=%v ready=%v, want holding and not ready", st.Holding, st.Ready)
	}
	if s := st.program(t, "sshd"); s.State != "RUNNING" || s.Pid == 0 {
		t.Errorf("the side program should still run: %+v", s)
	}
	if code, out, _ := ctl(t, p, "health"); code != 1 {
		t.Errorf("tend health exit %d, want 1 while holding: %s", code, out)
	}
	text := mustCtl(t, p, "status")
	if !strings.Contains(text, "holding") || !strings.Contains(text, "3, ") {
		t.Errorf("tend status does not show the hold and the exit code:\n%s", text)
	}
	if n := len(m.LastLines); n == 0 || !strings.Contains(m.LastLines[n-1], "main line 5") {
		t.Errorf("last lines %q do not end with the main program's last output line", m.LastLines)
	}
	if !strings.Contains(text, "main line 5") {
		t.Errorf("tend status does not show the main program's last lines:\n%s", text)
	}
	if p.Exited() {
		t.Fatal("tend exited while holding")
	}

	code := p.Wait(holdFor + 5*time.Second)
	held := time.Since(exitedAt[0].At)
	if code != 3 {
		t.Errorf("exit code %d after the hold, want the main program's 3\nstderr:\n%s", code, p.Stderr())
	}
	if held < holdFor {
		t.Errorf("tend exited %s after the main program, before TEND_HOLD_FOR=%s", held, holdFor)
	}
	if len(find(readEvents(t, events), "sshd", "signal TERM")) != 1 {
		t.Errorf("sshd was not stopped at the end of the hold")
	}
}

// TEND_MAIN_ON_EXIT=restart restarts a main program that exits, and the
// container stays up.
func TestMainOnExitRestartRestartsTheMainProgram(t *testing.T) {
	t.Parallel()
	events := filepath.Join(t.TempDir(), "events")
	p := startTend(t, tendOptions{
		Args: []string{"--", "sideprog", "-name", "main", "-log", events, "-exit", "5", "-after", "300ms"},
		Env:  []string{"TEND_MAIN_ON_EXIT=restart", "TEND_MAIN_STARTSECS=0.1"},
	})
	waitEvents(t, p, events, 10*time.Second, "three starts of the main program", func(evs []progEvent) bool {
		return len(find(evs, "main", "start")) >= 3
	})
	st := status(t, p)
	if m := st.program(t, "main"); m.Restarts < 2 {
		t.Errorf("main: %+v, want at least 2 restarts", m)
	}
	p.Signal(syscall.SIGTERM)
	code := p.Wait(10 * time.Second)
	if code != 0 && code != 5 {
		t.Errorf("exit code %d\nstderr:\n%s", code, p.Stderr())
	}
}
