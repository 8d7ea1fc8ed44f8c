package lifecycle

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// journal records what the actors of a test did, in order.
type journal struct {
	mu     sync.Mutex
	events []string
}

func (j *journal) add(e string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.events = append(j.events, e)
}

func (j *journal) list() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.events)
}

// waiter adds an actor that runs until interrupted, then takes a moment
// to return (as a server closing its connections does).
func waiter(g *Group, j *journal, name string) {
	stop := make(chan struct{})
	g.Add(name, func() error {
		<-stop
		time.Sleep(20 * time.Millisecond)
		j.add(name + " returned")
		return nil
	}, func(error) {
		j.add(name + " interrupted")
		close(stop)
	})
}

// runWithin runs g and fails the test if Run does not return in time.
func runWithin(t *testing.T, g *Group) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- g.Run() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s")
		return nil
	}
}

func TestFirstToReturnStopsTheRestLastAddedFirstOneAtATime(t *testing.T) {
	var g Group
	var j journal
	waiter(&g, &j, "reaper")
	waiter(&g, &j, "socket")
	failed := errors.New("listener gone")
	g.Add("http", func() error {
		j.add("http returned")
		return failed
	}, func(error) { j.add("http interrupted") })
	waiter(&g, &j, "supervisor")

	err := runWithin(t, &g)
	if !errors.Is(err, failed) || err.Error() != "http: listener gone" {
		t.Errorf("Run returned %v, want the first actor's error with its name", err)
	}
	want := []string{
		"http returned",
		"supervisor interrupted", "supervisor returned",
		"socket interrupted", "socket returned",
		"reaper interrupted", "reaper returned",
	}
	if got := j.list(); !slices.Equal(got, want) {
		t.Errorf("events:\n  %q\nwant:\n  %q", got, want)
	}
}

func TestInterruptIsGivenTheErrorThatEndedTheGroup(t *testing.T) {
	var g Group
	failed := errors.New("boom")
	got := make(chan error, 1)
	stop := make(chan struct{})
	g.Add("waiting", func() error { <-stop; return nil }, func(err error) { got <- err; close(stop) })
	g.Add("failing", func() error { return failed }, func(error) {})
	runWithin(t, &g)
	if err := <-got; !errors.Is(err, failed) {
		t.Errorf("interrupt got %v, want the error of the actor that returned first", err)
	}
}

func TestGoActorsStopWhenTheirContextIsCancelled(t *testing.T) {
	var g Group
	var j journal
	for _, name := range []string{"reaper", "sampler"} {
		g.Go(name, func(ctx context.Context) error {
			<-ctx.Done()
			j.add(name + " stopped")
			return nil
		})
	}
	g.Go("supervisor", func(ctx context.Context) error {
		j.add("supervisor done")
		return nil
	})
	if err := runWithin(t, &g); err != nil {
		t.Errorf("Run returned %v, want nil (the first actor returned nil)", err)
	}
	want := []string{"supervisor done", "sampler stopped", "reaper stopped"}
	if got := j.list(); !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
}

func TestRunWaitsForEveryActorAndLeavesNoGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	var g Group
	var j journal
	for _, name := range []string{"a", "b", "c", "d"} {
		waiter(&g, &j, name)
	}
	g.Go("first", func(ctx context.Context) error { return nil })
	runWithin(t, &g)
	if n := len(j.list()); n != 8 {
		t.Errorf("Run returned after %d of 8 events: %q", n, j.list())
	}
	// Goroutines that have sent their result may still be on their way
	// out; none may stay.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines before Run, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

func TestEmptyGroupReturnsAtOnce(t *testing.T) {
	var g Group
	if err := runWithin(t, &g); err != nil {
		t.Errorf("Run of an empty group returned %v", err)
	}
}
