// Package lifecycle runs the long-running parts of tend together, in one
// shape: each part (an actor) is started, runs until it is done or
// interrupted, and is waited for. It is the idea of oklog/run with one
// difference that a supervisor needs: the actors stop one after another,
// the last added first, each only once the one added after it has
// returned. The reaper, added first, thus outlives the supervisor whose
// stop sequence still has processes to reap, and the control socket
// answers `tend status` until the stop is over.
package lifecycle

import (
	"context"
	"fmt"
)

// Group is a set of actors run together. The zero value is an empty group.
type Group struct {
	actors []actor
}

type actor struct {
	name      string
	execute   func() error
	interrupt func(error)
}

// Add adds an actor. execute runs in a goroutine of its own until it is
// done, or until interrupt makes it return. interrupt is called at most
// once, from another goroutine, with the error that ended the group; it
// must not block for long, and must be harmless when execute has just
// returned on its own.
func (g *Group) Add(name string, execute func() error, interrupt func(error)) {
	g.actors = append(g.actors, actor{name: name, execute: execute, interrupt: interrupt})
}

// Go adds an actor that runs until its context is cancelled: run must
// return soon after ctx is done, its clean-up done.
func (g *Group) Go(name string, run func(ctx context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	g.Add(name, func() error {
		defer cancel()
		return run(ctx)
	}, func(error) { cancel() })
}

// Run starts every actor and waits for the first to return. It then
// interrupts the others, the last added first, each after the actors
// added after it have returned, and returns once every actor has
// returned: no goroutine of the group is left running. The error is the
// first actor's, with its name; nil if it returned nil.
func (g *Group) Run() error {
	if len(g.actors) == 0 {
		return nil
	}
	type result struct {
		index int
		err   error
	}
	results := make(chan result, len(g.actors))
	for i, a := range g.actors {
		go func() { results <- result{i, a.execute()} }()
	}
	first := <-results
	returned := make([]bool, len(g.actors))
	returned[first.index] = true
	var err error
	if first.err != nil {
		err = fmt.Errorf("%s: %w", g.actors[first.index].name, first.err)
	}
	for i := len(g.actors) - 1; i >= 0; i-- {
		if returned[i] {
			continue
		}
		g.actors[i].interrupt(err)
		// Actors that return on their own meanwhile are noted here, and
		// not interrupted when their turn comes.
		for !returned[i] {
			r := <-results
			returned[r.index] = true
		}
	}
	return err
}
