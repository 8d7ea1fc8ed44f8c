// Package lifecycle runs the long-running parts of tend together, in one
// shape: each part (an actor) is started, runs until it is done or
// interrupted, and is waited for. It is the idea of oklog/run with two
// differences that a supervisor needs. The actors stop one after another,
// the last started first, each only once the ones started after it have
// returned: the reaper, started before the supervisor, outlives it, since
// the stop sequence still has processes to reap, and the control socket
// answers `tend status` until the stop is over. And an actor starts when
// it is added, so that the reaper runs before anything else starts.
package lifecycle

import (
	"context"
	"fmt"
	"sync"

	"tend/internal/stackreserve"
)

// Group is a set of actors run together. The zero value is an empty group.
// Its methods are called from one goroutine, the group's owner.
type Group struct {
	actors []*actor
	// once and first note the first actor to return.
	once  sync.Once
	first chan *actor
}

type actor struct {
	name      string
	interrupt func(error)
	done      chan struct{} // closed when execute has returned
	err       error         // what execute returned
}

// Add starts an actor: execute runs in a goroutine of its own until it is
// done, or until interrupt makes it return. interrupt is called at most
// once, from the group's owner, with the error that ended the group; it
// must not block for long, and must be harmless when execute has just
// returned on its own.
func (g *Group) Add(name string, execute func() error, interrupt func(error)) {
	if g.first == nil {
		g.first = make(chan *actor, 1)
	}
	a := &actor{name: name, interrupt: interrupt, done: make(chan struct{})}
	g.actors = append(g.actors, a)
	go func() {
		// An actor runs for tend's life and goes 4 KiB deep.
		stackreserve.FourKiB()
		a.err = execute()
		close(a.done)
		g.once.Do(func() { g.first <- a })
	}()
}

// Close adds an actor that has nothing to run, only something to close: a
// server that serves on goroutines of its own already. closer is called
// when the group stops, in the actor's turn as for any actor added at this
// point, and its error is the actor's. No goroutine waits meanwhile (each
// costs tend's start a stack).
func (g *Group) Close(name string, closer func() error) {
	a := &actor{name: name, done: make(chan struct{})}
	a.interrupt = func(error) {
		a.err = closer()
		close(a.done)
	}
	g.actors = append(g.actors, a)
}

// Go starts an actor that runs until its context is cancelled: run must
// return soon after ctx is done, its clean-up done.
func (g *Group) Go(name string, run func(ctx context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	g.Add(name, func() error {
		defer cancel()
		return run(ctx)
	}, func(error) { cancel() })
}

// Wait waits for the first actor to return, then stops the others as Stop
// does. It returns the first actor's error, with its name; nil if that
// returned nil, or if the group is empty.
func (g *Group) Wait() error {
	if g.first == nil {
		// No actor runs (there are none, or only Close actors): none
		// can return first.
		g.Stop(nil)
		return nil
	}
	a := <-g.first
	var err error
	if a.err != nil {
		err = fmt.Errorf("%s: %w", a.name, a.err)
	}
	g.Stop(err)
	return err
}

// Stop interrupts every actor still running with err, the last started
// first, each once the ones started after it have returned, and returns
// when every actor has returned: no goroutine of the group is left.
func (g *Group) Stop(err error) {
	for i := len(g.actors) - 1; i >= 0; i-- {
		a := g.actors[i]
		select {
		case <-a.done:
			continue
		default:
		}
		a.interrupt(err)
		<-a.done
	}
}
