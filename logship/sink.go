package logship

import "context"

// Sink is where batches go: the console, the per-program files, Fluentd.
// Every sink has the same shape, and the pipeline calls each through this
// interface only, so a sink is added or replaced without touching the
// pipeline or another sink.
type Sink interface {
	// Push hands b to the sink. The pipeline holds a reference to b for
	// the call only: a sink that keeps b (in its queue) takes its own
	// with b.Ref (Queue.Push does) and releases it when done. In blocking
	// mode Push may wait for room; in non-blocking mode it never waits and
	// counts what it refuses in b.Program's counters. Push is called from
	// many goroutines at once, and never after Close began.
	Push(b *Batch)
	// Close drains what is queued, flushes and syncs, and stops the sink's
	// goroutines. When ctx ends first it aborts: what is left is counted
	// as dropped, and it returns an error that wraps ctx's cause, without
	// waiting further.
	Close(ctx context.Context) error
	Reporter
}

// Reporter is a part of the log path that reports its state for `tend
// status` and /metrics: every sink and input.
type Reporter interface {
	// Report returns the part's state now, a value that marshals as a
	// JSON object whose fields join the "logs" object of `tend status
	// --json` (name them so they cannot collide), or nil for nothing.
	Report() any
}

// LineReader is a sink that reads what it is pushed line by line (it
// formats each line, or sends each as a record) and says so: while none
// of a pipeline's sinks does, its captures frame runs of whole lines
// (Run) instead of every line, which costs a fraction. Every sink still
// takes batches of either kind (Batch.Lines splits runs).
type LineReader interface {
	ReadsLines() bool
}

// ProgramOpener is a sink with per-program state to prepare when a
// program's output is first captured, before its first record: the file
// sink opens the program's file then, and counts the files a previous run
// left in the disk budget.
type ProgramOpener interface {
	OpenProgram(p *Program)
}

// Input feeds the pipeline from outside the programs' pipes, such as the
// tailer of watched files. Close stops every input before it waits for the
// pipes' EOF.
type Input interface {
	// Stop ends the input after it has shipped what it has read, and
	// returns when it has, or when ctx ends.
	Stop(ctx context.Context)
	Reporter
}
