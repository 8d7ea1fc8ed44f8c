package logship

import (
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

const (
	// readSize is the size of each read from a pipe: a whole default pipe
	// buffer, so a flooding program is drained in one system call.
	readSize = 64 << 10
	// minRead is the least room left in a buffer before a read; below it
	// the buffer is grown.
	minRead = 4 << 10
	// smallBatch is the size under which a batch is copied out of the read
	// buffer into a buffer of its own size class.
	smallBatch = 4 << 10
	// flushDelay is how long a record that joining could still extend
	// waits for the next line before it is handed on.
	flushDelay = 150 * time.Millisecond
)

// Capture is one stream of one program being read.
type Capture struct {
	s      *Shipper
	prog   *program
	stream Stream
	r      io.ReadCloser
	fr     framer
	done   chan struct{}

	stopped   atomic.Bool
	closeOnce sync.Once
}

// Done is closed once EOF was reached (or the reader was closed by Close)
// and every byte read was handed to the sinks' queues.
func (c *Capture) Done() <-chan struct{} { return c.done }

// stop makes the capture end as if at EOF, keeping what it read. Closing a
// pipe's *os.File wakes a Read blocked on it.
func (c *Capture) stop() {
	c.stopped.Store(true)
	c.closeReader()
}

func (c *Capture) closeReader() {
	c.closeOnce.Do(func() { c.r.Close() })
}

// run reads until EOF. Each read goes into the free end of the current
// batch's buffer; the framer finds the records; the complete ones leave as
// a batch and the incomplete tail is copied to the front of a new buffer.
func (c *Capture) run() {
	defer close(c.done)
	defer c.closeReader()
	deadline, _ := c.r.(interface{ SetReadDeadline(time.Time) error })
	if !c.fr.join {
		deadline = nil // only joining needs a timer
	}
	armed := false
	b := c.s.pool.get(c.prog, c.stream, readSize)
	for {
		if deadline != nil {
			// A record that joining could still extend waits at most
			// flushDelay for the next line.
			if c.fr.hasPend {
				armed = deadline.SetReadDeadline(time.Now().Add(flushDelay)) == nil
			} else if armed {
				deadline.SetReadDeadline(time.Time{})
				armed = false
			}
		}
		if cap(b.data)-len(b.data) < minRead {
			b.data = grow(b.data, len(b.data)+readSize)
		}
		n, err := c.r.Read(b.data[len(b.data):cap(b.data)])
		b.data = b.data[:len(b.data)+n]
		if n > 0 {
			b.recs = c.fr.frame(b.data, b.recs)
		}
		eof := false
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded) && !c.stopped.Load():
			b.recs = c.fr.flush(b.recs)
		default:
			eof = true
			if err != io.EOF && !c.stopped.Load() {
				c.s.log.Warn("reading program output", zap.String("program", c.prog.name),
					zap.Stringer("stream", c.stream), zap.Error(err))
			}
			b.recs = c.fr.finish(b.data, b.recs)
		}
		if len(b.recs) > 0 {
			b = c.emit(b)
		}
		if eof {
			b.refs.Store(1)
			b.release()
			return
		}
	}
}

// emit sends the complete records of b to the sinks and returns the
// buffer to read into next, holding the bytes that wait for more input.
// A small batch (a program writing a line now and then) is copied into a
// small buffer, and the large read buffer is kept: queues count the memory
// batches hold, and a few bytes must not pin 64 KiB each.
func (c *Capture) emit(b *batch) *batch {
	cut := c.fr.cut()
	var out *batch
	if cut <= smallBatch {
		out = c.s.small.get(c.prog, c.stream, smallBatch)
		out.data = append(out.data, b.data[:cut]...)
		out.recs = append(out.recs, b.recs...)
		b.recs = b.recs[:0]
		b.data = b.data[:copy(b.data, b.data[cut:])]
	} else {
		next := c.s.pool.get(c.prog, c.stream, len(b.data)-cut+readSize)
		next.data = append(next.data, b.data[cut:]...)
		b.data = b.data[:cut]
		out, b = b, next
	}
	c.fr.shift(cut)
	out.time = time.Now()
	c.s.dispatch(out)
	return b
}

// grow returns a buffer holding b with a capacity of at least size.
func grow(b []byte, size int) []byte {
	nb := make([]byte, len(b), size)
	copy(nb, b)
	return nb
}
