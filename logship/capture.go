package logship

import (
	"errors"
	"io"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"tend/internal/stackreserve"
	"tend/procfs"
)

const (
	// ReadSize is the size of the first read from a pipe: a whole default
	// pipe buffer. A capture doubles it, up to MaxReadSize, while its reads
	// fill the buffer, and halves it again when they return far less.
	ReadSize = 64 << 10
	// MaxReadSize is the largest read: the pipe's whole buffer once grown
	// (pipeSize).
	MaxReadSize = ReadSize << (readClasses - 1)
	// pipeSize is the kernel buffer a capture asks for its pipe: room for
	// the program to go on writing while a read is held back (see
	// coalesceDelay) or the sinks are busy, without being blocked.
	pipeSize = 1 << 20
	// coalesceDelay is how long a capture waits before its next read when
	// the last one found the program writing steadily but in small pieces
	// (one write per line): the pipe gathers what the program writes
	// meanwhile, and one read takes it all, where reading each piece as it
	// comes costs a wake-up, a read and a batch per line. It is the most a
	// line waits in the pipe for it; the first line after a pause is read at
	// once. 4 ms rather than 1 ms: a program writing 50 MB/s a line at a
	// time is read in a quarter of the reads, with a delay no log reader
	// notices.
	coalesceDelay = 4 * time.Millisecond
	// minCoalesce is the shortest wait: a program that would fill three
	// quarters of the pipe in twice this time, at the fastest rate it was
	// seen writing at in the last second, is read again at once, as a
	// wait would block it on a full pipe (C's stdio or Java's 8 KiB
	// writes, at GB/s).
	minCoalesce = time.Millisecond
	// rateWindow is the least time a capture measures a program's rate
	// over: long enough that a program or a capture descheduled for a
	// moment (a scheduler tick, a few milliseconds) does not make a
	// program writing at full speed look slow. One read to the next is
	// often microseconds, and one slow gap among them would hold a fast
	// program back.
	rateWindow = 10 * time.Millisecond
	// minRead is the least room left in a buffer before a read; below it
	// the buffer is grown.
	minRead = 4 << 10
	// smallBatch is the size under which a batch is copied out of the read
	// buffer into a buffer of its own size class.
	smallBatch = 4 << 10
	// yieldEvery is how often a capture that keeps working (it reads,
	// writes and pauses in system calls, and never waits on a channel)
	// passes through the Go scheduler of its own accord. The runtime takes
	// a goroutine that has not done so for 10 ms for one hogging its
	// processor: it preempts it with a signal or, when it is in a system
	// call, hands its processor to another thread, and its monitor thread
	// then polls every 20 µs for a while. Each costs context switches, and
	// on a steady stream they came every 10 ms: half of tend's context
	// switches with a program writing one line at a time. A yield costs
	// one wake-up of an idle thread at most.
	yieldEvery = 5 * time.Millisecond
	// FlushDelay is how long a record that joining could still extend
	// waits for the next line before it is handed on.
	FlushDelay = 150 * time.Millisecond
)

// Capture is one stream of one program being read: one goroutine that
// reads the pipe until EOF, frames the bytes and ships the batches.
type Capture struct {
	pl     *Pipeline
	prog   *Program
	stream Stream
	src    source
	fr     Framer
	done   chan struct{}

	stopped atomic.Bool

	// Read pacing, by run only.
	want    int       // size of the next read buffer, ReadSize to Pipeline.maxRead
	lastEnd time.Time // when the last read that returned bytes returned
	yielded time.Time // when the capture last yielded (yieldEvery)
	peak    float64   // the fastest window's rate in the last second, in bytes per nanosecond (see pace)
	peakAt  time.Time // when
	// burst is the fastest rate of a large read (an eighth of the pipe or
	// more) since the last window ended: what a program that has just
	// begun writing fast is known by until a window has seen it.
	burst float64
	// lastFilled: the last read filled its buffer, and the pipe may have
	// held more (the next read's bytes did not all come since).
	lastFilled bool
	// The rate over the last rateWindow or more (see pace): winRate of
	// the last window completed, winBytes read since winStart in the one
	// under way.
	winRate  float64
	winStart time.Time
	winBytes int
}

// newSource returns what a capture of r reads: r's pipe, read outside Go's
// poller, when r is a pipe; r itself otherwise.
func newSource(r io.ReadCloser) source {
	if f, ok := r.(*os.File); ok {
		if p := openPipe(f); p != nil {
			return p
		}
	}
	return newReaderSource(r)
}

// Done is closed once EOF was reached (or the reader was closed by Close)
// and every byte read was handed to the sinks.
func (c *Capture) Done() <-chan struct{} { return c.done }

// stop makes the capture end as if at EOF, keeping what it read; a read
// waiting now returns.
func (c *Capture) stop() {
	c.stopped.Store(true)
	c.src.interrupt()
}

// writers returns the processes that hold the pipe's write end open, as
// far as /proc shows them.
func (c *Capture) writers() []int { return c.src.writers() }

// pipeWriters returns the processes holding the write end of the pipe
// with inode ino (0: none known).
func pipeWriters(ino uint64) []int {
	if ino == 0 {
		return nil
	}
	return procfs.PipeWriters(ino)
}

// run reads until EOF. Each read goes into the free end of the current
// batch's buffer; the framer finds the records; the complete ones leave as
// a batch and the incomplete tail is copied to the front of a new buffer.
func (c *Capture) run() {
	// A capture reads, frames and writes in calls 4 KiB deep.
	stackreserve.FourKiB()
	defer c.pl.forget(c)
	defer close(c.done)
	defer c.src.close()
	c.want = ReadSize
	// The first read's rate is measured from here.
	c.lastEnd = time.Now()
	b := c.pl.bufs.get(c.prog, c.stream, c.want)
	for {
		var deadline time.Time
		if c.fr.hasPend {
			// A record that joining could still extend waits at most
			// FlushDelay for the next line.
			deadline = time.Now().Add(FlushDelay)
		}
		if cap(b.Data)-len(b.Data) < minRead {
			b.Data = grow(b.Data, len(b.Data)+c.want)
		}
		room := cap(b.Data) - len(b.Data)
		start := time.Now()
		n, err := c.src.Read(b.Data[len(b.Data):cap(b.Data)], deadline)
		end := time.Now()
		b.Data = b.Data[:len(b.Data)+n]
		if n > 0 {
			b.Records = c.fr.Frame(b.Data, b.Records)
		}
		eof := false
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded) && !c.stopped.Load():
			b.Records = c.fr.Flush(b.Records)
		default:
			eof = true
			if err != io.EOF && !errors.Is(err, errStopped) && !c.stopped.Load() {
				c.pl.log.Warn("reading program output", zap.String("program", c.prog.Name),
					zap.Stringer("stream", c.stream), zap.Error(err))
			}
			b.Records = c.fr.Finish(b.Data, b.Records)
		}
		if len(b.Records) > 0 {
			b = c.emit(b)
		}
		if eof {
			b.Release()
			return
		}
		if end.Sub(c.yielded) >= yieldEvery {
			c.yielded = end
			runtime.Gosched()
		}
		if n > 0 {
			c.pace(n, room, end.Sub(start), end)
		}
	}
}

// pace sizes the next read after one that returned n bytes into room at
// end, after waiting for them for waited, and holds the next read back
// when the program writes steadily in pieces far smaller than the pipe:
// this read found bytes waiting or waited less than the wait for them
// (more is likely to come soon). The wait is coalesceDelay, shorter for a
// program seen writing fast enough to fill the pipe sooner, and none for
// one that would need a wait under minCoalesce. A read that filled its
// buffer is followed at once by the next, larger one.
func (c *Capture) pace(n, room int, waited time.Duration, end time.Time) {
	since := end.Sub(c.lastEnd)
	c.lastEnd = end
	pipe := c.src.capacity()
	if pipe == 0 || since <= 0 {
		return
	}
	// How fast the program writes: the fastest window of reads of
	// rateWindow or more in the last second, and until the next window
	// ends the fastest large read (a read that filled its buffer gives
	// the least the rate was; the read after it, which took what was left
	// from before, would give too much). The rate of a few lines read
	// microseconds after the last read says nothing, and one read to the
	// next can be far off either way: a moment the program or the capture
	// was descheduled, a clock read late after a read. A program may seem
	// slow from one read to the next and then write at full speed.
	rate := float64(n) / float64(since) // bytes per nanosecond
	leftover := c.lastFilled
	c.lastFilled = n >= room
	if n >= pipe/8 && !leftover {
		c.burst = max(c.burst, rate)
	}
	c.measureWindow(n, since, end)
	if n >= room {
		c.want = min(2*c.want, c.pl.maxRead)
		return
	}
	if n < c.want/4 {
		c.want = max(c.want/2, ReadSize)
	}
	// The wait: coalesceDelay, or less for a program that writes faster:
	// in twice the wait (timers are late, most of all on a loaded
	// machine), at the fastest rate the program was seen writing (above;
	// since the last read when nothing is known yet), the pipe takes at
	// most three quarters of its size, so that the program is not
	// blocked. A shorter wait than minCoalesce is not worth its wake-up:
	// the next read comes at once. (The last window's rate is never above
	// the peak: measureWindow raises the peak to it.)
	fast := max(c.peak, c.burst)
	if fast == 0 {
		fast = rate
	}
	delay := coalesceDelay
	if d := float64(pipe) * 3 / 8 / fast; d < float64(delay) {
		delay = time.Duration(d)
	}
	if delay < minCoalesce || waited >= delay {
		return
	}
	// The next read takes what comes during the wait, at the rate of
	// late: room for twice as much, so that one read takes it all.
	expect := int(max(rate, c.winRate) * float64(delay+min(since, delay)))
	for c.want < 2*expect && c.want < c.pl.maxRead {
		c.want *= 2
	}
	c.src.pause(delay)
}

// measureWindow adds a read of n bytes, since after the one before it,
// to the window of reads under way; once the window spans rateWindow, its
// rate becomes winRate (and the peak, when faster or the peak is older
// than a second), the large reads' burst is forgotten, and a new window
// begins.
func (c *Capture) measureWindow(n int, since time.Duration, end time.Time) {
	if c.winStart.IsZero() {
		c.winStart = end.Add(-since)
	}
	c.winBytes += n
	w := end.Sub(c.winStart)
	if w < rateWindow {
		return
	}
	c.winRate = float64(c.winBytes) / float64(w)
	if c.winRate > c.peak || end.Sub(c.peakAt) > time.Second {
		c.peak, c.peakAt = c.winRate, end
	}
	c.burst = 0
	c.winStart, c.winBytes = end, 0
}

// emit ships the complete records of b and returns the buffer to read
// into next, holding the bytes that wait for more input. A small batch (a
// program writing a line now and then) is copied into a small buffer, and
// the large read buffer is kept: queues count the memory batches hold, and
// a few bytes must not pin 64 KiB each.
func (c *Capture) emit(b *Batch) *Batch {
	cut := c.fr.Cut()
	var out *Batch
	if cut <= smallBatch {
		out = c.pl.bufs.small.get(c.prog, c.stream)
		out.Data = append(out.Data, b.Data[:cut]...)
		out.Records = append(out.Records, b.Records...)
		b.Records = b.Records[:0]
		b.Data = b.Data[:copy(b.Data, b.Data[cut:])]
		if cap(b.Data) > 2*c.want && len(b.Data)+minRead <= c.want {
			// The reads got small again: a large buffer kept for them
			// would only pin memory.
			next := c.pl.bufs.get(c.prog, c.stream, c.want)
			next.Data = append(next.Data, b.Data...)
			b.Release()
			b = next
		}
	} else {
		next := c.pl.bufs.get(c.prog, c.stream, max(c.want, len(b.Data)-cut+minRead))
		next.Data = append(next.Data, b.Data[cut:]...)
		b.Data = b.Data[:cut]
		out, b = b, next
	}
	c.fr.Shift(cut)
	out.Time = time.Now()
	c.pl.dispatch(out)
	return b
}

// grow returns a buffer holding b with a capacity of at least size.
func grow(b []byte, size int) []byte {
	nb := make([]byte, len(b), size)
	copy(nb, b)
	return nb
}
