package supervisor

import (
	"bufio"
	"context"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"tend/config"
	"tend/logship"
	"tend/reaper"
)

// The in-process tests run a real Supervisor with a real reaper and real
// processes. One reaper calls wait4(-1) for the whole test process, so
// these tests never run in parallel with each other.

// memLogs is a log pipeline for in-process tests: it reads each pipe to
// EOF and keeps the lines. Stats is left to the embedded nil interface:
// these tests read program status, not Supervisor.Status.
type memLogs struct {
	Logs
	mu    sync.Mutex
	lines map[string][]string
	wg    sync.WaitGroup
}

func (l *memLogs) Capture(program, stream string, r *os.File) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer r.Close()
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			l.mu.Lock()
			l.lines[program] = append(l.lines[program], sc.Text())
			l.mu.Unlock()
		}
	}()
}

// Stats counts nothing: the rig's captures keep lines only.
func (l *memLogs) Stats(program string) logship.ProgramStats { return logship.ProgramStats{} }

func (l *memLogs) LastLines(program string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines[program])
}

func (l *memLogs) Close(ctx context.Context) error {
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// rig is one supervisor under test, running.
type rig struct {
	t      *testing.T
	sup    *Supervisor
	events *observer.ObservedLogs
	// cancel cancels Run's context (as tend's own shutdown would).
	cancel context.CancelFunc
	done   chan struct{} // closed when Run has returned
	code   int
}

// startRig loads the configuration from env (TEND_* variables; the main
// program is argv) and runs it. The test fails if any program made an
// impossible transition.
func startRig(t *testing.T, argv []string, env ...string) *rig {
	t.Helper()
	return startRigWith(t, nil, argv, env...)
}

// startRigWith is startRig with setup called on the supervisor before Run.
func startRigWith(t *testing.T, setup func(*Supervisor), argv []string, env ...string) *rig {
	t.Helper()
	core, events := observer.New(zapcore.DebugLevel)
	log := zap.New(core)

	r := reaper.New(log)
	reaperCtx, stopReaper := context.WithCancel(context.Background())
	reaped := make(chan struct{})
	go func() { defer close(reaped); r.Run(reaperCtx) }()
	t.Cleanup(func() { stopReaper(); <-reaped })

	cfg, err := config.Load(config.Options{
		Env:         append([]string{"TEND_CONFIG_DIR=" + t.TempDir()}, env...),
		Args:        argv,
		RequireMain: true,
	})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	sup, err := New(Options{
		Config: cfg, Logs: &memLogs{lines: map[string][]string{}}, Reaper: r, Logger: log, Env: os.Environ(),
		// Signals of its own: the test process keeps its default handlers.
		Signals: &Signals{forwarded: make(chan os.Signal, 4)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(sup)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rg := &rig{t: t, sup: sup, events: events, cancel: cancel, done: make(chan struct{})}
	go func() {
		rg.code = sup.Run(ctx)
		close(rg.done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-rg.done:
		case <-time.After(30 * time.Second):
			t.Error("Run did not return after its context was cancelled")
		}
		for _, e := range events.FilterMessage("impossible transition").All() {
			t.Errorf("impossible transition: %v", e.ContextMap())
		}
	})
	return rg
}

// wait waits for Run to return and gives its exit code.
func (r *rig) wait() int {
	r.t.Helper()
	select {
	case <-r.done:
		return r.code
	case <-time.After(30 * time.Second):
		r.t.Fatal("Run did not return")
		return -1
	}
}

func (r *rig) program(name string) *program {
	r.t.Helper()
	p, ok := r.sup.byName[name]
	if !ok {
		r.t.Fatalf("no program %s", name)
	}
	return p
}

// waitFor polls the status of program name until cond holds.
func (r *rig) waitFor(name, what string, cond func(ProgramStatus) bool) ProgramStatus {
	r.t.Helper()
	p := r.program(name)
	deadline := time.Now().Add(15 * time.Second)
	for {
		st := p.status()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out waiting for %s %s; status %+v; states %v", name, what, st, r.path(name))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitState waits until program name is in state want.
func (r *rig) waitState(name string, want State) ProgramStatus {
	r.t.Helper()
	return r.waitFor(name, "to be "+string(want), func(st ProgramStatus) bool { return st.State == want })
}

// path returns the states program name has entered so far, in order.
func (r *rig) path(name string) []State {
	var out []State
	for _, e := range r.events.FilterMessage("state").All() {
		m := e.ContextMap()
		if m["program"] == name {
			out = append(out, State(m["to"].(string)))
		}
	}
	return out
}

// count returns how often program name entered state s.
func (r *rig) count(name string, s State) int {
	n := 0
	for _, x := range r.path(name) {
		if x == s {
			n++
		}
	}
	return n
}

// logged reports whether an event with message msg was logged for name.
func (r *rig) logged(name, msg string) bool {
	for _, e := range r.events.FilterMessage(msg).All() {
		if e.ContextMap()["program"] == name {
			return true
		}
	}
	return false
}

// lines returns the lines of a file, or none when it does not exist.
func lines(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, b := range data {
		if b == '\n' {
			n++
		}
	}
	return n
}
