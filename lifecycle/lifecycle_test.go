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

// within runs f and fails the test if it does not return in time.
func within(t *testing.T, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the group did not return within 10s")
		return nil
	}
}

func TestFirstToReturnStopsTheRestLastStartedFirstOneAtATime(t *testing.T) {
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

	err := within(t, g.Wait)
	if !errors.Is(err, failed) || err.Error() != "http: listener gone" {
		t.Errorf("Wait returned %v, want the first actor's error with its name", err)
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
	within(t, g.Wait)
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
	if err := within(t, g.Wait); err != nil {
		t.Errorf("Wait returned %v, want nil (the first actor returned nil)", err)
	}
	want := []string{"supervisor done", "sampler stopped", "reaper stopped"}
	if got := j.list(); !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
}

func TestWaitWaitsForEveryActorAndLeavesNoGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	var g Group
	var j journal
	for _, name := range []string{"a", "b", "c", "d"} {
		waiter(&g, &j, name)
	}
	g.Go("first", func(ctx context.Context) error { return nil })
	within(t, g.Wait)
	if n := len(j.list()); n != 8 {
		t.Errorf("Wait returned after %d of 8 events: %q", n, j.list())
	}
	// Goroutines that have sent their result may still be on their way
	// out; none may stay.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines before the group, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

func TestEmptyGroupReturnsAtOnce(t *testing.T) {
	var g Group
	if err := within(t, g.Wait); err != nil {
		t.Errorf("Wait of an empty group returned %v", err)
	}
	within(t, func() error { g.Stop(nil); return nil })
}

func TestActorsRunFromTheMomentTheyAreAdded(t *testing.T) {
	var g Group
	running := make(chan struct{})
	g.Go("reaper", func(ctx context.Context) error {
		close(running)
		<-ctx.Done()
		return nil
	})
	select {
	case <-running:
	case <-time.After(10 * time.Second):
		t.Fatal("an added actor did not run before Wait")
	}
	g.Stop(nil)
}

// A failure before the group is complete stops what was started: Stop
// interrupts every actor, the last started first, and waits for each.
func TestStopEndsEveryActorStartedSoFar(t *testing.T) {
	var g Group
	var j journal
	waiter(&g, &j, "socket")
	waiter(&g, &j, "reaper")
	aborted := errors.New("cannot set up programs")
	var got error
	stop := make(chan struct{})
	g.Add("sampler", func() error {
		<-stop
		j.add("sampler returned")
		return nil
	}, func(err error) {
		got = err
		close(stop)
	})
	within(t, func() error { g.Stop(aborted); return nil })
	want := []string{"sampler returned", "reaper interrupted", "reaper returned", "socket interrupted", "socket returned"}
	if got := j.list(); !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
	if !errors.Is(got, aborted) {
		t.Errorf("interrupt got %v, want the error given to Stop", got)
	}
}

func TestCloseActorsAreClosedInTheirTurnWithoutAGoroutine(t *testing.T) {
	var g Group
	var j journal
	waiter(&g, &j, "reaper")
	before := runtime.NumGoroutine()
	failed := errors.New("close failed")
	g.Close("socket", func() error { j.add("socket closed"); return failed })
	if n := runtime.NumGoroutine(); n != before {
		t.Errorf("Close started %d goroutines, want none", n-before)
	}
	g.Go("supervisor", func(ctx context.Context) error {
		j.add("supervisor done")
		return nil
	})
	if err := within(t, g.Wait); err != nil {
		t.Errorf("Wait returned %v, want the first actor's nil", err)
	}
	want := []string{"supervisor done", "socket closed", "reaper interrupted", "reaper returned"}
	if got := j.list(); !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
}

func TestWaitWithOnlyCloseActorsClosesThem(t *testing.T) {
	var g Group
	var j journal
	g.Close("a", func() error { j.add("a closed"); return nil })
	g.Close("b", func() error { j.add("b closed"); return nil })
	if err := within(t, g.Wait); err != nil {
		t.Errorf("Wait returned %v, want nil", err)
	}
	if got, want := j.list(), []string{"b closed", "a closed"}; !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
}
