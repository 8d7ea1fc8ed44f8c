package tests

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// shutdownTalker is a main program that, on TERM, writes lines over
// 300ms during its own shutdown and then exits 0: its last words must
// reach tend's output.
const shutdownTalker = `trap 'echo shutdown begins; sleep 0.1; echo closing pools; sleep 0.2; echo last line before exit; exit 0' TERM
echo serving
while :; do sleep 0.05; done`

// phaseTook returns the duration tend logged for a stop phase, such as
// "pre-stop hooks", from its text event lines.
func phaseTook(t *testing.T, stderr, phase string) time.Duration {
	t.Helper()
	re := regexp.MustCompile(`"phase": "` + regexp.QuoteMeta(phase) + `", "took": "([^"]+)"`)
	m := re.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no %q phase in tend's events:\n%s", phase, stderr)
	}
	d, err := time.ParseDuration(m[1])
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestHangingPrestopHookIsCutAndTheFlushReserveKept: a TEND_PRESTOP
// command that never ends is killed at TEND_PRESTOP_TIMEOUT, the stop goes
// on, the main program still gets its stop signal and time to shut down,
// its last lines reach the output, and tend exits inside TEND_STOP_TIMEOUT.
func TestHangingPrestopHookIsCutAndTheFlushReserveKept(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	const budget = 4 * time.Second
	p := startTend(t, tendOptions{PID1: true, Args: []string{"--", "sh", "-c", shutdownTalker}, Env: []string{
		"TEND_EVENT_LEVEL=info",
		"TEND_STOP_TIMEOUT=" + budget.String(),
		"TEND_STOP_FLUSH_RESERVE=1s",
		"TEND_PRESTOP=sh -c 'echo hook starts; exec sleep 1000'",
		"TEND_PRESTOP_TIMEOUT=1s",
	}})
	waitFor(t, 10*time.Second, "the main program to serve", func() bool { return strings.Contains(p.Stdout(), "serving") })
	begin := p.SignalAt(syscall.SIGTERM)
	code := p.Wait(budget + 10*time.Second)
	took := p.TookSince(begin)
	out, events := p.Stdout(), p.Stderr()

	if code != 0 {
		t.Errorf("exit code %d, want 0 (the main program's own)\nstderr:\n%s", code, events)
	}
	if hook := phaseTook(t, events, "pre-stop hooks"); hook < 900*time.Millisecond || hook > 1500*time.Millisecond {
		t.Errorf("pre-stop hooks took %s, want the 1s TEND_PRESTOP_TIMEOUT", hook)
	}
	if !strings.Contains(events, "pre-stop command failed; the stop goes on") {
		t.Errorf("the cut hook is not reported:\n%s", events)
	}
	if !strings.Contains(out, "hook starts") {
		t.Errorf("the hook's output is not in tend's stdout:\n%s", out)
	}
	for _, line := range []string{"shutdown begins", "closing pools", "last line before exit"} {
		if !strings.Contains(out, line+"\n") {
			t.Errorf("the main program's shutdown line %q is lost:\n%s", line, out)
		}
	}
	if took > budget+500*time.Millisecond {
		t.Errorf("tend exited %s after TERM; the budget is %s (%s); tend's events:\n%s", took, budget, p.Timeline(begin), events)
	}
	t.Logf("stop took %s of a %s budget; pre-stop hooks %s", took, budget, phaseTook(t, events, "pre-stop hooks"))
}

// TestPrestopHookLongerThanTheBudgetIsCutAtTheDrainDeadline: a hook whose
// TEND_PRESTOP_TIMEOUT exceeds the whole budget is cut at the end of the
// drain phases, and tend still exits inside TEND_STOP_TIMEOUT, with what
// the main program wrote before the stop in its output.
func TestPrestopHookLongerThanTheBudgetIsCutAtTheDrainDeadline(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	const budget = 3 * time.Second
	p := startTend(t, tendOptions{PID1: true, Args: []string{"--", "sh", "-c", shutdownTalker}, Env: []string{
		"TEND_EVENT_LEVEL=info",
		"TEND_STOP_TIMEOUT=" + budget.String(),
		"TEND_STOP_FLUSH_RESERVE=1s",
		"TEND_PRESTOP=sleep 1000",
		"TEND_PRESTOP_TIMEOUT=1m",
	}})
	waitFor(t, 10*time.Second, "the main program to serve", func() bool { return strings.Contains(p.Stdout(), "serving") })
	begin := p.SignalAt(syscall.SIGTERM)
	p.Wait(budget + 10*time.Second)
	took := p.TookSince(begin)
	if hook := phaseTook(t, p.Stderr(), "pre-stop hooks"); hook > budget-900*time.Millisecond {
		t.Errorf("pre-stop hooks took %s: into the flush reserve of a %s budget", hook, budget)
	}
	if !strings.Contains(p.Stdout(), "serving\n") {
		t.Errorf("output written before the stop is lost:\n%s", p.Stdout())
	}
	if took > budget+500*time.Millisecond {
		// The phases say which one overran.
		t.Errorf("tend exited %s after TERM; the budget is %s (%s); tend's events:\n%s", took, budget, p.Timeline(begin), p.Stderr())
	}
	t.Logf("stop took %s of a %s budget; pre-stop hooks %s", took, budget, phaseTook(t, p.Stderr(), "pre-stop hooks"))
}

// TestDrainWaitThenTermDrainsOnce: `tend drain --wait` (a Kubernetes
// preStop hook) starts the stop; the TERM that follows joins it instead of
// starting a second one: one "stop sequence begins", one pre-stop hook run.
func TestDrainWaitThenTermDrainsOnce(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	p := startTend(t, tendOptions{PID1: true, Args: []string{"--", "sh", "-c", shutdownTalker}, Env: []string{
		"TEND_EVENT_LEVEL=info",
		"TEND_STOP_TIMEOUT=6s",
		"TEND_PRESTOP=echo prestop hook ran",
		"TEND_DRAIN_DELAY=1s",
	}})
	waitFor(t, 10*time.Second, "the main program to serve", func() bool { return strings.Contains(p.Stdout(), "serving") })

	drain := exec.Command(p.binary, "drain", "--wait")
	drain.Env = p.cmd.Env
	var drainOut lockedBuffer
	drain.Stdout, drain.Stderr = &drainOut, &drainOut
	if err := drain.Start(); err != nil {
		t.Fatal(err)
	}
	drained := make(chan int, 1)
	go func() { drained <- exitCodeOf(drain.ProcessState, drain.Wait()) }()
	// The kubelet sends TERM once the hook returns or, here, while it
	// still waits: inside the drain delay.
	waitFor(t, 10*time.Second, "the drain to begin", func() bool { return strings.Contains(p.Stderr(), "stop sequence begins") })
	time.Sleep(300 * time.Millisecond)
	p.Signal(syscall.SIGTERM)

	code := p.Wait(20 * time.Second)
	select {
	case c := <-drained:
		if c != 0 {
			t.Errorf("tend drain --wait exited %d: %s", c, drainOut.String())
		}
	case <-time.After(5 * time.Second):
		t.Error("tend drain --wait did not return after tend exited")
		drain.Process.Kill()
	}
	events := p.Stderr()
	if n := strings.Count(events, "stop sequence begins"); n != 1 {
		t.Errorf("%d stop sequences began, want 1:\n%s", n, events)
	}
	if n := strings.Count(p.Stdout(), "prestop hook ran"); n != 1 {
		t.Errorf("the pre-stop hook ran %d times, want 1:\n%s", n, p.Stdout())
	}
	if !strings.Contains(events, "the stop is already under way") {
		t.Errorf("the TERM during the drain is not reported as joining it:\n%s", events)
	}
	if code != 0 || !strings.Contains(p.Stdout(), "last line before exit") {
		t.Errorf("exit code %d; stdout:\n%s", code, p.Stdout())
	}
	if _, err := os.Stat(socketOf(p)); err == nil {
		t.Errorf("control socket %s left behind", socketOf(p))
	}
}

// socketOf returns the TEND_SOCKET tend was started with.
func socketOf(p *tendProcess) string {
	for _, kv := range p.cmd.Env {
		if v, ok := strings.CutPrefix(kv, "TEND_SOCKET="); ok {
			return v
		}
	}
	return ""
}
