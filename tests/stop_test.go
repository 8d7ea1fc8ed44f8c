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

// ignoringGroup is a main program that ignores TERM and has a child in its
// process group that ignores TERM too (it inherits the ignored disposition).
const ignoringGroup = `trap '' TERM; sleep 1000 & wait; wait`

// startIgnoringGroup runs ignoringGroup under tend and returns the main
// program and its child, both running.
func startIgnoringGroup(t *testing.T, pid1 bool, env ...string) (p *tendProcess, main, child procInfo) {
	t.Helper()
	p = startTend(t, tendOptions{PID1: pid1, Env: env, Args: []string{"--", "sh", "-c", ignoringGroup}})
	main = mustProc(t, p.MainPID())
	waitFor(t, 10*time.Second, "the main program's child", func() bool {
		kids := childrenOf(main.PID)
		if len(kids) == 0 {
			return false
		}
		child = mustProc(t, kids[0])
		return child.Comm == "sleep"
	})
	if got, want := pgid(t, child.PID), pgid(t, main.PID); got != want {
		t.Fatalf("child is in process group %d, main in %d; the test needs them in one group", got, want)
	}
	return p, main, child
}

// TestStopKillsIgnoringGroupAfterTimeout: a main program and its child
// that both ignore TERM are killed, the whole group, once the stop budget
// TEND_STOP_TIMEOUT runs out; tend exits 137 within the budget.
func TestStopKillsIgnoringGroupAfterTimeout(t *testing.T) {
	bothModes(t, func(t *testing.T, pid1 bool) {
		const budget = 2 * time.Second
		p, main, child := startIgnoringGroup(t, pid1, fmt.Sprintf("TEND_STOP_TIMEOUT=%s", budget))
		start := p.SignalAt(syscall.SIGTERM)

		// TERM is ignored: both must still run a moment later, so the
		// kill below is the escalation and not the TERM itself.
		time.Sleep(300 * time.Millisecond)
		if !alive(main) || !alive(child) {
			t.Fatalf("main alive=%v child alive=%v 300ms after TERM; both ignore TERM and should still run", alive(main), alive(child))
		}

		code := p.Wait(budget + 10*time.Second)
		took := p.TookSince(start)
		if code != 137 {
			t.Errorf("tend exited with %d, want 137 (main killed by SIGKILL)\nstderr:\n%s", code, p.Stderr())
		}
		// The budget is a deadline for tend's exit; a little slack for
		// process start and exit.
		if took > budget+2*time.Second {
			t.Errorf("tend exited %s after TERM; the stop budget is %s", took, budget)
		}
		assertGone(t, main, "main program")
		assertGone(t, child, "main program's child")
	})
}

// TestSecondTermKillsAtOnce: a second TERM during the stop skips the wait
// and kills the ignoring group at once, long before TEND_STOP_TIMEOUT.
func TestSecondTermKillsAtOnce(t *testing.T) {
	bothModes(t, func(t *testing.T, pid1 bool) {
		p, main, child := startIgnoringGroup(t, pid1, "TEND_STOP_TIMEOUT=30s")
		start := p.SignalAt(syscall.SIGTERM)
		time.Sleep(200 * time.Millisecond)
		if !alive(main) {
			t.Fatal("main program died of the first TERM, which it ignores")
		}
		p.Signal(syscall.SIGTERM)
		code := p.Wait(20 * time.Second)
		if took := p.TookSince(start); took > 5*time.Second {
			t.Errorf("tend exited %s after the first TERM; a second TERM should kill at once (budget 30s)", took)
		}
		if code != 137 {
			t.Errorf("tend exited with %d, want 137\nstderr:\n%s", code, p.Stderr())
		}
		assertGone(t, main, "main program")
		assertGone(t, child, "main program's child")
	})
}

// TestSecondIntKillsAtOnce: INT counts as a stop signal too; TERM then INT
// forces the stop.
func TestSecondIntKillsAtOnce(t *testing.T) {
	t.Parallel()
	p, main, child := startIgnoringGroup(t, false, "TEND_STOP_TIMEOUT=30s")
	start := p.SignalAt(syscall.SIGTERM)
	time.Sleep(200 * time.Millisecond)
	p.Signal(syscall.SIGINT)
	code := p.Wait(20 * time.Second)
	if took := p.TookSince(start); took > 5*time.Second {
		t.Errorf("tend exited %s after TERM then INT; the INT should kill at once (budget 30s)", took)
	}
	if code != 137 {
		t.Errorf("tend exited with %d, want 137\nstderr:\n%s", code, p.Stderr())
	}
	assertGone(t, main, "main program")
	assertGone(t, child, "main program's child")
}

// assertGone fails unless the process has exited (a zombie has exited).
// When tend is PID 1 the kernel kills whatever is left in the namespace as
// tend exits, so there the check only means something for direct runs;
// the exit code 137 still shows that tend killed the main program.
func assertGone(t *testing.T, p procInfo, what string) {
	t.Helper()
	// Whoever inherits a killed process may take a moment to reap it,
	// but it must not be running.
	deadline := time.Now().Add(2 * time.Second)
	for alive(p) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if alive(p) {
		t.Errorf("%s (pid %d, %s) still runs after tend exited", what, p.PID, p.Comm)
	}
}

// pgid returns the process group of pid.
func pgid(t *testing.T, pid int) int {
	t.Helper()
	g, err := syscall.Getpgid(pid)
	if err != nil {
		t.Fatalf("getpgid %d: %v", pid, err)
	}
	return g
}

// freeze puts pid in a new cgroup v1 freezer group and freezes it: the
// process then outlives a SIGKILL until it is thawed, as a process in
// uninterruptible sleep does (or a JVM whose exit is slow to free its
// memory). The test's cleanup thaws it, kills it and removes the group.
func freeze(t *testing.T, pid int) {
	t.Helper()
	requireRoot(t)
	const freezer = "/sys/fs/cgroup/freezer"
	if _, err := os.Stat(filepath.Join(freezer, "cgroup.procs")); err != nil {
		t.Skipf("no cgroup v1 freezer at %s (cgroup v2 kills frozen processes at SIGKILL)", freezer)
	}
	dir, err := os.MkdirTemp(freezer, "tend-test-")
	if err != nil {
		t.Fatalf("create a freezer group: %v", err)
	}
	write := func(file, value string) error {
		return os.WriteFile(filepath.Join(dir, file), []byte(value), 0o644)
	}
	t.Cleanup(func() {
		write("freezer.state", "THAWED")
		syscall.Kill(pid, syscall.SIGKILL)
		waitFor(t, 10*time.Second, "the thawed process to leave its group", func() bool {
			return os.Remove(dir) == nil
		})
	})
	if err := write("cgroup.procs", strconv.Itoa(pid)); err != nil {
		t.Fatalf("move %d into %s: %v", pid, dir, err)
	}
	if err := write("freezer.state", "FROZEN"); err != nil {
		t.Fatalf("freeze %s: %v", dir, err)
	}
	waitFor(t, 10*time.Second, "the group to freeze", func() bool {
		state, err := os.ReadFile(filepath.Join(dir, "freezer.state"))
		return err == nil && strings.TrimSpace(string(state)) == "FROZEN"
	})
}

// TestAProcessThatOutlivesItsKillDoesNotStretchTheStop: a main program
// that does not go at SIGKILL (frozen) must not keep tend past its stop
// budget: tend waits for it at most until half the flush reserve is left,
// flushes what the program wrote, and exits within TEND_STOP_TIMEOUT.
// Before, the wait after the kill (2 s) came on top of the budget, and
// then tend waited 2 s more on its way out: 4.7 s for a 3 s budget.
func TestAProcessThatOutlivesItsKillDoesNotStretchTheStop(t *testing.T) {
	t.Parallel()
	const budget = 3 * time.Second
	p := startTend(t, tendOptions{Args: []string{"--", "sh", "-c", "echo serving; exec sleep 1000"}, Env: []string{
		"TEND_EVENT_LEVEL=info",
		"TEND_STOP_TIMEOUT=" + budget.String(),
	}})
	waitFor(t, 10*time.Second, "the main program to serve", func() bool { return strings.Contains(p.Stdout(), "serving") })
	freeze(t, p.MainPID())

	begin := p.SignalAt(syscall.SIGTERM)
	p.Wait(budget + 10*time.Second)
	took := p.TookSince(begin)
	events := p.Stderr()
	if !strings.Contains(events, "killing") {
		t.Errorf("tend did not kill the main program:\n%s", events)
	}
	if took > budget+500*time.Millisecond {
		t.Errorf("tend exited %s after TERM; the budget is %s (%s); tend's events:\n%s", took, budget, p.Timeline(begin), events)
	}
	if !strings.Contains(p.Stdout(), "serving\n") {
		t.Errorf("output written before the stop is lost:\n%s", p.Stdout())
	}
	t.Logf("stop took %s of a %s budget", took, budget)
}
