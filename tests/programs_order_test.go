package tests

import (
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"syscall"
	"testing"
	"time"
)

// A program that depends on another starts only once the other's ready
// probe passes, for each kind of probe. The dependency becomes ready a
// second after it starts, well after its startsecs, so a dependent that
// went by startsecs (or by an open port, for HTTP) would start too early.
func TestDependentStartsOnlyWhenReadyProbePasses(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"tcp", "http", "exec"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			events := filepath.Join(dir, "events")
			port := freePort(t)
			var db, ready, readyEvent string
			switch kind {
			case "tcp":
				db = fmt.Sprintf("sideprog -name db -log %s -tcp %d -listen-after 1s", events, port)
				ready, readyEvent = fmt.Sprintf("tcp:%d", port), "listening"
			case "http":
				// The port is open at once but answers 503 for a second.
				db = fmt.Sprintf("sideprog -name db -log %s -http %d -ok-after 1s", events, port)
				ready, readyEvent = fmt.Sprintf("http://127.0.0.1:%d/health", port), "ok"
			case "exec":
				flag := filepath.Join(dir, "db-ready")
				db = fmt.Sprintf("sideprog -name db -log %s -touch %s -touch-after 1s", events, flag)
				ready, readyEvent = "exec:test -f "+flag, "touched"
			}
			conf := writeConfD(t, map[string]string{
				"db.conf": fmt.Sprintf("[program:db]\ncommand = %s\nready = %s\nstartsecs = 0.1\npriority = 10\n", db, ready),
				// app comes first by priority but must wait for db.
				"app.conf": fmt.Sprintf("[program:app]\ncommand = sideprog -name app -log %s\ndepends_on = db\npriority = 1\nstartsecs = 0.1\n", events),
			})
			p := startTend(t, tendOptions{
				Args: []string{"--", "sideprog", "-name", "main", "-log", events},
				Env:  []string{conf},
			})
			evs := waitEvents(t, p, events, 10*time.Second, "app to start", func(evs []progEvent) bool {
				return len(find(evs, "app", "start")) > 0
			})
			readyAt := find(evs, "db", readyEvent)
			if len(readyAt) == 0 {
				t.Fatalf("app started before db was ready (no %q event yet): %v", readyEvent, evs)
			}
			appAt := find(evs, "app", "start")[0].At
			if appAt.Before(readyAt[0].At) {
				t.Fatalf("app started %s before db was ready (%s): %v", readyAt[0].At.Sub(appAt), readyEvent, evs)
			}
			st := waitStatus(t, p, 10*time.Second, "every program running and ready", func(st statusDoc) bool { return st.Ready })
			if db := st.program(t, "db"); db.State != "RUNNING" || !db.Ready {
				t.Errorf("db: %+v", db)
			}
			p.Signal(syscall.SIGTERM)
			if code := p.Wait(10 * time.Second); code != 0 {
				t.Errorf("exit code %d\nstderr:\n%s", code, p.Stderr())
			}
		})
	}
}

// Side programs start one at a time in priority order (each after the
// programs it depends on), the main program last; the stop sequence
// stops them in exactly the reverse order, each program getting its
// TERM only after the one before it has exited, and the whole stop stays
// within TEND_STOP_TIMEOUT even though one program ignores TERM and asks
// for a longer stopwaitsecs.
func TestStopOrderIsTheReverseOfStartOrder(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	dir := t.TempDir()
	events := filepath.Join(dir, "events")
	port := freePort(t)
	prog := func(name string, prio int, args, extra string) string {
		return fmt.Sprintf("[program:%s]\ncommand = sideprog -name %s -log %s %s\npriority = %d\nstartsecs = 0.1\n%s\n",
			name, name, events, args, prio, extra)
	}
	conf := writeConfD(t, map[string]string{
		// Names sort against priorities, so that neither name order nor
		// file order can pass for start order.
		"10-zed.conf": prog("zed", 10, "-ignore-term", "stopwaitsecs = 30"),
		"20-a.conf":   prog("mid", 20, "", "") + prog("alpha", 30, "", ""),
		"30-b.conf": prog("db", 40, fmt.Sprintf("-tcp %d", port), fmt.Sprintf("ready = tcp:%d", port)) +
			prog("app", 1, "", "depends_on = db"),
		"40-c.conf": prog("beta", 30, "", ""),
	})
	const budget = 3 * time.Second
	p := startTend(t, tendOptions{
		Args: []string{"--", "sideprog", "-name", "main", "-log", events},
		Env:  []string{conf, "TEND_STOP_TIMEOUT=3s", "TEND_EVENT_LEVEL=info", "TEND_EVENT_FORMAT=json", "TEND_MAIN_STARTSECS=0.1"},
		PID1: true,
	})
	waitStatus(t, p, 10*time.Second, "every program running and ready", func(st statusDoc) bool { return st.Ready })

	started := startedOrder(p.Stderr())
	wantStart := []string{"zed", "mid", "alpha", "beta", "db", "app", "main"}
	if !reflect.DeepEqual(started, wantStart) {
		t.Errorf("start order %q, want %q (priority, name, dependencies first, main last)", started, wantStart)
	}

	termAt := time.Now()
	p.Signal(syscall.SIGTERM)
	code := p.Wait(budget + 5*time.Second)
	took := time.Since(termAt)
	if code != 0 {
		t.Errorf("exit code %d, want the main program's 0\nstderr:\n%s", code, p.Stderr())
	}
	// The budget is counted from the TERM tend received; a little slack
	// for the signal's delivery and the process's exit.
	if took > budget+500*time.Millisecond {
		t.Errorf("the stop took %s, over TEND_STOP_TIMEOUT=%s", took, budget)
	}

	evs := readEvents(t, events)
	var termOrder []string
	for _, e := range evs {
		if e.What == "signal TERM" {
			termOrder = append(termOrder, e.Name)
		}
	}
	wantStop := slices.Clone(started)
	slices.Reverse(wantStop)
	if !reflect.DeepEqual(termOrder, wantStop) {
		t.Errorf("TERM order %q, want the reverse of the start order %q\nevents: %v", termOrder, wantStop, evs)
	}
	// Each program got its TERM only after the previous one had exited.
	for i := 1; i < len(termOrder); i++ {
		prev := find(evs, termOrder[i-1], "exit 0")
		term := find(evs, termOrder[i], "signal TERM")
		if len(prev) == 1 && len(term) == 1 && term[0].At.Before(prev[0].At) {
			t.Errorf("%s got TERM before %s had exited", termOrder[i], termOrder[i-1])
		}
	}
	if len(find(evs, "zed", "exit 0")) != 0 {
		t.Errorf("zed ignores TERM and should have been killed: %v", evs)
	}
}

// A side program that depends on the main program (a registration agent)
// starts once the main program is ready, and does not keep it from
// starting.
func TestSideProgramCanDependOnTheMainProgram(t *testing.T) {
	t.Parallel()
	events := filepath.Join(t.TempDir(), "events")
	conf := writeConfD(t, map[string]string{
		"reg.conf": fmt.Sprintf("[program:registrar]\ncommand = sideprog -name registrar -log %s\ndepends_on = main\n", events),
	})
	p := startTend(t, tendOptions{
		Args: []string{"--", "sideprog", "-name", "main", "-log", events},
		Env:  []string{conf, "TEND_MAIN_STARTSECS=0.2"},
	})
	evs := waitEvents(t, p, events, 10*time.Second, "both programs to start", func(evs []progEvent) bool {
		return len(find(evs, "main", "start")) > 0 && len(find(evs, "registrar", "start")) > 0
	})
	if m, r := find(evs, "main", "start")[0].At, find(evs, "registrar", "start")[0].At; r.Sub(m) < 150*time.Millisecond {
		t.Errorf("registrar started %s after main, before main was ready (startsecs 0.2s)", r.Sub(m))
	}
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(10 * time.Second); code != 0 {
		t.Errorf("exit code %d\nstderr:\n%s", code, p.Stderr())
	}
}
