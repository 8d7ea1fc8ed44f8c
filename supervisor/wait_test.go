package supervisor

import (
	"slices"
	"strings"
	"testing"

	"tend/internal/nettest"
)

// The main program waits for TEND_WAIT_FOR: WAITING, not ready, its
// status naming the target and why the last check failed; it starts once
// the service answers.
func TestMainWaitsForAnOutsideServiceThenStarts(t *testing.T) {
	addr := nettest.FreeAddr(t)
	r := startRig(t, sleeper, "TEND_WAIT_FOR=tcp:"+addr)
	st := r.waitFor("main", "to report a failed check", func(st ProgramStatus) bool {
		return len(st.WaitingFor) == 1 && st.WaitingFor[0].LastError != ""
	})
	if st.State != Waiting || st.Ready || r.sup.Ready() {
		t.Errorf("main while waiting: %+v, supervisor ready %v", st, r.sup.Ready())
	}
	w := st.WaitingFor[0]
	if w.Target != "tcp:"+addr || w.LastError != "connection refused" || w.Since.IsZero() || w.Attempts < 1 {
		t.Errorf("wait state %+v", w)
	}
	if !strings.HasPrefix(st.Reason, "waiting ") || !strings.Contains(st.Reason, "for tcp:"+addr+" (connection refused, ") {
		t.Errorf("reason %q", st.Reason)
	}
	nettest.Listen(t, addr)
	st = r.waitState("main", Running)
	if st.WaitingFor != nil {
		t.Errorf("a running program still shows its wait: %+v", st.WaitingFor)
	}
	if got, want := r.path("main"), []State{Waiting, Starting, Running}; !slices.Equal(got, want) {
		t.Errorf("main went through %v, want %v", got, want)
	}
}

// The main program's outside services not answering in time end tend
// with exit 1 and an error naming each.
func TestMainWaitTimeoutEndsRunWithOne(t *testing.T) {
	addr := nettest.FreeAddr(t)
	r := startRig(t, sleeper, "TEND_WAIT_FOR=tcp:"+addr, "TEND_WAIT_TIMEOUT=1s")
	if code := r.wait(); code != 1 {
		t.Errorf("Run returned %d, want 1", code)
	}
	st := r.program("main").status()
	if st.State != Fatal || !strings.Contains(st.Reason, "did not answer within 1s: tcp:"+addr+" (connection refused") {
		t.Errorf("main: %+v", st)
	}
	es := r.events.FilterMessage("outside services did not answer: the main program cannot start; tend exits 1").All()
	if len(es) != 1 || !strings.Contains(es[0].ContextMap()["reason"].(string), "tcp:"+addr) {
		t.Errorf("error events %v", es)
	}
}

// A side program whose wait_for times out is FATAL; the container goes
// on unless it is critical, which stops it with exit 1.
func TestSideProgramWaitTimeout(t *testing.T) {
	addr := nettest.FreeAddr(t)
	r := startRig(t, sleeper, "TEND_AGENT_COMMAND=sleep 600", "TEND_AGENT_WAIT_FOR=tcp:"+addr, "TEND_WAIT_TIMEOUT=1s")
	st := r.waitState("agent", Fatal)
	if !strings.Contains(st.Reason, "tcp:"+addr) || st.LastExit != nil {
		t.Errorf("agent: %+v", st)
	}
	if m := r.waitState("main", Running); m.Pid == 0 {
		t.Errorf("main: %+v", m)
	}

	rc := startRig(t, sleeper, "TEND_AGENT_COMMAND=sleep 600", "TEND_AGENT_WAIT_FOR=tcp:"+addr, "TEND_WAIT_TIMEOUT=1s", "TEND_AGENT_CRITICAL=true")
	if code := rc.wait(); code != 1 {
		t.Errorf("Run returned %d with a critical program that timed out, want 1", code)
	}
}

// A stop while waiting ends the wait at once (r.wait allows half of the
// wait's timeout): the program never starts.
func TestStopWhileWaitingIsPrompt(t *testing.T) {
	r := startRig(t, sleeper, "TEND_WAIT_FOR=tcp:"+nettest.FreeAddr(t))
	r.waitState("main", Waiting)
	r.cancel()
	r.wait()
	if got, want := r.path("main"), []State{Waiting, Stopped}; !slices.Equal(got, want) {
		t.Errorf("main went through %v, want %v", got, want)
	}
	if es := r.events.FilterMessage("outside services did not answer: the main program cannot start; tend exits 1").All(); len(es) != 0 {
		t.Errorf("the wait ran out instead of being cut: %v", es)
	}
}
