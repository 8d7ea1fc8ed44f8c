package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Program states as `tend status` shows them, and the control commands
// on the main program, through the real binary.

// A side program whose restart fails because tend has run out of file
// descriptors is retried with backoff, with a warning saying why, and
// runs again once descriptors are back; a lack of resources never makes
// it FATAL, even with startretries = 1.
func TestStartFailingForLackOfDescriptorsIsRetriedUntilItRuns(t *testing.T) {
	t.Parallel()
	events := filepath.Join(t.TempDir(), "events")
	conf := writeConfD(t, map[string]string{
		"agent.conf": fmt.Sprintf("[program:agent]\ncommand = sideprog -name agent -log %s\nstartretries = 1\n", events),
	})
	p := startTend(t, tendOptions{
		Args: []string{"--", "sideprog", "-name", "main", "-log", events},
		Env:  []string{conf, "TEND_EVENT_FORMAT=json"},
	})
	before := waitStatus(t, p, 15*time.Second, "agent running", func(st statusDoc) bool {
		return st.program(t, "agent").State == "RUNNING"
	}).program(t, "agent")

	// No descriptor above 2 can be opened in tend any more: neither
	// /dev/null for the program's stdin nor the pipe fork uses.
	var saved unix.Rlimit
	if err := unix.Prlimit(p.PID(), unix.RLIMIT_NOFILE, nil, &saved); err != nil {
		t.Fatal(err)
	}
	exhausted := unix.Rlimit{Cur: 3, Max: saved.Max}
	if err := unix.Prlimit(p.PID(), unix.RLIMIT_NOFILE, &exhausted, nil); err != nil {
		t.Fatalf("prlimit --nofile=3 on tend: %v", err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if err := unix.Prlimit(p.PID(), unix.RLIMIT_NOFILE, &saved, nil); err != nil {
				t.Errorf("restore tend's RLIMIT_NOFILE: %v", err)
			}
		}
	}
	defer restore()
	if err := syscall.Kill(before.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}

	shortage := func(e tendEvent) bool {
		return e.str("program") == "agent" && strings.Contains(e.str("event"), "lack of resources")
	}
	fatal := func(e tendEvent) bool { return e.str("program") == "agent" && e.str("event") == "fatal" }
	var warned []tendEvent
	waitFor(t, 20*time.Second, "three retries of agent, or agent FATAL", func() bool {
		evs := tendEvents(p.Stderr())
		warned = nil
		for _, e := range evs {
			if shortage(e) {
				warned = append(warned, e)
			}
		}
		return len(warned) >= 3 || slices.ContainsFunc(evs, fatal) || p.Exited()
	})
	restore()
	if slices.ContainsFunc(tendEvents(p.Stderr()), fatal) {
		t.Fatalf("agent became FATAL for lack of descriptors\nstderr:\n%s", p.Stderr())
	}
	if len(warned) < 3 {
		t.Fatalf("%d warnings about the lack of resources, want 3\nstderr:\n%s", len(warned), p.Stderr())
	}
	for _, e := range warned {
		if e.str("level") != "warn" || !strings.Contains(e.str("error"), "too many open files") || e.str("retry_in") == "" {
			t.Errorf("warning %v does not say what is missing and when it retries", e)
		}
	}

	after := waitStatus(t, p, 20*time.Second, "agent running again", func(st statusDoc) bool {
		a := st.program(t, "agent")
		return a.State == "RUNNING" && a.Pid != before.Pid
	}).program(t, "agent")
	if after.Restarts < 4 {
		t.Errorf("agent: %+v; want a restart for the kill and one per retry", after)
	}
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(15 * time.Second); code != 0 {
		t.Errorf("exit code %d\nstderr:\n%s", code, p.Stderr())
	}
}

// `tend stop main` is the stop sequence: the main program and then the
// side programs get their stop signal, and tend exits with the main
// program's exit code.
func TestStopMainStopsTheContainerWithTheMainProgramsCode(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	events, signals, ready := filepath.Join(dir, "events"), filepath.Join(dir, "signals"), filepath.Join(dir, "ready")
	conf := writeConfD(t, map[string]string{
		"agent.conf": fmt.Sprintf("[program:agent]\ncommand = sideprog -name agent -log %s\n", events),
	})
	p := startTend(t, tendOptions{
		Args: []string{"--", "sigrecorder", "-out", signals, "-ready", ready, "-exit-on", "TERM", "-exit-code", "7"},
		Env:  []string{conf},
	})
	waitForFile(t, 15*time.Second, ready)
	waitStatus(t, p, 15*time.Second, "agent running", func(st statusDoc) bool { return st.program(t, "agent").State == "RUNNING" })

	mustCtl(t, p, "stop", "main")
	if code := p.Wait(15 * time.Second); code != 7 {
		t.Errorf("exit code %d, want the main program's 7\nstderr:\n%s", code, p.Stderr())
	}
	if got, _ := os.ReadFile(signals); strings.TrimSpace(string(got)) != "TERM" {
		t.Errorf("the main program received %q, want TERM", got)
	}
	if len(find(readEvents(t, events), "agent", "signal TERM")) != 1 {
		t.Errorf("agent was not stopped: %v", readEvents(t, events))
	}
}

// `tend restart main` restarts the main program and nothing else: the
// side programs keep running and tend stays up.
func TestRestartMainRestartsOnlyTheMainProgram(t *testing.T) {
	t.Parallel()
	events := filepath.Join(t.TempDir(), "events")
	conf := writeConfD(t, map[string]string{
		"agent.conf": fmt.Sprintf("[program:agent]\ncommand = sideprog -name agent -log %s\n", events),
	})
	p := startTend(t, tendOptions{
		Args: []string{"--", "sideprog", "-name", "main", "-log", events},
		Env:  []string{conf},
	})
	before := waitStatus(t, p, 15*time.Second, "main and agent running", func(st statusDoc) bool {
		return st.program(t, "main").State == "RUNNING" && st.program(t, "agent").State == "RUNNING"
	})
	mustCtl(t, p, "restart", "main")
	after := status(t, p)
	m, a := after.program(t, "main"), after.program(t, "agent")
	if m.Pid == 0 || m.Pid == before.program(t, "main").Pid || m.Restarts != 1 {
		t.Errorf("main after restart: %+v (before: pid %d)", m, before.program(t, "main").Pid)
	}
	if a.Pid != before.program(t, "agent").Pid || a.State != "RUNNING" || a.Restarts != 0 {
		t.Errorf("agent was touched by the restart of main: %+v", a)
	}
	evs := waitEvents(t, p, events, 10*time.Second, "main to start again", func(evs []progEvent) bool {
		return len(find(evs, "main", "start")) == 2
	})
	if len(find(evs, "main", "signal TERM")) != 1 || len(find(evs, "agent", "signal TERM")) != 0 {
		t.Errorf("events: %v", evs)
	}
	if p.Exited() {
		t.Fatalf("tend exited (code %d) after a restart of main", p.Wait(0))
	}
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(15 * time.Second); code != 0 {
		t.Errorf("exit code %d\nstderr:\n%s", code, p.Stderr())
	}
}

// A main program stopped by SIGSTOP stays RUNNING (it still holds its
// memory and ports) but is not ready, and says why; on TERM it is
// continued, so it ends by its stop signal instead of the kill.
func TestStoppedMainIsNotReadyAndEndsByItsStopSignal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	signals, ready := filepath.Join(dir, "signals"), filepath.Join(dir, "ready")
	p := startTend(t, tendOptions{
		Args: []string{"--", "sigrecorder", "-out", signals, "-ready", ready, "-exit-on", "TERM", "-exit-code", "0"},
	})
	waitForFile(t, 15*time.Second, ready)
	pid := waitStatus(t, p, 15*time.Second, "main ready", func(st statusDoc) bool { return st.Ready }).program(t, "main").Pid

	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	st := waitStatus(t, p, 10*time.Second, "main not ready", func(st statusDoc) bool { return !st.program(t, "main").Ready })
	if m := st.program(t, "main"); m.State != "RUNNING" || m.Pid != pid || !strings.Contains(m.Reason, "stopped by a signal") || st.Ready {
		t.Errorf("status of a stopped main program: ready=%v %+v", st.Ready, m)
	}
	if code, out, _ := ctl(t, p, "health"); code != 1 || !strings.Contains(out, "stopped by a signal") {
		t.Errorf("tend health while main is stopped: exit %d, %q", code, out)
	}
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, p, 10*time.Second, "ready again after CONT", func(st statusDoc) bool { return st.Ready })

	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, p, 10*time.Second, "main stopped again", func(st statusDoc) bool { return !st.Ready })
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(20 * time.Second); code != 0 {
		t.Errorf("exit code %d, want the main program's 0 (137: it was killed while stopped)\nstderr:\n%s", code, p.Stderr())
	}
	if got, _ := os.ReadFile(signals); !slices.Contains(strings.Fields(string(got)), "TERM") {
		t.Errorf("the main program recorded %q, want its TERM among them", got)
	}
}

// A program waiting for its dependencies is WAITING, with what it waits
// for and since when, and readiness fails until it runs.
func TestWaitingProgramShowsWhatItWaitsFor(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	flag := filepath.Join(dir, "db-ready")
	conf := writeConfD(t, map[string]string{
		"db.conf": fmt.Sprintf("[program:db]\ncommand = sideprog -name db -log %s\nready = exec:test -f %s\npriority = 1\n",
			filepath.Join(dir, "events"), flag),
		"app.conf": fmt.Sprintf("[program:app]\ncommand = sideprog -name app -log %s\ndepends_on = db\npriority = 2\n",
			filepath.Join(dir, "events")),
	})
	p := startTend(t, tendOptions{Args: []string{"--", "sleep", "600"}, Env: []string{conf}})
	st := waitStatus(t, p, 15*time.Second, "app waiting", func(st statusDoc) bool { return st.program(t, "app").State == "WAITING" })
	if app := st.program(t, "app"); app.Reason != "waiting for db to be ready" || app.Pid != 0 {
		t.Errorf("app: %+v", app)
	}
	out := mustCtl(t, p, "status", "--json")
	if !strings.Contains(out, `"since"`) {
		t.Errorf("tend status --json does not say since when: %s", out)
	}
	if code, out, _ := ctl(t, p, "health"); code != 1 || !strings.Contains(out, "app WAITING (waiting for db to be ready)") {
		t.Errorf("tend health while app waits: exit %d, %q", code, out)
	}
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, p, 15*time.Second, "app running and every program ready", func(st statusDoc) bool {
		return st.program(t, "app").State == "RUNNING" && st.Ready
	})
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(15 * time.Second); code != 143 {
		t.Errorf("exit code %d, want sleep's 143\nstderr:\n%s", code, p.Stderr())
	}
}
