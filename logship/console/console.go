package logship

import (
	"fmt"
	"io"
	"time"

	"go.uber.org/zap"

	"tend/config"
)

// flushSize is how much formatted output a sink gathers before a write.
const flushSize = 64 << 10

// console is the sink that writes to tend's own stdout and stderr, for the
// container's log collector. One goroutine writes every program's records,
// whole records at a time, so two programs' bytes never mix inside a line
// (a line longer than MaxLine travels in pieces, and another program's line
// may come between them).
//
// In raw format a program's bytes are copied exactly, straight from the
// batch; the only byte tend adds is a newline before another program's
// output when the last output on that stream did not end a line. In prefix
// and json formats records are formatted into a buffer that is written when
// it is full or when the queue is empty.
type console struct {
	s      *Shipper
	format string
	q      *queue
	out    [3]io.Writer // by Stream
	buf    [3][]byte    // formatted output waiting, by Stream
	lastNL [3]bool      // the last byte written on the stream was a newline
	last   [3]*program  // whose bytes were written last on the stream
	werr   [3]bool      // a write error was reported on the stream
	ts     []byte       // formatted time of the current batch
	tsOf   time.Time
	msg    []byte // a marker's text

	suppressing []*program // programs whose suppression has no marker yet
	timer       *time.Timer

	done chan struct{}
	err  error
}

func newConsole(s *Shipper, stdout, stderr io.Writer) *console {
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	c := &console{
		s:      s,
		format: s.cfg.Format,
		q:      newQueue(s.cfg.Buffer, s.cfg.Mode == config.ModeBlocking),
		done:   make(chan struct{}),
		timer:  time.NewTimer(time.Hour),
	}
	c.timer.Stop()
	c.out[Stdout], c.out[Stderr] = stdout, stderr
	c.lastNL[Stdout], c.lastNL[Stderr] = true, true
	return c
}

func (c *console) run() {
	defer close(c.done)
	for {
		var wake <-chan time.Time
		if len(c.suppressing) > 0 {
			wake = c.timer.C
		}
		it, ok := c.q.next(wake)
		if !ok {
			break
		}
		if it.b == nil { // a suppression marker is due
			c.markers(time.Now(), false)
			c.flush()
			continue
		}
		if it.lost.Lines > 0 {
			c.marker(it.b.prog, droppedText(c.msg[:0], it.b.prog.name, it.lost, reasonBuffer))
		}
		c.write(it.b)
		it.b.release()
		if c.q.empty() {
			c.flush()
		}
	}
	c.markers(time.Now(), true)
	c.flush()
}

// write sends one batch to the console.
func (c *console) write(b *batch) {
	p := b.prog
	if rate, burst := p.rate.Load(), p.burst.Load(); rate != p.limRate || burst != p.limBurst {
		c.endSuppression(p)
		p.lim, p.limRate, p.limBurst = newLimiter(rate, burst), rate, burst
	}
	if !p.lim.on() && c.format == config.FormatRaw {
		c.writeRaw(p, b.stream, b.data)
		return
	}
	runStart, runEnd := int32(0), int32(0) // raw bytes admitted and not yet written
	for _, r := range b.recs {
		if p.lim.on() {
			if p.lim.due(b.time) {
				// The marker goes between the lines it falls between.
				if runEnd > runStart {
					c.writeRaw(p, b.stream, b.data[runStart:runEnd])
				}
				runStart, runEnd = r.off, r.off
				c.endSuppression(p)
			}
			if !p.lim.allow(b.time, r.rawLen()) {
				p.stats.rate.add(1, r.rawLen())
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
			if runEnd != r.off {
				if runEnd > runStart {
					c.writeRaw(p, b.stream, b.data[runStart:runEnd])
				}
				runStart = r.off
			}
			runEnd = r.rawEnd()
			continue
		}
		c.add(b.stream, b.time, p, b.message(r), r.partial(), false)
	}
	if runEnd > runStart {
		c.writeRaw(p, b.stream, b.data[runStart:runEnd])
	}
	if p.lim.due(b.time) {
		c.endSuppression(p)
	}
}

// add formats one record into the stream's buffer (prefix and json).
func (c *console) add(stream Stream, t time.Time, p *program, msg []byte, partial, marker bool) {
	out := outputOf(stream)
	switch c.format {
	case config.FormatJSON:
		if !t.Equal(c.tsOf) || c.ts == nil {
			c.ts, c.tsOf = appendTime(c.ts[:0], t), t
		}
		c.buf[out] = appendJSONRecord(c.buf[out], c.ts, p.name, stream, msg, partial, marker)
	default:
		c.buf[out] = appendPrefixed(c.buf[out], p.name, msg)
	}
	if len(c.buf[out]) >= flushSize {
		c.flushStream(out)
	}
}

// outputOf is the tend stream a program stream is written to: records
// tailed from files go to stdout, where their stream field says "file".
func outputOf(s Stream) Stream {
	if s == File {
		return Stdout
	}
	return s
}

// writeRaw writes a program's bytes to the stream unchanged.
func (c *console) writeRaw(p *program, stream Stream, data []byte) {
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
func (c *console) marker(p *program, text []byte) {
	c.msg = text
	if c.format == config.FormatRaw {
		if !c.lastNL[Stdout] {
			c.put(Stdout, []byte{'\n'})
		}
		line := append(text, '\n')
		c.put(Stdout, line)
		c.msg = line[:0]
		c.lastNL[Stdout] = true
		return
	}
	c.add(Stdout, time.Now(), p, text, false, true)
}

// endSuppression writes the marker of p's current suppression, if any.
func (c *console) endSuppression(p *program) {
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
	c.marker(p, suppressedText(c.msg[:0], p.name, d))
}

// markers writes the markers that are due (all of them when final), and
// sets the timer for the next one.
func (c *console) markers(now time.Time, final bool) {
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

func (c *console) flush() {
	c.flushStream(Stdout)
	c.flushStream(Stderr)
}

func (c *console) flushStream(stream Stream) {
	if len(c.buf[stream]) > 0 {
		c.put(stream, c.buf[stream])
		c.buf[stream] = c.buf[stream][:0]
	}
}

// put writes to tend's stream. A write error is reported once per stream;
// the output is lost (there is nowhere else to put it).
func (c *console) put(stream Stream, data []byte) {
	if _, err := c.out[stream].Write(data); err != nil {
		if !c.werr[stream] {
			c.werr[stream] = true
			c.err = fmt.Errorf("logship: console %s: %w", stream, err)
			c.s.log.Error("writing to the console", zap.Stringer("stream", stream), zap.Error(err))
		}
	}
}
