// Package console is the sink that writes every program's records to
// tend's own stdout and stderr, for the container's log collector, as the
// program's raw bytes, prefixed with its name, or as one JSON object per
// line, with a rate limit per program that drops whole records and says so
// with a marker line.
package console

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"go.uber.org/zap"

	"tend/config"
	"tend/logship"
)

// flushSize is how much formatted output the sink gathers before a write:
// a read of up to MaxReadSize becomes a few writes.
const flushSize = 256 << 10

// Stream aliases, to index the per-stream arrays.
const (
	stdout = logship.Stdout
	stderr = logship.Stderr
)

// Sink is the console sink: it writes to tend's own stdout and stderr, for
// the container's log collector. One goroutine writes every program's records,
// whole records at a time, so two programs' bytes never mix inside a line
// (a line longer than MaxLine travels in pieces, and another program's line
// may come between them).
//
// In raw format a program's bytes are copied exactly, straight from the
// batch; the only byte tend adds is a newline before another program's
// output when the last output on that stream did not end a line. In prefix
// and json formats records are formatted into a buffer that is written when
// it is full or when the queue is empty.
type Sink struct {
	log         *zap.Logger
	format      string
	q           *logship.Queue
	out         [3]io.Writer        // by Stream
	buf         [3][]byte           // formatted output waiting, by Stream
	lastNL      [3]bool             // the last byte written on the stream was a newline
	last        [3]*logship.Program // whose bytes were written last on the stream
	werr        [3]bool             // a write error was reported on the stream
	ts          []byte              // formatted time of the current batch
	tsOf        time.Time
	start       []byte // start of the JSON object of tsOf, startProg and startStream
	startProg   *logship.Program
	startStream logship.Stream
	msg         []byte           // a marker's text
	lines       []logship.Record // runs split into lines (Batch.Lines)

	progs       map[*logship.Program]*program // the goroutine's own
	suppressing []*program                    // programs whose suppression has no marker yet
	timer       *time.Timer

	done chan struct{}
	err  error
}

// program is the console's state of one program, used by the sink's
// goroutine only.
type program struct {
	p                 *logship.Program
	lim               limiter
	limRate, limBurst int64
}

// New checks cfg and starts the console sink writing to stdout and stderr
// (nil: discarded) in cfg's format, with a queue of cfg.Buffer bytes,
// blocking or not by cfg.Mode. Its events go to log (nil: none). A
// stdout or stderr that is a pipe gets a buffer of 1 MiB (GrowPipe).
func New(cfg config.Log, stdout, stderr io.Writer, log *zap.Logger) (*Sink, error) {
	cfg, err := logship.Check(cfg)
	if err != nil {
		return nil, err
	}
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	// A json record is 1.75 times its line: through the 64 KiB a pipe
	// holds by default, a collector that reads tend's stdout in bursts
	// would stall the console dozens of times per MiB.
	for _, w := range []io.Writer{stdout, stderr} {
		if f, ok := w.(*os.File); ok {
			logship.GrowPipe(f)
		}
	}
	if log == nil {
		log = zap.NewNop()
	}
	c := &Sink{
		log:    log,
		format: cfg.Format,
		q:      logship.NewQueue(cfg.Buffer, cfg.Mode == config.ModeBlocking),
		progs:  map[*logship.Program]*program{},
		done:   make(chan struct{}),
		timer:  time.NewTimer(time.Hour),
	}
	c.timer.Stop()
	c.out[logship.Stdout], c.out[logship.Stderr] = stdout, stderr
	c.lastNL[logship.Stdout], c.lastNL[logship.Stderr] = true, true
	go c.run()
	return c, nil
}

// Push writes b itself when the console is idle (blocking mode, nothing
// queued, no write under way); otherwise it queues b: in blocking mode it
// waits for room, in non-blocking mode a batch that does not fit is
// dropped and counted (BufferFull).
func (c *Sink) Push(b *logship.Batch) {
	if c.q.Claim() {
		c.handle(logship.Item{Batch: b})
		c.q.Done()
		return
	}
	c.q.Push(b)
}

// ReadsLines reports whether the console needs each line framed by
// itself: for prefix; not for raw, which passes bytes through, nor for
// json, which splits runs of lines in the scan that escapes them.
func (c *Sink) ReadsLines() bool { return c.format == config.FormatPrefix }

// Close writes what is queued and every pending suppression marker, and
// stops the sink's goroutine. When ctx ends first, what is still queued is
// counted as dropped; a write blocked on tend's stdout ends when the write
// returns.
func (c *Sink) Close(ctx context.Context) error {
	c.q.Close()
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
	}
	n := c.q.Abort()
	c.log.Error("console flush ran out of time", zap.Int64("dropped_lines", n))
	return fmt.Errorf("console: close: %w", context.Cause(ctx))
}

// Report returns nil: the console's drops are counted per program.
func (c *Sink) Report() any { return nil }

func (c *Sink) run() {
	defer close(c.done)
	for {
		// The timer runs only while a suppression waits for its marker; a
		// pusher writing directly may start it while this goroutine waits.
		it, ok := c.q.Next(c.timer.C)
		if !ok {
			break
		}
		c.handle(it)
		if it.Batch != nil {
			it.Batch.Release()
		}
		c.q.Done()
	}
	// What the queue refused after the last batch it took of a program
	// gets its marker here: no batch will carry it.
	for _, u := range c.q.Unmarked() {
		c.marker(u.Program, logship.AppendDropped(c.msg[:0], u.Program.Name, u.Drops, logship.LostBuffer))
	}
	c.markers(time.Now(), true)
	c.flush()
}

// handle writes one item, or the suppression markers that are due when it
// holds no batch, and flushes when nothing more waits. The caller holds
// the queue (Next or Claim): one item is handled at a time.
func (c *Sink) handle(it logship.Item) {
	if it.Batch == nil { // a suppression marker is due
		c.markers(time.Now(), false)
		c.flush()
		return
	}
	p := c.program(it.Batch.Program)
	if it.Lost.Lines > 0 {
		c.marker(p.p, logship.AppendDropped(c.msg[:0], p.p.Name, it.Lost, logship.LostBuffer))
	}
	c.write(p, it.Batch)
	if c.q.Empty() {
		c.flush()
	}
}

// program returns the console's state of p.
func (c *Sink) program(p *logship.Program) *program {
	cp := c.progs[p]
	if cp == nil {
		cp = &program{p: p}
		c.progs[p] = cp
	}
	return cp
}

// write sends one batch to the console.
func (c *Sink) write(p *program, b *logship.Batch) {
	if rate, burst := p.p.Limit(); rate != p.limRate || burst != p.limBurst {
		c.endSuppression(p)
		p.lim, p.limRate, p.limBurst = newLimiter(rate, burst), rate, burst
	}
	if !p.lim.on() {
		switch c.format {
		case config.FormatRaw:
			c.writeRaw(p.p, b.Stream, b.Data)
			return
		case config.FormatJSON:
			c.addJSON(b)
			return
		}
	}
	runStart, runEnd := int32(0), int32(0) // raw bytes admitted and not yet written
	for _, r := range b.Lines(&c.lines) {
		if p.lim.on() {
			if p.lim.due(b.Time) {
				// The marker goes between the lines it falls between.
				if runEnd > runStart {
					c.writeRaw(p.p, b.Stream, b.Data[runStart:runEnd])
				}
				runStart, runEnd = r.Off, r.Off
				c.endSuppression(p)
			}
			if !p.lim.allow(b.Time, r.RawLen()) {
				p.p.Counters.Drop(logship.RateLimited, 1, r.RawLen())
				if p.lim.dropped.Lines == 1 {
					c.suppressing = append(c.suppressing, p)
					if len(c.suppressing) == 1 {
						c.timer.Reset(markerInterval)
					}
				}
				continue
			}
		}
		if c.format == config.FormatRaw {
			if runEnd != r.Off {
				if runEnd > runStart {
					c.writeRaw(p.p, b.Stream, b.Data[runStart:runEnd])
				}
				runStart = r.Off
			}
			runEnd = r.RawEnd()
			continue
		}
		c.add(b.Stream, b.Time, p.p, b.Message(r), r.Partial(), false)
	}
	if runEnd > runStart {
		c.writeRaw(p.p, b.Stream, b.Data[runStart:runEnd])
	}
	if p.lim.due(b.Time) {
		c.endSuppression(p)
	}
}

// addJSON formats every record of b into the stream's buffer, in json,
// with nothing dropped: the loop of add without what it looks up per
// record, the start of the object formatted once. A run is split into
// its lines as they are formatted, in the same scan: its plain lines
// many at a time (AppendJSONLines), the others one at a time
// (AppendJSONNext).
func (c *Sink) addJSON(b *logship.Batch) {
	out := outputOf(b.Stream)
	c.startOf(b.Time, b.Program, b.Stream)
	buf := c.buf[out]
	for _, r := range b.Records {
		rest := b.Message(r)
		// Plain lines go the fast way until it has nothing to format
		// because the very next line has a byte to escape: then the
		// rest of the run goes a line at a time.
		fast := true
		for more := true; more; {
			if fast {
				n := len(rest)
				var escape bool
				buf, rest, escape = b.AppendJSONLines(buf, c.start, r, rest, flushSize)
				fast = !escape || len(rest) < n
			}
			buf, _, rest, more = b.AppendJSONNext(buf, c.start, r, rest)
			if len(buf) >= flushSize {
				c.buf[out] = buf
				c.flushStream(out)
				buf = c.buf[out]
			}
		}
	}
	c.buf[out] = buf
}

// startOf formats the start of the JSON objects of records of p's stream
// read at t, unless it holds them already.
func (c *Sink) startOf(t time.Time, p *logship.Program, stream logship.Stream) {
	if !t.Equal(c.tsOf) || c.ts == nil || p != c.startProg || stream != c.startStream {
		// The start of the object is the same for every record of a
		// batch: format it once.
		c.ts, c.tsOf = logship.AppendTime(c.ts[:0], t), t
		c.start = logship.AppendJSONStart(c.start[:0], c.ts, p.Name, stream)
		c.startProg, c.startStream = p, stream
	}
}

// add formats one record into the stream's buffer (prefix and json).
func (c *Sink) add(stream logship.Stream, t time.Time, p *logship.Program, msg []byte, partial, marker bool) {
	out := outputOf(stream)
	switch c.format {
	case config.FormatJSON:
		c.startOf(t, p, stream)
		c.buf[out] = append(c.buf[out], c.start...)
		c.buf[out] = logship.AppendJSONEnd(c.buf[out], msg, partial, marker)
	default:
		c.buf[out] = logship.AppendPrefixed(c.buf[out], p.Name, msg)
	}
	if len(c.buf[out]) >= flushSize {
		c.flushStream(out)
	}
}

// outputOf is the tend stream a program stream is written to: records
// tailed from files go to stdout, where their stream field says "file".
func outputOf(s logship.Stream) logship.Stream {
	if s == logship.File {
		return stdout
	}
	return s
}

// writeRaw writes a program's bytes to the stream unchanged.
func (c *Sink) writeRaw(p *logship.Program, stream logship.Stream, data []byte) {
	if len(data) == 0 {
		return
	}
	stream = outputOf(stream)
	if !c.lastNL[stream] && c.last[stream] != p {
		c.put(stream, []byte{'\n'})
	}
	c.put(stream, data)
	c.lastNL[stream] = data[len(data)-1] == '\n'
	c.last[stream] = p
}

// marker writes a line of tend's about a program, on stdout.
func (c *Sink) marker(p *logship.Program, text []byte) {
	c.msg = text
	if c.format == config.FormatRaw {
		if !c.lastNL[stdout] {
			c.put(stdout, []byte{'\n'})
		}
		line := append(text, '\n')
		c.put(stdout, line)
		c.msg = line[:0]
		c.lastNL[stdout] = true
		return
	}
	c.add(stdout, time.Now(), p, text, false, true)
}

// endSuppression writes the marker of p's current suppression, if any.
func (c *Sink) endSuppression(p *program) {
	d := p.lim.take()
	if d.Lines == 0 {
		return
	}
	for i, q := range c.suppressing {
		if q == p {
			c.suppressing = append(c.suppressing[:i], c.suppressing[i+1:]...)
			break
		}
	}
	c.marker(p.p, suppressedText(c.msg[:0], p.p.Name, d))
}

// markers writes the markers that are due (all of them when final), and
// sets the timer for the next one.
func (c *Sink) markers(now time.Time, final bool) {
	for _, p := range append([]*program(nil), c.suppressing...) {
		if final || p.lim.due(now) {
			c.endSuppression(p)
		}
	}
	next := time.Duration(-1)
	for _, p := range c.suppressing {
		if d := p.lim.since.Add(markerInterval).Sub(now); next < 0 || d < next {
			next = d
		}
	}
	if next >= 0 {
		c.timer.Reset(max(next, time.Millisecond))
	}
}

func (c *Sink) flush() {
	c.flushStream(stdout)
	c.flushStream(stderr)
}

func (c *Sink) flushStream(stream logship.Stream) {
	if len(c.buf[stream]) > 0 {
		c.put(stream, c.buf[stream])
		c.buf[stream] = c.buf[stream][:0]
	}
}

// put writes to tend's stream. A write error is reported once per stream;
// the output is lost (there is nowhere else to put it).
func (c *Sink) put(stream logship.Stream, data []byte) {
	if _, err := c.out[stream].Write(data); err != nil {
		if !c.werr[stream] {
			c.werr[stream] = true
			c.err = fmt.Errorf("console %s: %w", stream, err)
			c.log.Error("writing to the console", zap.Stringer("stream", stream), zap.Error(err))
		}
	}
}
