package supervisor

import (
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"tend/config"
)

var allStates = []State{Stopped, Waiting, Starting, Running, Backoff, Stopping, Exited, Fatal}

// A request is answered in every state: each state has a row without a
// guard for start, restart and stop.
func TestEveryStateTakesEveryRequest(t *testing.T) {
	for _, s := range allStates {
		for _, ev := range []eventKind{evStart, evRestart, evStop} {
			found := false
			for _, tr := range transitions {
				if tr.on == ev && slices.Contains(tr.from, s) && tr.when == nil {
					found = true
				}
			}
			if !found {
				t.Errorf("%s has no unguarded row for %q", s, ev)
			}
		}
	}
}

// A row either stays (and may run its own action) or moves (and the new
// state's entry action runs), never both; every state has an entry
// action.
func TestRowsEitherStayOrMove(t *testing.T) {
	for i, tr := range transitions {
		if tr.do != nil && tr.to != "" {
			t.Errorf("row %d (%v on %q) moves to %s and has its own action", i, tr.from, tr.on, tr.to)
		}
	}
	for _, s := range allStates {
		if entry[s] == nil {
			t.Errorf("%s has no entry action", s)
		}
	}
}

// No row hides behind an earlier unguarded row for the same state and
// event.
func TestNoRowIsUnreachable(t *testing.T) {
	for i, tr := range transitions {
		for _, s := range tr.from {
			for j, earlier := range transitions[:i] {
				if earlier.on == tr.on && earlier.when == nil && slices.Contains(earlier.from, s) {
					t.Errorf("row %d (%s on %q) is unreachable behind row %d", i, s, tr.on, j)
				}
			}
		}
	}
}

// Every state can be reached from STOPPED, and every state but the ones
// at rest can be left.
func TestEveryStateIsReachableAndLeavable(t *testing.T) {
	reached := map[State]bool{Stopped: true}
	for changed := true; changed; {
		changed = false
		for _, tr := range transitions {
			for _, s := range tr.from {
				if reached[s] && tr.to != "" && !reached[tr.to] {
					reached[tr.to], changed = true, true
				}
			}
		}
	}
	for _, s := range allStates {
		if !reached[s] {
			t.Errorf("%s cannot be reached from STOPPED", s)
		}
		leaves := false
		for _, tr := range transitions {
			leaves = leaves || (slices.Contains(tr.from, s) && tr.to != "" && tr.to != s)
		}
		if !leaves {
			t.Errorf("%s has no way out", s)
		}
	}
}

// An event the table has no row for changes nothing, is logged as a bug,
// and a request that came with it is answered with an error.
func TestImpossibleTransitionIsLoggedAndChangesNothing(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	p := &program{cfg: config.Program{Name: "svc"}, log: zap.New(core), state: Stopped}
	done := make(chan error, 1)
	if next := p.apply(event{kind: evExited, ctl: &control{kind: evExited, done: done}}); next.kind != evNone {
		t.Errorf("next event %q, want none", next.kind)
	}
	if p.state != Stopped {
		t.Errorf("state %s after an impossible event, want STOPPED", p.state)
	}
	if logs.FilterMessage("impossible transition").Len() != 1 {
		t.Errorf("events: %v", logs.All())
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("the request was answered without an error")
		}
	case <-time.After(time.Second):
		t.Error("the request was not answered")
	}
}
