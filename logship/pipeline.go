package logship

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

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
)

// Options are what New needs beyond config.Log.
type Options struct {
	// Stdout and Stderr are tend's own output streams; the console sink
	// writes there. When both are nil there is no console sink.
	Stdout, Stderr io.Writer
	// Logger receives tend's own events (file errors, cleanups, drops).
	// They never go into program output. Nil discards them.
	Logger *zap.Logger
	// FlushReserve is the part of Close's deadline kept for flushing: the
	// wait for the pipes' EOF ends this long before the deadline. Zero
	// keeps a tenth of the time left when Close starts, at most a second.
	FlushReserve time.Duration
	// OnCleanup, when set, is called after the budget deletes or
	// truncates a file, on the path of the write or the watcher that made
	// room: it must not block.
	OnCleanup func(Removal)
	// CleanupHook, when set, runs TEND_ON_LOG_CLEANUP for one cleanup. It
	// runs on a goroutine of its own, one at a time, never on the log
	// path; cleanups that find its queue full are counted and skipped.
	// ctx ends when the hook has run too long or tend stops.
	CleanupHook func(ctx context.Context, r Removal) error
	// Fluent configures forwarding to Fluentd; an empty Addr disables it.
	Fluent config.Fluent
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

// Shipper is the log pipeline of one tend run: it captures programs'
// output and hands it to the console sink and to each program's file sink.
type Shipper struct {
	cfg     config.Log
	opts    Options
	log     *zap.Logger
	budget  *Budget
	console *console
	fluent  *fluentSink // nil unless TEND_FLUENT_ADDR is set
	clean   *cleanups
	pool    batchPool     // read buffers of about readSize
	small   batchPool     // batches of at most smallBatch bytes
	stopZip chan struct{} // closed when Close runs out of time

	mu      sync.Mutex
	closed  bool
	progs   map[string]*program
	caps    []*Capture
	files   []*fileSink
	watch   *watcher // nil until Watch
	zipOnce sync.Once
}

// program is the state the pipeline keeps per program name; it outlives
// restarts of the program.
type program struct {
	name        string
	stats       counters
	last        lastLines
	file        *fileSink // nil without a log directory
	rate, burst atomic.Int64

	// Console state, used by the console goroutine only.
	lim               limiter
	limRate, limBurst int64
	consoleLost       drops // refused by the console queue, not yet reported
	fileLost          drops // refused by the file queue, not yet reported
}

// New checks cfg, opens the log directory and starts the console sink.
func New(cfg config.Log, opts Options) (*Shipper, error) {
	switch cfg.Format {
	case "":
		cfg.Format = config.FormatRaw
	case config.FormatRaw, config.FormatPrefix, config.FormatJSON:
	default:
		return nil, fmt.Errorf("logship: unknown log format %q", cfg.Format)
	}
	switch cfg.Mode {
	case "":
		cfg.Mode = config.ModeBlocking
	case config.ModeBlocking, config.ModeNonBlocking:
	default:
		return nil, fmt.Errorf("logship: unknown log mode %q", cfg.Mode)
	}
	if cfg.Multiline != "" && cfg.Multiline != "java" {
		return nil, fmt.Errorf("logship: unknown multiline mode %q", cfg.Multiline)
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
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.Dir != "" {
		if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("logship: log directory: %w", err)
		}
	}
	s := &Shipper{
		cfg:     cfg,
		opts:    opts,
		log:     log,
		progs:   map[string]*program{},
		stopZip: make(chan struct{}),
	}
	s.clean = newCleanups(log, opts.CleanupHook)
	s.budget = NewBudget(BudgetOptions{
		Limit:   cfg.DiskBudget,
		MinFree: cfg.MinFree,
		Logger:  log,
		OnRemove: func(r Removal) {
			s.clean.record(r)
			if opts.OnCleanup != nil {
				opts.OnCleanup(r)
			}
		},
	})
	if opts.Fluent.Addr != "" {
		f, err := newFluentSink(s, opts.Fluent)
		if err != nil {
			return nil, err
		}
		s.fluent = f
		go f.run()
	}
	if opts.Stdout != nil || opts.Stderr != nil {
		s.console = newConsole(s, opts.Stdout, opts.Stderr)
		go s.console.run()
	}
	go s.clean.run()
	return s, nil
}

// Budget returns the disk budget shared by every file tend writes; other
// components register the files they watch with it.
func (s *Shipper) Budget() *Budget { return s.budget }

// Capture starts one goroutine that reads r (the read end of a program's
// pipe) until EOF, frames lines and hands them to every sink. The same
// Source may be captured for both streams, and again after a restart. A
// Stream other than Stderr counts as Stdout.
// Capture takes ownership of r and closes it. After Close, Capture closes r
// at once and returns a Capture that is already done.
func (s *Shipper) Capture(src Source, stream Stream, r io.ReadCloser) *Capture {
	if stream != Stderr {
		stream = Stdout
	}
	c := &Capture{s: s, stream: stream, r: r, done: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		r.Close()
		close(c.done)
		return c
	}
	p := s.program(src.Program)
	p.rate.Store(src.Rate)
	p.burst.Store(src.Burst)
	c.prog = p
	c.fr = newFramer(s.cfg.MaxLine, src.Multiline)
	s.caps = append(s.caps, c)
	s.mu.Unlock()
	go c.run()
	return c
}

// WriteLine writes one line generated by tend (such as "exited with code
// 1") as a record of the program, to every sink, as if the program had
// written it. A newline is added.
func (s *Shipper) WriteLine(program string, stream Stream, line string) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("logship: write after close")
	}
	p := s.program(program)
	s.mu.Unlock()
	bp := &s.small
	if len(line) >= smallBatch {
		bp = &s.pool
	}
	b := bp.get(p, stream, max(len(line)+1, smallBatch))
	b.data = append(append(b.data, line...), '\n')
	b.recs = append(b.recs, record{off: 0, end: int32(len(line)), flags: recNewline})
	b.time = time.Now()
	s.dispatch(b)
	return nil
}

// LastLines returns the program's last records (up to 20, oldest first,
// each cut at 2 KiB), both streams together.
func (s *Shipper) LastLines(program string) []string {
	s.mu.Lock()
	p := s.progs[program]
	s.mu.Unlock()
	if p == nil {
		return nil
	}
	return p.last.get()
}

// Stats returns each program's counters.
func (s *Shipper) Stats() map[string]ProgramStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]ProgramStats, len(s.progs))
	for name, p := range s.progs {
		out[name] = ProgramStats{
			Lines:         p.stats.lines.Load(),
			Bytes:         p.stats.bytes.Load(),
			RateDropped:   p.stats.rate.load(),
			DiskDropped:   p.stats.disk.load(),
			BufferDropped: p.stats.buffer.load(),
			FileBytes:     s.budget.Usage(name),
			FluentDropped: p.stats.fluent.load(),
		}
	}
	return out
}

// program returns the state of a program, creating it (and its file sink)
// on first use. s.mu is held.
func (s *Shipper) program(name string) *program {
	if p := s.progs[name]; p != nil {
		if p.file == nil && s.cfg.Dir != "" {
			// Made by the tailer, which has no file: the program's own
			// output gets its file now. Records of stream File never
			// look at p.file, so the tailer does not race this.
			p.file = newFileSink(s, p)
			s.files = append(s.files, p.file)
			go p.file.run()
		}
		return p
	}
	p := &program{name: name}
	if s.cfg.Dir != "" {
		p.file = newFileSink(s, p)
		s.files = append(s.files, p.file)
		go p.file.run()
	}
	s.progs[name] = p
	return p
}

// dispatch hands a batch to every sink's queue and counts it in. Records
// tailed from a watched file (stream File) skip the program's file sink:
// the program's own file already holds them.
func (s *Shipper) dispatch(b *batch) {
	p := b.prog
	p.stats.lines.Add(int64(len(b.recs)))
	p.stats.bytes.Add(int64(len(b.data)))
	p.last.add(b)
	var file *fileSink
	if b.stream != File {
		file = p.file
	}
	n := int32(1) // the dispatcher's own reference, dropped below
	if s.console != nil {
		n++
	}
	if file != nil {
		n++
	}
	b.refs.Store(n)
	if s.fluent != nil {
		// The Fluentd sink copies what it keeps and never waits.
		s.fluent.add(b)
	}
	if s.console != nil && !s.console.q.push(b, &p.consoleLost) {
		lost(b, &p.consoleLost, &p.stats.buffer)
		b.release()
	}
	if file != nil && !file.q.push(b, &p.fileLost) {
		lost(b, &p.fileLost, &p.stats.buffer)
		b.release()
	}
	b.release()
}

// lost counts a batch a sink's queue refused.
func lost(b *batch, pending, total *drops) {
	n, size := int64(len(b.recs)), int64(len(b.data))
	pending.add(n, size)
	total.add(n, size)
}

// Close waits until every capture reached EOF, then flushes and syncs
// every sink and stops every goroutine. The supervisor closes its copies of
// the pipes' write ends first; a grandchild may still hold one open, so the
// wait is bounded: at ctx's deadline less the flush reserve (see
// Options.FlushReserve), or when ctx is done, the readers are closed and
// what was read is kept. When ctx is
// done before the sinks are flushed, what is still queued is dropped and
// counted, and Close returns without waiting further; a goroutine stuck in a
// write to a blocked console then ends when that write returns.
//
// The watcher stops first, after the tailer has read every watched file one
// last time; a cleanup hook still running may go on until the wait for the
// pipes ends, then it is killed. Fluentd gets what is buffered until ctx's
// deadline; what is left then is counted as dropped.
func (s *Shipper) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	w := s.watch
	s.mu.Unlock()
	if w != nil {
		w.stop(ctx)
	}
	s.mu.Lock()
	caps := append([]*Capture(nil), s.caps...)
	files := append([]*fileSink(nil), s.files...)
	s.mu.Unlock()

	readCtx := ctx
	if dl, ok := ctx.Deadline(); ok {
		reserve := s.opts.FlushReserve
		if reserve <= 0 {
			reserve = min(time.Until(dl)/10, maxFlushReserve)
		}
		var cancel context.CancelFunc
		readCtx, cancel = context.WithDeadline(ctx, dl.Add(-reserve))
		defer cancel()
	}
	var errs []error
	s.clean.stop(readCtx, ctx)
	for _, c := range caps {
		select {
		case <-c.done:
			continue
		case <-readCtx.Done():
		}
		s.log.Warn("log pipe still open at stop; closing it", zap.String("program", c.prog.name), zap.Stringer("stream", c.stream))
		c.stop()
	}
	for _, c := range caps {
		select {
		case <-c.done:
		case <-ctx.Done():
			return s.abort(ctx, files)
		}
	}
	if s.console != nil {
		s.console.q.close()
	}
	for _, f := range files {
		f.q.close()
	}
	if s.fluent != nil {
		s.fluent.close()
	}
	if s.console != nil {
		select {
		case <-s.console.done:
			errs = append(errs, s.console.err)
		case <-ctx.Done():
			return s.abort(ctx, files)
		}
	}
	for _, f := range files {
		select {
		case <-f.done:
			errs = append(errs, f.err)
		case <-ctx.Done():
			return s.abort(ctx, files)
		}
	}
	if s.fluent != nil {
		select {
		case <-s.fluent.done:
		case <-ctx.Done():
			return s.abort(ctx, files)
		}
	}
	return errors.Join(errs...)
}

// abort gives up on Close's remaining work once ctx is done: every reader
// and queue is stopped and what was queued is counted as dropped.
func (s *Shipper) abort(ctx context.Context, files []*fileSink) error {
	s.zipOnce.Do(func() { close(s.stopZip) })
	s.mu.Lock()
	caps := append([]*Capture(nil), s.caps...)
	s.mu.Unlock()
	for _, c := range caps {
		c.stop()
	}
	var queues []*queue
	if s.console != nil {
		queues = append(queues, s.console.q)
	}
	for _, f := range files {
		queues = append(queues, f.q)
	}
	dropped := int64(0)
	if s.fluent != nil {
		if n := s.fluent.abort(); n > 0 {
			s.log.Error("fluentd flush ran out of time", zap.Int64("dropped_records", n))
		}
	}
	for _, q := range queues {
		for _, it := range q.abort() {
			it.b.prog.stats.buffer.add(int64(len(it.b.recs)), int64(len(it.b.data)))
			dropped += int64(len(it.b.recs))
			it.b.release()
		}
	}
	s.log.Error("log flush ran out of time", zap.Int64("dropped_lines", dropped))
	return fmt.Errorf("logship: close: %w", context.Cause(ctx))
}
