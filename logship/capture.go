package logship

import (
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"tend/procfs"
)

const (
	// ReadSize is the size of each read from a pipe: a whole default pipe
	// buffer, so a flooding program is drained in one system call.
	ReadSize = 64 << 10
	// minRead is the least room left in a buffer before a read; below it
	// the buffer is grown.
	minRead = 4 << 10
	// smallBatch is the size under which a batch is copied out of the read
	// buffer into a buffer of its own size class.
	smallBatch = 4 << 10
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
	r      io.ReadCloser
	fr     Framer
	done   chan struct{}

	stopped   atomic.Bool
	closeOnce sync.Once
}

// Done is closed once EOF was reached (or the reader was closed by Close)
// and every byte read was handed to the sinks.
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

// writers returns the processes that hold the pipe's write end open, as
// far as /proc shows them.
func (c *Capture) writers() []int {
	f, ok := c.r.(interface{ Fd() uintptr })
	if !ok {
		return nil
	}
	var st unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) != nil {
		return nil
	}
	if st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return nil
	}
	return procfs.PipeWriters(st.Ino)
}

// run reads until EOF. Each read goes into the free end of the current
// batch's buffer; the framer finds the records; the complete ones leave as
// a batch and the incomplete tail is copied to the front of a new buffer.
func (c *Capture) run() {
	defer c.pl.forget(c)
	defer close(c.done)
	defer c.closeReader()
	deadline, _ := c.r.(interface{ SetReadDeadline(time.Time) error })
	if !c.fr.join {
		deadline = nil // only joining needs a timer
	}
	armed := false
	b := c.pl.big.get(c.prog, c.stream, ReadSize)
	for {
		if deadline != nil {
			// A record that joining could still extend waits at most
			// FlushDelay for the next line.
			if c.fr.hasPend {
				armed = deadline.SetReadDeadline(time.Now().Add(FlushDelay)) == nil
			} else if armed {
				deadline.SetReadDeadline(time.Time{})
				armed = false
			}
		}
		if cap(b.Data)-len(b.Data) < minRead {
			b.Data = grow(b.Data, len(b.Data)+ReadSize)
		}
		n, err := c.r.Read(b.Data[len(b.Data):cap(b.Data)])
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
			if err != io.EOF && !c.stopped.Load() {
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
	}
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
		out = c.pl.small.get(c.prog, c.stream, smallBatch)
		out.Data = append(out.Data, b.Data[:cut]...)
		out.Records = append(out.Records, b.Records...)
		b.Records = b.Records[:0]
		b.Data = b.Data[:copy(b.Data, b.Data[cut:])]
	} else {
		next := c.pl.big.get(c.prog, c.stream, len(b.Data)-cut+ReadSize)
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
