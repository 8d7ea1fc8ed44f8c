package logship

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"tend/budget"
	"tend/config"
)

// Defaults used when a config.Log field is zero (config.Load always sets
// them; they matter for callers that build a config.Log by hand).
const (
	defaultMaxLine   = 16 << 10
	defaultFileSize  = 50 << 20
	defaultFileCount = 5
	defaultBuffer    = 1 << 20
	maxFlushReserve  = time.Second
	// pipeGrace is how long Close waits for the pipes' EOF before it says
	// what it waits for.
	pipeGrace = 100 * time.Millisecond
)

// Check validates the settings of cfg that the pipeline and its sinks
// read, and returns cfg with every zero field set to its default. New and
// each sink's constructor call it.
func Check(cfg config.Log) (config.Log, error) {
	switch cfg.Format {
	case "":
		cfg.Format = config.FormatRaw
	case config.FormatRaw, config.FormatPrefix, config.FormatJSON:
	default:
		return cfg, fmt.Errorf("logship: unknown log format %q", cfg.Format)
	}
	switch cfg.Mode {
	case "":
		cfg.Mode = config.ModeBlocking
	case config.ModeBlocking, config.ModeNonBlocking:
	default:
		return cfg, fmt.Errorf("logship: unknown log mode %q", cfg.Mode)
	}
	if cfg.Multiline != "" && cfg.Multiline != "java" {
		return cfg, fmt.Errorf("logship: unknown multiline mode %q", cfg.Multiline)
	}
	if cfg.MaxLine <= 0 {
		cfg.MaxLine = defaultMaxLine
	}
	if cfg.FileSize <= 0 {
		cfg.FileSize = defaultFileSize
	}
	if cfg.FileCount <= 0 {
		cfg.FileCount = defaultFileCount
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = defaultBuffer
	}
	return cfg, nil
}

// Options are what New needs beyond config.Log.
type Options struct {
	// Logger receives tend's own events (pipes held open, read errors).
	// They never go into program output. Nil discards them.
	Logger *zap.Logger
	// FlushReserve is the part of Close's deadline kept for flushing: the
	// wait for the pipes' EOF ends this long before the deadline. Zero
	// keeps a tenth of the time left when Close starts, at most a second.
	FlushReserve time.Duration
	// PipeWait, when set, bounds the wait for a pipe that another process
	// still holds open once Close starts (the programs have stopped by
	// then: it is a grandchild that outlived its program), such as
	// TEND_STOP_FLUSH_RESERVE. A pipe nobody writes to any more is read
	// to its end until FlushReserve.
	PipeWait time.Duration
	// Budget is the disk budget over every file tend writes or watches:
	// Status reports it, Stats takes each program's file bytes from it,
	// and Close stops its cleanup hook before the wait for the pipes (the
	// hook's output is captured). Nil: none.
	Budget *budget.Budget
	// Programs are the configured programs, whose log settings (rate
	// limit, multiline) apply to their output; any other name gets the
	// global settings.
	Programs []config.Program
}

// Source describes one program to the pipeline.
type Source struct {
	// Program is the program's name, such as "main" or "agent".
	Program string
	// Rate and Burst limit the program's console output, in bytes per
	// second and bytes; 0 means no limit, and a 0 Burst means one second's
	// worth.
	Rate, Burst int64
	// Multiline is "" or "java".
	Multiline string
}

// SourceOf resolves a program's log settings against the global ones:
// a program's LogRate and LogBurst of -1, and LogMultiline of "-", inherit
// the global value.
func SourceOf(log config.Log, p config.Program) Source {
	src := Source{Program: p.Name, Rate: log.Rate, Burst: log.Burst, Multiline: log.Multiline}
	if p.LogRate >= 0 {
		src.Rate = p.LogRate
	}
	if p.LogBurst >= 0 {
		src.Burst = p.LogBurst
	}
	if p.LogMultiline != "-" {
		src.Multiline = p.LogMultiline
	}
	return src
}

// Pipeline is the log pipeline of one tend run: it captures programs'
// output, frames it into batches and hands every batch to every sink.
// It never names a sink: each is a Sink given to New.
type Pipeline struct {
	cfg     config.Log
	opts    Options
	log     *zap.Logger
	sinks   []Sink
	openers []ProgramOpener
	bufs    *pools // batches, by the size of their buffers
	maxRead int    // the largest read of a capture
	runs    bool   // no sink reads line by line: captures frame runs

	mu     sync.Mutex
	closed bool
	progs  map[string]*Program
	caps   map[*Capture]struct{} // running captures; each leaves when done
	inputs []Input
}

// New checks cfg and returns the pipeline shipping to sinks. The sinks
// are running already; Close closes them.
func New(cfg config.Log, opts Options, sinks ...Sink) (*Pipeline, error) {
	cfg, err := Check(cfg)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	pl := &Pipeline{
		cfg:   cfg,
		opts:  opts,
		log:   log,
		sinks: sinks,
		bufs:  newPools(),
		progs: map[string]*Program{},
		caps:  map[*Capture]struct{}{},
	}
	pl.maxRead = MaxReadSize
	if cfg.Mode == config.ModeNonBlocking {
		// A queue refuses a batch that does not fit: keep batches to a
		// quarter of it, so a sink a little behind drops nothing.
		for pl.maxRead > ReadSize && int64(pl.maxRead) > cfg.Buffer/4 {
			pl.maxRead /= 2
		}
	}
	pl.runs = true
	for _, s := range sinks {
		if o, ok := s.(ProgramOpener); ok {
			pl.openers = append(pl.openers, o)
		}
		if r, ok := s.(LineReader); ok && r.ReadsLines() {
			pl.runs = false
		}
	}
	return pl, nil
}

// Attach adds an input, to be stopped by Close before the wait for the
// pipes (the last attached first). It fails once Close has begun.
func (pl *Pipeline) Attach(in Input) error {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.closed {
		return errors.New("logship: attach: pipeline closed")
	}
	pl.inputs = append(pl.inputs, in)
	return nil
}

// Source returns the log settings of the program called name.
func (pl *Pipeline) Source(name string) Source {
	p := config.Program{Name: name, LogRate: -1, LogBurst: -1, LogMultiline: "-"}
	for _, c := range pl.opts.Programs {
		if c.Name == name {
			p = c
		}
	}
	return SourceOf(pl.cfg, p)
}

// Capture reads r, the read end of a program's "stdout" or "stderr" pipe,
// until EOF, with the program's log settings (see Options.Programs). It is
// what the supervisor and the hooks call.
func (pl *Pipeline) Capture(program, stream string, r *os.File) {
	pl.CaptureSource(pl.Source(program), streamOf(stream), r)
}

// CaptureSource starts one goroutine that reads r until EOF, frames lines
// and hands them to every sink. The same Source may be captured for both
// streams, and again after a restart. A Stream other than Stderr counts as
// Stdout. It takes ownership of r and closes it. After Close, it closes r
// at once and returns a Capture that is already done.
func (pl *Pipeline) CaptureSource(src Source, stream Stream, r io.ReadCloser) *Capture {
	if stream != Stderr {
		stream = Stdout
	}
	c := &Capture{pl: pl, stream: stream, src: newSource(r), done: make(chan struct{})}
	pl.mu.Lock()
	if pl.closed {
		pl.mu.Unlock()
		c.src.close()
		close(c.done)
		return c
	}
	p := pl.program(src.Program)
	p.setLimit(src)
	c.prog = p
	c.fr = pl.framerFor(src)
	pl.caps[c] = struct{}{}
	pl.mu.Unlock()
	go c.run()
	return c
}

// framerFor returns the framer of a capture of src: runs of whole lines
// when no sink reads line by line and src neither joins lines nor has a
// console rate limit (which admits line by line), else every line.
func (pl *Pipeline) framerFor(src Source) Framer {
	if pl.runs && src.Multiline == "" && src.Rate == 0 {
		return NewRunFramer(pl.cfg.MaxLine)
	}
	return NewFramer(pl.cfg.MaxLine, src.Multiline)
}

// forget drops a finished capture from the running ones.
func (pl *Pipeline) forget(c *Capture) {
	pl.mu.Lock()
	delete(pl.caps, c)
	pl.mu.Unlock()
}

// WriteLine writes one line generated by tend (such as "exited with code
// 1") as a record of the program, to every sink, as if the program had
// written it. A newline is added.
func (pl *Pipeline) WriteLine(program string, stream Stream, line string) error {
	pl.mu.Lock()
	if pl.closed {
		pl.mu.Unlock()
		return errors.New("logship: write after close")
	}
	p := pl.program(program)
	pl.mu.Unlock()
	b := pl.NewBatch(p, stream, len(line)+1)
	b.Data = append(append(b.Data, line...), '\n')
	b.Records = append(b.Records, Record{Off: 0, End: int32(len(line)), Flags: Newline})
	b.Time = time.Now()
	pl.dispatch(b)
	return nil
}

// LastLines returns the program's last records (up to 20, oldest first,
// each cut at 2 KiB), both streams together.
func (pl *Pipeline) LastLines(program string) []string {
	pl.mu.Lock()
	p := pl.progs[program]
	pl.mu.Unlock()
	if p == nil {
		return nil
	}
	return p.last.get()
}

// Stats returns a program's counters (zero for a name never seen).
func (pl *Pipeline) Stats(program string) ProgramStats {
	pl.mu.Lock()
	p := pl.progs[program]
	pl.mu.Unlock()
	var st ProgramStats
	if p != nil {
		st = p.Counters.Stats()
	}
	if pl.opts.Budget != nil {
		st.FileBytes = pl.opts.Budget.Usage(program)
	}
	return st
}

// program returns the state of a program whose output is captured,
// creating it on first use, and tells the sinks of it once. pl.mu is held.
func (pl *Pipeline) program(name string) *Program {
	p := pl.progs[name]
	if p == nil {
		p = &Program{Name: name}
		pl.progs[name] = p
	}
	if !p.opened {
		// A program first made by an input (the tailer) is opened when
		// its own output is first captured; records of stream File never
		// use what the sinks prepare here.
		p.opened = true
		for _, o := range pl.openers {
			o.OpenProgram(p)
		}
	}
	return p
}

// Program returns the program records of src are shipped under by an
// input, creating it with src's console rate limit when it is new. Sinks
// are not told of it (records of stream File never go to tend's files).
func (pl *Pipeline) Program(src Source) *Program {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	p := pl.progs[src.Program]
	if p == nil {
		p = &Program{Name: src.Program}
		p.setLimit(src)
		pl.progs[src.Program] = p
	}
	return p
}

// NewFramer returns a framer with the pipeline's MaxLine, for an input
// that frames records like program output.
func (pl *Pipeline) NewFramer(multiline string) Framer { return NewFramer(pl.cfg.MaxLine, multiline) }

// NewBatch returns an empty batch of p's stream, holding one reference
// (the caller's: Ship takes it over, or Release returns the batch), with
// room for at least size bytes.
func (pl *Pipeline) NewBatch(p *Program, stream Stream, size int) *Batch {
	return pl.bufs.get(p, stream, size)
}

// Ship hands a batch an input made to every sink, taking over the
// caller's reference. A batch of a few bytes in a large buffer is copied
// into a small one first: queues count the memory batches hold, and a few
// bytes must not pin 64 KiB.
func (pl *Pipeline) Ship(b *Batch) {
	if len(b.Data) <= smallBatch && cap(b.Data) > smallBatch {
		out := pl.bufs.small.get(b.Program, b.Stream)
		out.File = b.File
		out.Data = append(out.Data, b.Data...)
		out.Records = append(out.Records, b.Records...)
		b.Release()
		b = out
	}
	b.Time = time.Now()
	pl.dispatch(b)
}

// dispatch counts a batch in and hands it to every sink, then drops the
// caller's reference.
func (pl *Pipeline) dispatch(b *Batch) {
	p := b.Program
	p.Counters.lines.Add(b.LineCount())
	p.Counters.bytes.Add(int64(len(b.Data)))
	p.last.add(b)
	for _, s := range pl.sinks {
		s.Push(b)
	}
	b.Release()
}

// Close stops the inputs, waits until every capture reached EOF, then
// closes every sink (they drain, flush and sync concurrently) within ctx.
//
// The supervisor closes its copies of the pipes' write ends first; a
// grandchild may still hold one open, so the wait is bounded: a pipe that
// another process holds open is closed after Options.PipeWait, and every
// pipe at ctx's deadline less the flush reserve (Options.FlushReserve), or
// when ctx is done; what was read is kept, and a warning names the
// program, the stream and the processes holding the pipe. When ctx is done before
// the sinks are flushed, what is still queued is dropped and counted, and
// Close returns without waiting further; a goroutine stuck in a write to a
// blocked console then ends when that write returns.
//
// The inputs stop first (the tailer reads every watched file one last
// time); a cleanup hook still running may go on until the wait for the
// pipes ends, then it is killed.
func (pl *Pipeline) Close(ctx context.Context) error {
	pl.mu.Lock()
	pl.closed = true
	inputs := slices.Clone(pl.inputs)
	pl.mu.Unlock()
	for i := len(inputs) - 1; i >= 0; i-- {
		inputs[i].Stop(ctx)
	}

	begin := time.Now()
	readCtx, heldCtx := ctx, ctx
	if dl, ok := ctx.Deadline(); ok {
		reserve := pl.opts.FlushReserve
		if reserve <= 0 {
			reserve = min(time.Until(dl)/10, maxFlushReserve)
		}
		var cancel context.CancelFunc
		readCtx, cancel = context.WithDeadline(ctx, dl.Add(-reserve))
		defer cancel()
		heldCtx = readCtx
	}
	if pl.opts.PipeWait > 0 {
		var cancel context.CancelFunc
		heldCtx, cancel = context.WithDeadline(readCtx, begin.Add(pl.opts.PipeWait))
		defer cancel()
	}
	if pl.opts.Budget != nil {
		pl.opts.Budget.StopHooks(readCtx, ctx)
	}
	pl.mu.Lock()
	caps := make([]*Capture, 0, len(pl.caps))
	for c := range pl.caps {
		caps = append(caps, c)
	}
	pl.mu.Unlock()

	if !pl.waitPipes(ctx, readCtx, heldCtx, caps) {
		for _, c := range caps {
			c.stop()
		}
	}
	errs := make([]error, len(pl.sinks))
	var wg sync.WaitGroup
	for i, s := range pl.sinks {
		wg.Go(func() { errs[i] = s.Close(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// waitPipes waits for every capture's EOF: after pipeGrace, a pipe that
// another process still holds open is named in a warning, with the
// processes holding it, and waited for until held; the rest (being read
// to their end) until read. It reports false when ctx ended first.
func (pl *Pipeline) waitPipes(ctx, read, held context.Context, caps []*Capture) bool {
	grace := time.NewTimer(pipeGrace)
	defer grace.Stop()
	heldBy := map[*Capture]bool{}
graced:
	for _, c := range caps {
		select {
		case <-c.done:
		case <-grace.C:
			break graced
		case <-read.Done():
			break graced
		}
	}
	for _, c := range caps {
		select {
		case <-c.done:
			continue
		default:
		}
		pids := c.writers()
		heldBy[c] = len(pids) > 0
		until := read
		if heldBy[c] {
			until = held
		}
		wait := time.Duration(0)
		if dl, ok := until.Deadline(); ok {
			wait = time.Until(dl).Round(time.Millisecond)
		}
		// A pipe nobody else holds is only being read to its end (a slow
		// sink in blocking mode): worth a debug line, not a warning.
		event := pl.log.Debug
		if heldBy[c] {
			event = pl.log.Warn
		}
		event("waiting for a log pipe to reach its end after its program stopped", zap.String("program", c.prog.Name),
			zap.Stringer("stream", c.stream), zap.Ints("held_by_pids", pids), zap.Duration("at_most", wait))
	}
	for _, c := range caps {
		until := read
		if heldBy[c] {
			until = held
		}
		select {
		case <-c.done:
			continue
		case <-until.Done():
		}
		pl.log.Warn("log pipe still open at stop; closing it", zap.String("program", c.prog.Name), zap.Stringer("stream", c.stream))
		c.stop()
	}
	for _, c := range caps {
		select {
		case <-c.done:
		case <-ctx.Done():
			return false
		}
	}
	return true
}
